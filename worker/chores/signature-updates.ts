import { clamavDatabaseDir, type Config } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../core/metrics.js';
import { databasesFingerprint, installedDatabases } from '../../scanning/signatures/cvd.js';
import type { FreshclamSettings } from '../../scanning/signatures/freshclam.js';
import { isManagedFolder, updateDatabases } from '../../scanning/signatures/update.js';
import type { EngineSet } from '../../scanning/engines.js';

export interface SignatureUpdatesDeps {
  config: Pick<Config, 'clamav'>;
  engines: Pick<EngineSet, 'reload'>;
  metrics: Pick<Metrics, 'signaturesUpdate' | 'signaturesInstalled'>;
  logger: Logger;
  /** freshclam's settings; default from config (tests pass their loopback mirror seam). */
  freshclam?: FreshclamSettings;
}

/** The engine label of the ClamAV database's version gauge: clamd is what reads that folder. */
const CLAMAV_ENGINE = 'clamd';

/**
 * The workers' scheduled update of ClamAV's database (a housekeeping chore, every
 * `ARBITER_SIGNATURES_UPDATE_INTERVAL` with jitter). It does nothing until the folder is
 * Arbiter's own (a first `arbiter signatures update` made it so). Each run updates the folder
 * (or, when another process of the host holds the lock, leaves that to it) and then reloads this
 * process's engines if the folder's databases differ from the ones it last saw: so every worker
 * sharing the folder picks up an update, whichever of them (or an operator) made it. Scans in
 * flight keep the database they started with (see Engine.reload).
 */
export class SignatureUpdates {
  private seen: string | undefined;

  constructor(private readonly deps: SignatureUpdatesDeps) {}

  /** `signal` is aborted at shutdown: a running freshclam is stopped, the folder left as it was. */
  async run(signal?: AbortSignal): Promise<void> {
    const { config, metrics, logger } = this.deps;
    const dir = clamavDatabaseDir(config);
    if (!isManagedFolder(dir)) return;
    const report = await updateDatabases({
      databaseDir: dir,
      freshclam: this.deps.freshclam ?? {
        mirror: config.clamav.mirror,
        proxy: config.clamav.proxy,
      },
      signal,
    });
    metrics.signaturesUpdate(report.outcome);
    if (report.outcome === 'failed')
      logger.warn(
        { dir, err: report.error, databases: report.databases },
        "updating ClamAV's database failed; the previous one stays in use",
      );
    else if (report.outcome === 'updated')
      logger.info(
        { dir, changed: report.changed, databases: report.databases },
        "updated ClamAV's database",
      );
    await this.reloadIfChanged(dir);
  }

  private async reloadIfChanged(dir: string): Promise<void> {
    const databases = await installedDatabases(dir);
    const fingerprint = databasesFingerprint(databases);
    const first = this.seen === undefined;
    if (fingerprint === this.seen) return;
    // At the first run the engines have just loaded the folder as it is now: nothing to reload.
    if (!first) {
      await this.deps.engines.reload();
      this.deps.logger.info(
        { dir, databases: databases.map((d) => `${d.database}:${d.version}`) },
        'engines reloaded with the new ClamAV database',
      );
    }
    this.seen = fingerprint;
    this.deps.metrics.signaturesInstalled(CLAMAV_ENGINE, databases);
  }
}

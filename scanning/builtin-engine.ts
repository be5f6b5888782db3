import { createReadStream } from 'node:fs';
import type { Logger } from '../core/logger.js';
import type { Engine, EngineDescription, EngineVerdict, ScanTarget } from './engine.js';
import { maliciousFinding } from './findings.js';
import { ContentScanner } from './matcher/index.js';
import { loadSignatureDatabase, type SignatureDatabase } from './signatures/database.js';

export const BUILTIN_ENGINE_VERSION = '0.2.0';

/** A loaded database and the matcher compiled from it: swapped as one on reload. */
interface Loaded {
  db: SignatureDatabase;
  scanner: ContentScanner;
  version: string;
}

interface ReloadReport {
  version: string;
  signatures: number;
  problems: number;
  warnings: number;
  loadMs: number;
}

/**
 * The built-in engine: runs in-process with no extra daemon. It loads ClamAV `.hdb`, `.hsb` and
 * `.ndb` databases and reads each file once, matching body signatures, whole-file hashes and the
 * EICAR test file in the same pass (see matcher/content-scanner.ts).
 */
export class BuiltinEngine implements Engine {
  readonly name = 'builtin';

  private lastLoad: ReloadReport | undefined;

  private constructor(
    private loaded: Loaded,
    private readonly signaturesDir: string | undefined,
    private readonly logger: Logger,
  ) {}

  static async load(signaturesDir: string | undefined, logger: Logger): Promise<BuiltinEngine> {
    const started = performance.now();
    const engine = new BuiltinEngine(await compile(signaturesDir), signaturesDir, logger);
    engine.lastLoad = engine.reportLoad(performance.now() - started);
    return engine;
  }

  get version(): string {
    return this.loaded.version;
  }

  /** The matcher for the current database: one session per file or archive member. */
  get scanner(): ContentScanner {
    return this.loaded.scanner;
  }

  get database(): SignatureDatabase {
    return this.loaded.db;
  }

  /**
   * Loads the folder again and swaps the new database in at once; scans already running keep
   * the one they started with. If loading fails the current database stays.
   */
  async reload(): Promise<void> {
    const started = performance.now();
    this.loaded = await compile(this.signaturesDir);
    this.lastLoad = this.reportLoad(performance.now() - started);
  }

  /** Version and database state (lines loaded, lines skipped), for the admin API. */
  describe(): EngineDescription {
    const { db, version } = this.loaded;
    return {
      name: this.name,
      version,
      signatures: db.count,
      problems: db.problems.length,
      warnings: db.warnings.length,
      loadMs: this.lastLoad?.loadMs,
    };
  }

  async scan(target: ScanTarget): Promise<EngineVerdict> {
    const { scanner, version } = this.loaded;
    const session = scanner.session(target.size);
    for await (const chunk of createReadStream(target.path, { highWaterMark: 1 << 20 })) {
      session.update(chunk as Buffer);
    }
    const findings = new Set(session.finish().map(maliciousFinding));
    return { engine: this.name, version, findings: [...findings] };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private reportLoad(loadMs: number): ReloadReport {
    const { db, version } = this.loaded;
    for (const problem of db.problems) {
      this.logger.warn(problem, 'skipped a signature line that could not be parsed');
    }
    for (const warning of db.warnings) this.logger.warn(warning, 'signature loaded with a caveat');
    const report = {
      version,
      signatures: db.count,
      problems: db.problems.length,
      warnings: db.warnings.length,
      loadMs: Math.round(loadMs),
    };
    this.logger.info(
      { ...report, hashes: db.hashes.count, bodies: db.bodies.length, dir: this.signaturesDir },
      'built-in engine loaded its signatures',
    );
    return report;
  }
}

async function compile(signaturesDir: string | undefined): Promise<Loaded> {
  const db = await loadSignatureDatabase(signaturesDir);
  const scanner = new ContentScanner(db);
  return {
    db,
    scanner,
    version: `arbiter-builtin/${BUILTIN_ENGINE_VERSION} db:${db.fingerprint} (${db.count} signatures)`,
  };
}

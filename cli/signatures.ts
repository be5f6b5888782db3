import { clamavDatabaseDir, type Config } from '../core/config.js';
import {
  describeFolder,
  updateDatabases,
  type UpdateReport,
} from '../scanning/signatures/update.js';

const USAGE = 'Usage: arbiter signatures update | arbiter signatures status';

/** Exit code when another process of this host is updating the folder (EX_TEMPFAIL). */
export const EXIT_BUSY = 75;

/**
 * `arbiter signatures update`: fetches ClamAV's official database into Arbiter's ClamAV
 * database folder with freshclam (scanning/signatures/update.ts) and prints what is installed
 * as JSON. Exit 0 when the folder is current (updated or already so), 1 when the update failed
 * (the previous database stays; the reason is on stderr), 75 when another update is running.
 * Running services pick the new database up at their next scheduled update or on SIGHUP.
 *
 * `arbiter signatures status`: what the folder holds, without updating.
 */
export async function runSignaturesCommand(config: Config, args: string[]): Promise<number> {
  const [action] = args;
  const dir = clamavDatabaseDir(config);
  if (action === 'status') {
    console.log(
      JSON.stringify({ databaseDir: dir, databases: await describeFolder(dir) }, null, 2),
    );
    return 0;
  }
  if (action !== 'update') {
    console.error(USAGE);
    return 2;
  }
  const report = await updateDatabases({
    databaseDir: dir,
    freshclam: { mirror: config.clamav.mirror, proxy: config.clamav.proxy },
  });
  console.log(JSON.stringify(printable(dir, report), null, 2));
  if (report.outcome === 'failed') {
    console.error(
      `The update of ClamAV's database failed; the previous database stays in ${dir}.\n${report.error ?? ''}`,
    );
    return 1;
  }
  if (report.outcome === 'busy') {
    console.error(`Another process is updating ${dir}; try again later.`);
    return EXIT_BUSY;
  }
  return 0;
}

function printable(dir: string, report: UpdateReport) {
  return {
    outcome: report.outcome,
    databaseDir: dir,
    changed: report.changed,
    databases: report.databases,
    ...(report.error ? { error: report.error } : {}),
  };
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

/**
 * Debian's `freshclam` (package clamav-freshclam), run once per update with a config Arbiter
 * writes: never as a daemon, never notifying a clamd (Arbiter reloads its engines itself), its
 * log on stdout. It downloads into a temporary folder inside `DatabaseDirectory`, checks
 * ClamAV's digital signature of every `.cvd`, test-loads the result and only then renames it
 * into place; update.ts points it at a staging folder so that nothing it does touches the
 * database in use until Arbiter has checked the outcome.
 */

export interface FreshclamSettings {
  /** A mirror serving ClamAV's files (`PrivateMirror`, no DNS lookups); unset → ClamAV's own. */
  mirror?: string | undefined;
  /** `http://[user:password@]host:port`. */
  proxy?: string | undefined;
  /**
   * Test seam, see test/scanning/signature-update.test.ts: freshclam accepts `main`, `daily`
   * and `bytecode` only as signed by ClamAV, so a test cannot build them. With these URLs the
   * same freshclam fetches unsigned `.cud` databases (`DatabaseCustomURL`) instead of the
   * official ones (`ExcludeDatabase`), and everything around it runs as in production.
   */
  customDatabaseUrls?: string[];
  /** The freshclam binary (default /usr/bin/freshclam, else `freshclam` on the PATH). */
  binary?: string;
  /** Longest a run may take before it is killed (default 10 minutes). */
  timeoutMs?: number;
}

export const OFFICIAL_DATABASES = ['main', 'daily', 'bytecode'] as const;
const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export function freshclamBinary(settings: Pick<FreshclamSettings, 'binary'>): string {
  if (settings.binary) return settings.binary;
  return existsSync('/usr/bin/freshclam') ? '/usr/bin/freshclam' : 'freshclam';
}

/** ClamAV's official database server (a CDN), used when no private mirror is set. */
export const OFFICIAL_MIRROR = 'database.clamav.net';

/** The `freshclam.conf` for one run into `databaseDir`. */
export function freshclamConfig(databaseDir: string, settings: FreshclamSettings): string {
  const lines = [
    `DatabaseDirectory ${databaseDir}`,
    // Its log goes to stdout, which Arbiter captures; no log file of its own.
    'UpdateLogFile /dev/null',
    'LogTime no',
    'Foreground yes',
    // As root freshclam drops to DatabaseOwner; otherwise it must be the user running it.
    `DatabaseOwner ${databaseOwner()}`,
    'ScriptedUpdates yes',
    'MaxAttempts 3',
    'ConnectTimeout 30',
    'ReceiveTimeout 600',
    'TestDatabases yes',
    'Bytecode yes',
  ];
  // freshclam has no built-in server: without a private mirror it must be told ClamAV's own
  // (it then asks DNS which database versions are current before downloading).
  if (settings.mirror) lines.push(`PrivateMirror ${settings.mirror}`, 'DNSDatabaseInfo no');
  else lines.push(`DatabaseMirror ${OFFICIAL_MIRROR}`);
  if (settings.proxy) lines.push(...proxyLines(settings.proxy));
  if (settings.customDatabaseUrls) {
    lines.push(...OFFICIAL_DATABASES.map((name) => `ExcludeDatabase ${name}`));
    lines.push(...settings.customDatabaseUrls.map((url) => `DatabaseCustomURL ${url}`));
  }
  return `${lines.join('\n')}\n`;
}

/** `HTTPProxyServer`, `HTTPProxyPort` and the credentials of a proxy URL. */
export function proxyLines(proxy: string): string[] {
  let url: URL;
  try {
    url = new URL(proxy.includes('://') ? proxy : `http://${proxy}`);
  } catch {
    throw new Error(`the proxy "${proxy}" is not a URL (http://[user:password@]host:port)`);
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const lines = [`HTTPProxyServer ${url.protocol}//${url.hostname}`, `HTTPProxyPort ${port}`];
  if (url.username) lines.push(`HTTPProxyUsername ${decodeURIComponent(url.username)}`);
  if (url.password) lines.push(`HTTPProxyPassword ${decodeURIComponent(url.password)}`);
  return lines;
}

function databaseOwner(): string {
  if (process.getuid?.() === 0) return 'root';
  return userInfo().username;
}

export interface FreshclamRun {
  exitCode: number | null;
  /** freshclam's stdout and stderr, interleaved (the last 64 KiB). */
  output: string;
}

const MAX_OUTPUT = 64 * 1024;

/** Writes the config beside `databaseDir` and runs freshclam once. */
export async function runFreshclam(
  databaseDir: string,
  settings: FreshclamSettings,
  signal?: AbortSignal,
): Promise<FreshclamRun> {
  const configPath = path.join(path.dirname(databaseDir), 'freshclam.conf');
  await writeFile(configPath, freshclamConfig(databaseDir, settings));
  const child = spawn(freshclamBinary(settings), [`--config-file=${configPath}`, '--stdout'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process shutting down stops a download in progress (SIGTERM) rather than wait for it.
    ...(signal ? { signal } : {}),
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), settings.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (error) => {
        const stopped = error.name === 'AbortError';
        const binary = freshclamBinary(settings);
        reject(
          new Error(
            stopped
              ? 'freshclam was stopped: the process is shutting down'
              : `could not run ${binary} (install the Debian package clamav-freshclam): ${error.message}`,
          ),
        );
      });
      child.once('close', (code) => resolve(code));
    });
    return { exitCode, output };
  } finally {
    clearTimeout(timer);
  }
}

/** freshclam's ERROR lines, or its last lines when it printed none: why a run failed. */
export function freshclamFailure(run: FreshclamRun): string {
  const lines = run.output.split('\n').map((line) => line.trim());
  const errors = lines.filter((line) => line.startsWith('ERROR:'));
  const picked = [...new Set(errors.length > 0 ? errors : lines.filter(Boolean).slice(-5))];
  const status = run.exitCode === null ? 'was killed' : `exited with ${run.exitCode}`;
  return `freshclam ${status}: ${picked.join(' / ').slice(0, 2000)}`;
}

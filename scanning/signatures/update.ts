import { existsSync } from 'node:fs';
import { link, mkdir, readdir, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import {
  installedDatabases,
  isContainerFile,
  readContainerHeader,
  verifyContainer,
  type ContainerHeader,
} from './cvd.js';
import { freshclamFailure, runFreshclam, type FreshclamSettings } from './freshclam.js';
import { tryLock } from './update-lock.js';

/**
 * Keeps ClamAV's database folder current without ever replacing a good database by a bad one:
 *
 * 1. take the folder's lock (one update per host at a time; see update-lock.ts);
 * 2. build a staging folder inside it (`.update/db`) holding hard links to the current
 *    databases and freshclam's state, so freshclam sees the versions in use and can apply
 *    incremental updates;
 * 3. run freshclam into the staging folder; a failure (it exits non-zero) ends here, leaving
 *    the folder as it was;
 * 4. check every container freshclam changed (verifyContainer: header, and the MD5 of a `.cvd`
 *    or `.cud`) and rename each into the folder (an atomic swap per file, on one file system),
 *    removing the `.cvd` a new `.cld` of the same database replaces, and the reverse.
 *
 * The folder becomes "Arbiter's own" with its first update (a marker file): workers update it
 * on a schedule only then, so an install that never asked for ClamAV's database never downloads it.
 */

export interface UpdateOptions {
  databaseDir: string;
  freshclam: FreshclamSettings;
  /** A lock older than this was left by a dead process (default 30 minutes). */
  lockStaleMs?: number;
  /** Aborted at shutdown: freshclam is stopped and nothing in the folder changes. */
  signal?: AbortSignal;
}

export type UpdateOutcome =
  /** New databases are in place. */
  | 'updated'
  /** freshclam found nothing newer. */
  | 'current'
  /** Another process of this host is updating the folder right now. */
  | 'busy'
  /** freshclam failed, or what it downloaded did not pass the checks: nothing changed. */
  | 'failed';

export interface UpdateReport {
  outcome: UpdateOutcome;
  /** The databases in the folder afterwards. */
  databases: DatabaseInfo[];
  /** The files that were replaced or added. */
  changed: string[];
  /** Why it failed. */
  error?: string;
  /** freshclam's output (its last 64 KiB), for the logs. */
  freshclamOutput?: string;
}

export interface DatabaseInfo {
  database: string;
  file: string;
  version: number;
  signatures: number;
  builtAt: string;
}

export const MANAGED_MARKER = '.arbiter-managed';
const LOCK_FILE = '.update.lock';
const STAGING = '.update';
/** freshclam's own state (its UUID and mirror cool-downs), kept from one run to the next. */
const FRESHCLAM_STATE = 'freshclam.dat';
const DEFAULT_LOCK_STALE_MS = 30 * 60_000;

/** Whether an update made by Arbiter has claimed the folder (see MANAGED_MARKER). */
export function isManagedFolder(databaseDir: string): boolean {
  return existsSync(path.join(databaseDir, MANAGED_MARKER));
}

export async function updateDatabases(options: UpdateOptions): Promise<UpdateReport> {
  const dir = options.databaseDir;
  await mkdir(dir, { recursive: true });
  const lock = await tryLock(
    path.join(dir, LOCK_FILE),
    options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS,
  );
  if (!lock) return { outcome: 'busy', databases: await describeFolder(dir), changed: [] };
  try {
    return await updateLocked(dir, options.freshclam, options.signal);
  } finally {
    await lock.release();
  }
}

/** The databases in a folder as the CLI and the metrics report them. */
export async function describeFolder(dir: string): Promise<DatabaseInfo[]> {
  return (await installedDatabases(dir)).map(info);
}

function info(header: ContainerHeader): DatabaseInfo {
  return {
    database: header.database,
    file: header.file,
    version: header.version,
    signatures: header.signatures,
    builtAt: header.builtAt.toISOString(),
  };
}

async function updateLocked(
  dir: string,
  settings: FreshclamSettings,
  signal: AbortSignal | undefined,
): Promise<UpdateReport> {
  const stagingRoot = path.join(dir, STAGING);
  const staging = path.join(stagingRoot, 'db');
  await rm(stagingRoot, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const before = await stage(dir, staging);
    const run = await runFreshclam(staging, settings, signal);
    // freshclam's state is worth keeping even after a failed run (mirror cool-downs).
    await keepFreshclamState(staging, dir);
    if (run.exitCode !== 0) {
      return {
        outcome: 'failed',
        databases: await describeFolder(dir),
        changed: [],
        error: freshclamFailure(run),
        freshclamOutput: run.output,
      };
    }
    const changed = await changedContainers(staging, before);
    try {
      for (const file of changed) await verifyContainer(path.join(staging, file));
    } catch (error) {
      return {
        outcome: 'failed',
        databases: await describeFolder(dir),
        changed: [],
        error: (error as Error).message,
        freshclamOutput: run.output,
      };
    }
    await swapIn(staging, dir, changed);
    await writeFile(path.join(dir, MANAGED_MARKER), 'ClamAV databases kept by Arbiter\n');
    return {
      outcome: changed.length > 0 ? 'updated' : 'current',
      databases: await describeFolder(dir),
      changed,
      freshclamOutput: run.output,
    };
  } finally {
    await rm(stagingRoot, { recursive: true, force: true });
  }
}

/**
 * Links the folder's containers and freshclam's state into the staging folder; returns each
 * staged container's `version@size` as it was, to tell afterwards what freshclam changed.
 */
async function stage(dir: string, staging: string): Promise<Map<string, string>> {
  const before = new Map<string, string>();
  for (const name of await readdir(dir)) {
    if (!isContainerFile(name) && name !== FRESHCLAM_STATE) continue;
    // freshclam replaces files by renaming new ones over them: the linked originals stay intact.
    await link(path.join(dir, name), path.join(staging, name)).catch(() =>
      copyFile(path.join(dir, name), path.join(staging, name)),
    );
    if (isContainerFile(name)) before.set(name, await containerState(path.join(staging, name)));
  }
  return before;
}

async function containerState(filePath: string): Promise<string> {
  const header = await readContainerHeader(filePath).catch(() => undefined);
  return header ? `${header.version}@${header.md5}` : 'unreadable';
}

async function changedContainers(
  staging: string,
  before: Map<string, string>,
): Promise<string[]> {
  const changed: string[] = [];
  for (const name of (await readdir(staging)).filter(isContainerFile).sort()) {
    const state = await containerState(path.join(staging, name));
    if (before.get(name) !== state) changed.push(name);
  }
  return changed;
}

/** Renames each verified file over its old self, then drops the other form of its database. */
async function swapIn(staging: string, dir: string, changed: string[]): Promise<void> {
  for (const file of changed) await rename(path.join(staging, file), path.join(dir, file));
  for (const file of changed) {
    const base = file.replace(/\.[^.]+$/, '');
    for (const other of ['.cvd', '.cld'].map((ext) => `${base}${ext}`)) {
      if (other !== file && !existsSync(path.join(staging, other)))
        await rm(path.join(dir, other), { force: true });
    }
  }
}

async function keepFreshclamState(staging: string, dir: string): Promise<void> {
  const state = path.join(staging, FRESHCLAM_STATE);
  if (existsSync(state)) await rename(state, path.join(dir, FRESHCLAM_STATE));
}

import { open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';

/**
 * One update of a database folder at a time on a host: several worker processes (and an
 * operator's `arbiter signatures update`) share the folder. The lock is a file created with
 * O_EXCL; one older than `staleMs` was left by a process that died mid-update and is taken over.
 */
export interface FolderLock {
  release(): Promise<void>;
}

/** Returns the lock, or undefined when another live update holds it. */
export async function tryLock(lockPath: string, staleMs: number): Promise<FolderLock | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(
        JSON.stringify({ pid: process.pid, host: hostname(), at: new Date() }),
      );
      await handle.close();
      return { release: () => rm(lockPath, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!(await isStale(lockPath, staleMs))) return undefined;
      // Two processes may both find it stale; only one of them wins the O_EXCL create after.
      await rm(lockPath, { force: true });
    }
  }
  return undefined;
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  const info = await stat(lockPath).catch(() => undefined);
  if (!info) return true;
  if (Date.now() - info.mtimeMs > staleMs) return true;
  // A lock of a process of this host that is gone is stale whatever its age.
  const holder = await readFile(lockPath, 'utf8')
    .then((text) => JSON.parse(text) as { pid?: number; host?: string })
    .catch(() => undefined);
  if (holder?.host !== hostname() || typeof holder.pid !== 'number') return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

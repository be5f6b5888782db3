import { copyFile, link, lstat, mkdir, open, opendir, rm } from 'node:fs/promises';
import path from 'node:path';
import { isId } from './ids.js';
import type { SanitizedDownload, SanitizedStore, StoredCopy } from './sanitized-store.js';
import type { Spool } from './spool.js';

/**
 * Sanitized copies kept in the spool folder, `sanitized/{tenant}/{scan id}`
 * (`ARBITER_UPLOAD_STORE=local`, the default): the process that scanned writes the copy there,
 * and any API process sharing the folder serves it.
 */
export class LocalSanitizedStore implements SanitizedStore {
  readonly kind = 'local';

  constructor(private readonly spool: Spool) {}

  async keep(tenantId: string, scanId: string, localPath: string): Promise<void> {
    const destination = this.spool.sanitizedPath(tenantId, scanId);
    await mkdir(path.dirname(destination), { recursive: true });
    // A retried scan's earlier copy gives way; nothing serves it yet (its result is not stored).
    await this.spool.remove(destination);
    // A second name for the same bytes (the spool is one folder tree): no copying, and the
    // caller keeps its own file. A file system without hard links gets a copy.
    await link(localPath, destination).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPERM' && error.code !== 'EXDEV' && error.code !== 'ENOTSUP') throw error;
      await copyFile(localPath, destination);
    });
  }

  async open(tenantId: string, scanId: string): Promise<SanitizedDownload | undefined> {
    // Opened before it is measured: a copy removed meanwhile is either gone here or read whole.
    const handle = await open(this.spool.sanitizedPath(tenantId, scanId)).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (!handle) return undefined;
    try {
      const { size } = await handle.stat();
      return { body: handle.createReadStream(), size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async remove(tenantId: string, scanId: string): Promise<void> {
    await this.spool.remove(this.spool.sanitizedPath(tenantId, scanId));
  }

  async removeTenant(tenantId: string): Promise<void> {
    // Only an id names a folder here: nothing else under the spool can be reached this way.
    if (!isId(tenantId)) return;
    await rm(path.join(this.spool.sanitizedDir, tenantId), { recursive: true, force: true });
  }

  async *list(): AsyncGenerator<StoredCopy> {
    for await (const tenantId of entries(this.spool.sanitizedDir)) {
      if (!isId(tenantId)) continue;
      for await (const scanId of entries(path.join(this.spool.sanitizedDir, tenantId))) {
        if (!isId(scanId)) continue;
        const stat = await lstat(this.spool.sanitizedPath(tenantId, scanId)).catch(
          (error: NodeJS.ErrnoException) => {
            // Removed meanwhile: by its scan's deletion, or by another sweeper.
            if (error.code === 'ENOENT') return undefined;
            throw error;
          },
        );
        if (stat?.isFile())
          yield { tenantId, scanId, lastModifiedMs: stat.mtimeMs, size: stat.size };
      }
    }
  }
}

/** The names in a folder, streamed (none if it is gone). */
async function* entries(dir: string): AsyncGenerator<string> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for await (const entry of handle) yield entry.name;
}

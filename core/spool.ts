import { lstat, mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where uploaded content is received and, with the `local` upload store (the default,
 * core/local-upload-store.ts), waits for a worker: api and worker processes must then share this
 * folder (a volume in compose; the same disk for `serve`). Downloads being scanned are kept here
 * too, and with an object store, the copy of the upload a worker scans. Files are named by tenant and scan id and
 * removed as soon as the scan's result is stored; what a crash or a deleted scan leaves behind
 * is removed by the spool sweeper (worker/chores/spool-sweeper.ts).
 */
export class Spool {
  constructor(private readonly root: string) {}

  /** Multer writes incoming parts here before the request is validated. */
  get incomingDir(): string {
    return path.join(this.root, 'incoming');
  }

  /** Downloads of `location` URLs land here while they are scanned. */
  get fetchDir(): string {
    return path.join(this.root, 'fetch');
  }

  async init(): Promise<void> {
    await Promise.all([
      mkdir(this.incomingDir, { recursive: true }),
      mkdir(this.fetchDir, { recursive: true }),
      mkdir(path.join(this.root, 'uploads'), { recursive: true }),
      mkdir(this.sanitizedDir, { recursive: true }),
    ]);
  }

  /** Accepted uploads, one folder per tenant: `uploads/{tenant}/{scan id}`. */
  get uploadsDir(): string {
    return path.join(this.root, 'uploads');
  }

  uploadPath(tenantId: string, scanId: string): string {
    return path.join(this.uploadsDir, tenantId, scanId);
  }

  fetchPath(scanId: string): string {
    return path.join(this.fetchDir, scanId);
  }

  /**
   * Where a scan's sanitized copy is written before it is kept (beside its content in
   * `fetch/`, so the sweeper judges it by the same scan's job).
   */
  sanitizingPath(scanId: string): string {
    return path.join(this.fetchDir, `${scanId}.sanitized`);
  }

  /**
   * Sanitized copies kept in the spool (core/local-sanitized-store.ts), one folder per tenant:
   * `sanitized/{tenant}/{scan id}`.
   */
  get sanitizedDir(): string {
    return path.join(this.root, 'sanitized');
  }

  sanitizedPath(tenantId: string, scanId: string): string {
    return path.join(this.sanitizedDir, tenantId, scanId);
  }

  /** Moves an accepted upload from `incoming/` to its place; rename keeps it atomic. */
  async adopt(incomingPath: string, tenantId: string, scanId: string): Promise<string> {
    const destination = this.uploadPath(tenantId, scanId);
    await mkdir(path.dirname(destination), { recursive: true });
    await rename(incomingPath, destination);
    return destination;
  }

  /** Removes a spooled file (one unlink; `rm` would stat it twice first). Gone already is fine. */
  async remove(filePath: string): Promise<void> {
    await unlink(filePath).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /**
   * Removes a file the sweeper judged abandoned, unless it changed since it was judged (`seen`):
   * a different inode or modification time means someone wrote to it meanwhile. Returns the
   * bytes freed, or undefined when the file was left or already gone: when several processes
   * sweep one spool at once, only the one whose unlink succeeds counts the file.
   */
  async discard(filePath: string, seen: SpoolFileStat): Promise<number | undefined> {
    try {
      const now = await lstat(filePath);
      if (!now.isFile() || now.ino !== seen.ino || now.mtimeMs !== seen.mtimeMs) return undefined;
      await unlink(filePath);
      return now.size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}

export interface SpoolFileStat {
  ino: number;
  mtimeMs: number;
}

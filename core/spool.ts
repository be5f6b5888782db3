import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where uploaded content waits for a worker. api and worker processes must share this folder
 * (a volume in compose; the same disk for `serve`). Files are named by tenant and scan id and
 * removed as soon as the scan's result is stored.
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
    ]);
  }

  uploadPath(tenantId: string, scanId: string): string {
    return path.join(this.root, 'uploads', tenantId, scanId);
  }

  fetchPath(scanId: string): string {
    return path.join(this.fetchDir, scanId);
  }

  /** Moves an accepted upload from `incoming/` to its place; rename keeps it atomic. */
  async adopt(incomingPath: string, tenantId: string, scanId: string): Promise<string> {
    const destination = this.uploadPath(tenantId, scanId);
    await mkdir(path.dirname(destination), { recursive: true });
    await rename(incomingPath, destination);
    return destination;
  }

  async remove(filePath: string): Promise<void> {
    await rm(filePath, { force: true });
  }
}

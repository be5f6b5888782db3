import { randomBytes } from 'node:crypto';
import { access, copyFile } from 'node:fs/promises';
import multer from 'multer';
import type { Spool } from './spool.js';
import type { StagedFile, UploadStore } from './upload-store.js';

/**
 * Uploads kept in the spool folder (`ARBITER_UPLOAD_STORE=local`, the default): received into
 * `incoming/`, renamed into `uploads/{tenant}/{scan id}` once accepted and read there by the
 * worker, so api and worker processes must share the folder.
 */
export class LocalUploadStore implements UploadStore {
  readonly kind = 'local';

  constructor(private readonly spool: Spool) {}

  stagingEngine(): multer.StorageEngine {
    return multer.diskStorage({
      destination: this.spool.incomingDir,
      // The scan's id (core/ids.ts format): see UploadStore.stagingEngine.
      filename: (_req, _file, cb) => cb(null, randomBytes(16).toString('hex')),
    });
  }

  async accept(file: StagedFile, tenantId: string): Promise<void> {
    await this.spool.adopt(file.path, tenantId, file.filename);
  }

  async discard(file: StagedFile): Promise<void> {
    await this.spool.remove(file.path);
  }

  fetch(tenantId: string, scanId: string): Promise<string> {
    return Promise.resolve(this.spool.uploadPath(tenantId, scanId));
  }

  async remove(tenantId: string, scanId: string): Promise<void> {
    await this.spool.remove(this.spool.uploadPath(tenantId, scanId));
  }

  async exists(tenantId: string, scanId: string): Promise<boolean> {
    return access(this.spool.uploadPath(tenantId, scanId)).then(
      () => true,
      () => false,
    );
  }

  async copy(tenantId: string, fromScanId: string, toScanId: string): Promise<boolean> {
    try {
      await copyFile(
        this.spool.uploadPath(tenantId, fromScanId),
        this.spool.uploadPath(tenantId, toScanId),
      );
      return true;
    } catch {
      return false;
    }
  }
}

import type { Readable } from 'node:stream';

/**
 * Where sanitized copies (`sanitize=true`, docs/sanitizing.md) wait for their download
 * (`GET /files/{id}/sanitized`): written by the process that ran the scan (a worker, or the API
 * for a synchronous scan), read by any API process. The same kind of store as the upload store
 * (core/upload-store.ts): the spool folder, which every process must then share
 * (core/local-sanitized-store.ts), or the upload store's bucket (core/s3-sanitized-store.ts).
 * A copy is named by its tenant and scan id and lives as long as its result: removed when the
 * scan or its tenant is deleted, and by the sweeper once its result is gone
 * (worker/chores/sanitized-sweeper.ts).
 */
export interface SanitizedStore {
  readonly kind: 'local' | 's3';
  /**
   * Keeps the file at `localPath` as the scan's sanitized copy, replacing an earlier one (a
   * retried scan's). The file itself is left where it is, for the caller to use and remove.
   */
  keep(tenantId: string, scanId: string, localPath: string, copy: KeptCopy): Promise<void>;
  /** The scan's copy to stream out, or undefined when there is none (never made, or gone). */
  open(tenantId: string, scanId: string): Promise<SanitizedDownload | undefined>;
  /** Removes the scan's copy. Gone already is fine. */
  remove(tenantId: string, scanId: string): Promise<void>;
  /** Removes every copy of the tenant (the tenant is being deleted). */
  removeTenant(tenantId: string): Promise<void>;
  /** Every copy in the store, for the sweeper (names that are not a tenant and scan are skipped). */
  list(): AsyncGenerator<StoredCopy>;
}

/** What is known of a copy as it is kept. */
export interface KeptCopy {
  contentType: string;
  size: number;
}

export interface SanitizedDownload {
  body: Readable;
  size: number;
}

/** A copy as the sweeper sees it. */
export interface StoredCopy {
  tenantId: string;
  scanId: string;
  lastModifiedMs: number;
  size: number;
}

import type { StorageEngine } from 'multer';
import type { Request } from 'express';

/**
 * Where async uploads (`POST /files/async`) wait for a worker: the local spool folder, which the
 * API and the workers must share (core/local-upload-store.ts), or an S3 bucket, which lets them
 * run on hosts with nothing in common but Redis (core/s3-upload-store.ts). Chosen by
 * `ARBITER_UPLOAD_STORE`; built once in cli/runtime.ts. An upload is named by its tenant and scan
 * id, so a job carries ids only. Synchronous scans never use it: they read their upload from
 * the API process's own spool.
 */
export interface UploadStore {
  readonly kind: 'local' | 's3';
  /**
   * The multer storage engine of async uploads (stage): streams the file part into the store as
   * it arrives. Each staged file's `filename` is the id its scan takes, so that an object
   * store can name it by tenant and scan id before the scan exists.
   */
  stagingEngine(tenantOf: (req: Request) => string): StorageEngine;
  /** Makes a staged file its scan's, once the scan's pending record is written. */
  accept(file: StagedFile, tenantId: string): Promise<void>;
  /** Removes a staged file that was refused (invalid fields, over the quota). */
  discard(file: StagedFile): Promise<void>;
  /**
   * Hands a worker the upload as a local file (engines read files): the spool file itself, or
   * a copy streamed into `scratchPath`, which the caller removes. Throws when it is gone.
   */
  fetch(tenantId: string, scanId: string, scratchPath: string): Promise<string>;
  /** Removes a scan's upload (its scan ended or was deleted). Gone already is fine. */
  remove(tenantId: string, scanId: string): Promise<void>;
  /** Whether a scan's upload is still there (the pending reaper, rescans). */
  exists(tenantId: string, scanId: string): Promise<boolean>;
  /** Copies a scan's upload for another scan of the same tenant (a rescan); false when gone. */
  copy(tenantId: string, fromScanId: string, toScanId: string): Promise<boolean>;
}

/** What the upload route knows of a staged file (multer's `req.file`). */
export interface StagedFile {
  /** The scan id the upload was staged under. */
  filename: string;
  /** Where the file was received (local store), or the object key (object store). */
  path: string;
  size: number;
}

/** Where staged uploads go: `s3://bucket/prefix` parsed. */
export interface S3UploadLocation {
  bucket: string;
  /** Empty, or ending with `/`. */
  prefix: string;
}

/** Parses `s3://bucket/prefix` (the prefix is optional). */
export function parseS3UploadLocation(url: string): S3UploadLocation | undefined {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match?.[1]) return undefined;
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1], prefix: prefix ? `${prefix}/` : '' };
}

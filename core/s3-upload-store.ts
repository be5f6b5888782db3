import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { unavailable } from './errors.js';
import { newId } from './ids.js';
import type { Logger } from './logger.js';
import type { S3UploadLocation, StagedFile, UploadStore } from './upload-store.js';

/** A staged object as the sweeper sees it. */
export interface StagedObject {
  tenantId: string;
  scanId: string;
  lastModifiedMs: number;
  size: number;
}

const STORE_UNREACHABLE =
  'The upload store is unavailable; nothing was accepted. Please retry shortly.';
const RETRY_AFTER_SECONDS = 5;
/** S3's smallest multipart part: what lib-storage holds in memory per part in flight. */
const PART_SIZE = 5 * 1024 * 1024;

/**
 * Uploads staged in an S3 bucket (`ARBITER_UPLOAD_STORE=s3://bucket/prefix`), under
 * `{prefix}uploads/{tenant}/{scan id}`: the API streams each file part into a multipart upload
 * as it arrives (hashing it on the way; nothing is written to local disk), and the worker
 * streams it back into its own spool to scan it. API and workers then share nothing but Redis
 * and the bucket. Objects of scans that ended without removing them are the spool sweeper's
 * (worker/chores/spool-sweeper.ts), with a lifecycle rule as the last backstop.
 */
export class S3UploadStore implements UploadStore {
  readonly kind = 's3';

  constructor(
    private readonly client: S3Client,
    private readonly location: S3UploadLocation,
    private readonly logger: Logger,
  ) {}

  stagingEngine(tenantOf: (req: Request) => string): StorageEngine {
    return {
      _handleFile: (req, file, cb) => {
        const scanId = newId();
        const key = this.key(tenantOf(req), scanId);
        this.stage(key, file.stream).then(
          ({ size, sha1 }) => {
            this.logger.debug({ scanId, size, sha1 }, 'upload staged');
            cb(null, { filename: scanId, path: key, size });
          },
          (error: unknown) => cb(this.stagingError(error, scanId)),
        );
      },
      _removeFile: (_req, file, cb) => {
        this.removeKey(file.path).then(
          () => cb(null),
          (error: unknown) => cb(error as Error),
        );
      },
    };
  }

  accept(): Promise<void> {
    // Staged under its scan's key already.
    return Promise.resolve();
  }

  async discard(file: StagedFile): Promise<void> {
    await this.removeKey(file.path);
  }

  async fetch(tenantId: string, scanId: string, scratchPath: string): Promise<string> {
    const object = await this.client.send(
      new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(tenantId, scanId) }),
    );
    await pipeline(object.Body as Readable, createWriteStream(scratchPath));
    return scratchPath;
  }

  async remove(tenantId: string, scanId: string): Promise<void> {
    await this.removeKey(this.key(tenantId, scanId));
  }

  async exists(tenantId: string, scanId: string): Promise<boolean> {
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(tenantId, scanId) }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async copy(tenantId: string, fromScanId: string, toScanId: string): Promise<boolean> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(tenantId, toScanId),
          CopySource: `${this.location.bucket}/${this.key(tenantId, fromScanId)}`,
        }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Every staged object, for the sweeper (keys that do not name a tenant and scan are skipped). */
  async *list(): AsyncGenerator<StagedObject> {
    const prefix = `${this.location.prefix}uploads/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        const [tenantId, scanId, ...rest] = (object.Key ?? '').slice(prefix.length).split('/');
        if (!tenantId || !scanId || rest.length > 0) continue;
        const lastModifiedMs = object.LastModified?.getTime() ?? 0;
        yield { tenantId, scanId, lastModifiedMs, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private key(tenantId: string, scanId: string): string {
    return `${this.location.prefix}uploads/${tenantId}/${scanId}`;
  }

  /**
   * Streams a file part into a multipart upload, counting and hashing it on the way. Multer
   * truncates a part over the size limit and reports it (`limit`): the upload is aborted then,
   * so no object of a refused upload is ever completed.
   */
  private async stage(key: string, part: Readable): Promise<{ size: number; sha1: string }> {
    const hash = createHash('sha1');
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: key, Body: counted },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    part.once('limit', () => void upload.abort());
    part.once('error', (error) => counted.destroy(error));
    part.pipe(counted);
    await upload.done();
    return { size, sha1: hash.digest('hex') };
  }

  private stagingError(error: unknown, scanId: string): Error {
    if ((error as Error).name === 'AbortError') return error as Error;
    this.logger.error({ err: error, scanId }, 'could not stage an upload in the upload store');
    return unavailable(STORE_UNREACHABLE, RETRY_AFTER_SECONDS);
  }

  private async removeKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key }));
  }
}

function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NotFound' || name === 'NoSuchKey' || $metadata?.httpStatusCode === 404;
}

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
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
import type { Redis } from 'ioredis';
import type { StorageEngine } from 'multer';
import { unavailable } from './errors.js';
import { newId } from './ids.js';
import type { Logger } from './logger.js';
import type { S3UploadLocation, StagedFile, UploadStore } from './upload-store.js';

/** An object named `<root><tenant id>/<scan id>` (a staged upload, a sanitized copy), as a sweeper sees it. */
export interface ScanObject {
  tenantId: string;
  scanId: string;
  lastModifiedMs: number;
  size: number;
}

/** A staged object as the sweeper sees it. */
export type StagedObject = ScanObject;

/**
 * The objects of `bucket` whose key starts with `prefix` (within `root`, or `root` itself) and
 * names a tenant and a scan below `root`; other keys are skipped. Page by page, as S3 lists them.
 */
export async function* listScanObjects(
  client: S3Client,
  bucket: string,
  root: string,
  prefix: string,
): AsyncGenerator<ScanObject> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) {
      const [tenantId, scanId, ...rest] = (object.Key ?? '').slice(root.length).split('/');
      if (!tenantId || !scanId || rest.length > 0) continue;
      const lastModifiedMs = object.LastModified?.getTime() ?? 0;
      yield { tenantId, scanId, lastModifiedMs, size: object.Size ?? 0 };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/**
 * Uploads up to `maxBytes` kept in Redis instead of the bucket: staging one there is two orders
 * of magnitude faster (docs/decisions.md, "Small uploads go through Redis"), and a small upload
 * costs Redis little memory while it waits. They expire with the scan's record (`ttlSeconds`)
 * should nothing remove them first.
 */
export interface SmallUploads {
  redis: Pick<Redis, 'set' | 'getBuffer' | 'del' | 'exists'>;
  key(tenantId: string, scanId: string): string;
  maxBytes: number;
  ttlSeconds: number;
}

/**
 * Where staged uploads live under the configured prefix: `{prefix}uploads/{tenant}/{scan id}`.
 * The lifecycle rule an operator adds expires exactly this prefix (docs/deployment.md,
 * deploy/compose.multi-node.yaml); test/deploy holds both to this constant, so the rule and the
 * keys cannot drift apart.
 */
export const STAGED_UPLOADS_PREFIX = 'uploads/';

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
    private readonly small?: SmallUploads,
  ) {}

  stagingEngine(tenantOf: (req: Request) => string): StorageEngine {
    return {
      _handleFile: (req, file, cb) => {
        const scanId = newId();
        const tenantId = tenantOf(req);
        const key = this.key(tenantId, scanId);
        this.stageAnywhere(tenantId, scanId, file.stream).then(
          ({ size, sha1 }) => {
            this.logger.debug({ scanId, size, sha1 }, 'upload staged');
            cb(null, { filename: scanId, path: key, size });
          },
          (error: unknown) => cb(this.stagingError(error, scanId)),
        );
      },
      _removeFile: (_req, file, cb) => {
        this.discard(file).then(
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
    // Staged under `…/uploads/{tenant}/{scan id}`, in Redis or in the bucket.
    const [tenantId = '', scanId = ''] = file.path.split('/').slice(-2);
    await this.remove(tenantId, scanId);
  }

  async fetch(tenantId: string, scanId: string, scratchPath: string): Promise<string> {
    const small = await this.small?.redis.getBuffer(this.small.key(tenantId, scanId));
    if (small) {
      await writeFile(scratchPath, small);
      return scratchPath;
    }
    const object = await this.client.send(
      new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(tenantId, scanId) }),
    );
    await pipeline(object.Body as Readable, createWriteStream(scratchPath));
    return scratchPath;
  }

  async remove(tenantId: string, scanId: string): Promise<void> {
    // A scan's upload is in one place only: found in Redis, the bucket has nothing to delete.
    if (this.small && (await this.small.redis.del(this.small.key(tenantId, scanId))) > 0) return;
    await this.removeKey(this.key(tenantId, scanId));
  }

  async exists(tenantId: string, scanId: string): Promise<boolean> {
    if (this.small && (await this.small.redis.exists(this.small.key(tenantId, scanId))) > 0)
      return true;
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
    const small = await this.small?.redis.getBuffer(this.small.key(tenantId, fromScanId));
    if (this.small && small) {
      await this.stageSmall(this.small, tenantId, toScanId, small);
      return true;
    }
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
  list(): AsyncGenerator<StagedObject> {
    const root = `${this.location.prefix}${STAGED_UPLOADS_PREFIX}`;
    return listScanObjects(this.client, this.location.bucket, root, root);
  }

  private key(tenantId: string, scanId: string): string {
    return `${this.location.prefix}${STAGED_UPLOADS_PREFIX}${tenantId}/${scanId}`;
  }

  /**
   * Stages a file part in Redis when it ends within the small-upload size, else in the bucket
   * (what was read of it first, then the rest).
   */
  private async stageAnywhere(
    tenantId: string,
    scanId: string,
    part: Readable,
  ): Promise<{ size: number; sha1: string }> {
    if (!this.small) return this.stage(this.key(tenantId, scanId), part, part);
    const head = await readHead(part, this.small.maxBytes);
    if (head.ended) {
      const bytes = Buffer.concat(head.chunks);
      await this.stageSmall(this.small, tenantId, scanId, bytes);
      return { size: bytes.length, sha1: createHash('sha1').update(bytes).digest('hex') };
    }
    const body = new PassThrough();
    for (const chunk of head.chunks) body.write(chunk);
    part.pipe(body);
    return this.stage(this.key(tenantId, scanId), body, part);
  }

  private async stageSmall(
    small: SmallUploads,
    tenantId: string,
    scanId: string,
    bytes: Buffer,
  ): Promise<void> {
    await small.redis.set(small.key(tenantId, scanId), bytes, 'EX', small.ttlSeconds);
  }

  /**
   * Streams `body` (the file part, or what carries it on) into a multipart upload, counting and
   * hashing it on the way. Multer truncates a part over the size limit and reports it
   * (`limit`): the upload is aborted then, so no object of a refused upload is ever completed.
   */
  private async stage(
    key: string,
    body: Readable,
    part: Readable,
  ): Promise<{ size: number; sha1: string }> {
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
    body.pipe(counted);
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

/**
 * Reads a file part until it ends or passes `maxBytes`; in the second case the part is left
 * paused, to be piped on with what was read put back in front.
 */
function readHead(part: Readable, maxBytes: number): Promise<{ chunks: Buffer[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      part.off('data', onData);
      part.off('end', onEnd);
      part.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= maxBytes) return;
      // Paused before the listener goes: a flowing part with no listener would drop its data.
      part.pause();
      stop();
      resolve({ chunks, ended: false });
    };
    const onEnd = () => {
      stop();
      resolve({ chunks, ended: true });
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    part.on('data', onData);
    part.once('end', onEnd);
    part.once('error', onError);
  });
}

/** Whether an S3 call failed because the object (or bucket) is not there. */
export function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NotFound' || name === 'NoSuchKey' || $metadata?.httpStatusCode === 404;
}

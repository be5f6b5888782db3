import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isNotFound, listScanObjects } from './s3-upload-store.js';
import type { KeptCopy, SanitizedDownload, SanitizedStore, StoredCopy } from './sanitized-store.js';
import type { S3UploadLocation } from './upload-store.js';

/**
 * Where sanitized copies live under the upload store's prefix:
 * `{prefix}sanitized/{tenant}/{scan id}`. A lifecycle rule on this prefix must keep objects at
 * least as long as `ARBITER_RESULT_TTL` (docs/deployment.md); the sweeper removes them sooner.
 */
export const SANITIZED_COPIES_PREFIX = 'sanitized/';

/** S3's smallest multipart part: what lib-storage holds in memory per part in flight. */
const PART_SIZE = 5 * 1024 * 1024;

/**
 * Sanitized copies kept in the upload store's bucket (`ARBITER_UPLOAD_STORE=s3://bucket/prefix`):
 * the process that scanned uploads the copy, any API process streams it back out. API and
 * workers then share nothing but Redis and the bucket, as for uploads.
 */
export class S3SanitizedStore implements SanitizedStore {
  readonly kind = 's3';

  constructor(
    private readonly client: S3Client,
    private readonly location: S3UploadLocation,
  ) {}

  async keep(tenantId: string, scanId: string, localPath: string, copy: KeptCopy): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.location.bucket,
        Key: this.key(tenantId, scanId),
        Body: createReadStream(localPath),
        ContentType: copy.contentType,
      },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async open(tenantId: string, scanId: string): Promise<SanitizedDownload | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(tenantId, scanId) }),
      );
      return { body: object.Body as Readable, size: object.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async remove(tenantId: string, scanId: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(tenantId, scanId) }),
    );
  }

  async removeTenant(tenantId: string): Promise<void> {
    for await (const copy of this.listUnder(`${this.root()}${tenantId}/`))
      if (copy.tenantId === tenantId) await this.remove(copy.tenantId, copy.scanId);
  }

  list(): AsyncGenerator<StoredCopy> {
    return this.listUnder(this.root());
  }

  /** The copies whose key starts with `prefix` (keys that do not name a tenant and scan are skipped). */
  private listUnder(prefix: string): AsyncGenerator<StoredCopy> {
    return listScanObjects(this.client, this.location.bucket, this.root(), prefix);
  }

  private root(): string {
    return `${this.location.prefix}${SANITIZED_COPIES_PREFIX}`;
  }

  private key(tenantId: string, scanId: string): string {
    return `${this.root()}${tenantId}/${scanId}`;
  }
}

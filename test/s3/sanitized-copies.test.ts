import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, sha1 } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import {
  registerBucket,
  REGION,
  S3RVER_CREDENTIALS,
  startS3Harness,
  v1Client,
  type S3Harness,
} from '../support/s3.js';
import {
  jpegLayout,
  metadataMarkers,
  photoWithGpsAndTrailer,
  TRAILER,
} from '../support/sanitized-copies.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Sanitized copies where S3 is involved, on s3rver: kept in the upload store's bucket when the
 * upload store is one (`ARBITER_UPLOAD_STORE=s3://…`), and promoted in place of the object by a
 * bucket with `sanitize`, the object itself quarantined.
 */

const STORE_BUCKET = 'upload-store';
const STORE_PREFIX = 'arbiter/';
const SECRET_KEY = Buffer.alloc(32, 9).toString('base64');

interface Result {
  id: string;
  checksum: string;
  findings: string[];
  action?: string;
  action_error?: string;
  outcome?: string;
  sanitized?:
    | { available: true; removed: string[]; content_type: string; checksum: string; size: number }
    | { available: false; reason: string };
}

describe('sanitized copies and S3', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let photo: Buffer;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    photo = await photoWithGpsAndTrailer();
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    await harness.createBucket(STORE_BUCKET);
    // The upload store's client takes its credentials and region from the AWS SDK environment.
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    process.env.AWS_REGION = REGION;
    service = await startTestService({
      ARBITER_UPLOAD_STORE: `s3://${STORE_BUCKET}/${STORE_PREFIX}`,
      AWS_ENDPOINT_URL_S3: harness.s3Endpoint,
      ARBITER_SECRET_KEY: SECRET_KEY,
    });
    tenant = await service.createTenant('s3-sanitizing');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
    process.env = savedEnv;
  });

  const readObject = async (bucket: string, key: string) => {
    const output = await harness.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return {
      bytes: Buffer.from(await output.Body!.transformToByteArray()),
      contentType: output.ContentType,
    };
  };

  const storedCopies = () => harness.listKeys(STORE_BUCKET, `${STORE_PREFIX}sanitized/`);
  const copyKey = (id: string, tenantId = tenant.id) =>
    `${STORE_PREFIX}sanitized/${tenantId}/${id}`;

  /** The copy of `photo`, read by Python: no metadata segments, nothing after EOI. */
  const expectCleanJpeg = async (bytes: Buffer) => {
    const layout = await jpegLayout(bytes);
    expect(metadataMarkers(layout)).toEqual([]);
    expect(layout.end).toBe(layout.length);
    expect(bytes.includes('GPS')).toBe(false);
    expect(bytes.includes(TRAILER)).toBe(false);
  };

  const submitAsync = async (who: TestTenant = tenant) => {
    const response = await scaniiRequest(service, who, '/files/async', {
      method: 'POST',
      body: fileForm(photo, { sanitize: 'true' }, 'photo.jpg'),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    return pollScanResult<Result>(service, who, id);
  };

  describe('with an s3:// upload store', () => {
    it('keeps the copy in the bucket, serves it from there, and removes it with the scan', async () => {
      const result = await submitAsync();
      if (!result.sanitized?.available) throw new Error('no copy was made');
      expect(await storedCopies()).toContain(copyKey(result.id));
      const stored = await readObject(STORE_BUCKET, copyKey(result.id));
      expect(stored.contentType).toBe('image/jpeg');
      expect(sha1(stored.bytes)).toBe(result.sanitized.checksum);

      const response = await scaniiRequest(service, tenant, `/files/${result.id}/sanitized`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(result.sanitized.size));
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(sha1(bytes)).toBe(result.sanitized.checksum);
      await expectCleanJpeg(bytes);

      const deleted = await scaniiRequest(service, tenant, `/files/${result.id}`, {
        method: 'DELETE',
      });
      expect(deleted.status).toBe(204);
      expect(await storedCopies()).not.toContain(copyKey(result.id));
      expect((await scaniiRequest(service, tenant, `/files/${result.id}/sanitized`)).status).toBe(
        404,
      );
    });

    it('sweeps a copy whose result expired, by listing the bucket', async () => {
      const expired = await submitAsync();
      const kept = await submitAsync();
      await service.service.runtime.redis.del(service.keys.scan(tenant.id, expired.id));
      await service.service.runtime.sanitizedSweeper.sweep();
      const copies = await storedCopies();
      expect(copies).not.toContain(copyKey(expired.id));
      expect(copies).toContain(copyKey(kept.id));
    });

    it('removes the copies of a deleted tenant from the bucket', async () => {
      const leaving = await service.createTenant('leaving');
      const result = await submitAsync(leaving);
      expect(await storedCopies()).toContain(copyKey(result.id, leaving.id));
      expect((await service.admin(`/tenants/${leaving.id}`, { method: 'DELETE' })).status).toBe(
        204,
      );
      expect((await storedCopies()).filter((key) => key.includes(leaving.id))).toEqual([]);
    });
  });

  describe('a bucket with sanitize', () => {
    const v1 = (requestPath: string, init: RequestInit = {}) =>
      v1Client(service, tenant.auth)(requestPath, init);

    const actions = {
      onClean: 'promote',
      production: { bucket: 'clean-out', prefix: 'ok/' },
      quarantine: { bucket: 'held', prefix: 'originals/' },
    };

    const deliveryFor = (key: string) =>
      waitFor(() => receiver.deliveries.find((d) => d.json.key === key), {
        timeoutMs: 20_000,
        what: `the callback for ${key}`,
      });

    beforeAll(async () => {
      for (const bucket of ['inbox', 'clean-out', 'held']) await harness.createBucket(bucket);
      await registerBucket(service, tenant.auth, harness, 'inbox', {
        actions,
        sanitize: true,
        callback: `${receiver.url}/callback`,
      });
      harness.bridge('inbox', {
        mode: 'http',
        url: `${service.url}/v1/events/s3`,
        authorization: tenant.auth,
      });
    });

    it('is shown, and refused without promotion and quarantine to go with it', async () => {
      const view = (await (await v1('/buckets/inbox')).json()) as { sanitize: boolean };
      expect(view.sanitize).toBe(true);
      for (const refused of [
        { onClean: 'tag', quarantine: actions.quarantine },
        { onClean: 'promote', production: actions.production },
      ]) {
        const response = await v1('/buckets/elsewhere', {
          method: 'PUT',
          body: JSON.stringify({
            endpoint: harness.s3Endpoint,
            credentials: { type: 'static', ...S3RVER_CREDENTIALS },
            actions: refused,
            sanitize: true,
          }),
        });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: string }).error).toContain(
          'sanitize needs actions.onClean "promote"',
        );
      }
    });

    it('promotes the sanitized copy of a clean object and quarantines the object itself', async () => {
      await harness.putObject('inbox', 'photos/trip 1.jpg', photo, { owner: 'alice' });
      const delivery = await deliveryFor('photos/trip 1.jpg');
      const result = delivery.json as unknown as Result;
      expect(result).toMatchObject({ outcome: 'clean', action: 'promote' });
      expect(result.action_error).toBeUndefined();
      if (!result.sanitized?.available) throw new Error('no copy was made');
      expect(result.sanitized.removed).toEqual(['metadata', 'trailing-data']);

      expect(await harness.listKeys('inbox')).toEqual([]);
      expect(await harness.listKeys('clean-out')).toEqual(['ok/photos/trip 1.jpg']);
      expect(await harness.listKeys('held')).toEqual(['originals/photos/trip 1.jpg']);
      const promoted = await readObject('clean-out', 'ok/photos/trip 1.jpg');
      expect(promoted.contentType).toBe('image/jpeg');
      expect(sha1(promoted.bytes)).toBe(result.sanitized.checksum);
      await expectCleanJpeg(promoted.bytes);
      expect(await harness.tags('clean-out', 'ok/photos/trip 1.jpg')).toMatchObject({
        owner: 'alice',
        'scan-result': 'clean',
      });
      // The original is kept as it was.
      const original = await readObject('held', 'originals/photos/trip 1.jpg');
      expect(sha1(original.bytes)).toBe(sha1(photo));
      expect(await harness.tags('held', 'originals/photos/trip 1.jpg')).toMatchObject({
        owner: 'alice',
      });
      // The same copy downloads through the API.
      const download = await scaniiRequest(service, tenant, `/files/${result.id}/sanitized`);
      expect(sha1(Buffer.from(await download.arrayBuffer()))).toBe(result.sanitized.checksum);
      const messages = await traceMessages(service, tenant, result.id);
      expect(messages).toContain(
        `promote: put the sanitized copy of s3://inbox/photos/trip 1.jpg (image/jpeg, ${result.sanitized.size} bytes) to s3://clean-out/ok/photos/trip 1.jpg with 4 tags`,
      );
      expect(messages).toContain('quarantined: deleted the source s3://inbox/photos/trip 1.jpg');
    });

    it('never promotes an object it has no sanitized copy of: it stays, tagged, with the reason', async () => {
      await harness.putObject('inbox', 'notes/plain.txt', 'plain words\n', { owner: 'bob' });
      const delivery = await deliveryFor('notes/plain.txt');
      const result = delivery.json as unknown as Result;
      const why =
        'not promoted: the bucket promotes sanitized copies only, and there is none (no sanitizer for text/plain)';
      expect(result).toMatchObject({
        outcome: 'clean',
        action: 'tag',
        action_error: why,
        sanitized: { available: false, reason: 'no sanitizer for text/plain' },
      });
      expect(await harness.listKeys('inbox')).toEqual(['notes/plain.txt']);
      expect(await harness.tags('inbox', 'notes/plain.txt')).toMatchObject({
        owner: 'bob',
        'scan-result': 'clean',
      });
      expect(await harness.listKeys('clean-out')).not.toContain('ok/notes/plain.txt');
      expect(await harness.listKeys('held')).not.toContain('originals/notes/plain.txt');
    });
  });
});

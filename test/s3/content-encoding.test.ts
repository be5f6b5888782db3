import { spawnSync } from 'node:child_process';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, sha1 } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import {
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * S3 serves an object stored with a `ContentEncoding` with that `Content-Encoding`, and a
 * browser decodes it: the object is judged decoded (and as stored). s3rver holds the objects;
 * the whole service runs in this process against a real redis-server, events forwarded to
 * `/v1/events/s3` and a retro job crawling a bucket.
 */

const SECRET_KEY = Buffer.alloc(32, 5).toString('base64');
const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const CLEAN_TEXT = Buffer.from('Nothing here but plain text.\n'.repeat(50));

/** Debian's gzip on `data` (stdin → stdout). */
function gzip(data: Buffer): Buffer {
  const run = spawnSync('gzip', ['-c', '-n'], { input: data });
  if (run.status !== 0) throw new Error(`gzip failed: ${String(run.stderr)}`);
  return run.stdout;
}

const OBJECTS: Array<{ key: string; encoding: string; body: Buffer; infected: boolean }> = [
  { key: 'eicar.txt', encoding: 'gzip', body: gzip(eicar()), infected: true },
  { key: 'eicar-br.txt', encoding: 'br', body: zlib.brotliCompressSync(eicar()), infected: true },
  {
    key: 'stacked.txt',
    encoding: 'gzip, br',
    body: zlib.brotliCompressSync(gzip(eicar())),
    infected: true,
  },
  { key: 'clean.txt', encoding: 'br', body: zlib.brotliCompressSync(CLEAN_TEXT), infected: false },
];

describe('S3 objects stored with a ContentEncoding', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    service = await startTestService({ ARBITER_SECRET_KEY: SECRET_KEY });
    tenant = await service.createTenant('encoded-objects');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
  });

  const putEncoded = async (bucket: string, object: (typeof OBJECTS)[number]) => {
    await harness.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: object.key,
        Body: object.body,
        ContentEncoding: object.encoding,
        ContentType: 'text/plain',
      }),
    );
  };

  it('tags an object infected when its decoded content is, and calls back with the stored bytes', async () => {
    const bucket = 'encoded-events';
    await harness.createBucket(bucket);
    await registerBucket(service, tenant.auth, harness, bucket, {
      callback: `${receiver.url}/callback`,
    });
    harness.bridge(bucket, {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    for (const object of OBJECTS) await putEncoded(bucket, object);

    for (const object of OBJECTS) {
      const tags = await harness.waitForTag(bucket, object.key, 'scan-result');
      expect(tags['scan-result'], object.key).toBe(object.infected ? 'infected' : 'clean');
      const delivery = await waitFor(
        () =>
          receiver.deliveries.find((d) => d.json.bucket === bucket && d.json.key === object.key),
        { timeoutMs: 20_000, what: `the callback for ${object.key}` },
      );
      expect(delivery.json, object.key).toMatchObject({
        outcome: object.infected ? 'infected' : 'clean',
        findings: object.infected ? [EICAR_FINDING] : [],
        // The object as stored, not as decoded.
        checksum: sha1(object.body),
        content_length: object.body.length,
      });
    }
    expect(harness.bridgeErrors).toEqual([]);
  });

  it('judges encoded objects decoded in a retro scan too', async () => {
    const bucket = 'encoded-retro';
    await harness.createBucket(bucket);
    await registerBucket(service, tenant.auth, harness, bucket);
    for (const object of OBJECTS) await putEncoded(bucket, object);

    const v1 = v1Client(service, tenant.auth);
    const created = await v1('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: bucket }] }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const done = await waitFor(
      async () => {
        const job = (await (await v1(`/jobs/${id}`)).json()) as {
          state: string;
          counters: Record<string, number>;
        };
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `retro job ${id} to complete` },
    );
    const infected = OBJECTS.filter((object) => object.infected).length;
    expect(done.counters).toMatchObject({
      scanned: OBJECTS.length,
      infected,
      clean: OBJECTS.length - infected,
      unscannable: 0,
      errors: 0,
    });
    for (const object of OBJECTS) {
      const tags = await harness.tags(bucket, object.key);
      expect(tags['scan-result'], object.key).toBe(object.infected ? 'infected' : 'clean');
    }
  });

  it('judges a pre-signed link to an encoded object decoded, as a browser following it would', async () => {
    const bucket = 'encoded-links';
    await harness.createBucket(bucket);
    for (const object of OBJECTS) {
      await putEncoded(bucket, object);
      const link = await getSignedUrl(
        harness.s3,
        new GetObjectCommand({ Bucket: bucket, Key: object.key }),
        { expiresIn: 600 },
      );
      const form = new FormData();
      form.append('location', link);
      const response = await scaniiRequest(service, tenant, '/files', {
        method: 'POST',
        body: form,
      });
      expect(response.status, object.key).toBe(201);
      expect(await response.json(), object.key).toMatchObject({
        findings: object.infected ? [EICAR_FINDING] : [],
        checksum: sha1(object.body),
        content_length: object.body.length,
      });
    }
  });
});

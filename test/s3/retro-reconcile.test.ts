import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { ObjectLeases } from '../../s3/object-scans.js';
import { objectRef } from '../../scans/request.js';
import { objectDigest } from '../../s3/retro/jobs.js';
import type { RetroJobView } from '../../s3/retro/schema.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A retro job that stops making progress is set going again by the workers' stall audit. The
 * states it recovers from are those a Redis primary that fails over leaves behind: replication
 * is asynchronous, so the replica that takes over has every write up to some point and none
 * after. Making a real failover lose exactly one chosen write cannot be arranged, so each test
 * runs a real job to its end on a real redis-server, s3rver and the whole service, then puts the
 * job back, with plain Redis commands, into the state such a loss leaves (a credit missing, a
 * claim still held, a crawl never queued), and watches the service finish it through its API.
 * ARBITER_RETRO_STALL_SECONDS is 1, so the audit runs every 250 ms.
 */

const SECRET_KEY = Buffer.alloc(32, 11).toString('base64');
const BUCKET = 'reconcile';
const OBJECTS = 12;
const LONG_AGO = '2001-01-01T00:00:00.000Z';

describe('a retro job that stopped making progress', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let redis: Redis;
  let keys: RedisKeys;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_RETRO_STALL_SECONDS: '1',
      ARBITER_SCAN_CONCURRENCY: '4',
    });
    tenant = await service.createTenant('reconcile');
    redis = new Redis({ path: service.redis.socket });
    keys = service.keys;
    await harness.createBucket(BUCKET);
    expect((await registerBucket(service, tenant.auth, harness, BUCKET)).status).toBe(201);
    for (let i = 0; i < OBJECTS; i += 1) {
      await harness.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: objectKey(i), Body: body(i) }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await service?.stop();
    await harness?.stop();
  });

  const objectKey = (i: number) => `objects/${String(i).padStart(2, '0')}.txt`;
  const body = (i: number) => `object ${i}\n`;
  const v1 = (path: string, init: RequestInit = {}) => v1Client(service, tenant.auth)(path, init);
  const getJob = async (id: string) => (await (await v1(`/jobs/${id}`)).json()) as RetroJobView;
  const waitForCompleted = (id: string) =>
    waitFor(
      async () => {
        const job = await getJob(id);
        if (job.state === 'failed') throw new Error(`job failed: ${job.error}`);
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `retro job ${id} to complete` },
    );

  const runJob = async () => {
    const response = await v1('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: BUCKET }] }),
    });
    expect(response.status).toBe(201);
    const job = await waitForCompleted(((await response.json()) as RetroJobView).id);
    expect(job.counters).toMatchObject({ matched: OBJECTS, scanned: OBJECTS, clean: OBJECTS });
    return job;
  };

  /** Stored results of object `i`, newest first (GET /v1/scans, searched by its checksum). */
  const resultsOf = async (i: number) => {
    const sha1 = createHash('sha1').update(body(i)).digest('hex');
    const response = await v1(`/scans?limit=100&q=${sha1}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { scans: Array<{ id: string }> }).scans;
  };

  /**
   * Puts a completed job back to `scanning` as a lost write leaves it: every object credited
   * but `lost` (whose credit never reached the replica), counters to match, no progress for long.
   */
  const forgeStalledJob = async (
    id: string,
    options: { lost: number[]; matched?: number; state?: 'scanning' | 'crawling' },
  ) => {
    const jobKey = keys.retroJob(tenant.id, id);
    const creditedKey = keys.retroCredited(tenant.id, id);
    const credited = Array.from({ length: OBJECTS }, (_, i) => i).filter(
      (i) => !options.lost.includes(i),
    );
    const multi = redis.multi().del(creditedKey).hdel(jobKey, 'finished_at').persist(jobKey);
    for (const i of credited) multi.hset(creditedKey, objectDigest(BUCKET, objectKey(i)), 'clean');
    multi.hset(jobKey, {
      state: options.state ?? 'scanning',
      matched: options.matched ?? OBJECTS,
      scanned: credited.length,
      clean: credited.length,
      progress_at: LONG_AGO,
    });
    await multi.exec();
  };

  it('credits a lost outcome from the scan that settled, without scanning the object again', async () => {
    const job = await runJob();
    const [settled] = await resultsOf(3);
    // The scan's release of its claim was lost with its credit: the claim is still held by it.
    const lease = new ObjectLeases(redis as never, keys).leaseKey(
      tenant.id,
      objectRef({
        bucket: BUCKET,
        key: objectKey(3),
        eTag: await eTagOf(objectKey(3)),
      }),
    );
    await redis.set(lease, settled!.id, 'PX', 3_600_000);
    await forgeStalledJob(job.id, { lost: [3] });

    const done = await waitForCompleted(job.id);
    expect(done.counters).toMatchObject({ matched: OBJECTS, scanned: OBJECTS, clean: OBJECTS });
    expect(done.reconciled).toEqual({ passes: 1, objects: 1 });
    expect(done.error).toBeUndefined();
    expect(await resultsOf(3)).toHaveLength(1);
    // The claim is given back: the next event for the object is scanned.
    expect(await redis.exists(lease)).toBe(0);
  });

  it('scans again an object whose scan was lost altogether', async () => {
    const job = await runJob();
    const before = await resultsOf(7);
    await forgeStalledJob(job.id, { lost: [5, 7] });

    const done = await waitForCompleted(job.id);
    expect(done.counters).toMatchObject({ matched: OBJECTS, scanned: OBJECTS, clean: OBJECTS });
    expect(done.reconciled).toEqual({ passes: 1, objects: 2 });
    expect(await resultsOf(7)).toHaveLength(before.length + 1);
    expect(await resultsOf(0)).toHaveLength(before.length);
  });

  it('ends with errors for matched objects no listing shows any more', async () => {
    const job = await runJob();
    // The crawl matched one object more than the bucket now holds (deleted since): all the
    // others are credited, so the pass finds nothing to scan and nothing in flight.
    await forgeStalledJob(job.id, { lost: [], matched: OBJECTS + 1 });

    const done = await waitForCompleted(job.id);
    expect(done.counters).toMatchObject({
      matched: OBJECTS + 1,
      scanned: OBJECTS + 1,
      clean: OBJECTS,
      errors: 1,
    });
    expect(done.error).toMatch(/1 matched object\(s\) were no longer in the bucket/);
    expect(done.reconciled).toEqual({ passes: 1, objects: 0 });
  });

  it('queues the crawl again when a crawling job has none', async () => {
    const job = await runJob();
    // A job whose crawl was never queued (the queueing write was lost): its first page unlisted.
    await redis.hset(keys.retroJob(tenant.id, job.id), {
      cp_page: 0,
      cp_bucket: 0,
      cp_token: '',
      cp_after: '',
      crawl_done: '0',
      listed: 0,
    });
    await forgeStalledJob(job.id, { lost: [], matched: 0, state: 'crawling' });
    await redis.hset(keys.retroJob(tenant.id, job.id), { scanned: 0, clean: 0 });
    await redis.del(keys.retroCredited(tenant.id, job.id));

    const done = await waitForCompleted(job.id);
    expect(done.counters).toMatchObject({
      listed: OBJECTS,
      matched: OBJECTS,
      scanned: OBJECTS,
      clean: OBJECTS,
    });
    expect(done.reconciled).toBeUndefined();
  });

  it('leaves alone a job that is still making progress', async () => {
    const job = await runJob();
    await forgeStalledJob(job.id, { lost: [1] });
    await redis.hset(keys.retroJob(tenant.id, job.id), 'progress_at', '2999-01-01T00:00:00.000Z');

    const audit = await service.service.runtime.retroAudit.run();
    expect(audit).toEqual({ resumed: 0, reconciling: 0 });
    expect((await getJob(job.id)).state).toBe('scanning');
    // Ended here, so the running audit leaves it for the tests after this one.
    expect((await v1(`/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(200);
  });

  const eTagOf = async (key: string) => {
    const head = await harness.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return head.ETag!;
  };
});

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { crawlJobId } from '../../s3/retro/index.js';
import type { RetroJobView } from '../../s3/retro/schema.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  startWorkerProcess,
  type ArbiterProcess,
} from '../support/worker-process.js';

/**
 * A retro crawl survives its worker: the api runs in this process, the crawler (with the scan
 * workers) in `arbiter worker` child processes that the test kills with SIGKILL right after the
 * first checkpoint, or stops with SIGTERM mid-crawl. Small pages (15 keys) give the crawl of
 * 600 objects 40 checkpoints; a short lock (2 s) and stalled-check interval (0.5 s) let the
 * next worker take the crawl over quickly.
 */

const SECRET_KEY = Buffer.alloc(32, 5).toString('base64');
const BUCKET = 'retro-resume';
const OBJECTS = 600;
const PAGE = 15;
const PAGES = OBJECTS / PAGE;

describe('a retro crawl whose worker dies', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let inspector: Redis;
  let retroQueue: Queue;
  let keys: RedisKeys;
  let workerEnv: Record<string, string>;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService(
      { ARBITER_SECRET_KEY: SECRET_KEY },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('resume');
    workerEnv = {
      ...service.env,
      ARBITER_RETRO_PAGE_SIZE: String(PAGE),
      ARBITER_JOB_LOCK_MS: '2000',
      ARBITER_STALLED_INTERVAL_MS: '500',
      ARBITER_SCAN_CONCURRENCY: '8',
    };
    inspector = new Redis({ path: service.redis.socket });
    retroQueue = new Queue(QUEUE_NAMES.retro, {
      connection: { path: service.redis.socket },
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.retro),
    });
    keys = service.keys;

    await harness.createBucket(BUCKET);
    expect((await registerBucket(service, tenant.auth, harness, BUCKET)).status).toBe(201);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < OBJECTS) {
          const i = next++;
          await harness.s3.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: `objects/${String(i).padStart(4, '0')}.txt`,
              Body: Buffer.from(`object ${i}\n`),
            }),
          );
        }
      }),
    );
  }, 60_000);

  afterEach(async () => {
    await killAllArbiterProcesses();
  });

  afterAll(async () => {
    await killAllArbiterProcesses();
    await retroQueue?.close();
    inspector?.disconnect();
    await service?.stop();
    await harness?.stop();
  });

  const v1 = (path: string, init: RequestInit = {}) => v1Client(service, tenant.auth)(path, init);

  const createJob = async () => {
    const response = await v1('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: BUCKET }] }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as RetroJobView;
  };

  const getJob = async (id: string) => (await (await v1(`/jobs/${id}`)).json()) as RetroJobView;

  /** The job's crawl checkpoint, read from Redis as the crawler wrote it. */
  const checkpoint = async (id: string) => {
    const [page, done] = await inspector.hmget(
      keys.retroJob(tenant.id, id),
      'cp_page',
      'crawl_done',
    );
    return { page: Number(page ?? 0), done: done === '1' };
  };

  const pageSubmissions = async (id: string) =>
    Object.fromEntries(
      Object.entries(await inspector.hgetall(keys.retroPages(tenant.id, id))).map(([p, n]) => [
        Number(p),
        Number(n),
      ]),
    ) as Record<number, number>;

  /** Scan records created for this tenant (each submission that queued a scan made one). */
  const scanRecords = async () => {
    let cursor = '0';
    let count = 0;
    do {
      const [next, found] = await inspector.scan(
        cursor,
        'MATCH',
        `${keys.scan(tenant.id, '*')}`,
        'COUNT',
        1000,
      );
      cursor = next;
      count += found.length;
    } while (cursor !== '0');
    return count;
  };

  const waitForCheckpoint = (id: string, page: number, intervalMs = 2) =>
    waitFor(async () => ((await checkpoint(id)).page >= page ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs,
      what: `checkpoint ${page} of job ${id}`,
    });

  const waitForState = (id: string, state: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const job = await getJob(id);
        if (job.state === 'failed') throw new Error(`job failed: ${job.error}`);
        return job.state === state ? job : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `retro job ${id} to be ${state}` },
    );

  it(
    'resumes from the last checkpoint after a SIGKILL without resubmitting finished pages',
    { timeout: 120_000 },
    async () => {
      // Cancelled before any worker ran: the crawl, when a worker takes it, lists nothing.
      const early = await createJob();
      const cancelled = await v1(`/jobs/${early.id}/cancel`, { method: 'POST' });
      expect(cancelled.status).toBe(200);
      expect(await cancelled.json()).toMatchObject({ state: 'cancelled', started_at: null });
      expect((await v1(`/jobs/${early.id}/cancel`, { method: 'POST' })).status).toBe(200);

      const job = await createJob();
      const first: ArbiterProcess = await startWorkerProcess(workerEnv);
      await waitForCheckpoint(job.id, 1);
      await first.kill();
      const atKill = await checkpoint(job.id);
      const submittedAtKill = await pageSubmissions(job.id);
      // Killed mid-crawl: some pages are checkpointed, not all.
      expect(atKill.done).toBe(false);
      expect(atKill.page).toBeGreaterThanOrEqual(1);
      expect(atKill.page).toBeLessThan(PAGES);
      expect((await getJob(job.id)).state).toBe('crawling');

      const second = await startWorkerProcess(workerEnv);
      const resumed = await second.waitForLog(
        (line) =>
          line.msg === 'resuming a retro crawl from its checkpoint' && line.jobId === job.id,
        30_000,
      );
      // It starts where the dead crawler's last checkpoint was, not at the beginning.
      expect(resumed.page).toBe(atKill.page);

      const done = await waitForState(job.id, 'completed');
      expect(done.counters).toEqual({
        listed: OBJECTS,
        matched: OBJECTS,
        scanned: OBJECTS,
        clean: OBJECTS,
        infected: 0,
        unscannable: 0,
        errors: 0,
        skipped: 0,
      });

      // Pages checkpointed before the kill were submitted once; the page in flight at the kill
      // (number atKill.page) at most twice; every later page once.
      const submissions = await pageSubmissions(job.id);
      expect(Object.keys(submissions).length).toBe(PAGES);
      for (let page = 0; page < PAGES; page++) {
        if (page < atKill.page) expect({ page, n: submissions[page] }).toEqual({ page, n: 1 });
        else if (page === atKill.page) expect(submissions[page]).toBeLessThanOrEqual(2);
        else expect({ page, n: submissions[page] }).toEqual({ page, n: 1 });
        if (page < atKill.page) expect(submittedAtKill[page]).toBe(1);
      }
      // Scans created: one per object, plus at most one page's worth resubmitted.
      const scans = await scanRecords();
      expect(scans).toBeGreaterThanOrEqual(OBJECTS);
      expect(scans).toBeLessThanOrEqual(OBJECTS + PAGE);

      // The job cancelled before any worker ran was never crawled.
      await waitFor(
        async () => (await retroQueue.getJobState(crawlJobId(early.id))) === 'completed',
        { timeoutMs: 10_000, what: 'the cancelled job’s crawl to end' },
      );
      expect(await getJob(early.id)).toMatchObject({
        state: 'cancelled',
        started_at: null,
        counters: { listed: 0, matched: 0, scanned: 0 },
      });
    },
  );

  it('stops listing and submitting when cancelled mid-crawl', { timeout: 60_000 }, async () => {
    await startWorkerProcess(workerEnv);
    const job = await createJob();
    await waitForCheckpoint(job.id, 1);
    const response = await v1(`/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ state: 'cancelled' });
    // The crawl ends (its BullMQ job completes) without going through the whole bucket.
    await waitFor(async () => (await retroQueue.getJobState(crawlJobId(job.id))) === 'completed', {
      timeoutMs: 20_000,
      what: 'the cancelled crawl to end',
    });
    const stopped = await checkpoint(job.id);
    expect(stopped.done).toBe(false);
    expect(stopped.page).toBeLessThan(PAGES);
    const submissions = await pageSubmissions(job.id);
    expect(Object.keys(submissions).length).toBe(stopped.page);

    // Scans already queued still finish and are counted; the state stays cancelled.
    const settled = await waitFor(
      async () => {
        const current = await getJob(job.id);
        return current.counters.scanned === current.counters.matched ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'the queued scans of the cancelled job' },
    );
    expect(settled.state).toBe('cancelled');
    expect(settled.counters.listed).toBe(stopped.page * PAGE);
    expect(settled.counters.matched).toBe(stopped.page * PAGE);
    expect(settled.counters.listed).toBeLessThan(OBJECTS);
    expect(settled.finished_at).not.toBeNull();
  });

  it(
    'hands the crawl back on SIGTERM and the next worker continues after the last page',
    { timeout: 90_000 },
    async () => {
      const first = await startWorkerProcess(workerEnv);
      const job = await createJob();
      await waitForCheckpoint(job.id, 1);
      const exit = await first.signal('SIGTERM');
      expect(exit.code).toBe(0);
      const atStop = await checkpoint(job.id);
      expect(atStop.done).toBe(false);
      // Stopped between pages: nothing was submitted past the checkpoint.
      expect(Object.keys(await pageSubmissions(job.id)).length).toBe(atStop.page);
      // Handed back to the queue, not failed and not finished.
      expect(await retroQueue.getJobState(crawlJobId(job.id))).toMatch(/^(delayed|waiting|wait)$/);

      await startWorkerProcess(workerEnv);
      const done = await waitForState(job.id, 'completed');
      expect(done.counters).toMatchObject({ listed: OBJECTS, matched: OBJECTS, scanned: OBJECTS });
      const submissions = await pageSubmissions(job.id);
      expect(Object.values(submissions)).toEqual(Array.from({ length: PAGES }, () => 1));
    },
  );
});

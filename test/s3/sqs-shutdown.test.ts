import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

afterEach(async () => {
  await killAllArbiterProcesses();
});

/**
 * SIGTERM to a worker process that is polling SQS with work in flight: the long poll is aborted
 * (no 20 s wait), messages being handled are finished, the process exits 0, and no event is
 * lost — whatever it had not finished is received and scanned by the next worker.
 */
describe('SIGTERM to a worker polling SQS', () => {
  let redis: TestRedis;
  let harness: S3Harness;
  let api: TestService;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    redis = await startTestRedis();
    harness = await startS3Harness();
    dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-worker-'));
    env = {
      ...redis.serviceEnv,
      ARBITER_DATA_DIR: dataDir,
      ARBITER_SECRET_KEY: '12'.repeat(32),
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
      ARBITER_SQS_WAIT_SECONDS: '20',
      ARBITER_SQS_VISIBILITY_SECONDS: '2',
      ARBITER_SQS_REFRESH_MS: '100',
    };
    api = await startTestService(env, { redis, roles: { api: true, workers: false } });
  });
  afterAll(async () => {
    await api?.stop();
    await harness?.stop();
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stops polling at once, finishes the batch in hand, exits 0, and loses no event', async () => {
    const tenant = await api.createTenant('graceful');
    await harness.createBucket('busy');
    const queue = await harness.createQueue('q-busy');
    const registered = await registerBucket(api, tenant.auth, harness, 'busy', {
      queue: {
        url: queue.url,
        endpoint: harness.sqsEndpoint,
        credentials: { type: 'static', accessKeyId: 'q', secretAccessKey: 'q' },
      },
    });
    expect(registered.status).toBe(201);
    harness.bridge('busy', { mode: 'direct', queueUrl: queue.url });

    const first = await startWorkerProcess(env);
    await first.waitForLog('polling SQS for S3 events');
    const keys = Array.from({ length: 30 }, (_, i) => `incoming/file ${i}.txt`);
    await Promise.all(keys.map((key) => harness.putObject('busy', key, `content ${key}`)));
    await harness.waitForTag('busy', keys[0]!, 'scan-result');

    const asked = Date.now();
    const exit = await first.signal('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - asked).toBeLessThan(10_000); // the 20 s long poll was cut short
    expect(first.logs.some((line) => line.msg === 'stopped polling SQS')).toBe(true);

    const second = await startWorkerProcess(env);
    for (const key of keys)
      expect(
        (await harness.waitForTag('busy', key, 'scan-result', 'clean', 30_000))['scan-result'],
      ).toBe('clean');
    await waitFor(
      async () => {
        const depth = await harness.queueDepth(queue.url);
        return depth.visible === 0 && depth.inFlight === 0;
      },
      { what: 'the queue to drain' },
    );
    await second.signal('SIGTERM');
  }, 60_000);
});

import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { pacedLoad, tally } from '../support/load.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  startWorkerProcess,
  type ArbiterProcess,
} from '../support/worker-process.js';

afterEach(async () => {
  await killAllArbiterProcesses();
});

/**
 * Redis SIGKILLed and restarted while 400 /files/fetch requests (with callbacks) arrive at a
 * steady pace. Redis runs with AOF and `appendfsync always`, as it should in production when
 * nothing accepted may be lost. The api runs in this process, the worker as its own OS process;
 * neither is restarted or told anything. Afterwards every request that was answered 202 has its
 * result and its callback, the requests made while Redis was down were answered 503 (quickly,
 * with Retry-After), and both processes are working again.
 */
describe('Redis killed and restarted under load', () => {
  const REQUESTS = 400;
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let worker: ArbiterProcess;
  let scanQueue: Queue;
  let redisDown = false;
  const payload = randomContent(4096);

  beforeAll(async () => {
    redis = await startTestRedis({ appendonly: true });
    const env = {
      // Retries come round quickly enough for a test; the schedule is otherwise the default one.
      ARBITER_SCAN_RETRY_BASE_MS: '200',
      ARBITER_CALLBACK_RETRY_BASE_MS: '200',
      ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
      ARBITER_CALLBACK_TENANT_CONCURRENCY: '8',
      ARBITER_JOB_LOCK_MS: '5000',
      ARBITER_STALLED_INTERVAL_MS: '1000',
    };
    service = await startTestService(env, { redis, roles: { api: true, workers: false } });
    tenant = await service.createTenant('under-load');
    content = await startHttpServer({ '/file.bin': payload });
    receiver = await startCallbackReceiver();
    worker = await startWorkerProcess(service.env);
    scanQueue = new Queue(QUEUE_NAMES.scan, {
      connection: redisOptionsFromUrl(redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.scan),
    });
    scanQueue.on('error', () => undefined);
  });
  afterAll(async () => {
    if (redisDown) await redis.start();
    await killAllArbiterProcesses();
    await scanQueue?.close();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    scaniiRequest(service, tenant, path, init, 15_000);

  it('loses no accepted request, refuses with 503 while Redis is down, and heals by itself', async () => {
    // Where the outage falls in the run: Redis is killed before request 120 and started again
    // once request 280 is due and at least 10 refusals have come back (whichever is later).
    const outage: { killed?: Promise<void>; restarted?: Promise<void> } = {};
    let killedAt = Infinity;
    let restartedAt = Infinity;
    let refusals = 0;
    const restart = () => {
      outage.restarted ??= (async () => {
        await outage.killed;
        await waitFor(() => refusals >= 10, { timeoutMs: 20_000, what: '10 refusals (503)' });
        restartedAt = Date.now();
        await redis.start();
        redisDown = false;
      })();
    };

    const results = await pacedLoad(
      {
        count: REQUESTS,
        perTick: 4,
        tickMs: 40,
        beforeEach: (i) => {
          if (i === 120) {
            outage.killed = redis.kill().then(() => {
              redisDown = true;
              killedAt = Date.now();
            });
          }
          if (i === 280) restart();
        },
      },
      async () => {
        const startedAt = Date.now();
        const response = await api('/files/fetch', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            location: `${content.url}/file.bin`,
            callback: `${receiver.url}/callback`,
          }),
        });
        const body = (await response.json()) as { id?: string; error?: string };
        if (response.status === 503) refusals += 1;
        return {
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body,
          startedAt,
          endedAt: Date.now(),
        };
      },
    );
    restart();
    await outage.restarted;

    expect(results.filter((r) => !r.ok)).toEqual([]);
    const answers = results.flatMap((r) => (r.ok ? [r.value] : []));
    const statuses = tally(answers.map((a) => a.status));
    // Only two answers exist: accepted, or refused with a clear "retry" (never a 500 or a hang).
    expect(Object.keys(statuses).sort()).toEqual(['202', '503']);
    for (const refused of answers.filter((a) => a.status === 503)) {
      expect(refused.retryAfter).toMatch(/^\d+$/);
      expect(refused.body.error).toMatch(/retry/i);
    }
    // Every request made and answered entirely within the outage was refused.
    const duringOutage = answers.filter((a) => a.startedAt > killedAt && a.endedAt < restartedAt);
    expect(duringOutage.length).toBeGreaterThanOrEqual(10);
    expect(tally(duringOutage.map((a) => a.status))).toEqual({ 503: duringOutage.length });
    // Requests before the kill were all accepted.
    const accepted = answers.filter((a) => a.status === 202).map((a) => a.body.id ?? '');
    expect(accepted.length).toBeGreaterThanOrEqual(120);

    // The api heals: ready again, and new work is accepted.
    await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 200, {
      timeoutMs: 20_000,
      what: 'readyz to recover',
    });
    const after = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        location: `${content.url}/file.bin`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(after.status).toBe(202);
    accepted.push(((await after.json()) as { id: string }).id);

    // The worker heals too (the same process, never restarted): every accepted scan gets its
    // result and its callback.
    const pending = new Set(accepted);
    await waitFor(
      async () => {
        for (const id of [...pending]) {
          const response = await api(`/files/${id}`);
          if (response.status !== 200) return false;
          expect(await response.json()).toMatchObject({
            id,
            checksum: sha1(payload),
            findings: [],
          });
          pending.delete(id);
        }
        return true;
      },
      { timeoutMs: 60_000, what: `results of all ${accepted.length} accepted scans` },
    );
    await waitFor(() => accepted.every((id) => receiver.deliveries.some((d) => d.json.id === id)), {
      timeoutMs: 60_000,
      what: `callbacks of all ${accepted.length} accepted scans`,
    });
    expect(worker.child.exitCode).toBeNull();
    // A delivery may be repeated when Redis died between the POST and its acknowledgement
    // (at-least-once); a repeat carries the same webhook-id, so receivers can drop it.
    const idsByScan = new Map<string, Set<string>>();
    for (const delivery of receiver.deliveries) {
      const scanId = String(delivery.json.id);
      const ids = idsByScan.get(scanId) ?? new Set<string>();
      ids.add(String(delivery.headers['webhook-id']));
      idsByScan.set(scanId, ids);
    }
    for (const id of accepted) expect(idsByScan.get(id)?.size).toBe(1);
    // Nothing is stuck: no scan job is left waiting or failed.
    const counts = await scanQueue.getJobCounts(
      'waiting',
      'prioritized',
      'active',
      'delayed',
      'failed',
    );
    expect(counts).toEqual({ waiting: 0, prioritized: 0, active: 0, delayed: 0, failed: 0 });
  });
});

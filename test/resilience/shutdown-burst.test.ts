import type { ServerResponse } from 'node:http';
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
import { tally } from '../support/load.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { waitForCallbackDone } from '../support/callbacks.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

afterEach(async () => {
  await killAllArbiterProcesses();
});

/**
 * SIGTERM to a worker in the middle of a burst: it takes no new job, finishes the four it holds
 * (their downloads are held open by the test until after the signal), stores their results and
 * exits 0; the rest of the burst is left queued for the next worker. In the end every one of the
 * 50 scans has exactly one result, one download and one callback.
 */
describe('SIGTERM to a worker during a burst of 50 fetches', () => {
  const BURST = 50;
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let callbackQueue: Queue;
  let scanQueue: Queue;
  const payload = randomContent(64 * 1024);
  /** Downloads answered halfway and held until the test lets them finish. */
  const held: Array<{ path: string; res: ServerResponse }> = [];
  let holding = true;
  const downloads: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    service = await startTestService(
      // One tenant's burst: it may use every one of the worker's 4 scan slots.
      { ARBITER_CALLBACK_TENANT_CONCURRENCY: '8', ARBITER_SCAN_TENANT_CONCURRENCY: '4' },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('burst');
    receiver = await startCallbackReceiver();
    const routes: Record<string, (req: { url?: string }, res: ServerResponse) => void> = {};
    for (let i = 0; i < BURST; i += 1) {
      routes[`/slow/${i}`] = (req, res) => {
        const path = req.url ?? '';
        downloads.push(path);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(payload.length),
        });
        if (!holding) {
          res.end(payload);
          return;
        }
        res.write(payload.subarray(0, 1024));
        held.push({ path, res });
      };
    }
    content = await startHttpServer(routes);
    const connection = redisOptionsFromUrl(redis.url);
    const prefix = service.service.runtime.queuePrefix;
    callbackQueue = new Queue(QUEUE_NAMES.callback, {
      connection,
      prefix: prefix(QUEUE_NAMES.callback),
    });
    scanQueue = new Queue(QUEUE_NAMES.scan, { connection, prefix: prefix(QUEUE_NAMES.scan) });
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    for (const { res } of held) res.destroy();
    await callbackQueue?.close();
    await scanQueue?.close();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);

  it('finishes the jobs in flight, exits 0, and leaves the rest to the next worker: each scan once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < BURST; i += 1) {
      const response = await api('/files/fetch', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          location: `${content.url}/slow/${i}`,
          callback: `${receiver.url}/callback`,
        }),
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }

    const first = await startWorkerProcess({ ...service.env, ARBITER_SCAN_CONCURRENCY: '4' });
    await waitFor(() => held.length === 4, { what: 'the worker to start 4 downloads' });

    first.child.kill('SIGTERM');
    await first.waitForLog(
      (line) => typeof line.msg === 'string' && line.msg.startsWith('shutting down'),
    );
    // Only now do the four downloads in flight complete (and any later one is served at once).
    holding = false;
    const inFlight = held.map((h) => h.path);
    for (const { res } of held) res.end(payload.subarray(1024));

    const exit = await first.exited;
    expect({ exit, output: exit.code === 0 ? '' : first.output() }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(first.logs.some((line) => line.msg === 'stopped')).toBe(true);
    // It took nothing after the signal: four downloads in all, and those four scans are done.
    expect(downloads.sort()).toEqual([...inFlight].sort());
    const doneByFirst = ids.filter((_, i) => inFlight.includes(`/slow/${i}`));
    expect(doneByFirst).toHaveLength(4);
    for (const id of doneByFirst) {
      const result = (await (await api(`/files/${id}`)).json()) as Record<string, unknown>;
      expect(result).toMatchObject({ id, checksum: sha1(payload), findings: [] });
    }
    const left = await scanQueue.getJobCounts('prioritized', 'waiting', 'active', 'completed');
    expect(left).toEqual({ prioritized: BURST - 4, waiting: 0, active: 0, completed: 4 });

    // The next worker takes on the rest.
    await startWorkerProcess({ ...service.env, ARBITER_SCAN_CONCURRENCY: '4' });
    await waitFor(async () => (await scanQueue.getJobCounts('completed')).completed === BURST, {
      timeoutMs: 30_000,
      what: 'all 50 scans to complete',
    });
    for (const id of ids) await waitForCallbackDone(service.service.runtime, tenant.id, id);
    for (const id of ids) {
      const result = (await (await api(`/files/${id}`)).json()) as Record<string, unknown>;
      expect(result).toMatchObject({ id, checksum: sha1(payload), findings: [] });
    }
    // Exactly once each: one download per location, one callback per scan.
    expect(Object.values(tally(downloads))).toEqual(Array(BURST).fill(1));
    expect(downloads).toHaveLength(BURST);
    const delivered = tally(receiver.deliveries.map((d) => String(d.json.id)));
    expect(Object.keys(delivered).sort()).toEqual([...ids].sort());
    expect(Object.values(delivered)).toEqual(Array(BURST).fill(1));
  });
});

/**
 * The other way out: jobs that do not finish before ARBITER_SHUTDOWN_TIMEOUT_MS. The worker exits
 * 1 at the deadline with its jobs still held; their locks lapse and the next worker's stalled-job
 * check hands them to it. Their downloads start over; each scan still gets one result and one
 * callback.
 */
describe('SIGTERM to a worker whose jobs outlast the shutdown deadline', () => {
  const BURST = 12;
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let scanQueue: Queue;
  let callbackQueue: Queue;
  const payload = randomContent(16 * 1024);
  const held: ServerResponse[] = [];
  let holding = true;
  const downloads: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    service = await startTestService(
      {
        ARBITER_JOB_LOCK_MS: '1500',
        ARBITER_STALLED_INTERVAL_MS: '500',
        // One tenant's jobs: it may use every one of the worker's 4 scan slots.
        ARBITER_SCAN_TENANT_CONCURRENCY: '4',
      },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('deadline');
    receiver = await startCallbackReceiver();
    const routes: Record<string, (req: { url?: string }, res: ServerResponse) => void> = {};
    for (let i = 0; i < BURST; i += 1) {
      routes[`/slow/${i}`] = (req, res) => {
        downloads.push(req.url ?? '');
        res.writeHead(200, { 'content-length': String(payload.length) });
        if (!holding) {
          res.end(payload);
          return;
        }
        res.write(payload.subarray(0, 1024));
        held.push(res);
      };
    }
    content = await startHttpServer(routes);
    const connection = redisOptionsFromUrl(redis.url);
    const prefix = service.service.runtime.queuePrefix;
    scanQueue = new Queue(QUEUE_NAMES.scan, { connection, prefix: prefix(QUEUE_NAMES.scan) });
    callbackQueue = new Queue(QUEUE_NAMES.callback, {
      connection,
      prefix: prefix(QUEUE_NAMES.callback),
    });
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    for (const res of held) res.destroy();
    await scanQueue?.close();
    await callbackQueue?.close();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  it('exits 1 at the deadline and its jobs are run again by the next worker, once each', async () => {
    const ids: string[] = [];
    for (let i = 0; i < BURST; i += 1) {
      const response = await fetch(`${service.url}/v2.2/files/fetch`, {
        method: 'POST',
        headers: {
          authorization: tenant.auth,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          location: `${content.url}/slow/${i}`,
          callback: `${receiver.url}/callback`,
        }),
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const first = await startWorkerProcess({
      ...service.env,
      ARBITER_SCAN_CONCURRENCY: '4',
      ARBITER_SHUTDOWN_TIMEOUT_MS: '1000',
    });
    await waitFor(() => held.length === 4, { what: 'the worker to start 4 downloads' });
    const handedBack = [...downloads];

    first.child.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(
      first.logs.some((line) => String(line.msg).startsWith('shutdown deadline reached')),
    ).toBe(true);

    holding = false;
    await startWorkerProcess({ ...service.env, ARBITER_SCAN_CONCURRENCY: '4' });
    await waitFor(async () => (await scanQueue.getJobCounts('completed')).completed === BURST, {
      timeoutMs: 30_000,
      what: `all ${BURST} scans to complete`,
    });
    for (const id of ids) await waitForCallbackDone(service.service.runtime, tenant.id, id);
    for (const id of ids) {
      const result = (await (
        await fetch(`${service.url}/v2.2/files/${id}`, { headers: { authorization: tenant.auth } })
      ).json()) as Record<string, unknown>;
      expect(result).toMatchObject({ id, checksum: sha1(payload), findings: [] });
    }
    // The four handed back were downloaded twice (the first attempt died with its worker), the
    // rest once; every scan called back exactly once.
    const counts = tally(downloads);
    for (const path of Object.keys(counts)) {
      expect({ path, count: counts[path] }).toEqual({
        path,
        count: handedBack.includes(path) ? 2 : 1,
      });
    }
    expect(Object.keys(counts)).toHaveLength(BURST);
    const delivered = tally(receiver.deliveries.map((d) => String(d.json.id)));
    expect(Object.keys(delivered).sort()).toEqual([...ids].sort());
    expect(Object.values(delivered)).toEqual(Array(BURST).fill(1));
  });
});

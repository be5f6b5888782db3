import type { IncomingMessage, ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { pacedLoad, tally } from '../support/load.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  ADMIN_TOKEN,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

/**
 * "A sustained overload of one tenant does not starve another." Two layers: at the HTTP edge the
 * flooding tenant is held to its own rate limit (429 + Retry-After) while the other tenant's
 * requests all get in; at the scan queue a tenant with a deep backlog does not make another
 * tenant's few jobs wait behind all of it (core/scan-fairness.ts).
 */

afterEach(async () => {
  await killAllArbiterProcesses();
});

const submitFetch = (
  service: TestService,
  tenant: TestTenant,
  location: string,
  callback?: string,
) =>
  fetch(`${service.url}/v2.2/files/fetch`, {
    method: 'POST',
    headers: {
      authorization: tenant.auth,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ location, ...(callback ? { callback } : {}) }),
    signal: AbortSignal.timeout(15_000),
  });

const resultOf = (service: TestService, tenant: TestTenant, id: string, timeoutMs = 30_000) =>
  pollScanResult<{ id: string; findings: string[]; error?: string }>(
    service,
    tenant,
    id,
    timeoutMs,
  );

describe('one tenant flooding the API', () => {
  let redis: TestRedis;
  let service: TestService;
  let flooder: TestTenant;
  let neighbour: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    redis = await startTestRedis();
    service = await startTestService({ ARBITER_CALLBACK_TENANT_CONCURRENCY: '8' }, { redis });
    flooder = await service.createTenant('flooder');
    neighbour = await service.createTenant('neighbour');
    // Both get the same modest limit; only the flooder goes over it.
    for (const tenant of [flooder, neighbour]) {
      const response = await fetch(`${service.url}/admin/tenants/${tenant.id}/limits`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ requestsPerSecond: 20, burst: 10 }),
      });
      expect(response.status).toBe(200);
    }
    content = await startHttpServer({ '/small.bin': randomContent(2048) });
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  it('answers the flooder 429 with Retry-After while every request of the other tenant gets in and is scanned', async () => {
    // 2,000 requests of the flooder, 10 every 10 ms or so; one request of the neighbour every 100
    // of them (20 in all), interleaved in the same stream.
    const neighbourIds: string[] = [];
    const results = await pacedLoad(
      { count: 2_000, perTick: 10, tickMs: 10, maxInFlight: 64 },
      async (i) => {
        if (i % 100 === 50) {
          const response = await submitFetch(
            service,
            neighbour,
            `${content.url}/small.bin`,
            `${receiver.url}/callback`,
          );
          const body = (await response.json()) as { id?: string; error?: string };
          if (body.id) neighbourIds.push(body.id);
          return { tenant: 'neighbour', status: response.status, headers: response.headers, body };
        }
        const response = await submitFetch(service, flooder, `${content.url}/small.bin`);
        return {
          tenant: 'flooder',
          status: response.status,
          headers: response.headers,
          body: (await response.json()) as { id?: string; error?: string },
        };
      },
    );
    const failures = results.filter((r) => !r.ok);
    expect(failures).toEqual([]);
    const answers = results.flatMap((r) => (r.ok ? [r.value] : []));
    const flood = answers.filter((a) => a.tenant === 'flooder');
    const neighbourAnswers = answers.filter((a) => a.tenant === 'neighbour');

    // The neighbour: all 20 accepted.
    expect(tally(neighbourAnswers.map((a) => a.status))).toEqual({ 202: 20 });
    // The flooder: only accepted or refused with 429, nothing else (no 5xx under the flood).
    const floodStatuses = tally(flood.map((a) => a.status));
    expect(Object.keys(floodStatuses).sort()).toEqual(['202', '429']);
    expect(floodStatuses['429']).toBeGreaterThan(flood.length / 2);
    for (const refused of flood.filter((a) => a.status === 429)) {
      expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(refused.headers.get('x-ratelimit-limit')).toBe('20');
      expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(refused.body.error).toMatch(/too many requests/i);
    }

    // The neighbour's scans all complete, with their callbacks.
    for (const id of neighbourIds) {
      expect(await resultOf(service, neighbour, id)).toMatchObject({ id, findings: [] });
    }
    await waitFor(
      () => neighbourIds.every((id) => receiver.deliveries.some((d) => d.json.id === id)),
      { timeoutMs: 30_000, what: "the neighbour's 20 callbacks" },
    );
  });
});

describe('a deep backlog of one tenant in the scan queue', () => {
  let redis: TestRedis;
  let service: TestService;
  let big: TestTenant;
  let small: TestTenant;
  let content: TestHttpServer;
  let scanQueue: Queue;
  /** Location paths in the order workers downloaded them: the order jobs started. */
  const started: string[] = [];
  const BACKLOG = 500;
  const payload = randomContent(1024);

  beforeAll(async () => {
    redis = await startTestRedis();
    // The api alone: jobs pile up until the test starts a worker process.
    service = await startTestService({}, { redis, roles: { api: true, workers: false } });
    big = await service.createTenant('big');
    small = await service.createTenant('small');
    const serve = (req: IncomingMessage, res: ServerResponse) => {
      started.push((req.url ?? '').split('?')[0] ?? '');
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(payload);
    };
    const routes: Record<string, typeof serve> = {};
    for (let i = 0; i < BACKLOG; i += 1) routes[`/big/${i}`] = serve;
    for (let i = 0; i < 3; i += 1) routes[`/small/${i}`] = serve;
    content = await startHttpServer(routes);
    scanQueue = new Queue(QUEUE_NAMES.scan, {
      connection: redisOptionsFromUrl(redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.scan),
    });
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    await scanQueue?.close();
    await content?.close();
    await service?.stop();
    await redis?.stop();
  });

  const accept = async (tenant: TestTenant, location: string) => {
    const response = await submitFetch(service, tenant, location);
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it("runs the other tenant's few jobs next to the backlog's first ones, not after its last", async () => {
    const bigIds = (
      await pacedLoad({ count: BACKLOG, perTick: 25, tickMs: 5, maxInFlight: 25 }, (i) =>
        accept(big, `${content.url}/big/${i}`),
      )
    ).map((r) => (r.ok ? r.value : ''));
    expect(bigIds.filter(Boolean)).toHaveLength(BACKLOG);
    // Queued last, behind the whole backlog.
    const smallIds: string[] = [];
    for (let i = 0; i < 3; i += 1) smallIds.push(await accept(small, `${content.url}/small/${i}`));

    // Each job's priority is its rank in its tenant's backlog: 1 to BACKLOG, once each (in the
    // order the requests were accepted, which 25 at a time need not be the order they were sent).
    const priorityOf = async (id: string) => (await scanQueue.getJob(id))?.opts.priority;
    const bigPriorities = await Promise.all(bigIds.map(priorityOf));
    expect(bigPriorities.toSorted((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: BACKLOG }, (_, i) => i + 1),
    );
    expect(await Promise.all(smallIds.map(priorityOf))).toEqual([1, 2, 3]);
    expect((await scanQueue.getJobCounts('prioritized')).prioritized).toBe(BACKLOG + 3);

    // One worker process (4 scans at a time) takes on the lot.
    await startWorkerProcess(service.env);
    for (const id of smallIds) {
      expect(await resultOf(service, small, id)).toMatchObject({ id, findings: [] });
    }
    // The small tenant's jobs started among the first few, whatever the timing: jobs start in
    // priority order (1, 1, 2, 2, 3, 3, then the backlog's 4, 5, ...).
    const smallStarts = [0, 1, 2].map((i) => started.indexOf(`/small/${i}`));
    expect(smallStarts.every((index) => index >= 0 && index < 12)).toBe(true);
    // Within one tenant, jobs start in the order they were queued.
    await waitFor(() => started.length === BACKLOG + 3, {
      timeoutMs: 60_000,
      what: 'the whole backlog to be downloaded',
    });
    // (Their rank is the order the api queued them in; 4 scans run at a time.)
    const rankOf = new Map<string, number>();
    for (const [i, id] of bigIds.entries()) rankOf.set(`/big/${i}`, (await priorityOf(id)) ?? 0);
    const ranks = started.filter((p) => p.startsWith('/big/')).map((p) => rankOf.get(p) ?? 0);
    expect([...new Set(ranks)].sort((x, y) => x - y)).toEqual(
      Array.from({ length: BACKLOG }, (_, i) => i + 1),
    );
    // Seen from the content server: a job taken in turn can reach it after a few taken after it
    // (4 run at once, and on a busy machine one may wait for the CPU before it sends its request),
    // so a start may come up to twice the concurrency behind: anything more is out of order.
    const outOfOrder = ranks.filter((rank, i) => i > 0 && rank < (ranks[i - 1] ?? 0) - 8);
    expect(outOfOrder).toEqual([]);
    await waitFor(
      async () => (await scanQueue.getJobCounts('completed')).completed === BACKLOG + 3,
      { timeoutMs: 60_000, what: 'every job to complete' },
    );

    // The backlog is gone, so the big tenant's next job ranks first again.
    const fairness = service.service.runtime.queues.fairness;
    expect(await fairness?.backlog(big.id)).toBe(0);
    const next = await accept(big, `${content.url}/big/0`);
    expect(await priorityOf(next)).toBe(1);
  });
});

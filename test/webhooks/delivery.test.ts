import type { IncomingMessage, ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { waitForCallbackDone } from '../support/callbacks.js';
import { startRecordingReceiver, tenantApi } from './support.js';

/** How one delivery is attempted: what is retried, what is not followed, what the trace says. */
describe('callback delivery attempts', () => {
  let service: TestService;
  let tenant: TestTenant;
  let api: ReturnType<typeof tenantApi>;
  let callbackQueue: Queue;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CALLBACK_RETRY_BASE_MS: '200',
      ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
      ARBITER_CALLBACK_TIMEOUT_MS: '1000',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
    tenant = await service.createTenant('attempts');
    api = tenantApi(service, tenant);
    callbackQueue = new Queue(QUEUE_NAMES.callback, {
      connection: redisOptionsFromUrl(service.redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.callback),
    });
  });
  afterAll(async () => {
    await callbackQueue?.close();
    await service?.stop();
  });

  const jobState = (jobId: string, state: string) =>
    waitFor(async () => (await callbackQueue.getJobState(jobId)) === state, {
      what: `job ${jobId} to be ${state}`,
    });
  const attemptsIn = async (id: string) =>
    (await api.trace(id)).filter((m) => m.startsWith('callback attempt'));

  it('does not follow a redirect: a 3xx is a failed attempt, retried at the same URL', async () => {
    let calls = 0;
    let server: TestHttpServer | undefined;
    try {
      server = await startHttpServer({
        '/callback': (_req: IncomingMessage, res: ServerResponse) => {
          calls += 1;
          if (calls === 1) res.writeHead(307, { location: '/elsewhere' }).end();
          else res.writeHead(204).end();
        },
        '/elsewhere': (_req: IncomingMessage, res: ServerResponse) => {
          res.writeHead(200).end();
        },
      });
      const id = await api.submit(`${server.url}/callback`);
      await jobState(`cb-${id}`, 'completed');
      expect(server.hits.get('/callback')).toBe(2);
      expect(server.hits.get('/elsewhere')).toBeUndefined();
      const attempts = await attemptsIn(id);
      expect(attempts[0]).toMatch(
        /^callback attempt 1 to http:\/\/127\.0\.0\.1:\d+: HTTP 307 in \d+ ms$/,
      );
      expect(attempts[1]).toMatch(/^callback attempt 2 to .*: HTTP 204 in \d+ ms$/);
    } finally {
      await server?.close();
    }
  });

  it('retries 429 and 5xx answers', async () => {
    const statuses = [429, 500, 502, 200];
    const receiver = await startRecordingReceiver({ answer: (_d, n) => statuses[n - 1] ?? 200 });
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await jobState(`cb-${id}`, 'completed');
      expect(receiver.deliveries).toHaveLength(4);
      const attempts = await attemptsIn(id);
      expect(attempts.map((m) => /HTTP (\d+)/.exec(m)?.[1])).toEqual(['429', '500', '502', '200']);
    } finally {
      await receiver.close();
    }
  });

  it('retries an attempt that timed out, tracing the error and the time it took', async () => {
    const receiver = await startRecordingReceiver({ answer: (_d, n) => (n === 1 ? 'hold' : 200) });
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await jobState(`cb-${id}`, 'completed');
      expect(receiver.deliveries).toHaveLength(2);
      const attempts = await attemptsIn(id);
      expect(attempts).toHaveLength(2);
      expect(attempts[0]).toMatch(/^callback attempt 1 to .*: failed \(.+\) after \d+ ms$/);
      const latency = Number(/after (\d+) ms$/.exec(attempts[0] ?? '')?.[1]);
      expect(latency).toBeGreaterThanOrEqual(900); // the 1 s ARBITER_CALLBACK_TIMEOUT_MS
      expect(attempts[1]).toMatch(/^callback attempt 2 to .*: HTTP 200 in \d+ ms$/);
    } finally {
      await receiver.close();
    }
  });

  it("releases the tenant's delivery slots once deliveries end", async () => {
    const receiver = await startRecordingReceiver();
    try {
      const ids = await Promise.all([1, 2, 3].map(() => api.submit(`${receiver.url}/callback`)));
      for (const id of ids) await waitForCallbackDone(service.service.runtime, tenant.id, id);
      expect(await service.service.runtime.delivery.leases.inFlight(tenant.id)).toBe(0);
    } finally {
      await receiver.close();
    }
  });
});

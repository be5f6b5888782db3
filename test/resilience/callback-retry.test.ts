import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLBACK_JOB_OPTIONS, QUEUE_NAMES, callbackBackoffMs } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { fileForm, randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  type CallbackReceiver,
  type Delivery,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { waitForCallbackDone } from '../support/callbacks.js';

describe('the default callback retry schedule', () => {
  const defaults = { baseMs: 10_000, maxMs: 3_600_000 };
  const attempts = CALLBACK_JOB_OPTIONS.attempts ?? 1;

  it('makes 30 attempts spanning about a day', () => {
    expect(attempts).toBe(30);
    // BullMQ asks for the delay before attempt n+1 with attemptsMade = n (1-based).
    let totalMs = 0;
    for (let attemptsMade = 1; attemptsMade < attempts; attemptsMade += 1) {
      totalMs += callbackBackoffMs(attemptsMade, defaults, () => 0.5); // jitter at its mean
    }
    const hours = totalMs / 3_600_000;
    expect(hours).toBeGreaterThan(18);
    expect(hours).toBeLessThan(26);
  });

  it('doubles from the base up to the cap', () => {
    const mean = (n: number) => callbackBackoffMs(n, defaults, () => 0.5);
    expect(mean(1)).toBe(10_000);
    expect(mean(2)).toBe(20_000);
    expect(mean(9)).toBe(2_560_000);
    expect(mean(10)).toBe(3_600_000);
    expect(mean(29)).toBe(3_600_000);
    expect(mean(1000)).toBe(3_600_000); // no overflow to Infinity/NaN far out
  });

  it('keeps jitter within ±20% of the nominal delay', () => {
    for (let attemptsMade = 1; attemptsMade < attempts; attemptsMade += 1) {
      const nominal = callbackBackoffMs(attemptsMade, defaults, () => 0.5);
      const low = callbackBackoffMs(attemptsMade, defaults, () => 0);
      const high = callbackBackoffMs(attemptsMade, defaults, () => 0.999_999);
      expect(low).toBe(Math.round(nominal * 0.8));
      expect(high).toBeLessThanOrEqual(Math.round(nominal * 1.2));
      expect(high).toBeGreaterThan(Math.round(nominal * 1.19));
      for (let i = 0; i < 50; i += 1) {
        const delay = callbackBackoffMs(attemptsMade, defaults);
        expect(delay).toBeGreaterThanOrEqual(Math.round(nominal * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.round(nominal * 1.2));
      }
    }
  });
});

/** Real deliveries to loopback receivers, with a quick schedule (200 ms doubling to 1 s). */
describe('callback delivery retries', () => {
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let callbackQueue: Queue;
  /**
   * What the receiver answers, by attempt number for the scan being delivered. Each test sets it
   * before submitting and waits for its delivery job to finish, so tests never overlap.
   */
  let answer: (attempt: number) => number = () => 200;
  const attemptsBy = new Map<string, number>();

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CALLBACK_RETRY_BASE_MS: '200',
      ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
    tenant = await service.createTenant('callbacks');
    receiver = await startCallbackReceiver();
    receiver.respondWith = (_n: number, delivery: Delivery) => {
      const id = String(delivery.json.id);
      const attempt = (attemptsBy.get(id) ?? 0) + 1;
      attemptsBy.set(id, attempt);
      return answer(attempt);
    };
    callbackQueue = new Queue(QUEUE_NAMES.callback, {
      connection: redisOptionsFromUrl(service.redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.callback),
    });
  });
  afterAll(async () => {
    await callbackQueue?.close();
    await receiver?.close();
    await service?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);

  /** Submits an async scan of a small clean file with a callback; returns its id. */
  async function submit(callback: string): Promise<string> {
    const response = await api('/files/async', {
      method: 'POST',
      body: fileForm(randomContent(1024), { callback }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  const traceOf = async (id: string) =>
    (
      (await (await api(`/files/${id}/trace`)).json()) as { events: Array<{ message: string }> }
    ).events.map((e) => e.message);

  const callbackJobState = (id: string, state: string) =>
    waitFor(async () => (await callbackQueue.getJobState(`cb-${id}`)) === state, {
      what: `callback job of ${id} to be ${state}`,
    });

  const deliveriesOf = (id: string) => receiver.deliveries.filter((d) => d.json.id === id);

  it('retries after HTTP 500 and delivers on the second attempt, tracing both', async () => {
    answer = (attempt) => (attempt === 1 ? 500 : 200);
    const id = await submit(`${receiver.url}/callback`);
    await callbackJobState(id, 'completed');
    expect(deliveriesOf(id)).toHaveLength(2);
    const attempts = (await traceOf(id)).filter((m) => m.startsWith('callback attempt'));
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatch(/^callback attempt 1 to http:\/\/127\.0\.0\.1:\d+: HTTP 500/);
    expect(attempts[1]).toMatch(/^callback attempt 2 to http:\/\/127\.0\.0\.1:\d+: HTTP 200/);
  });

  it('stops after one attempt when the receiver answers 410 Gone', async () => {
    answer = () => 410;
    const id = await submit(`${receiver.url}/callback`);
    await waitForCallbackDone(service.service.runtime, tenant.id, id);
    expect(deliveriesOf(id)).toHaveLength(1);
    const trace = await traceOf(id);
    expect(trace.filter((m) => m.startsWith('callback attempt'))).toEqual([
      expect.stringMatching(/^callback attempt 1 to .*: HTTP 410/),
    ]);
    expect(trace.some((m) => /410 Gone: no further attempts/.test(m))).toBe(true);
    // No retry was queued after the first attempt (the scan worker's own, right after the result).
    expect(await callbackQueue.getJob(`cb-${id}`)).toBeUndefined();
  });

  it('keeps retrying while the receiver is down and delivers once it is up', async () => {
    const port = await freePort();
    const id = await submit(`http://127.0.0.1:${port}/callback`);
    // At least two refused attempts, so the retry schedule is really exercised.
    await waitFor(
      async () =>
        (await traceOf(id)).filter((m) => /^callback attempt \d+ to .*: failed/.test(m)).length >=
        2,
      {
        what: 'two failed callback attempts',
      },
    );
    const late: Delivery[] = [];
    let lateReceiver: TestHttpServer | undefined;
    try {
      lateReceiver = await startReceiverOn(port, (delivery) => late.push(delivery));
      await callbackJobState(id, 'completed');
      expect(late).toHaveLength(1);
      expect(late[0]?.json.id).toBe(id);
      const attempts = (await traceOf(id)).filter((m) => m.startsWith('callback attempt'));
      expect(attempts.length).toBeGreaterThanOrEqual(3);
      expect(attempts.at(-1)).toMatch(
        new RegExp(`^callback attempt ${attempts.length} to .*: HTTP 200`),
      );
      expect(attempts.slice(0, -1).every((m) => /: failed \(/.test(m))).toBe(true);
    } finally {
      await lateReceiver?.close();
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A receiver that only comes up late, on a port chosen (and refused) earlier. */
async function startReceiverOn(
  port: number,
  onDelivery: (d: Delivery) => void,
): Promise<TestHttpServer> {
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      onDelivery({
        path: req.url ?? '/',
        headers: req.headers,
        body,
        json: JSON.parse(body) as Record<string, unknown>,
      });
      res.writeHead(200).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    hits: new Map(),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import {
  ADMIN_TOKEN,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { openSse, type SseEvent, type SseStream } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

/**
 * Live events (`GET /v1/events`, `GET /admin/events`) with a real HTTP client, and the operator
 * views (`/admin/queues`, `/admin/workers`, `/admin/errors`): a completed scan and a retro job's
 * progress reach the tenant's stream and never another tenant's; queue depth and worker
 * heartbeats reach the operator's; a stopping server ends the streams instead of waiting on them.
 */

const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

describe('live events and operator views', () => {
  let harness: S3Harness;
  let service: TestService | undefined;
  let receiver: CallbackReceiver;
  let a: TestTenant;
  let b: TestTenant;
  const open: SseStream[] = [];

  const svc = () => service!;
  const tenantStream = async (who: TestTenant) => {
    const stream = await openSse(`${svc().url}/v1/events`, { authorization: who.auth });
    open.push(stream);
    return stream;
  };
  const adminStream = async () => {
    const stream = await openSse(`${svc().url}/admin/events`, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    open.push(stream);
    return stream;
  };
  const upload = async (who: TestTenant, content: Buffer, fields: Record<string, string> = {}) => {
    const response = await scaniiRequest(svc(), who, '/files', {
      method: 'POST',
      body: fileForm(content, fields),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };
  const adminJson = async <T>(path: string) => {
    const response = await svc().admin(path);
    return { status: response.status, body: (await response.json()) as T };
  };

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_WORKER_HEARTBEAT_MS: '500',
    });
    receiver = await startCallbackReceiver();
    a = await service.createTenant('live-a');
    b = await service.createTenant('live-b');
  });
  afterAll(async () => {
    for (const stream of open) stream.close();
    await receiver?.close();
    await service?.stop();
    await harness?.stop();
  });

  it('streams the tenant’s completed scans, and never another tenant’s', async () => {
    const streamA = await tenantStream(a);
    const streamB = await tenantStream(b);
    expect(streamA.status).toBe(200);
    expect(streamA.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(streamA.headers.get('cache-control')).toBe('no-store');

    const infected = await upload(a, eicar());
    const theirs = await upload(b, randomContent(128));
    const scanA = await streamA.next(
      (e) => e.event === 'scan' && (e.data as { id: string }).id === infected,
      'the scan event of tenant A',
    );
    expect(scanA.data).toEqual({
      id: infected,
      outcome: 'findings',
      findings: ['content.malicious.eicar-test-signature'],
      completed_at: expect.any(String) as string,
    });
    await streamB.next(
      (e) => e.event === 'scan' && (e.data as { id: string }).id === theirs,
      'the scan event of tenant B',
    );
    expect(streamA.raw()).toMatch(/^retry: \d+\n\n/);
    expect(streamA.raw()).not.toContain(theirs);
    expect(streamB.raw()).not.toContain(infected);
  });

  it('refuses a stream without credentials and past 10 streams of one tenant', async () => {
    const anonymous = await fetch(`${svc().url}/v1/events`);
    expect(anonymous.status).toBe(401);
    const asTenant = await fetch(`${svc().url}/admin/events`, {
      headers: { authorization: a.auth },
    });
    expect(asTenant.status).toBe(401);
    const extra: SseStream[] = [];
    // Tenant A has one stream open from the test above.
    for (let n = 0; n < 9; n++) extra.push(await tenantStream(a));
    expect(extra.every((stream) => stream.status === 200)).toBe(true);
    const refused = await fetch(`${svc().url}/v1/events`, { headers: { authorization: a.auth } });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toMatch(/event streams/);
    for (const stream of extra) stream.close();
    // Closed streams free their places.
    await waitFor(
      async () =>
        (await fetch(`${svc().url}/v1/events`, { headers: { authorization: a.auth } }).then(
          async (response) => {
            await response.body?.cancel();
            return response.status;
          },
        )) === 200,
      { what: 'a place for a new stream' },
    );
  });

  it('streams a retro job’s progress to its final counts', async () => {
    await harness.createBucket('live-retro');
    await registerBucket(svc(), a.auth, harness, 'live-retro');
    await harness.putObject('live-retro', 'one.txt', 'one');
    await harness.putObject('live-retro', 'two.txt', 'two');
    await harness.putObject('live-retro', 'eicar.com', eicar());
    const streamA = await tenantStream(a);
    const streamB = await tenantStream(b);
    const created = await v1Client(svc(), a.auth)('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: 'live-retro' }] }),
    });
    expect(created.status).toBe(201);
    const jobId = ((await created.json()) as { id: string }).id;
    const isFinal = (e: SseEvent) =>
      e.event === 'job' &&
      (e.data as { id: string; state: string }).id === jobId &&
      (e.data as { state: string }).state === 'completed';
    const final = await streamA.next(isFinal, 'the retro job to complete', 30_000);
    expect(final.data).toEqual({
      id: jobId,
      state: 'completed',
      listed: 3,
      matched: 3,
      scanned: 3,
      findings: 1,
      eta_seconds: null,
    });
    expect(streamB.raw()).not.toContain(jobId);
  });

  it('lists queues, live workers and recent errors for operators', async () => {
    const queues = await adminJson<{ queues: Array<Record<string, unknown>> }>('/queues');
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q) => q.name).sort()).toEqual([
      'callback',
      'rescan',
      'retro',
      'scan',
    ]);
    expect(queues.body.queues[0]).toEqual({
      name: expect.any(String) as string,
      waiting: expect.any(Number) as number,
      active: expect.any(Number) as number,
      delayed: expect.any(Number) as number,
      failed: expect.any(Number) as number,
      completed: expect.any(Number) as number,
      oldest_waiting_seconds: expect.any(Number) as number,
    });

    const workers = await adminJson<{ workers: Array<Record<string, unknown>> }>('/workers');
    expect(workers.status).toBe(200);
    expect(workers.body.workers).toHaveLength(1);
    expect(workers.body.workers[0]).toMatchObject({
      pid: process.pid,
      status: 'alive',
      concurrency: svc().config.scanConcurrency,
      engines: [{ name: 'builtin', version: expect.any(String) as string }],
    });

    // A receiver answering 410 Gone ends the delivery: an error operators see.
    receiver.respondWith = () => 410;
    const scanId = await upload(a, randomContent(64), {
      callback: `${receiver.url}/callback?token=do-not-show`,
    });
    const errors = await waitFor(
      async () => {
        const { body } = await adminJson<{ errors: Array<Record<string, string>> }>('/errors');
        return body.errors.find((entry) => entry.scan_id === scanId) ? body.errors : undefined;
      },
      { what: 'the given-up callback among the errors' },
    );
    expect(errors[0]).toEqual({
      at: expect.any(String) as string,
      kind: 'callback',
      tenant_id: a.id,
      scan_id: scanId,
      message: 'callback delivery given up: receiver answered 410 Gone',
    });
    expect(JSON.stringify(errors)).not.toContain('do-not-show');
    for (const limit of ['0', '501', 'x', '1.5']) {
      const { status } = await adminJson(`/errors?limit=${limit}`);
      expect(status, limit).toBe(400);
    }
    expect((await adminJson<{ errors: unknown[] }>('/errors?limit=1')).body.errors).toHaveLength(1);
    for (const path of ['/queues', '/workers', '/errors']) {
      const response = await fetch(`${svc().url}/admin${path}`, {
        headers: { authorization: a.auth },
      });
      expect(response.status, path).toBe(401);
    }
  });

  it('streams queue depth and workers to operators', async () => {
    const stream = await adminStream();
    expect(stream.status).toBe(200);
    const queues = await stream.next((e) => e.event === 'queues', 'a queues event');
    expect((queues.data as { queues: unknown[] }).queues).toHaveLength(4);
    const workers = await stream.next((e) => e.event === 'workers', 'a workers event');
    expect((workers.data as { workers: Array<{ pid: number }> }).workers[0]?.pid).toBe(process.pid);
    // Every 2 s: a second picture follows.
    await waitFor(() => stream.events.filter((e) => e.event === 'queues').length >= 2, {
      what: 'a second queues event',
    });
  });

  it('ends open streams when the server stops, and the worker leaves the list', async () => {
    const stream = await tenantStream(a);
    const running = svc();
    const redis = running.service.runtime.redis;
    expect(await redis.zcard(running.keys.workers())).toBe(1);
    const started = Date.now();
    // Streams still open from the earlier tests too: none may hold the stop.
    await running.service.stop();
    await stream.ended;
    expect(Date.now() - started).toBeLessThan(10_000);
    service = undefined;
    // A clean stop removes the worker's heartbeat at once (not when it expires).
    const probe = new Redis({ path: running.redis.socket });
    try {
      expect(await probe.zcard(running.keys.workers())).toBe(0);
      expect(await probe.keys(`${running.config.redisPrefix}:worker:*`)).toEqual([]);
    } finally {
      probe.disconnect();
    }
    await running.redis.stop();
  });
});

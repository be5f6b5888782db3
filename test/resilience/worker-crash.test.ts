import { existsSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { eicar, fileForm, randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { waitForCallbackDone } from '../support/callbacks.js';
import {
  killAllArbiterProcesses,
  startWorkerProcess,
  type ArbiterProcess,
} from '../support/worker-process.js';

const EICAR_FINDING = 'content.malicious.eicar-test-signature';

/**
 * "Nothing accepted is ever lost: a job that a crashed worker held is retried." The api runs in
 * this process; workers run as separate OS processes that the test kills with SIGKILL while
 * they hold a job. A short lock (1.5 s) and stalled-check interval (0.5 s) let the surviving
 * worker notice quickly.
 */
describe('a worker killed mid-job', () => {
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let inspector: Redis;
  let callbackQueue: Queue;

  const payload = eicar();
  /** Requests to /held, in order; the first is answered halfway and then left hanging. */
  const heldRequests: Array<{ at: number }> = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    service = await startTestService(
      {
        ARBITER_JOB_LOCK_MS: '1500',
        ARBITER_STALLED_INTERVAL_MS: '500',
        ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
      },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('crash');
    receiver = await startCallbackReceiver();
    content = await startHttpServer({
      '/held': (_req, res) => {
        heldRequests.push({ at: Date.now() });
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(payload.length),
        });
        if (heldRequests.length === 1) {
          // Headers and part of the body, then nothing: the worker is stuck mid-download.
          res.write(payload.subarray(0, 20));
          return;
        }
        res.end(payload);
      },
    });
    inspector = new Redis(redisOptionsFromUrl(redis.url));
    callbackQueue = new Queue(QUEUE_NAMES.callback, {
      connection: redisOptionsFromUrl(redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.callback),
    });
  });

  afterEach(async () => {
    await killAllArbiterProcesses();
  });

  afterAll(async () => {
    await killAllArbiterProcesses();
    await callbackQueue?.close();
    inspector?.disconnect();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);

  const pollResult = (id: string) => pollScanResult(service, tenant, id);

  const traceOf = async (id: string) =>
    (
      (await (await api(`/files/${id}/trace`)).json()) as { events: Array<{ message: string }> }
    ).events.map((e) => e.message);

  const jobIsActive = async (id: string) =>
    (await inspector.exists(
      `${service.service.runtime.queuePrefix(QUEUE_NAMES.scan)}:${QUEUE_NAMES.scan}:${id}:lock`,
    )) === 1;

  it('retries the job on another worker and the result (and one callback) arrives', async () => {
    const first = await startWorkerProcess(service.env);
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        location: `${content.url}/held`,
        callback: `${receiver.url}/callback`,
        'metadata[run]': 'crash',
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    await waitFor(() => heldRequests.length === 1, { what: 'the worker to start the download' });
    expect(await jobIsActive(id)).toBe(true);
    const death = await first.kill();
    expect(death.signal).toBe('SIGKILL');
    expect((await api(`/files/${id}`)).status).toBe(404); // still pending

    const second: ArbiterProcess = await startWorkerProcess(service.env);
    const result = await pollResult(id);
    expect(result).toMatchObject({
      id,
      checksum: sha1(payload),
      content_length: payload.length,
      findings: [EICAR_FINDING],
      metadata: { run: 'crash' },
    });
    expect(result.error).toBeUndefined();
    expect(heldRequests).toHaveLength(2);

    // Exactly one callback: wait until the delivery job is finished, then count.
    await waitForCallbackDone(service.service.runtime, tenant.id, id);
    const deliveries = receiver.deliveries.filter((d) => d.json.id === id);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.json).toEqual(result);

    const trace = await traceOf(id);
    expect(trace.filter((m) => m.startsWith('fetching content from'))).toHaveLength(2);
    expect(trace.filter((m) => m.startsWith('content fetched from'))).toHaveLength(1);
    expect(trace.filter((m) => m.startsWith('content processed successfully'))).toHaveLength(1);
    expect(trace.filter((m) => m.startsWith('callback attempt'))).toHaveLength(1);
    expect(second.child.exitCode).toBeNull();
  });

  it('keeps a spooled async upload through the crash and removes it once the result is stored', async () => {
    // Large enough that hashing and scanning it takes a while, so the kill lands mid-job.
    const upload = randomContent(48 * 1024 * 1024);
    const first = await startWorkerProcess(service.env);
    const response = await api('/files/async', {
      method: 'POST',
      body: fileForm(upload, { 'metadata[run]': 'upload' }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const spooled = path.join(service.config.spoolDir, 'uploads', tenant.id, id);

    await waitFor(() => jobIsActive(id), {
      intervalMs: 2,
      what: 'the worker to take the upload job',
    });
    await first.kill();
    const pendingAfterCrash = (await api(`/files/${id}`)).status === 404;
    expect(pendingAfterCrash).toBe(true);
    expect(existsSync(spooled)).toBe(true);

    await startWorkerProcess(service.env);
    const result = await pollResult(id);
    expect(result).toMatchObject({
      id,
      checksum: sha1(upload),
      content_length: upload.length,
      findings: [],
      metadata: { run: 'upload' },
    });
    await waitFor(() => !existsSync(spooled), { what: `${spooled} to be removed` });
  });

  it('still delivers the callback when the worker dies between storing the result and delivering it', async () => {
    // The first callback request is held unanswered: the result is stored and the worker's
    // process is making its first attempt when it is killed.
    const callbacks: Array<Record<string, unknown>> = [];
    const server = await startHttpServer({
      '/file': payload,
      '/callback': (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          callbacks.push(
            JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          );
          if (callbacks.length > 1) res.writeHead(200).end();
        });
      },
    });
    try {
      // A short attempt time limit: a callback owed by a dead process is the pending reaper's
      // about two attempts' time after the result was stored.
      const env = {
        ...service.env,
        ARBITER_CALLBACK_TIMEOUT_MS: '1000',
        ARBITER_PENDING_GRACE_MS: '1000',
        ARBITER_PENDING_REAP_INTERVAL_MS: '500',
      };
      const first = await startWorkerProcess(env);
      const response = await api('/files/fetch', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          location: `${server.url}/file`,
          callback: `${server.url}/callback`,
        }),
      });
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      await waitFor(() => callbacks.length === 1, { what: 'the first callback attempt' });
      expect((await first.kill()).signal).toBe('SIGKILL');
      const result = await pollResult(id);
      expect(result).toMatchObject({ id, checksum: sha1(payload), findings: [EICAR_FINDING] });

      await startWorkerProcess(env);
      await waitFor(() => callbacks.length === 2, {
        timeoutMs: 30_000,
        what: 'the callback to be delivered by the surviving worker',
      });
      expect(callbacks[1]).toEqual(result);
      await waitForCallbackDone(service.service.runtime, tenant.id, id);
      expect(callbacks).toHaveLength(2);
      const attempts = (await traceOf(id)).filter((m) => m.startsWith('callback attempt'));
      expect(attempts).toEqual([expect.stringMatching(/^callback attempt 1 to .*: HTTP 200/)]);
    } finally {
      await server.close();
    }
  });
});

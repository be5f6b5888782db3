import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { fileForm, randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * How a scan ends when it does not end well, against the real service (api and workers in this
 * process, real Redis, a real clamd): a scan deleted while a worker is scanning it stays deleted
 * when the worker finishes, and nobody is called back; a location that fails transiently on
 * every attempt ends with an error result, stored and called back once, by the last attempt.
 */
describe('an upload deleted while clamd is scanning it', () => {
  let clamd: TestClamd;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let frozen = false;

  const freeze = (on: boolean) => {
    // SIGSTOP holds the real clamd mid-scan (its socket still accepts the stream); SIGCONT lets
    // it answer: the test decides when the worker's scan ends, without a fixed sleep.
    process.kill(clamd.pid()!, on ? 'SIGSTOP' : 'SIGCONT');
    frozen = on;
  };

  beforeAll(async () => {
    clamd = await startTestClamd({ tcp: true });
    service = await startTestService({
      ARBITER_ENGINES: 'clamd',
      CLAMD_ADDRESS: clamd.tcpAddress ?? '',
      CLAMD_TIMEOUT_MS: '60000',
    });
    tenant = await service.createTenant('deleted-mid-scan');
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    if (frozen) freeze(false);
    await receiver?.close();
    await service?.stop();
    await clamd?.stop();
  });

  it('stays 404 after the worker finishes, and no callback goes', async () => {
    freeze(true);
    const response = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(randomContent(256 * 1024), { callback: `${receiver.url}/callback` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const job = await service.service.runtime.queues.scan.getJob(id);
    await waitFor(async () => (await job?.getState()) === 'active', {
      what: 'a worker to be scanning the upload',
    });

    const deleted = await scaniiRequest(service, tenant, `/files/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    freeze(false);
    await waitFor(async () => (await job?.getState()) === 'completed', {
      timeoutMs: 30_000,
      what: 'the worker to finish the scan',
    });

    expect((await scaniiRequest(service, tenant, `/files/${id}`)).status).toBe(404);
    expect(await service.service.runtime.queues.callback.getJob(`cb-${id}`)).toBeUndefined();
    expect(receiver.deliveries).toEqual([]);
    expect(existsSync(service.service.runtime.spool.uploadPath(tenant.id, id))).toBe(false);
  });
});

describe('a location that fails transiently on every attempt', () => {
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let flaky: TestHttpServer;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_SCAN_ATTEMPTS: '3',
      ARBITER_SCAN_RETRY_BASE_MS: '50',
    });
    tenant = await service.createTenant('always-503');
    receiver = await startCallbackReceiver();
    flaky = await startHttpServer({
      '/busy.bin': (_req, res) => {
        res.writeHead(503, { 'retry-after': '0' }).end('busy');
      },
    });
  });
  afterAll(async () => {
    await flaky?.close();
    await receiver?.close();
    await service?.stop();
  });

  it('ends, on its last attempt, with an error result stored and called back once', async () => {
    const response = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      body: new URLSearchParams({
        location: `${flaky.url}/busy.bin`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    const result = await pollScanResult<{ id: string; error?: string; findings?: string[] }>(
      service,
      tenant,
      id,
      30_000,
    );
    expect(result.error).toMatch(/503/);
    const [delivery] = await receiver.waitForDeliveries(1);
    expect(delivery?.json).toMatchObject({ id, error: result.error });
    // Every attempt asked again, and only the last one settled the scan.
    const job = await service.service.runtime.queues.scan.getJob(id);
    expect(job?.attemptsMade).toBe(3);
    expect(flaky.hits.get('/busy.bin')).toBeGreaterThanOrEqual(3);
    // One callback, whatever more time passes: the job is done, nothing is queued.
    expect(await job?.getState()).toBe('completed');
    expect(receiver.deliveries).toHaveLength(1);
  });
});

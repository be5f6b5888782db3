import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.js';
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
  ADMIN_TOKEN,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

const EICAR_FINDING = 'content.malicious.eicar-test-signature';

/**
 * Redis is the only stateful part. With AOF on, a crash (SIGKILL) and restart on the same folder
 * must lose nothing that was acknowledged, and the service (api and in-process workers) must
 * heal by itself: no restart of Arbiter, no operator action.
 */
describe('Redis killed and restarted under a running service', () => {
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  const clean = randomContent(32 * 1024);
  /** So that cleanup after a failure in the middle brings Redis back before stopping the service. */
  let redisDown = false;

  beforeAll(async () => {
    redis = await startTestRedis({ appendonly: true });
    service = await startTestService({ ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8' }, { redis });
    tenant = await service.createTenant('durable');
    content = await startHttpServer({ '/eicar.txt': eicar(), '/clean.bin': clean });
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    if (redisDown) await redis.start();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    scaniiRequest(service, tenant, path, init, 10_000);

  const submitFetch = (location: string) =>
    api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location, callback: `${receiver.url}/callback` }),
    });

  const pollResult = (id: string, timeoutMs = 15_000) =>
    pollScanResult(service, tenant, id, timeoutMs);

  const traceOf = async (id: string) =>
    (
      (await (await api(`/files/${id}/trace`)).json()) as { events: Array<{ message: string }> }
    ).events.map((e) => e.message);

  it('reports an error Redis itself answered as it is, not as an outage', async () => {
    const error = await service.service.runtime.redis
      .call('NOT-A-COMMAND')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/unknown command/i);
    expect(error).not.toBeInstanceOf(DomainError);
  });

  it('keeps results, traces, tenants and keys, refuses new work with a 503 while down, and heals', async () => {
    // Before the crash: one synchronous scan and one asynchronous (fetch + callback) scan.
    const syncResponse = await api('/files', { method: 'POST', body: fileForm(clean) });
    expect(syncResponse.status).toBe(201);
    const syncResult = (await syncResponse.json()) as Record<string, unknown>;
    const accepted = await submitFetch(`${content.url}/eicar.txt`);
    expect(accepted.status).toBe(202);
    const { id: asyncId } = (await accepted.json()) as { id: string };
    const asyncResult = await pollResult(asyncId);
    expect(asyncResult.findings).toEqual([EICAR_FINDING]);
    await receiver.waitForDeliveries(1);
    const traceBefore = await traceOf(asyncId);
    expect(traceBefore.some((m) => m.startsWith('callback attempt 1'))).toBe(true);

    await redis.kill();
    redisDown = true;

    // While Redis is down: a clear 503, quickly, not a hang and not a 500. Asked repeatedly over
    // several seconds, so that the reconnect back-off has reached its cap: a sustained outage
    // must be answered as fast as a fresh one.
    const killedAt = Date.now();
    let refusals = 0;
    while (Date.now() - killedAt < 6_500 || refusals < 3) {
      const started = Date.now();
      const refused = await submitFetch(`${content.url}/clean.bin`);
      const elapsed = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await refused.json()) as { error: string }).error).toMatch(/retry/i);
      expect(elapsed).toBeLessThan(4_000);
      refusals += 1;
    }
    const readiness = await fetch(`${service.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    expect(readiness.status).toBe(503);

    await redis.start();
    redisDown = false;

    // Everything acknowledged before the crash is still there.
    await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 200, {
      what: 'readyz to recover',
    });
    const ping = await api('/ping');
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ message: 'pong', key: tenant.key });
    expect(await (await api(`/files/${String(syncResult.id)}`)).json()).toEqual(syncResult);
    expect(await (await api(`/files/${asyncId}`)).json()).toEqual(asyncResult);
    expect(await traceOf(asyncId)).toEqual(traceBefore);
    const tenants = await fetch(`${service.url}/admin/tenants`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(tenants.status).toBe(200);
    expect(JSON.stringify(await tenants.json())).toContain(tenant.id);

    // And new work flows end to end again: api, queue, in-process worker, callback.
    const retried = await submitFetch(`${content.url}/clean.bin`);
    expect(retried.status).toBe(202);
    const { id: afterId } = (await retried.json()) as { id: string };
    expect(await pollResult(afterId)).toMatchObject({
      id: afterId,
      findings: [],
      checksum: sha1(clean),
    });
    const deliveries = await receiver.waitForDeliveries(2);
    expect(deliveries.filter((d) => d.json.id === afterId)).toHaveLength(1);
    const asyncAfter = await api('/files/async', { method: 'POST', body: fileForm(eicar()) });
    expect(asyncAfter.status).toBe(202);
    const { id: uploadId } = (await asyncAfter.json()) as { id: string };
    expect(await pollResult(uploadId)).toMatchObject({ findings: [EICAR_FINDING] });
    // The refused requests left nothing half-accepted behind: four scans, four records.
    const inspector = new Redis(redisOptionsFromUrl(redis.url));
    try {
      const records = await inspector.keys(`${service.config.redisPrefix}:scan:${tenant.id}:*`);
      expect(records.sort()).toEqual(
        [String(syncResult.id), asyncId, afterId, uploadId]
          .map((id) => `${service.config.redisPrefix}:scan:${tenant.id}:${id}`)
          .sort(),
      );
    } finally {
      inspector.disconnect();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent } from '../support/content.js';
import { waitForCallbackDone } from '../support/callbacks.js';
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

/**
 * `GET /v1/stats` (hourly counters of a tenant) and `GET /v1/scans/{id}/callbacks` (each callback
 * attempt of a scan), end to end: scans and callbacks counted where they happen, one tenant's
 * numbers never another's, deleted scans taking their attempts with them, bad input refused.
 */

interface HourStats {
  scans_completed: number;
  scans_with_findings: number;
  findings_by_category: Record<string, number>;
  errors: number;
  callbacks_delivered: number;
  callbacks_failed: number;
  latency_ms: { p50: number | null; p99: number | null };
}
interface StatsBody {
  hours: Array<HourStats & { hour: string }>;
  totals: HourStats;
  error?: string;
}
interface Attempt {
  attempt: number;
  redelivery?: number;
  at: string;
  url_origin: string;
  status?: number;
  error?: string;
  latency_ms: number;
}

describe('activity statistics and callback attempts', () => {
  let service: TestService;
  let origin: TestHttpServer;
  let receiver: CallbackReceiver;
  let tenant: TestTenant;
  let other: TestTenant;
  let retriedId: string;

  const get = async <T>(who: TestTenant, path: string) => {
    const response = await fetch(`${service.url}/v1${path}`, {
      headers: { authorization: who.auth },
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const stats = (who: TestTenant, query = '') => get<StatsBody>(who, `/stats${query}`);

  const upload = async (content: Buffer, fields: Record<string, string> = {}) => {
    const response = await scaniiRequest(service, tenant, '/files', {
      method: 'POST',
      body: fileForm(content, fields),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    // Retries 50 ms apart: the failed first attempt is followed by a delivered second at once.
    service = await startTestService({
      ARBITER_CALLBACK_RETRY_BASE_MS: '50',
      ARBITER_CALLBACK_RETRY_MAX_MS: '50',
    });
    origin = await startHttpServer({});
    receiver = await startCallbackReceiver();
    receiver.respondWith = (attempt) => (attempt === 1 ? 500 : 200);
    tenant = await service.createTenant('stats-a');
    other = await service.createTenant('stats-b');
    await upload(randomContent(256));
    await upload(randomContent(256));
    retriedId = await upload(eicar(), { callback: `${receiver.url}/callback?token=secret` });
    const fetched = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${origin.url}/missing` }),
    });
    expect(fetched.status).toBe(202);
    await pollScanResult(service, tenant, ((await fetched.json()) as { id: string }).id);
    await receiver.waitForDeliveries(2);
    await waitForCallbackDone(service.service.runtime, tenant.id, retriedId);
  });
  afterAll(async () => {
    await receiver?.close();
    await origin?.close();
    await service?.stop();
  });

  it('counts scans, findings by category, errors, callbacks and latency per hour', async () => {
    const { status, body } = await stats(tenant);
    expect(status).toBe(200);
    expect(body.hours).toHaveLength(24);
    const starts = body.hours.map((hour) => Date.parse(hour.hour));
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBe(3_600_000);
    expect(starts.at(-1)).toBe(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    expect(body.totals).toEqual({
      scans_completed: 4,
      scans_with_findings: 1,
      findings_by_category: {
        malware: 1,
        unsafe_image: 0,
        unsafe_language: 0,
        sensitive_data: 0,
        file_type: 0,
        custom: 0,
        unscannable: 0,
        other: 0,
      },
      errors: 1,
      callbacks_delivered: 1,
      callbacks_failed: 1,
      latency_ms: { p50: expect.any(Number) as number, p99: expect.any(Number) as number },
    });
    expect(body.totals.latency_ms.p50!).toBeLessThanOrEqual(body.totals.latency_ms.p99!);
    const sum = (field: 'scans_completed' | 'errors' | 'callbacks_delivered') =>
      body.hours.reduce((total, hour) => total + hour[field], 0);
    expect(sum('scans_completed')).toBe(4);
    expect(sum('errors')).toBe(1);
    expect(sum('callbacks_delivered')).toBe(1);
    expect(body.hours[0]).toMatchObject({ scans_completed: 0, latency_ms: { p50: null } });
  });

  it('gives another tenant only its own (empty) numbers, and honours hours', async () => {
    const { status, body } = await stats(other, '?hours=168');
    expect(status).toBe(200);
    expect(body.hours).toHaveLength(168);
    expect(body.totals.scans_completed).toBe(0);
    expect(body.totals.callbacks_failed).toBe(0);
  });

  it('refuses hours outside 1–168 or not a whole number', async () => {
    for (const query of ['?hours=0', '?hours=169', '?hours=1.5', '?hours=abc', '?hours=-3']) {
      const { status, body } = await stats(tenant, query);
      expect(status, query).toBe(400);
      expect(body.error).toBe('hours must be a whole number from 1 to 168');
    }
    expect((await stats(tenant, '?hours=' + '9'.repeat(5000))).status).toBe(400);
  });

  it('lists every callback attempt of a scan with its status, origin only', async () => {
    const { status, body } = await get<{ callbacks: Attempt[] }>(
      tenant,
      `/scans/${retriedId}/callbacks`,
    );
    expect(status).toBe(200);
    expect(body.callbacks).toEqual([
      {
        attempt: 1,
        at: expect.any(String) as string,
        url_origin: receiver.url,
        status: 500,
        latency_ms: expect.any(Number) as number,
      },
      {
        attempt: 2,
        at: expect.any(String) as string,
        url_origin: receiver.url,
        status: 200,
        latency_ms: expect.any(Number) as number,
      },
    ]);
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('answers 404 for another tenant’s, an unknown or a malformed id', async () => {
    expect((await get(other, `/scans/${retriedId}/callbacks`)).status).toBe(404);
    expect((await get(tenant, `/scans/${'0'.repeat(32)}/callbacks`)).status).toBe(404);
    expect((await get(tenant, `/scans/..%2f..%2fadmin/callbacks`)).status).toBe(404);
    expect((await get(tenant, `/scans/${'x'.repeat(3000)}/callbacks`)).status).toBe(404);
    const anonymous = await fetch(`${service.url}/v1/scans/${retriedId}/callbacks`);
    expect(anonymous.status).toBe(401);
  });

  it('deletes a scan’s attempts with its result', async () => {
    const deleted = await scaniiRequest(service, tenant, `/files/${retriedId}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(204);
    expect((await get(tenant, `/scans/${retriedId}/callbacks`)).status).toBe(404);
    const redis = service.service.runtime.redis;
    expect(await redis.exists(service.keys.callbacks(tenant.id, retriedId))).toBe(0);
  });
});

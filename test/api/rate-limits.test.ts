import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

interface LimitsJson {
  requestsPerSecond: number;
  burst: number;
  bytesPerDay: number;
  overrides: { requestsPerSecond: number | null; burst: number | null; bytesPerDay: number | null };
  defaults: { requestsPerSecond: number; burst: number; bytesPerDay: number };
  bytesUsedToday: number;
}

/**
 * Two api processes (no workers) on one Redis, as a scaled-out deployment runs them: every limit
 * is counted in Redis, so a tenant gets the same budget whichever process it reaches.
 */
describe('per-tenant rate limits and quotas across two api processes', () => {
  let redis: TestRedis;
  let a: TestService;
  let b: TestService;
  let content: TestHttpServer;

  beforeAll(async () => {
    redis = await startTestRedis();
    const env = { ARBITER_RATE_LIMIT_RPS: '5', ARBITER_RATE_LIMIT_BURST: '0' };
    a = await startTestService(env, { redis, roles: { api: true, workers: false } });
    b = await startTestService(env, { redis, roles: { api: true, workers: false } });
    content = await startHttpServer({ '/1500.bin': randomContent(1500) });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await content?.close();
    await redis?.stop();
  });

  const ping = (service: TestService, tenant: TestTenant) =>
    fetch(`${service.url}/v2.2/ping`, { headers: { authorization: tenant.auth } });

  const admin = (path: string, init?: RequestInit) => a.admin(path, init);

  const setLimits = async (tenant: TestTenant, body: Record<string, unknown>) => {
    const response = await admin(`/tenants/${tenant.id}/limits`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as LimitsJson;
  };

  const limitsOf = async (tenant: TestTenant) =>
    (await (await admin(`/tenants/${tenant.id}/limits`)).json()) as LimitsJson;

  /**
   * The per-second window opens with a tenant's first request and lasts one second; a burst that
   * took longer than that (a very slow machine) would straddle two windows, so it is run again
   * with a fresh tenant rather than judged.
   */
  async function inOneWindow<T>(burst: (tenant: TestTenant) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const tenant = await a.createTenant(`burst-${attempt}`);
      const started = Date.now();
      const result = await burst(tenant);
      if (Date.now() - started < 800 || attempt === 4) return result;
    }
  }

  it('holds one requests-per-second budget across both processes, with 429, Retry-After and X-RateLimit headers', async () => {
    const responses = await inOneWindow((tenant) =>
      Promise.all(Array.from({ length: 8 }, (_, i) => ping(i % 2 === 0 ? a : b, tenant))),
    );
    const ok = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(3);
    for (const response of responses) expect(response.headers.get('x-ratelimit-limit')).toBe('5');
    expect(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort()).toEqual([
      0, 1, 2, 3, 4,
    ]);
    for (const response of refused) {
      expect(response.headers.get('retry-after')).toBe('1');
      expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(((await response.json()) as { error: string }).error).toMatch(/5 requests per second/);
    }
    // Each process saw 4 requests, fewer than the limit: the refusals come from the shared count.
  });

  it("gives each tenant its own budget: one hammering does not use up another's", async () => {
    const [hammered, quiet] = await inOneWindow(async (noisy) => {
      const calm = await a.createTenant('calm');
      const hammering = await Promise.all(
        Array.from({ length: 12 }, (_, i) => ping(i % 2 === 0 ? a : b, noisy)),
      );
      const calmResponse = await ping(b, calm);
      return [hammering, calmResponse] as const;
    });
    expect(hammered.filter((r) => r.status === 429).length).toBe(7);
    expect(quiet.status).toBe(200);
    expect(quiet.headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it('counts /v2.1 and /api against the same budget, and lets requests through again after a second', async () => {
    let last: TestTenant | undefined;
    const statuses = await inOneWindow(async (tenant) => {
      last = tenant;
      const token = await fetch(`${b.url}/api/Token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
      });
      expect(token.headers.get('x-ratelimit-limit')).toBe('5');
      const { accessToken } = (await token.json()) as { accessToken: string };
      const scans = Array.from({ length: 4 }, () => {
        const body = new FormData();
        body.append('file', new Blob(['hello']), 'hello.txt');
        return fetch(`${b.url}/api/Scan`, {
          method: 'POST',
          headers: { authorization: `Bearer ${accessToken}` },
          body,
        });
      });
      const responses = await Promise.all([
        fetch(`${a.url}/v2.1/ping`, { headers: { authorization: tenant.auth } }),
        ...scans,
      ]);
      return [token.status, ...responses.map((r) => r.status)];
    });
    // Token + one /v2.1 ping + four scans: six requests, five allowed.
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    // The window is one second: after it, requests pass again.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await ping(b, last!)).status).toBe(200);
  });

  it('takes a burst allowance above the rate (a 10-second window)', async () => {
    const responses = await inOneWindow(async (tenant) => {
      await setLimits(tenant, { requestsPerSecond: 2, burst: 3 });
      return Promise.all(Array.from({ length: 7 }, (_, i) => ping(i % 2 === 0 ? a : b, tenant)));
    });
    expect(responses.filter((r) => r.status === 200)).toHaveLength(5);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(2);
  });

  it("sets, shows and resets a tenant's own limits through the admin API", async () => {
    const tenant = await a.createTenant('custom');
    expect(await limitsOf(tenant)).toEqual({
      requestsPerSecond: 5,
      burst: 0,
      bytesPerDay: 0,
      overrides: { requestsPerSecond: null, burst: null, bytesPerDay: null },
      defaults: { requestsPerSecond: 5, burst: 0, bytesPerDay: 0 },
      bytesUsedToday: 0,
    });
    const set = await setLimits(tenant, { requestsPerSecond: 2, bytesPerDay: 1_000_000 });
    // A tenant given its own rate but no burst gets one second's worth of its rate.
    expect(set).toMatchObject({ requestsPerSecond: 2, burst: 2, bytesPerDay: 1_000_000 });
    expect(set.overrides).toEqual({ requestsPerSecond: 2, burst: null, bytesPerDay: 1_000_000 });
    // The other process sees it too.
    const fromB = await b.admin(`/tenants/${tenant.id}/limits`);
    expect(((await fromB.json()) as LimitsJson).requestsPerSecond).toBe(2);
    expect((await ping(b, tenant)).headers.get('x-ratelimit-limit')).toBe('2');

    // 0 = no limit: no headers, never refused.
    await setLimits(tenant, { requestsPerSecond: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the processes' 1 s settings cache
    const unlimited = await Promise.all(Array.from({ length: 12 }, () => ping(a, tenant)));
    expect(unlimited.every((r) => r.status === 200 && !r.headers.has('x-ratelimit-limit'))).toBe(
      true,
    );

    expect((await setLimits(tenant, {})).overrides).toEqual({
      requestsPerSecond: null,
      burst: null,
      bytesPerDay: null,
    });
    const bad = await admin(`/tenants/${tenant.id}/limits`, {
      method: 'PUT',
      body: JSON.stringify({ requestsPerSecond: -1 }),
    });
    expect(bad.status).toBe(400);
    const unknown = await admin(`/tenants/${tenant.id}/limits`, {
      method: 'PUT',
      body: JSON.stringify({ rps: 3 }),
    });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/rps/);
    expect((await admin(`/tenants/${'0'.repeat(32)}/limits`)).status).toBe(404);
    const noAdmin = await fetch(`${a.url}/admin/tenants/${tenant.id}/limits`);
    expect(noAdmin.status).toBe(401);
  });

  it('counts uploaded bytes per day across processes and refuses what would go over the quota', async () => {
    const tenant = await a.createTenant('quota');
    const other = await a.createTenant('quota-other');
    await setLimits(tenant, { requestsPerSecond: 0, bytesPerDay: 3000 });
    await setLimits(other, { requestsPerSecond: 0, bytesPerDay: 3000 });

    const sync = (
      service: TestService,
      who: TestTenant,
      bytes: number,
      fields: Record<string, string> = {},
    ) =>
      fetch(`${service.url}/v2.2/files`, {
        method: 'POST',
        headers: { authorization: who.auth },
        body: fileForm(randomContent(bytes), fields),
      });
    const verdict = (service: TestService, who: TestTenant, bytes: number) => {
      const body = new FormData();
      body.append('documents', new Blob([randomContent(bytes)]), 'doc.bin');
      return fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: who.auth },
        body,
      });
    };

    expect((await sync(a, tenant, 2000)).status).toBe(201);
    // A request refused for another reason gets its bytes back.
    expect((await sync(b, tenant, 500, { nonsense: 'x' })).status).toBe(400);
    await waitFor(async () => (await limitsOf(tenant)).bytesUsedToday === 2000, {
      what: 'the refused bytes to be given back',
    });

    const over = await verdict(b, tenant, 1001);
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 86_400).toBe(true);
    expect(((await over.json()) as { error: string }).error).toMatch(
      /Daily quota exceeded.*1001 bytes.*2000 of 3000/,
    );

    expect((await verdict(b, tenant, 1000)).status).toBe(200);
    expect((await limitsOf(tenant)).bytesUsedToday).toBe(3000);
    // Used up: refused before the body is read, on every endpoint that brings bytes.
    for (const response of [await sync(a, tenant, 10), await verdict(b, tenant, 10)]) {
      expect(response.status).toBe(429);
      expect(((await response.json()) as { error: string }).error).toMatch(
        /3000 of 3000 bytes used today/,
      );
    }
    const fetchRefused = await fetch(`${a.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location: `${content.url}/1500.bin` }),
    });
    expect(fetchRefused.status).toBe(429);
    // Reads are not limited by the quota, and another tenant's quota is its own.
    expect((await ping(a, tenant)).status).toBe(200);
    expect((await sync(b, other, 2500)).status).toBe(201);
  });

  it('counts downloaded bytes once fetched: an accepted fetch is never refused, the next request is', async () => {
    const tenant = await a.createTenant('fetch-quota');
    await setLimits(tenant, { requestsPerSecond: 0, bytesPerDay: 1000 });
    // Sync `POST /files` with a location downloads in the api process, through the same pipeline.
    const form = new FormData();
    form.append('location', `${content.url}/1500.bin`);
    const fetched = await fetch(`${b.url}/v2.2/files`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: form,
    });
    expect(fetched.status).toBe(201);
    expect((await limitsOf(tenant)).bytesUsedToday).toBe(1500);
    const next = await fetch(`${a.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location: `${content.url}/1500.bin` }),
    });
    expect(next.status).toBe(429);
  });
});

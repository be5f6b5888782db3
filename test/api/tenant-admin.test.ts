import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { basic, startTestService, type TestService, type TestTenant } from '../support/service.js';

/**
 * What the console's tenant-admin views read beside the resources' own routes: the list of a
 * tenant's auth tokens (`GET /v1/tokens`) and a cron's next runs (`GET /v1/schedules/preview`),
 * judged exactly as `POST /v1/schedules` judges it.
 */
describe('token list and schedule preview', () => {
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    service = await startTestService({ ARBITER_SCHEDULE_MIN_INTERVAL: '3600' });
    tenant = await service.createTenant('admin-views');
    other = await service.createTenant('admin-views-other');
  });
  afterAll(async () => {
    await service?.stop();
  });

  const v1 = (path: string, auth = tenant.auth, init: RequestInit = {}) =>
    fetch(`${service.url}/v1${path}`, {
      ...init,
      headers: { authorization: auth, 'content-type': 'application/json' },
    });
  const mint = async (auth: string, timeout: number) => {
    const response = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ timeout }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; expiration_date: string };
  };
  const tokenIds = async (auth = tenant.auth) => {
    const response = await v1('/tokens', auth);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { tokens: Array<{ id: string; scope: string }> };
    return body.tokens.map((token) => token.id);
  };

  it('lists the tenant’s valid tokens, soonest to expire first, without revoked or expired ones', async () => {
    const long = await mint(tenant.auth, 3600);
    const short = await mint(tenant.auth, 600);
    const brief = await mint(tenant.auth, 1);
    const theirs = await mint(other.auth, 3600);
    expect(await tokenIds()).toEqual(expect.arrayContaining([short.id, long.id]));
    expect((await tokenIds()).indexOf(short.id)).toBeLessThan((await tokenIds()).indexOf(long.id));
    expect(await tokenIds()).not.toContain(theirs.id);

    const revoked = await fetch(`${service.url}/v2.2/auth/tokens/${short.id}`, {
      method: 'DELETE',
      headers: { authorization: tenant.auth },
    });
    expect(revoked.status).toBe(204);
    expect(await tokenIds()).not.toContain(short.id);
    // Expired: gone from the list once its date has passed (the read trims the index).
    await waitFor(async () => !(await tokenIds()).includes(brief.id) || undefined, {
      what: 'the expired token to leave the list',
    });
    expect(await tokenIds()).toContain(long.id);
  });

  it('refuses tokens themselves (a browser holding one cannot see the others)', async () => {
    const token = await mint(tenant.auth, 60);
    const response = await v1('/tokens', basic(token.id, ''));
    expect(response.status).toBe(403);
    expect((await v1('/tokens', basic(tenant.key, 'wrong'))).status).toBe(401);
  });

  it('goes with the tenant', async () => {
    const doomed = await service.createTenant('admin-views-doomed');
    await mint(doomed.auth, 600);
    expect((await service.admin(`/tenants/${doomed.id}`, { method: 'DELETE' })).status).toBe(204);
    const { Redis } = await import('ioredis');
    const redis = new Redis({ path: service.redis.socket });
    try {
      expect(await redis.exists(service.keys.tenantTokens(doomed.id))).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  const preview = async (query: string) => {
    const response = await v1(`/schedules/preview?${query}`);
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const createError = async (body: Record<string, unknown>) => {
    const response = await v1('/schedules', tenant.auth, {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: 'any-bucket' }], ...body }),
    });
    expect(response.status).toBe(400);
    return ((await response.json()) as { error: string }).error;
  };

  it('previews the next five runs of a cron in a time zone', async () => {
    const { status, json } = await preview(
      `cron=${encodeURIComponent('30 2 * * *')}&timezone=Europe%2FParis`,
    );
    expect(status).toBe(200);
    expect(json.cron).toBe('30 2 * * *');
    expect(json.timezone).toBe('Europe/Paris');
    const runs = json.next_runs as string[];
    expect(runs).toHaveLength(5);
    for (const [index, run] of runs.entries()) {
      const local = new Date(run).toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris' });
      expect(local).toBe('02:30:00');
      if (index > 0) expect(Date.parse(run)).toBeGreaterThan(Date.parse(runs[index - 1]!));
    }
    expect((await preview('cron=0+3+*+*+*')).json.timezone).toBe('UTC');
  });

  it('answers what POST /v1/schedules answers for a bad cron, zone or interval', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /cron is required/],
      [{ cron: '' }, /cron is required/],
      [{ cron: 'every day' }, /not a valid cron expression/],
      [{ cron: '61 * * * *' }, /not a valid cron expression/],
      [{ cron: '0 3 * * *', timezone: 'Mars/Olympus' }, /timezone "Mars\/Olympus"/],
      [{ cron: '*/5 * * * *' }, /at least 1 hour apart/],
      [{ cron: 'x'.repeat(201) }, /at most 200 characters/],
      [{ cron: '0 3 * * *', timezone: 'T'.repeat(65) }, /IANA time zone/],
    ];
    for (const [query, message] of cases) {
      const { status, json } = await preview(new URLSearchParams(query).toString());
      expect({ query, status }).toEqual({ query, status: 400 });
      expect(json.error).toMatch(message);
      // The bucket is unknown too, but the cron is judged first: the same message.
      if (query.cron !== undefined) expect(await createError(query)).toBe(json.error);
    }
    // Hostile input stays text in the message, cut to its first 100 characters.
    const hostile = await preview(`cron=${encodeURIComponent('<script>alert(1)</script>')}`);
    expect(hostile.status).toBe(400);
    expect(hostile.json.error).toMatch(/^cron "<script>alert\(1\)<\/script>" is not a valid/);
    // A repeated parameter: the first one counts.
    expect((await preview('cron=0+3+*+*+*&cron=*+*+*+*+*')).status).toBe(200);
    // Other parameters are not read (the preview takes only cron and timezone).
    expect((await preview('cron=0+3+*+*+*&every=5')).status).toBe(200);
  });

  it('needs an API key', async () => {
    const token = await mint(tenant.auth, 60);
    expect((await v1('/schedules/preview?cron=0+3+*+*+*', basic(token.id, ''))).status).toBe(403);
    expect((await v1('/schedules/preview?cron=0+3+*+*+*', 'Basic eA==')).status).toBe(401);
  });
});

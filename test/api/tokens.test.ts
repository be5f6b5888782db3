import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, startTestService, type TestService, type TestTenant } from '../support/service.js';

interface TokenJson {
  id: string;
  creation_date: string;
  expiration_date: string;
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('auth tokens', () => {
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('tokens');
    other = await service.createTenant('tokens-other');
  });
  afterAll(async () => {
    await service?.stop();
  });

  const api = (path: string, authorization: string, init: RequestInit = {}) =>
    fetch(`${service.url}/v2.2${path}`, {
      ...init,
      headers: { authorization, ...(init.headers ?? {}) },
    });

  const mint = (
    authorization: string,
    body?: string,
    contentType = 'application/x-www-form-urlencoded',
  ) =>
    api('/auth/tokens', authorization, {
      method: 'POST',
      ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }),
    });

  async function mintOk(authorization: string, body?: string): Promise<TokenJson> {
    const response = await mint(authorization, body);
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    return (await response.json()) as TokenJson;
  }

  async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
  }

  const lifetimeMs = (token: TokenJson) =>
    Date.parse(token.expiration_date) - Date.parse(token.creation_date);

  it('mints a token: 201 with id and dates, expiring timeout seconds after creation', async () => {
    const before = Date.now();
    const token = await mintOk(tenant.auth, 'timeout=60');
    expect(Object.keys(token).sort()).toEqual(['creation_date', 'expiration_date', 'id']);
    expect(token.id).toMatch(/^[0-9a-f]{32}$/);
    expect(token.creation_date).toMatch(ISO_MS);
    expect(token.expiration_date).toMatch(ISO_MS);
    expect(Date.parse(token.creation_date)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(token.creation_date)).toBeLessThanOrEqual(Date.now() + 5);
    expect(lifetimeMs(token)).toBe(60_000);
  });

  it('lasts 300 seconds by default', async () => {
    expect(lifetimeMs(await mintOk(tenant.auth))).toBe(300_000);
    expect(lifetimeMs(await mintOk(tenant.auth, ''))).toBe(300_000);
  });

  it('accepts the boundaries of the range, and JSON as well as a form', async () => {
    expect(lifetimeMs(await mintOk(tenant.auth, 'timeout=1'))).toBe(1_000);
    expect(lifetimeMs(await mintOk(tenant.auth, 'timeout=86400'))).toBe(86_400_000);
    const asJson = await mint(tenant.auth, JSON.stringify({ timeout: 120 }), 'application/json');
    expect(asJson.status).toBe(201);
    expect(lifetimeMs((await asJson.json()) as TokenJson)).toBe(120_000);
  });

  it('returns exactly the dates it was created with', async () => {
    const token = await mintOk(tenant.auth, 'timeout=3600');
    const response = await api(`/auth/tokens/${token.id}`, tenant.auth);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual(token);
  });

  it('deletes a token: 204, then 404, and it no longer authenticates', async () => {
    const token = await mintOk(tenant.auth, 'timeout=3600');
    const tokenAuth = basic(token.id, '');
    expect((await api('/ping', tokenAuth)).status).toBe(200);
    const deleted = await api(`/auth/tokens/${token.id}`, tenant.auth, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    await expectError(await api(`/auth/tokens/${token.id}`, tenant.auth), 404, /token/);
    await expectError(
      await api(`/auth/tokens/${token.id}`, tenant.auth, { method: 'DELETE' }),
      404,
      /token/,
    );
    await expectError(await api('/ping', tokenAuth), 401, /could not authenticate/);
  });

  it('refuses timeouts outside 1..86400 or not whole seconds with 400 and a clear message', async () => {
    const bad = ['0', '86401', '-5', 'abc', '1.5', '1e9', ' '];
    for (const timeout of bad) {
      const response = await mint(tenant.auth, new URLSearchParams({ timeout }).toString());
      expect(response.status, `timeout=${timeout}`).toBe(400);
      const body = (await response.json()) as { error: string };
      expect(body.error, `timeout=${timeout}`).toMatch(/^timeout /);
      expect(body.error, `timeout=${timeout}`).toMatch(
        /between 1 and 86400 seconds|whole number of seconds/,
      );
    }
    await expectError(
      await mint(tenant.auth, JSON.stringify({ timeout: 'soon' }), 'application/json'),
      400,
      /timeout/,
    );
    await expectError(await mint(tenant.auth, 'timeout=10&timeout=20'), 400, /timeout/);
  });

  it('refuses unknown fields and unreadable bodies', async () => {
    await expectError(await mint(tenant.auth, 'timeout=60&lifetime=5'), 400, /lifetime/);
    await expectError(
      await mint(tenant.auth, '{"timeout":', 'application/json'),
      400,
      /could not be parsed/,
    );
    await expectError(
      await mint(tenant.auth, 'timeout=60', 'text/plain'),
      415,
      /x-www-form-urlencoded/,
    );
  });

  it('answers 404 for an unknown or malformed token id', async () => {
    for (const id of [
      '0123456789abcdef0123456789abcdef',
      'abc',
      'ZZZZ',
      '..%2F..%2Fetc',
      'a'.repeat(5000),
    ]) {
      await expectError(await api(`/auth/tokens/${id}`, tenant.auth), 404, /token/);
      await expectError(
        await api(`/auth/tokens/${id}`, tenant.auth, { method: 'DELETE' }),
        404,
        /token/,
      );
    }
  });

  it('lets a token read and delete itself, but not the tenant’s other tokens (403)', async () => {
    const mine = await mintOk(tenant.auth, 'timeout=600');
    const someoneElses = await mintOk(tenant.auth, 'timeout=600');
    const asToken = basic(mine.id, '');
    await expectError(await api(`/auth/tokens/${someoneElses.id}`, asToken), 403, /itself/);
    await expectError(
      await api(`/auth/tokens/${someoneElses.id}`, asToken, { method: 'DELETE' }),
      403,
      /itself/,
    );
    await expectError(await api('/auth/tokens/abc', asToken), 403, /itself/);
    expect((await api('/ping', basic(someoneElses.id, ''))).status).toBe(200);

    const self = await api(`/auth/tokens/${mine.id}`, asToken);
    expect(self.status).toBe(200);
    expect(await self.json()).toEqual(mine);
    expect((await api(`/auth/tokens/${mine.id}`, asToken, { method: 'DELETE' })).status).toBe(204);
    expect((await api('/ping', asToken)).status).toBe(401);
  });

  it('answers 404 for another tenant’s token, which keeps working for its owner', async () => {
    const token = await mintOk(tenant.auth, 'timeout=3600');
    await expectError(await api(`/auth/tokens/${token.id}`, other.auth), 404, /token/);
    await expectError(
      await api(`/auth/tokens/${token.id}`, other.auth, { method: 'DELETE' }),
      404,
      /token/,
    );
    const owner = await api(`/auth/tokens/${token.id}`, tenant.auth);
    expect(owner.status).toBe(200);
    expect(await owner.json()).toEqual(token);
    expect((await api('/ping', basic(token.id, ''))).status).toBe(200);
  });
});

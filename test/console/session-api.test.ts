import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId } from '../../core/console-sessions.js';
import { randomContent } from '../support/content.js';
import {
  ADMIN_TOKEN,
  basic,
  scanUpload,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The console's session routes over HTTP (no browser): sign-in input checking, the cookie, CSRF
 * on every change, what a session may reach, sign-out, expiry and the sign-in rate limit.
 */

const SESSION = '/console/api/session';

interface SignedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

describe('console sessions (API)', () => {
  let service: TestService;
  let tenant: TestTenant;

  const signInRequest = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${service.url}${SESSION}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function signIn(body: unknown): Promise<SignedIn> {
    const response = await signInRequest(body);
    expect(response.status, await response.clone().text()).toBe(201);
    const setCookie = response.headers.get('set-cookie') ?? '';
    const cookie = /^(arbiter_console=[^;]+)/.exec(setCookie)?.[1] ?? '';
    const { csrf_token } = (await response.json()) as { csrf_token: string };
    return { cookie, csrf: csrf_token, setCookie };
  }

  const withSession = (session: SignedIn, path: string, init: RequestInit = {}, csrf = true) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: {
        cookie: session.cookie,
        ...(csrf ? { 'x-csrf-token': session.csrf } : {}),
        ...(init.headers ?? {}),
      },
    });

  beforeAll(async () => {
    service = await startTestService({
      // No console build here: these tests are about the API (and the 503 page without a build).
      ARBITER_CONSOLE_DIR: '/nonexistent/arbiter-console',
      ARBITER_CONSOLE_SIGNIN_ATTEMPTS: '3',
      ARBITER_TRUST_PROXY: 'true',
    });
    tenant = await service.createTenant('console-api');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('refuses malformed, oversized, missing and hostile sign-in bodies with a clear 4xx', async () => {
    const cases: Array<[string, RequestInit, number, RegExp]> = [
      ['no body', { headers: { 'content-type': 'application/json' } }, 400, /kind/],
      [
        'not JSON',
        { body: '{"kind":', headers: { 'content-type': 'application/json' } },
        400,
        /JSON|body/i,
      ],
      [
        'a form',
        { body: 'kind=tenant', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        /json/i,
      ],
      ['an array', { body: '[1,2]', headers: { 'content-type': 'application/json' } }, 400, /kind/],
      [
        'unknown kind',
        { body: '{"kind":"root","token":"x"}', headers: { 'content-type': 'application/json' } },
        400,
        /kind/,
      ],
      [
        'missing secret',
        {
          body: JSON.stringify({ kind: 'tenant', key: tenant.key }),
          headers: { 'content-type': 'application/json' },
        },
        400,
        /secret/,
      ],
      [
        'extra field',
        {
          body: JSON.stringify({ kind: 'operator', token: 'x', admin: true }),
          headers: { 'content-type': 'application/json' },
        },
        400,
        /admin|unrecognized/i,
      ],
      [
        'prototype pollution',
        {
          body: '{"kind":"tenant","key":"k","secret":"s","__proto__":{"kind":"operator"}}',
          headers: { 'content-type': 'application/json' },
        },
        400,
        /./,
      ],
      [
        'a number key',
        {
          body: JSON.stringify({ kind: 'tenant', key: 12, secret: 's' }),
          headers: { 'content-type': 'application/json' },
        },
        400,
        /key/,
      ],
      [
        'a long key',
        {
          body: JSON.stringify({ kind: 'tenant', key: 'k'.repeat(200), secret: 's' }),
          headers: { 'content-type': 'application/json' },
        },
        400,
        /key/,
      ],
      [
        'oversized',
        {
          body: JSON.stringify({ kind: 'operator', token: 'x'.repeat(10_000) }),
          headers: { 'content-type': 'application/json' },
        },
        413,
        /./,
      ],
    ];
    for (const [what, init, status, message] of cases) {
      const response = await fetch(`${service.url}${SESSION}`, { method: 'POST', ...init });
      expect(response.status, what).toBe(status);
      const body = (await response.json()) as { error: string };
      expect(body.error, what).toMatch(message);
      expect(response.headers.get('set-cookie'), what).toBeNull();
    }
  });

  it('signs a tenant in with an HttpOnly, SameSite=Strict cookie, Secure behind TLS', async () => {
    const plain = await signIn({ kind: 'tenant', key: tenant.key, secret: tenant.secret });
    expect(plain.setCookie).toMatch(/^arbiter_console=[A-Za-z0-9_-]{43};/);
    expect(plain.setCookie).toMatch(/; HttpOnly/);
    expect(plain.setCookie).toMatch(/; SameSite=Strict/);
    expect(plain.setCookie).toMatch(/; Path=\//);
    expect(plain.setCookie).not.toMatch(/Secure/);

    const overTls = await signInRequest(
      { kind: 'tenant', key: tenant.key, secret: tenant.secret },
      { 'x-forwarded-proto': 'https' },
    );
    expect(overTls.status).toBe(201);
    expect(overTls.headers.get('set-cookie')).toMatch(/; Secure/);

    const who = await withSession(plain, SESSION, {}, false);
    expect(who.status).toBe(200);
    expect(who.headers.get('cache-control')).toBe('no-store');
    expect(who.headers.get('content-security-policy')).toBe(
      "default-src 'self'; frame-ancestors 'none'",
    );
    expect(await who.json()).toMatchObject({
      kind: 'tenant',
      tenant_id: tenant.id,
      key: tenant.key,
      csrf_token: plain.csrf,
    });
    // The session works on the API like the key itself.
    const scans = await withSession(plain, '/v1/scans', {}, false);
    expect(scans.status).toBe(200);
  });

  it('refuses an unsafe request without the session’s CSRF token, and accepts it with it', async () => {
    const session = await signIn({ kind: 'tenant', key: tenant.key, secret: tenant.secret });
    const { id } = await scanUpload<{ id: string }>(service, tenant, randomContent(512), 'a.bin');
    const remove = (headers: Record<string, string>) =>
      fetch(`${service.url}/v2.2/files/${id}`, {
        method: 'DELETE',
        headers: { cookie: session.cookie, ...headers },
      });
    const without = await remove({});
    expect(without.status).toBe(403);
    expect(((await without.json()) as { error: string }).error).toMatch(/X-CSRF-Token/);
    expect((await remove({ 'x-csrf-token': 'forged' })).status).toBe(403);
    expect(
      (
        await remove({
          'x-csrf-token': `${session.csrf.slice(0, -1)}${session.csrf.endsWith('A') ? 'B' : 'A'}`,
        })
      ).status,
    ).toBe(403);
    // Still there: the refused requests changed nothing.
    expect(
      (await fetch(`${service.url}/v2.2/files/${id}`, { headers: { authorization: tenant.auth } }))
        .status,
    ).toBe(200);
    expect((await remove({ 'x-csrf-token': session.csrf })).status).toBe(204);
    expect(
      (await fetch(`${service.url}/v2.2/files/${id}`, { headers: { authorization: tenant.auth } }))
        .status,
    ).toBe(404);
  });

  it('lets an Authorization header win over the cookie', async () => {
    const session = await signIn({ kind: 'tenant', key: tenant.key, secret: tenant.secret });
    const response = await withSession(session, '/v1/scans', {
      headers: { authorization: basic(tenant.key, 'wrong-secret') },
    });
    expect(response.status).toBe(401);
  });

  it('keeps tenant and operator sessions to their own APIs', async () => {
    const tenantSession = await signIn({ kind: 'tenant', key: tenant.key, secret: tenant.secret });
    expect((await withSession(tenantSession, '/admin/tenants')).status).toBe(401);

    const operator = await signIn({ kind: 'operator', token: ADMIN_TOKEN });
    expect((await withSession(operator, '/admin/tenants')).status).toBe(200);
    expect((await withSession(operator, '/v1/scans')).status).toBe(401);
    expect((await withSession(operator, '/v2.2/ping')).status).toBe(401);
    // An operator's change needs the CSRF token too.
    const create = (csrf: boolean) =>
      withSession(
        operator,
        '/admin/tenants',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' },
        csrf,
      );
    expect((await create(false)).status).toBe(403);
    expect((await create(true)).status).toBe(201);
  });

  it('signs out: the old cookie no longer works', async () => {
    const session = await signIn({ kind: 'tenant', key: tenant.key, secret: tenant.secret });
    expect((await withSession(session, SESSION, { method: 'DELETE' }, false)).status).toBe(403);
    const out = await withSession(session, SESSION, { method: 'DELETE' });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/arbiter_console=;.*Expires=Thu, 01 Jan 1970/);
    expect((await withSession(session, SESSION, {}, false)).status).toBe(401);
    const scans = await withSession(session, '/v1/scans', {}, false);
    expect(scans.status).toBe(401);
    // No Basic challenge: a browser would show a password dialog for one.
    expect(scans.headers.get('www-authenticate')).toMatch(/^Session/);
  });

  it('ends the sessions of a disabled key', async () => {
    const own = await service.createTenant('disabled-key');
    const session = await signIn({ kind: 'tenant', key: own.key, secret: own.secret });
    expect((await withSession(session, '/v1/scans')).status).toBe(200);
    expect((await service.admin(`/keys/${own.key}`, { method: 'DELETE' })).status).toBe(204);
    expect((await withSession(session, '/v1/scans')).status).toBe(401);
    expect((await withSession(session, SESSION)).status).toBe(401);
  });

  it('ends a session at its absolute expiry even when used', async () => {
    const store = service.service.runtime.consoleSessions;
    const now = Date.now();
    const { id } = await store.create(
      { kind: 'tenant', tenantId: tenant.id, keyId: tenant.key },
      now,
    );
    expect(await store.use(id, now + 1000)).toBeDefined();
    const max = service.config.console.sessionMaxSeconds * 1000;
    expect(await store.use(id, now + max)).toBeUndefined();
    // Gone for good, not only refused at that instant.
    expect(await store.use(id, now + 2000)).toBeUndefined();
    expect(await store.use('not-a-session-id', now)).toBeUndefined();
  });

  it('answers the same refusal whatever was wrong, then limits failed attempts per key', async () => {
    const target = await service.createTenant('guessed');
    const wrong = await signInRequest(
      { kind: 'tenant', key: target.key, secret: 'wrong' },
      { 'x-forwarded-for': '198.51.100.7' },
    );
    const unknown = await signInRequest(
      { kind: 'tenant', key: 'no-such-key', secret: 'wrong' },
      { 'x-forwarded-for': '198.51.100.8' },
    );
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = ((await wrong.json()) as { error: string }).error;
    expect(((await unknown.json()) as { error: string }).error).toBe(message);

    // Three failures for one key (from different addresses), then even the right secret waits.
    for (const address of ['198.51.100.9', '198.51.100.10'])
      expect(
        (
          await signInRequest(
            { kind: 'tenant', key: target.key, secret: 'wrong' },
            { 'x-forwarded-for': address },
          )
        ).status,
      ).toBe(401);
    const limited = await signInRequest(
      { kind: 'tenant', key: target.key, secret: target.secret },
      { 'x-forwarded-for': '198.51.100.11' },
    );
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: string }).error).toMatch(/Too many failed sign-in/);
  });

  it('limits failed attempts per client address, whichever the key', async () => {
    const address = { 'x-forwarded-for': '203.0.113.50' };
    for (let attempt = 0; attempt < 3; attempt += 1)
      expect(
        (await signInRequest({ kind: 'tenant', key: `made-up-${attempt}`, secret: 'x' }, address))
          .status,
      ).toBe(401);
    const limited = await signInRequest({ kind: 'operator', token: ADMIN_TOKEN }, address);
    expect(limited.status).toBe(429);
    // Another address is not affected.
    expect(
      (
        await signInRequest(
          { kind: 'operator', token: ADMIN_TOKEN },
          { 'x-forwarded-for': '203.0.113.51' },
        )
      ).status,
    ).toBe(201);
  });

  it('refuses a wrong admin token', async () => {
    const response = await signInRequest(
      { kind: 'operator', token: 'not-the-admin-token' },
      { 'x-forwarded-for': '192.0.2.1' },
    );
    expect(response.status).toBe(401);
    expect(response.headers.get('set-cookie')).toBeNull();
  });

  it('answers a clear 503 page for /console when the console has not been built', async () => {
    for (const path of ['/console', '/console/', '/console/scans/abc']) {
      const response = await fetch(`${service.url}${path}`);
      expect(response.status, path).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/text\/html/);
      expect(await response.text()).toMatch(/npm run build/);
    }
  });
});

describe('console session idle expiry', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_CONSOLE_DIR: '/nonexistent/arbiter-console', ARBITER_CONSOLE_SESSION_IDLE: '1' },
      { roles: { api: true, workers: false } },
    );
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('ends a session left unused longer than the idle expiry', async () => {
    const tenant = await service.createTenant('idle');
    const response = await fetch(`${service.url}${SESSION}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'tenant', key: tenant.key, secret: tenant.secret }),
    });
    const cookie =
      /^(arbiter_console=[^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1] ?? '';
    // Redis expires the session's key: wait for that, without using the session meanwhile.
    const key = service.keys.consoleSession(hashSessionId(cookie.split('=')[1]!));
    const redis = service.service.runtime.redis;
    expect(await redis.exists(key)).toBe(1);
    await waitFor(async () => (await redis.exists(key)) === 0, {
      what: 'the idle session to expire',
    });
    expect((await fetch(`${service.url}/v1/scans`, { headers: { cookie } })).status).toBe(401);
  });
});

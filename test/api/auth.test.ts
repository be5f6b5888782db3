import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, randomContent } from '../support/content.js';
import {
  ADMIN_TOKEN,
  basic,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

const UNAUTHENTICATED = { error: 'Apologies but we could not authenticate this request.' };

describe('authentication and the headers every answer carries', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('auth');
  });
  afterAll(async () => {
    await service?.stop();
  });

  const request = (path: string, authorization?: string, init: RequestInit = {}) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(init.headers ?? {}),
      },
    });
  const ping = (authorization?: string) => request('/v2.2/ping', authorization);

  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}/admin${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) },
    });

  /** A second key of `tenant`, so disabling it leaves the tenant's main key usable. */
  async function addKey(
    tenantId = tenant.id,
  ): Promise<{ key: string; secret: string; auth: string }> {
    const response = await admin(`/tenants/${tenantId}/keys`, { method: 'POST' });
    expect(response.status).toBe(201);
    const created = (await response.json()) as { key: string; secret: string };
    return { ...created, auth: basic(created.key, created.secret) };
  }
  const disableKey = async (key: string) =>
    expect((await admin(`/keys/${key}`, { method: 'DELETE' })).status).toBe(204);

  async function createToken(
    authorization: string,
    timeout?: number,
  ): Promise<{ id: string; auth: string }> {
    const response = await request('/v2.2/auth/tokens', authorization, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(timeout === undefined ? {} : { timeout: String(timeout) }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    return { id, auth: basic(id, '') };
  }

  async function expectUnauthenticated(response: Response): Promise<void> {
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await response.json()).toEqual(UNAUTHENTICATED);
  }

  async function expectForbidden(response: Response, message: RegExp): Promise<void> {
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
  }

  it('refuses a request without credentials with 401, the Scanii message and a Basic challenge', async () => {
    await expectUnauthenticated(await ping());
    await expectUnauthenticated(
      await request('/v2.2/files', undefined, {
        method: 'POST',
        body: fileForm(randomContent(16)),
      }),
    );
    await expectUnauthenticated(await request('/v2.1/account.json'));
  });

  it('refuses garbage and non-Basic Authorization headers with 401', async () => {
    const headers = [
      'garbage',
      'Basic',
      'Basic ',
      'Basic !!!not-base64!!!',
      `Basic ${Buffer.from('no-colon-at-all').toString('base64')}`,
      `Bearer ${tenant.key}`,
      `Digest username="${tenant.key}"`,
      basic('', tenant.secret),
      basic('x'.repeat(200), tenant.secret),
      basic(`${tenant.key}\u0000`, tenant.secret),
    ];
    for (const header of headers) await expectUnauthenticated(await ping(header));
  });

  it('refuses an unknown key, a right key with a wrong secret, and a key with another tenant’s secret', async () => {
    const other = await service.createTenant('auth-other');
    await expectUnauthenticated(
      await ping(basic('0123456789abcdef0123456789abcdef', tenant.secret)),
    );
    await expectUnauthenticated(await ping(basic(tenant.key, `${tenant.secret}x`)));
    await expectUnauthenticated(await ping(basic(tenant.key, tenant.secret.slice(0, -1))));
    await expectUnauthenticated(await ping(basic(tenant.key, other.secret)));
    // A key with an empty password is read as an auth token id, which it is not.
    await expectUnauthenticated(await ping(basic(tenant.key, '')));
    // And the right pair still works.
    const ok = await ping(tenant.auth);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ message: 'pong', key: tenant.key });
  });

  it('answers 403 for a disabled key, without revealing that to a caller who lacks its secret', async () => {
    const second = await addKey();
    expect((await ping(second.auth)).status).toBe(200);
    await disableKey(second.key);
    await expectForbidden(await ping(second.auth), /disabled/i);
    await expectForbidden(
      await request('/v2.2/files', second.auth, {
        method: 'POST',
        body: fileForm(randomContent(16)),
      }),
      /disabled/i,
    );
    await expectUnauthenticated(await ping(basic(second.key, 'wrong-secret')));
    // The tenant's other key is unaffected.
    expect((await ping(tenant.auth)).status).toBe(200);
  });

  it('authenticates an auth token (its id as user, empty password) for ping and uploads', async () => {
    const token = await createToken(tenant.auth, 600);
    const pong = await ping(token.auth);
    expect(pong.status).toBe(200);
    expect(await pong.json()).toEqual({ message: 'pong', key: token.id });
    const upload = await request('/v2.2/files', token.auth, {
      method: 'POST',
      body: fileForm(randomContent(256)),
    });
    expect(upload.status).toBe(201);
    const result = (await upload.json()) as { id: string; findings: string[] };
    expect(result.findings).toEqual([]);
    // The result belongs to the tenant: its key reads it too.
    expect((await request(`/v2.2/files/${result.id}`, tenant.auth)).status).toBe(200);
  });

  it('refuses a token once it has expired', async () => {
    const token = await createToken(tenant.auth, 1);
    await waitFor(async () => (await ping(token.auth)).status === 401, {
      timeoutMs: 10_000,
      what: 'the token to expire',
    });
    await expectUnauthenticated(await ping(token.auth));
    await expectUnauthenticated(
      await request('/v2.2/files', token.auth, {
        method: 'POST',
        body: fileForm(randomContent(16)),
      }),
    );
  });

  it('does not let a token mint tokens or read the account', async () => {
    const token = await createToken(tenant.auth);
    await expectForbidden(
      await request('/v2.2/auth/tokens', token.auth, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'timeout=60',
      }),
      /token/i,
    );
    await expectForbidden(await request('/v2.2/account.json', token.auth), /token/i);
    await expectForbidden(await request('/v2.1/account.json', token.auth), /token/i);
  });

  it('answers 403 for a token whose key has been disabled', async () => {
    const second = await addKey();
    const token = await createToken(second.auth);
    expect((await ping(token.auth)).status).toBe(200);
    await disableKey(second.key);
    await expectForbidden(await ping(token.auth), /disabled/i);
    // Tokens minted with another, still active key keep working.
    const fromMainKey = await createToken(tenant.auth);
    expect((await ping(fromMainKey.auth)).status).toBe(200);
  });

  it('answers 403, not an error, for a token whose key record no longer exists', async () => {
    const second = await addKey();
    const token = await createToken(second.auth);
    expect((await ping(token.auth)).status).toBe(200);
    // What an operator removing the key's record by hand leaves behind: a token pointing at nothing.
    const { runtime } = service.service;
    await runtime.redis.del(service.keys.apiKey(second.key));
    await expectForbidden(await ping(token.auth), /disabled/i);
  });

  it('reads the verdict API’s Bearer header strictly: one token after "Bearer", nothing around it', async () => {
    const issued = await request('/api/Token', undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
    });
    expect(issued.status).toBe(200);
    const { accessToken } = (await issued.json()) as { accessToken: string };
    const existing = (authorization: string) =>
      request('/api/Scan/Existing', authorization, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ bucket: 'no-such-bucket', key: 'a.txt' }),
      });
    // Authenticated: past the check, the bucket is simply not registered.
    for (const accepted of [`Bearer ${accessToken}`, `Bearer   ${accessToken}`]) {
      const response = await existing(accepted);
      expect({ accepted, status: response.status }).toEqual({ accepted, status: 404 });
    }
    // Not a Bearer header (read as Basic, which it is not either): 401 with the Basic challenge.
    for (const refused of [`xBearer ${accessToken}`, `Bearer ${accessToken} ${accessToken}`]) {
      const response = await existing(refused);
      expect({ refused, status: response.status }).toEqual({ refused, status: 401 });
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="Arbiter"');
    }
    // A Bearer header with a token that does not exist: the challenge names the Bearer scheme.
    const madeUp = await existing(`Bearer ${'0'.repeat(32)}`);
    expect(madeUp.status).toBe(401);
    expect(madeUp.headers.get('www-authenticate')).toBe('Bearer realm="Arbiter"');
    expect(await madeUp.json()).toEqual(UNAUTHENTICATED);
  });

  it('answers a CORS preflight without credentials', async () => {
    for (const version of ['v2.2', 'v2.1']) {
      const response = await fetch(`${service.url}/${version}/files`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, user-agent',
        },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      const methods = (response.headers.get('access-control-allow-methods') ?? '')
        .split(',')
        .map((m) => m.trim());
      expect(methods).toEqual(['GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE']);
      const allowed = (response.headers.get('access-control-allow-headers') ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase());
      expect(allowed).toEqual(
        expect.arrayContaining(['authorization', 'user-agent', 'content-type']),
      );
      expect(response.headers.get('x-scanii-request-id')).toBeTruthy();
      expect(response.headers.get('x-scanii-host-id')).toBe(service.config.hostId);
      expect(response.headers.get('x-runtime')).toMatch(/^\d+ms$/);
    }
  });

  it('sends CORS headers on answers too, errors included, so a browser can read them', async () => {
    const headers = { origin: 'https://app.example.com' };
    const refused = await request('/v2.2/ping', undefined, { headers });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    const ok = await request('/v2.2/ping', tenant.auth, { headers });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect((ok.headers.get('access-control-expose-headers') ?? '').toLowerCase()).toContain(
      'x-scanii-request-id',
    );
  });

  it('puts request id, host id, X-Runtime and exactly application/json on every answer', async () => {
    const second = await addKey();
    await disableKey(second.key);
    const cases: Array<[string, () => Promise<Response>, number]> = [
      ['ping', () => ping(tenant.auth), 200],
      ['no credentials', () => ping(), 401],
      ['bad credentials', () => ping(basic(tenant.key, 'nope')), 401],
      ['disabled key', () => ping(second.auth), 403],
      ['unknown result', () => request(`/v2.2/files/${'0'.repeat(32)}`, tenant.auth), 404],
      ['unknown route under /v2.2', () => request('/v2.2/no-such-thing', tenant.auth), 404],
      ['unknown route at the root', () => request('/no-such-thing'), 404],
      ['unknown route without credentials', () => request('/v2.2/no-such-thing'), 401],
      [
        'bad request',
        () => request('/v2.2/files', tenant.auth, { method: 'POST', body: new FormData() }),
        400,
      ],
      ['admin without token', () => request('/admin/tenants'), 401],
      ['health', () => request('/healthz'), 200],
    ];
    const requestIds = new Set<string>();
    for (const [what, send, status] of cases) {
      const response = await send();
      expect(response.status, what).toBe(status);
      expect(response.headers.get('content-type'), what).toBe('application/json');
      const requestId = response.headers.get('x-scanii-request-id');
      expect(requestId, what).toMatch(/^\S{8,}$/);
      requestIds.add(requestId ?? '');
      expect(response.headers.get('x-scanii-host-id'), what).toBe(service.config.hostId);
      expect(response.headers.get('x-runtime'), what).toMatch(/^\d+ms$/);
      const body = (await response.json()) as Record<string, unknown>;
      if (status >= 400) {
        expect(Object.keys(body), what).toEqual(['error']);
        expect(typeof body.error, what).toBe('string');
        expect((body.error as string).length, what).toBeGreaterThan(10);
      }
    }
    expect(requestIds.size).toBe(cases.length);
  });
});

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { ADMIN_TOKEN, basic, startTestService, type TestService } from '../support/service.js';

const run = promisify(execFile);
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface CreatedTenant {
  id: string;
  name: string;
  key: string;
  secret: string;
  signing_secret: string;
}

async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/json');
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatch(message);
}

describe('the admin API', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.stop();
  });

  const admin = (p: string, init: RequestInit = {}, token: string | null = ADMIN_TOKEN) =>
    fetch(`${service.url}/admin${p}`, {
      ...init,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(init.headers ?? {}),
      },
    });
  const createTenant = (
    body: unknown,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) =>
    admin('/tenants', {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const ping = (authorization: string) =>
    fetch(`${service.url}/v2.2/ping`, { headers: { authorization } });

  async function newTenant(name: string): Promise<CreatedTenant> {
    const response = await createTenant({ name });
    expect(response.status).toBe(201);
    return (await response.json()) as CreatedTenant;
  }

  it('creates a tenant whose key works at once', async () => {
    const response = await createTenant({ name: 'Acme Corp' });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    const tenant = (await response.json()) as CreatedTenant;
    expect(Object.keys(tenant).sort()).toEqual(['id', 'key', 'name', 'secret', 'signing_secret']);
    expect(tenant.id).toMatch(/^[0-9a-f]{32}$/);
    expect(tenant.name).toBe('Acme Corp');
    expect(tenant.key).toMatch(/^[0-9a-f]{32}$/);
    expect(tenant.secret.length).toBeGreaterThanOrEqual(32);
    expect(tenant.signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(tenant.signing_secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    const pong = await ping(basic(tenant.key, tenant.secret));
    expect(pong.status).toBe(200);
    expect(await pong.json()).toEqual({ message: 'pong', key: tenant.key });
  });

  it('gives every tenant its own id, key, secret and signing secret', async () => {
    const [a, b] = [await newTenant('same name'), await newTenant('same name')];
    for (const field of ['id', 'key', 'secret', 'signing_secret'] as const)
      expect(a[field]).not.toBe(b[field]);
    // One tenant's secret does not open the other's key.
    expect((await ping(basic(a.key, b.secret))).status).toBe(401);
  });

  it('trims the name and refuses a missing, blank, non-text or over-long one', async () => {
    const trimmed = await createTenant({ name: '  Padded  ' });
    expect(trimmed.status).toBe(201);
    expect(((await trimmed.json()) as CreatedTenant).name).toBe('Padded');
    expect((await createTenant({ name: 'n'.repeat(200) })).status).toBe(201);

    await expectError(await createTenant({}), 400, /name is required/);
    await expectError(await createTenant({ name: '' }), 400, /name is required/);
    await expectError(await createTenant({ name: '   \t ' }), 400, /name is required/);
    await expectError(await createTenant({ name: null }), 400, /name/);
    await expectError(await createTenant({ name: 42 }), 400, /name/);
    await expectError(await createTenant({ name: ['a'] }), 400, /name/);
    await expectError(
      await createTenant({ name: 'n'.repeat(201) }),
      400,
      /name is at most 200 characters/,
    );
    await expectError(await admin('/tenants', { method: 'POST' }), 400, /name is required/);
    await expectError(await createTenant([{ name: 'array' }]), 400, /object|name/);
  });

  it('refuses a body that is not JSON with 415, and broken JSON with 400', async () => {
    await expectError(
      await createTenant('name=acme', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      /application\/json/,
    );
    await expectError(
      await createTenant('acme', { 'content-type': 'text/plain' }),
      415,
      /application\/json/,
    );
    const form = new FormData();
    form.append('name', 'acme');
    await expectError(
      await admin('/tenants', { method: 'POST', body: form }),
      415,
      /application\/json/,
    );
    await expectError(await createTenant('{"name": "acme"'), 400, /could not be parsed/);
    await expectError(
      await createTenant(JSON.stringify({ name: 'x'.repeat(20_000) })),
      413,
      /larger than the 16 KiB limit/,
    );
  });

  it('refuses a missing or wrong admin token with 401', async () => {
    const tenant = await newTenant('not-an-admin');
    const attempts: Array<[string | null, Record<string, string>]> = [
      [null, {}],
      ['wrong-token-wrong-token', {}],
      [`${ADMIN_TOKEN}x`, {}],
      [ADMIN_TOKEN.slice(0, -1), {}],
      [tenant.secret, {}],
      [null, { authorization: basic('admin', ADMIN_TOKEN) }],
      [null, { authorization: ADMIN_TOKEN }],
      [null, { authorization: 'Bearer ' }],
      [null, { authorization: `xBearer ${ADMIN_TOKEN}` }],
    ];
    for (const [token, headers] of attempts) {
      const listing = await admin('/tenants', { headers }, token);
      expect(listing.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      await expectError(listing, 401, /admin token/);
      await expectError(
        await admin(
          '/tenants',
          {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: '{"name":"x"}',
          },
          token,
        ),
        401,
        /admin token/,
      );
      await expectError(
        await admin(`/tenants/${tenant.id}/keys`, { method: 'POST', headers }, token),
        401,
        /admin token/,
      );
      await expectError(
        await admin(`/keys/${tenant.key}`, { method: 'DELETE', headers }, token),
        401,
        /admin token/,
      );
    }
    // Nothing was disabled by the refused attempts.
    expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);
  });

  it('adds keys to a tenant; every key works', async () => {
    const tenant = await newTenant('two keys');
    const response = await admin(`/tenants/${tenant.id}/keys`, { method: 'POST' });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    const added = (await response.json()) as { key: string; secret: string };
    expect(Object.keys(added).sort()).toEqual(['key', 'secret']);
    expect(added.key).not.toBe(tenant.key);
    expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);
    expect((await ping(basic(added.key, added.secret))).status).toBe(200);
    // Both keys act for the same tenant.
    const account = (await (
      await fetch(`${service.url}/v2.2/account.json`, {
        headers: { authorization: basic(added.key, added.secret) },
      })
    ).json()) as {
      name: string;
      keys: Record<string, unknown>;
    };
    expect(account.name).toBe('two keys');
    expect(Object.keys(account.keys).sort()).toEqual([tenant.key, added.key].sort());
  });

  it('answers 404 when adding a key to an unknown or malformed tenant id', async () => {
    const tenant = await newTenant('key target');
    for (const id of [
      '0123456789abcdef0123456789abcdef',
      'nope',
      `${tenant.id}:keys`,
      `${tenant.id}%3Akeys`,
      'a'.repeat(5000),
    ]) {
      await expectError(await admin(`/tenants/${id}/keys`, { method: 'POST' }), 404, /no tenant/);
    }
  });

  it('disables a key: 204, then the key gets 403; unknown keys are 404', async () => {
    const tenant = await newTenant('disable');
    const second = (await (
      await admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const deleted = await admin(`/keys/${second.key}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    await expectError(await ping(basic(second.key, second.secret)), 403, /disabled/);
    expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);
    // Disabling again is harmless.
    expect((await admin(`/keys/${second.key}`, { method: 'DELETE' })).status).toBe(204);
    for (const key of ['0123456789abcdef0123456789abcdef', 'nope', tenant.id, 'a'.repeat(5000)]) {
      await expectError(await admin(`/keys/${key}`, { method: 'DELETE' }), 404, /no such key/);
    }
    // The tenant id is not a key: the tenant's keys still work.
    expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);
  });

  it('lists tenants with their keys and never a secret, a secret hash or a signing secret', async () => {
    const tenant = await newTenant('listed');
    const second = (await (
      await admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    expect((await admin(`/keys/${second.key}`, { method: 'DELETE' })).status).toBe(204);
    expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);

    const response = await admin('/tenants');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const text = await response.text();
    const list = JSON.parse(text) as Array<{
      id: string;
      name: string;
      creation_date: string;
      keys: Array<{ key: string; active: boolean; last_seen_date: string | null }>;
    }>;
    const listed = list.find((t) => t.id === tenant.id);
    expect(listed).toMatchObject({ id: tenant.id, name: 'listed' });
    expect(listed?.creation_date).toMatch(ISO_MS);
    const keys = Object.fromEntries((listed?.keys ?? []).map((k) => [k.key, k] as const));
    expect(keys[tenant.key]).toMatchObject({ active: true });
    expect(keys[tenant.key]?.last_seen_date).toMatch(ISO_MS);
    expect(keys[second.key]).toMatchObject({ active: false, last_seen_date: null });
    for (const secret of [tenant.secret, second.secret, tenant.signing_secret]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256(secret));
      expect(text).not.toContain(createHash('sha256').update(secret).digest('base64'));
    }
    expect(text).not.toMatch(/secret|hash/i);
  });

  it('shows a tenant its account: name, dates and keys, never a secret', async () => {
    const tenant = await newTenant('Account Holder');
    const auth = basic(tenant.key, tenant.secret);
    const second = (await (
      await admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const response = await fetch(`${service.url}/v2.2/account.json`, {
      headers: { authorization: auth },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const text = await response.text();
    const account = JSON.parse(text) as {
      name: string;
      creation_date: string;
      modification_date: string;
      keys: Record<
        string,
        { active: boolean; creation_date: string; last_seen_date: string | null }
      >;
    };
    expect(account.name).toBe('Account Holder');
    expect(account.creation_date).toMatch(ISO_MS);
    expect(account.modification_date).toMatch(ISO_MS);
    expect(Date.parse(account.modification_date)).toBeGreaterThanOrEqual(
      Date.parse(account.creation_date),
    );
    expect(Object.keys(account.keys).sort()).toEqual([tenant.key, second.key].sort());
    expect(account.keys[tenant.key]).toMatchObject({ active: true });
    expect(account.keys[tenant.key]?.creation_date).toMatch(ISO_MS);
    // The key that made this very request has been seen.
    expect(account.keys[tenant.key]?.last_seen_date).toMatch(ISO_MS);
    expect(account.keys[second.key]).toMatchObject({ active: true, last_seen_date: null });
    for (const secret of [tenant.secret, second.secret, tenant.signing_secret]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256(secret));
    }
    // No field of a key's record either (`aws_secret_key` is a sensitive-data type's name).
    expect(text.replaceAll('"aws_secret_key"', '')).not.toMatch(/secret|hash/i);
  });

  /** `arbiter …` against the service's Redis: its output and exit status. */
  const cli = async (dataDir: string, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run('npx', ['tsx', 'cli/main.ts', ...args], {
        cwd: path.resolve(import.meta.dirname, '../..'),
        env: {
          ...process.env,
          ...service.redis.serviceEnv,
          ARBITER_DATA_DIR: dataDir,
          LOG_LEVEL: 'silent',
        },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('creates a tenant from the command line, usable on the running service', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-cli-'));
    try {
      const { stdout } = await cli(dataDir, 'tenants', 'create', 'acme');
      const created = JSON.parse(stdout) as CreatedTenant;
      expect(created).toMatchObject({ name: 'acme' });
      expect(created.id).toMatch(/^[0-9a-f]{32}$/);
      expect(created.signing_secret).toMatch(/^whsec_/);
      const pong = await ping(basic(created.key, created.secret));
      expect(pong.status).toBe(200);
      expect(await pong.json()).toEqual({ message: 'pong', key: created.key });
      const listed = (await (await admin('/tenants')).json()) as Array<{
        id: string;
        name: string;
      }>;
      expect(listed).toContainEqual(expect.objectContaining({ id: created.id, name: 'acme' }));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('adds and disables keys from the command line, and says when there is no such tenant or key', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-cli-'));
    try {
      const tenant = await newTenant('cli-keys');
      const added = await cli(dataDir, 'tenants', 'add-key', tenant.id);
      expect(added.code).toBe(0);
      const key = JSON.parse(added.stdout) as { key: string; secret: string };
      expect(Object.keys(key).sort()).toEqual(['key', 'secret']);
      expect((await ping(basic(key.key, key.secret))).status).toBe(200);

      const disabled = await cli(dataDir, 'tenants', 'disable-key', key.key);
      expect(disabled).toMatchObject({ code: 0, stdout: '' });
      await expectError(await ping(basic(key.key, key.secret)), 403, /disabled/);
      // The tenant's first key is untouched.
      expect((await ping(basic(tenant.key, tenant.secret))).status).toBe(200);

      const unknownTenant = await cli(dataDir, 'tenants', 'add-key', 'f'.repeat(32));
      expect(unknownTenant).toMatchObject({ code: 1, stdout: '' });
      expect(unknownTenant.stderr).toMatch(/no tenant with the id/);
      // Not an id at all (`<id>:keys` would name a key set): refused the same way.
      expect(await cli(dataDir, 'tenants', 'add-key', `${tenant.id}:keys`)).toMatchObject({
        code: 1,
      });
      const unknownKey = await cli(dataDir, 'tenants', 'disable-key', 'nosuchkey');
      expect(unknownKey).toMatchObject({ code: 1, stdout: '' });
      expect(unknownKey.stderr).toMatch(/no key "nosuchkey"/);
      for (const args of [['add-key'], ['disable-key'], ['add-key', 'a', 'b'], ['remove', 'x']]) {
        const misused = await cli(dataDir, 'tenants', ...args);
        expect(misused.code, args.join(' ')).toBe(2);
        expect(misused.stderr).toMatch(/Usage: arbiter tenants/);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the admin API without ARBITER_ADMIN_TOKEN', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService({ ARBITER_ADMIN_TOKEN: '' });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('treats an empty ARBITER_ADMIN_TOKEN as unset', () => {
    expect(loadConfig({ ARBITER_ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
    expect(service.config.adminToken).toBeUndefined();
  });

  it('answers 403 with a message saying how to enable it, whatever token is sent', async () => {
    for (const authorization of [
      undefined,
      `Bearer ${ADMIN_TOKEN}`,
      'Bearer ',
      'Bearer undefined',
    ]) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(authorization ? { authorization } : {}),
      };
      await expectError(
        await fetch(`${service.url}/admin/tenants`, { headers }),
        403,
        /ARBITER_ADMIN_TOKEN/,
      );
      await expectError(
        await fetch(`${service.url}/admin/tenants`, {
          method: 'POST',
          headers,
          body: '{"name":"x"}',
        }),
        403,
        /ARBITER_ADMIN_TOKEN/,
      );
    }
  });
});

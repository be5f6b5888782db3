import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  basic,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * What an auth token may do. A Scanii auth token (`POST /v2.2/auth/tokens`) lives in a browser:
 * it scans what its holder uploads or has fetched and reads those results, nothing else. A
 * verdict API access token (`POST /api/Token`) may also scan an object of a registered bucket
 * (`POST /api/Scan/Existing`). Everything else needs an API key: 403 with `{"error"}`.
 */
describe('auth token scope', () => {
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let browserToken: string;
  let verdictToken: string;

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('token-scope');
    content = await startHttpServer({ '/file.bin': randomContent(64) });
    const minted = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
    });
    expect(minted.status).toBe(201);
    browserToken = ((await minted.json()) as { id: string }).id;
    const issued = await fetch(`${service.url}/api/Token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
    });
    expect(issued.status).toBe(200);
    verdictToken = ((await issued.json()) as { accessToken: string }).accessToken;
  });
  afterAll(async () => {
    await content?.close();
    await service?.stop();
  });

  const call = (
    method: string,
    path: string,
    authorization: string,
    body?: { type: string; value: string },
  ) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: {
        authorization,
        ...(body ? { 'content-type': body.type } : {}),
      },
      ...(body ? { body: body.value } : {}),
    });

  const json = (value: unknown) => ({ type: 'application/json', value: JSON.stringify(value) });

  /** A stored result of the tenant, made with its key. */
  async function storedResult(): Promise<string> {
    const response = await fetch(`${service.url}/v2.2/files`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: fileForm(randomContent(32)),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  }

  async function expectTokenRefused(response: Response): Promise<void> {
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(/tokens may only scan content/i);
  }

  const s3Event = {
    Records: [
      {
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'some-bucket' }, object: { key: 'a.txt' } },
      },
    ],
  };

  const refused = (resultId: string): Array<[string, string, ReturnType<typeof json>?]> => [
    ['POST', '/v2.2/auth/tokens'],
    ['POST', '/v2.1/auth/tokens'],
    ['GET', '/v2.2/account.json'],
    ['GET', '/v2.1/account.json'],
    ['DELETE', `/v2.2/files/${resultId}`],
    ['DELETE', `/v2.2/files/${resultId}/trace`],
    ['GET', '/v1/buckets'],
    ['PUT', '/v1/buckets/some-bucket', json({ region: 'us-east-1' })],
    ['GET', '/v1/buckets/some-bucket'],
    ['DELETE', '/v1/buckets/some-bucket'],
    ['POST', '/v1/events/s3', json(s3Event)],
    ['POST', `/v1/files/${resultId}/redeliver`],
    ['POST', '/v1/webhooks/signing-secret/rotate', json({})],
    ['POST', '/v1/jobs', json({ buckets: [{ name: 'some-bucket' }] })],
    ['GET', '/v1/jobs'],
    ['GET', `/v1/jobs/${'0'.repeat(32)}`],
    ['POST', `/v1/jobs/${'0'.repeat(32)}/cancel`],
    ['POST', '/v1/schedules', json({ cron: '0 3 * * *', buckets: [{ name: 'some-bucket' }] })],
    ['GET', '/v1/schedules'],
    ['GET', `/v1/schedules/${'0'.repeat(32)}`],
    ['DELETE', `/v1/schedules/${'0'.repeat(32)}`],
    ['POST', '/v1/rescans', json({ older_than: 'current' })],
    ['GET', '/v1/rescans'],
    ['GET', `/v1/rescans/${'0'.repeat(32)}`],
    ['POST', `/v1/rescans/${'0'.repeat(32)}/cancel`],
    ['GET', '/v1/rules'],
    [
      'PUT',
      '/v1/rules/mine.yar',
      { type: 'text/plain', value: 'rule mine { condition: filesize == 1 }' },
    ],
    ['GET', '/v1/rules/mine.yar'],
    ['DELETE', '/v1/rules/mine.yar'],
    ['GET', '/v1/no-such-route'],
    // Paths that only contain, or only start with, a path a token may call.
    ['GET', '/v2.2/x/ping'],
    ['GET', '/v2.2/ping/x'],
    ['POST', '/v2.2/x/files'],
    ['POST', '/v2.2/files/async/x'],
    ['GET', `/v2.2/x/files/${resultId}`],
    ['GET', `/v2.2/files/${resultId}/trace/x`],
    ['GET', `/v2.2/x/auth/tokens/${resultId}`],
    ['GET', `/v2.2/auth/tokens/${resultId}/x`],
  ];

  it('refuses every administrative and bucket route to both kinds of token with 403', async () => {
    const resultId = await storedResult();
    for (const token of [browserToken, verdictToken]) {
      for (const [method, path, body] of refused(resultId)) {
        const response = await call(method, path, basic(token, ''), body);
        expect({ method, path, status: response.status }).toEqual({ method, path, status: 403 });
        await expectTokenRefused(response);
      }
    }
    // Nothing was done: the result and its trace are still there.
    expect((await call('GET', `/v2.2/files/${resultId}`, tenant.auth)).status).toBe(200);
    expect((await call('GET', `/v2.2/files/${resultId}/trace`, tenant.auth)).status).toBe(200);
  });

  it('tells each kind of token what it may do and where to go instead', async () => {
    const browser =
      'Auth tokens may only scan content (POST /files, /files/async, /files/fetch) and read results (GET /files/{id}, its trace and its sanitized copy)';
    const verdict = 'Verdict API access tokens may only scan content and read results';
    const useKey = 'use an API key for this resource.';
    const needVerdictToken =
      'scanning bucket objects needs a verdict API access token (POST /api/Token) or an API key.';
    const refusal = async (response: Response) => {
      expect(response.status).toBe(403);
      return ((await response.json()) as { error: string }).error;
    };
    expect(await refusal(await call('GET', '/v2.2/account.json', basic(browserToken, '')))).toBe(
      `${browser}: ${useKey}`,
    );
    expect(await refusal(await call('GET', '/v2.2/account.json', basic(verdictToken, '')))).toBe(
      `${verdict}: ${useKey}`,
    );
    const existing = json({ bucket: 'some-bucket', key: 'a.txt' });
    expect(
      await refusal(await call('POST', '/api/Scan/Existing', `Bearer ${browserToken}`, existing)),
    ).toBe(`${browser}: ${needVerdictToken}`);
  });

  it('answers HEAD where a token may GET', async () => {
    const resultId = await storedResult();
    const minted = await call('POST', '/v2.2/auth/tokens', tenant.auth);
    const own = ((await minted.json()) as { id: string }).id;
    for (const path of [
      '/v2.2/ping',
      `/v2.2/files/${resultId}`,
      `/v2.2/files/${resultId}/trace`,
      `/v2.2/auth/tokens/${own}`,
    ]) {
      const response = await call('HEAD', path, basic(own, ''));
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
    }
  });

  it('refuses POST /api/Scan/Existing to a Scanii auth token, Basic or Bearer', async () => {
    const body = json({ bucket: 'some-bucket', key: 'a.txt' });
    await expectTokenRefused(
      await call('POST', '/api/Scan/Existing', basic(browserToken, ''), body),
    );
    await expectTokenRefused(
      await call('POST', '/api/Scan/Existing', `Bearer ${browserToken}`, body),
    );
  });

  it('lets a verdict API access token call /api/Scan/Existing (its own flow)', async () => {
    const response = await call(
      'POST',
      '/api/Scan/Existing',
      `Bearer ${verdictToken}`,
      json({ bucket: 'some-bucket', key: 'a.txt' }),
    );
    // Past the scope check: the bucket is simply not registered.
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toMatch(/bucket/i);
  });

  it('lets both kinds of token ping, scan uploads and fetches, and read results and traces', async () => {
    for (const token of [browserToken, verdictToken]) {
      const auth = basic(token, '');
      const pong = await call('GET', '/v2.2/ping', auth);
      expect(pong.status).toBe(200);
      expect(await pong.json()).toEqual({ message: 'pong', key: token });

      const sync = await fetch(`${service.url}/v2.2/files`, {
        method: 'POST',
        headers: { authorization: auth },
        body: fileForm(randomContent(32)),
      });
      expect(sync.status).toBe(201);
      const syncId = ((await sync.json()) as { id: string }).id;

      const queued = await fetch(`${service.url}/v2.2/files/async`, {
        method: 'POST',
        headers: { authorization: auth },
        body: fileForm(randomContent(32)),
      });
      expect(queued.status).toBe(202);
      const asyncId = ((await queued.json()) as { id: string }).id;

      const fetched = await call('POST', '/v2.1/files/fetch', auth, {
        type: 'application/x-www-form-urlencoded',
        value: new URLSearchParams({ location: `${content.url}/file.bin` }).toString(),
      });
      expect(fetched.status).toBe(202);
      const fetchId = ((await fetched.json()) as { id: string }).id;

      for (const id of [syncId, asyncId, fetchId]) {
        await pollScanResult(service, { auth }, id);
        expect((await call('GET', `/v2.2/files/${id}/trace`, auth)).status).toBe(200);
      }

      const upload = new FormData();
      upload.append('file', new Blob([randomContent(32)]), 'a.bin');
      const verdict = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: upload,
      });
      expect(verdict.status).toBe(200);
      expect(((await verdict.json()) as { result: string }).result).toBe('Clean');
    }
  });

  it('gives a token stored before scopes existed the narrow browser scope', async () => {
    const { runtime } = service.service;
    const old = await runtime.tokens.create(tenant.id, tenant.key, 600, 'verdict');
    // What an older Arbiter stored: the same hash without a scope field.
    await runtime.redis.hdel(service.keys.token(tenant.id, old.id), 'scope');
    expect((await call('GET', '/v2.2/ping', basic(old.id, ''))).status).toBe(200);
    await expectTokenRefused(
      await call(
        'POST',
        '/api/Scan/Existing',
        `Bearer ${old.id}`,
        json({ bucket: 'some-bucket', key: 'a.txt' }),
      ),
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  ADMIN_TOKEN,
  basic,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The structured logs of a whole flow, read from the logger's destination at the most verbose
 * level: every request line names its request and tenant, every finished scan its id, and no
 * credential ever appears: API secrets, signing secrets, bucket secrets, tokens.
 */
describe('structured logs', () => {
  const lines: string[] = [];
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  const secrets: Record<string, string> = {
    admin: ADMIN_TOKEN,
    bucketSecret: 'bucket-SECRET-access-key-0123456789abcdef',
    bucketSessionToken: 'bucket-SESSION-token-0123456789abcdef',
    queueSecret: 'queue-SECRET-access-key-0123456789abcdef',
    wrongPassword: 'not-the-secret-0123456789abcdef',
  };

  beforeAll(async () => {
    service = await startTestService(
      { LOG_LEVEL: 'trace', ARBITER_SECRET_KEY: 'cd'.repeat(32) },
      { logDestination: { write: (line: string) => void lines.push(line) } },
    );
    tenant = await service.createTenant('logs');
    secrets.apiSecret = tenant.secret;
    secrets.signingSecret = tenant.signing_secret;
    receiver = await startCallbackReceiver();
    content = await startHttpServer({ '/file.bin': randomContent(4096) });
  });
  afterAll(async () => {
    await receiver?.close();
    await content?.close();
    await service?.stop();
  });

  it('name request, tenant and scan ids, and never carry a secret', async () => {
    const auth = { authorization: tenant.auth };
    const v22 = `${service.url}/v2.2`;
    // Scans: sync, async with a callback, fetch.
    expect(
      (await fetch(`${v22}/files`, { method: 'POST', headers: auth, body: fileForm(eicar()) }))
        .status,
    ).toBe(201);
    const async = await fetch(`${v22}/files/async`, {
      method: 'POST',
      headers: auth,
      body: fileForm(randomContent(1000), { callback: `${receiver.url}/callback` }),
    });
    expect(async.status).toBe(202);
    const fetched = await fetch(`${v22}/files/fetch`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/file.bin` }),
    });
    const { id: fetchId } = (await fetched.json()) as { id: string };
    await receiver.waitForDeliveries(1);
    await waitFor(
      async () => (await fetch(`${v22}/files/${fetchId}`, { headers: auth })).status === 200,
      {
        what: 'the fetched result',
      },
    );

    // Credentials in every form: a wrong password, an auth token, a verdict access token, a
    // rotated signing secret, a registered bucket's keys.
    expect(
      (
        await fetch(`${v22}/ping`, {
          headers: { authorization: basic(tenant.key, secrets.wrongPassword!) },
        })
      ).status,
    ).toBe(401);
    const token = (await (
      await fetch(`${v22}/auth/tokens`, { method: 'POST', headers: auth })
    ).json()) as { id: string };
    secrets.authToken = token.id;
    expect(
      (await fetch(`${v22}/ping`, { headers: { authorization: basic(token.id, '') } })).status,
    ).toBe(200);
    const access = await fetch(`${service.url}/api/Token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
    });
    secrets.accessToken = ((await access.json()) as { accessToken: string }).accessToken;
    const verdict = new FormData();
    verdict.append('file', new Blob([eicar()]), 'eicar.com');
    const scanned = await fetch(`${service.url}/api/Scan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secrets.accessToken}` },
      body: verdict,
    });
    expect(scanned.status).toBe(200);
    const rotated = await fetch(`${service.url}/v1/webhooks/signing-secret/rotate`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    secrets.rotatedSigningSecret = (
      (await rotated.json()) as { signing_secret: string }
    ).signing_secret;
    const bucket = await fetch(`${service.url}/v1/buckets/log-test-bucket`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        credentials: {
          type: 'static',
          accessKeyId: 'AKIAEXAMPLEKEY000001',
          secretAccessKey: secrets.bucketSecret,
          sessionToken: secrets.bucketSessionToken,
        },
        queue: {
          url: 'http://127.0.0.1:9/000000000000/log-test',
          endpoint: 'http://127.0.0.1:9',
          credentials: {
            type: 'static',
            accessKeyId: 'queue-user',
            secretAccessKey: secrets.queueSecret,
          },
        },
      }),
    });
    expect(bucket.status).toBe(201);
    const newKey = (await (
      await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { secret: string };
    secrets.newKeySecret = newKey.secret;
    // Answered requests are logged when their answer is finished: wait for the last one.
    await waitFor(() => lines.some((line) => line.includes(`/admin/tenants/${tenant.id}/keys`)), {
      what: 'the last request line',
    });

    const text = lines.join('');
    for (const [what, secret] of Object.entries(secrets)) {
      expect(secret.length, what).toBeGreaterThan(10);
      expect(text.includes(secret), `${what} appears in the logs`).toBe(false);
    }

    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = records.filter((record) => record.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(12);
    for (const record of requests) {
      expect(record.requestId, JSON.stringify(record)).toMatch(/^[0-9a-f-]{36}$/);
      expect(record, JSON.stringify(record)).toHaveProperty('tenantId');
      expect(record.path, JSON.stringify(record)).toEqual(expect.any(String));
      expect(record.status).toEqual(expect.any(Number));
    }
    const own = requests.filter(
      (record) => String(record.path).startsWith('/v2.2/files') && record.status !== 401,
    );
    expect(own.length).toBeGreaterThanOrEqual(4);
    for (const record of own) expect(record.tenantId).toBe(tenant.id);
    // Not authenticated: the key is there, as null.
    expect(requests.find((record) => record.status === 401)?.tenantId).toBeNull();

    const scans = records.filter((record) => record.msg === 'scan finished');
    expect(scans.length).toBe(4);
    for (const record of scans) {
      expect(record.scanId).toMatch(/^[0-9a-f]{32}$/);
      expect(record.tenantId).toBe(tenant.id);
    }
    expect(scans.map((record) => record.scanId)).toContain(fetchId);
  });
});

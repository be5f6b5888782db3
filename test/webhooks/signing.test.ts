import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDelivery } from '../../webhooks/index.js';
import {
  startCallbackReceiver,
  type CallbackReceiver,
  type Delivery,
} from '../support/http-servers.js';
import { basic, startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { headerRecord, tenantApi } from './support.js';

/** Every real delivery is signed per Standard Webhooks, and the signing secret rotates via the API. */
describe('signed callback deliveries', () => {
  let service: TestService;
  let receiver: CallbackReceiver;
  let answer: (delivery: Delivery) => number = () => 200;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CALLBACK_RETRY_BASE_MS: '200',
      ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
    receiver = await startCallbackReceiver();
    receiver.respondWith = (_n, delivery) => answer(delivery);
  });
  afterAll(async () => {
    await receiver?.close();
    await service?.stop();
  });

  const deliveriesOf = (id: string) => receiver.deliveries.filter((d) => d.json.id === id);
  const waitForDeliveries = (id: string, count: number) =>
    waitFor(() => (deliveriesOf(id).length >= count ? deliveriesOf(id) : undefined), {
      what: `${count} deliveries of ${id}`,
    });

  const rotate = (tenant: TestTenant, body?: unknown, auth = tenant.auth) =>
    fetch(`${service.url}/v1/webhooks/signing-secret/rotate`, {
      method: 'POST',
      headers: {
        authorization: auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('signs every delivery: webhook-id msg_<id>, a current timestamp, and a v1 signature the standardwebhooks package verifies', async () => {
    const tenant = await service.createTenant('signed');
    const api = tenantApi(service, tenant);
    const id = await api.submit(`${receiver.url}/callback`);
    const [delivery] = await waitForDeliveries(id, 1);
    if (!delivery) throw new Error('no delivery');
    expect(delivery.headers['webhook-id']).toBe(`msg_${id}`);
    expect(
      Math.abs(Number(delivery.headers['webhook-timestamp']) - Date.now() / 1000),
    ).toBeLessThan(60);
    expect(delivery.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(delivery.headers['content-type']).toBe('application/json');

    const verified = new Webhook(tenant.signing_secret).verify(
      delivery.body,
      headerRecord(delivery.headers),
    ) as { id: string };
    expect(verified.id).toBe(id);
    const result = await verifyDelivery({
      body: delivery.body,
      headers: delivery.headers,
      secret: tenant.signing_secret,
      replayStore: false,
    });
    expect(result.id).toBe(id);
    expect(result.findings).toEqual([]);
    // Another tenant's secret does not verify it.
    const other = await service.createTenant('other');
    expect(() =>
      new Webhook(other.signing_secret).verify(delivery.body, headerRecord(delivery.headers)),
    ).toThrow();

    // Secrets and signatures never reach the trace.
    const trace = (await api.trace(id)).join('\n');
    expect(trace).not.toContain(tenant.signing_secret.slice('whsec_'.length));
    expect(trace).not.toContain(String(delivery.headers['webhook-signature']).slice(3));
  });

  it('keeps the webhook-id across retries and signs each attempt with its own timestamp', async () => {
    const tenant = await service.createTenant('retried');
    const api = tenantApi(service, tenant);
    let attempts = 0;
    answer = () => (++attempts < 3 ? 503 : 200);
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      const deliveries = await waitForDeliveries(id, 3);
      expect(new Set(deliveries.map((d) => d.headers['webhook-id']))).toEqual(
        new Set([`msg_${id}`]),
      );
      for (const delivery of deliveries) {
        expect(() =>
          new Webhook(tenant.signing_secret).verify(delivery.body, headerRecord(delivery.headers)),
        ).not.toThrow();
      }
    } finally {
      answer = () => 200;
    }
  });

  it("rotates the signing secret: 201 with the new secret and the end of the old one's grace period", async () => {
    const tenant = await service.createTenant('rotating');
    const before = Date.now();
    const response = await rotate(tenant);
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as {
      signing_secret: string;
      previous_valid_until: string;
    };
    expect(Object.keys(body).sort()).toEqual(['previous_valid_until', 'signing_secret']);
    expect(body.signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(body.signing_secret).not.toBe(tenant.signing_secret);
    // The default grace period is ARBITER_SIGNING_SECRET_GRACE, one day.
    const graceMs = Date.parse(body.previous_valid_until) - before;
    expect(graceMs).toBeGreaterThanOrEqual(86_400_000 - 1000);
    expect(graceMs).toBeLessThanOrEqual(86_400_000 + 5000);
  });

  it('signs with both secrets during the grace period, then with the new one only', async () => {
    const tenant = await service.createTenant('grace');
    const api = tenantApi(service, tenant);
    const rotated = (await (await rotate(tenant, { grace_seconds: 4 })).json()) as {
      signing_secret: string;
      previous_valid_until: string;
    };
    const oldSecret = tenant.signing_secret;
    const newSecret = rotated.signing_secret;

    const during = await api.submit(`${receiver.url}/callback`);
    const [both] = await waitForDeliveries(during, 1);
    if (!both) throw new Error('no delivery');
    // (Signed within the grace period: the scan and its delivery take a fraction of it.)
    expect(Number(both.headers['webhook-timestamp']) * 1000).toBeLessThan(
      Date.parse(rotated.previous_valid_until),
    );
    const entries = String(both.headers['webhook-signature']).split(' ');
    expect(entries).toHaveLength(2);
    for (const entry of entries) expect(entry).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    for (const secret of [oldSecret, newSecret]) {
      expect(
        (new Webhook(secret).verify(both.body, headerRecord(both.headers)) as { id: string }).id,
      ).toBe(during);
      await expect(
        verifyDelivery({ body: both.body, headers: both.headers, secret, replayStore: false }),
      ).resolves.toMatchObject({ id: during });
    }

    // Past the grace period only the new secret signs.
    await waitFor(() => Date.now() > Date.parse(rotated.previous_valid_until) + 50, {
      what: 'the grace period to end',
    });
    const after = await api.submit(`${receiver.url}/callback`);
    const [single] = await waitForDeliveries(after, 1);
    if (!single) throw new Error('no delivery');
    expect(String(single.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(
      (new Webhook(newSecret).verify(single.body, headerRecord(single.headers)) as { id: string })
        .id,
    ).toBe(after);
    expect(() => new Webhook(oldSecret).verify(single.body, headerRecord(single.headers))).toThrow(
      /No matching signature/,
    );
  });

  it('drops the old secret at once with grace_seconds 0, and keeps only the two newest on a second rotation', async () => {
    const tenant = await service.createTenant('revoked');
    const api = tenantApi(service, tenant);
    const first = (await (await rotate(tenant)).json()) as { signing_secret: string };
    const second = (await (await rotate(tenant, { grace_seconds: 0 })).json()) as {
      signing_secret: string;
      previous_valid_until: string;
    };
    expect(Math.abs(Date.parse(second.previous_valid_until) - Date.now())).toBeLessThan(5000);
    const id = await api.submit(`${receiver.url}/callback`);
    const [delivery] = await waitForDeliveries(id, 1);
    if (!delivery) throw new Error('no delivery');
    expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() =>
      new Webhook(second.signing_secret).verify(delivery.body, headerRecord(delivery.headers)),
    ).not.toThrow();
    for (const stale of [tenant.signing_secret, first.signing_secret]) {
      expect(() =>
        new Webhook(stale).verify(delivery.body, headerRecord(delivery.headers)),
      ).toThrow();
    }
  });

  it('refuses rotation without credentials, with an auth token, or with a bad grace period', async () => {
    const tenant = await service.createTenant('refused');
    const none = await fetch(`${service.url}/v1/webhooks/signing-secret/rotate`, {
      method: 'POST',
    });
    expect(none.status).toBe(401);
    const wrong = await rotate(tenant, undefined, basic(tenant.key, 'not-the-secret'));
    expect(wrong.status).toBe(401);

    const minted = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ timeout: 60 }),
    });
    const token = ((await minted.json()) as { id: string }).id;
    const byToken = await rotate(tenant, undefined, basic(token, ''));
    expect(byToken.status).toBe(403);

    for (const [body, message] of [
      [{ grace_seconds: -1 }, /grace_seconds must be between 0 and 2592000/],
      [{ grace_seconds: 1.5 }, /whole number/],
      [{ grace_seconds: 'soon' }, /whole number/],
      [{ grace: 10 }, /Unknown field "grace"/],
    ] as const) {
      const response = await rotate(tenant, body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
    }
    const text = await fetch(`${service.url}/v1/webhooks/signing-secret/rotate`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'text/plain' },
      body: 'rotate please',
    });
    expect(text.status).toBe(415);

    // Nothing was rotated: deliveries still verify with the original secret alone.
    const api = tenantApi(service, tenant);
    const id = await api.submit(`${receiver.url}/callback`);
    const [delivery] = await waitForDeliveries(id, 1);
    if (!delivery) throw new Error('no delivery');
    expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() =>
      new Webhook(tenant.signing_secret).verify(delivery.body, headerRecord(delivery.headers)),
    ).not.toThrow();
  });
});

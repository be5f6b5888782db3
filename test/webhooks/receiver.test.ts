import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSigningSecret } from '../../core/ids.js';
import {
  MemoryReplayStore,
  WebhookVerificationError,
  arbiterWebhook,
  signWebhook,
  verifyDelivery,
  verifyDeliveryDetails,
  type ArbiterResult,
  type WebhookFailureReason,
} from '../../webhooks/index.js';

const secret = newSigningSecret();
const otherSecret = newSigningSecret();
const RESULT: ArbiterResult = {
  id: '0123456789abcdef0123456789abcdef',
  checksum: 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  content_length: 0,
  findings: [],
  creation_date: '2026-01-02T03:04:05.678Z',
  content_type: 'text/plain',
  metadata: { upload_id: '42' },
};
const BODY = JSON.stringify(RESULT);
const nowSeconds = () => Math.floor(Date.now() / 1000);

function signed(
  options: { body?: string; secrets?: string[]; timestamp?: number; id?: string } = {},
) {
  const body = options.body ?? BODY;
  return {
    body,
    headers: signWebhook({
      id: options.id ?? `msg_${RESULT.id}`,
      body,
      secrets: options.secrets ?? [secret],
      timestamp: options.timestamp ?? nowSeconds(),
    }) as unknown as Record<string, string>,
  };
}

async function reasonOf(promise: Promise<unknown>): Promise<WebhookFailureReason> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.reason;
    throw error;
  }
  throw new Error('verification passed');
}

describe('verifyDelivery', () => {
  it('returns the typed result of a delivery signed with the secret', async () => {
    const delivery = signed();
    const result = await verifyDelivery({ ...delivery, secret, replayStore: false });
    expect(result).toEqual(RESULT);
    expect(result.findings).toEqual([]);
  });

  it('takes a Buffer body, a Fetch Headers object and header names in any case', async () => {
    const delivery = signed();
    const fetchHeaders = new Headers(delivery.headers);
    await expect(
      verifyDelivery({
        body: Buffer.from(delivery.body),
        headers: fetchHeaders,
        secret,
        replayStore: false,
      }),
    ).resolves.toEqual(RESULT);
    const shouting = Object.fromEntries(
      Object.entries(delivery.headers).map(([k, v]) => [k.toUpperCase(), v]),
    );
    await expect(
      verifyDelivery({ body: delivery.body, headers: shouting, secret, replayStore: false }),
    ).resolves.toEqual(RESULT);
  });

  it('accepts any of several secrets, and a delivery signed with two secrets by either', async () => {
    const byOld = signed({ secrets: [otherSecret] });
    await expect(
      verifyDelivery({ ...byOld, secrets: [secret, otherSecret], replayStore: false }),
    ).resolves.toEqual(RESULT);
    const rotating = signed({ secrets: [secret, otherSecret] });
    expect(rotating.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    await expect(verifyDelivery({ ...rotating, secret, replayStore: false })).resolves.toEqual(
      RESULT,
    );
    await expect(
      verifyDelivery({ ...rotating, secret: otherSecret, replayStore: false }),
    ).resolves.toEqual(RESULT);
  });

  it('says missing-headers when any of the three headers is absent or the timestamp is not a number', async () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const delivery = signed();
      delete delivery.headers[name];
      await expect(
        reasonOf(verifyDelivery({ ...delivery, secret, replayStore: false })),
      ).resolves.toBe('missing-headers');
    }
    const delivery = signed();
    delivery.headers['webhook-timestamp'] = '2026-01-01T00:00:00Z';
    await expect(
      reasonOf(verifyDelivery({ ...delivery, secret, replayStore: false })),
    ).resolves.toBe('missing-headers');
  });

  it('says bad-signature for another secret, a changed body, id or timestamp, or an unknown version', async () => {
    const check = (delivery: { body: string; headers: Record<string, string> }) =>
      reasonOf(verifyDelivery({ ...delivery, secret, replayStore: false }));
    await expect(check(signed({ secrets: [otherSecret] }))).resolves.toBe('bad-signature');
    const tampered = signed();
    await expect(
      check({ ...tampered, body: BODY.replace('"findings":[]', '"findings":["x"]') }),
    ).resolves.toBe('bad-signature');
    await expect(check({ ...tampered, body: `${BODY} ` })).resolves.toBe('bad-signature');
    await expect(
      check({ ...tampered, headers: { ...tampered.headers, 'webhook-id': 'msg_other' } }),
    ).resolves.toBe('bad-signature');
    await expect(
      check({
        ...tampered,
        headers: { ...tampered.headers, 'webhook-timestamp': String(nowSeconds() - 1) },
      }),
    ).resolves.toBe('bad-signature');
    const v2 = (tampered.headers['webhook-signature'] ?? '').replace('v1,', 'v2,');
    await expect(
      check({ ...tampered, headers: { ...tampered.headers, 'webhook-signature': v2 } }),
    ).resolves.toBe('bad-signature');
    await expect(
      check({ ...tampered, headers: { ...tampered.headers, 'webhook-signature': 'v1,' } }),
    ).resolves.toBe('bad-signature');
  });

  it('says too-old and too-new outside the tolerance, and honours a custom tolerance', async () => {
    const old = signed({ timestamp: nowSeconds() - 301 });
    await expect(reasonOf(verifyDelivery({ ...old, secret, replayStore: false }))).resolves.toBe(
      'too-old',
    );
    await expect(
      verifyDelivery({ ...old, secret, toleranceSeconds: 600, replayStore: false }),
    ).resolves.toEqual(RESULT);
    const future = signed({ timestamp: nowSeconds() + 301 });
    await expect(reasonOf(verifyDelivery({ ...future, secret, replayStore: false }))).resolves.toBe(
      'too-new',
    );
    const slightlyOld = signed({ timestamp: nowSeconds() - 20 });
    await expect(
      reasonOf(
        verifyDelivery({ ...slightlyOld, secret, toleranceSeconds: 10, replayStore: false }),
      ),
    ).resolves.toBe('too-old');
  });

  it('says replayed for the same signed request twice, but accepts a retry with a new timestamp', async () => {
    const store = new MemoryReplayStore();
    const first = signed({ timestamp: nowSeconds() - 5 });
    await expect(verifyDelivery({ ...first, secret, replayStore: store })).resolves.toEqual(RESULT);
    await expect(reasonOf(verifyDelivery({ ...first, secret, replayStore: store }))).resolves.toBe(
      'replayed',
    );
    // Arbiter's next attempt of the same message: same webhook-id, new timestamp and signature.
    const retry = signed();
    const details = await verifyDeliveryDetails({ ...retry, secret, replayStore: store });
    expect(details.id).toBe(`msg_${RESULT.id}`);
    await expect(reasonOf(verifyDelivery({ ...retry, secret, replayStore: store }))).resolves.toBe(
      'replayed',
    );
  });

  it('uses a process-wide replay store by default', async () => {
    const delivery = signed({ id: 'msg_default_store' });
    await verifyDelivery({ ...delivery, secret });
    await expect(reasonOf(verifyDelivery({ ...delivery, secret }))).resolves.toBe('replayed');
  });

  it('forgets deliveries once they could no longer pass the timestamp check', () => {
    let now = 1_000_000;
    const store = new MemoryReplayStore(() => now);
    expect(store.remember('a', 10)).toBe(true);
    expect(store.remember('a', 10)).toBe(false);
    now += 10_001;
    expect(store.remember('b', 10)).toBe(true);
    expect(store.size).toBe(1); // 'a' was swept
    expect(store.remember('a', 10)).toBe(true);
  });

  it('does not remember a delivery that failed verification', async () => {
    const store = new MemoryReplayStore();
    const delivery = signed();
    await expect(
      reasonOf(verifyDelivery({ ...delivery, secret: otherSecret, replayStore: store })),
    ).resolves.toBe('bad-signature');
    await expect(verifyDelivery({ ...delivery, secret, replayStore: store })).resolves.toEqual(
      RESULT,
    );
  });

  it('says malformed-body for a correctly signed body that is not a result', async () => {
    for (const body of [
      'not json',
      '[]',
      '{"findings":[]}',
      '{"id":"x","findings":"none"}',
      '{"id":"x","findings":[],"metadata":[]}',
    ]) {
      const delivery = signed({ body });
      await expect(
        reasonOf(verifyDelivery({ ...delivery, secret, replayStore: false })),
      ).resolves.toBe('malformed-body');
    }
  });

  it('carries bucket-event fields through', async () => {
    const event = {
      ...RESULT,
      bucket: 'uploads',
      key: 'a/b.pdf',
      versionId: null,
      action: 'quarantined',
    };
    const delivery = signed({ body: JSON.stringify(event) });
    const result = await verifyDelivery({ ...delivery, secret, replayStore: false });
    expect(result.bucket).toBe('uploads');
    expect(result.key).toBe('a/b.pdf');
  });

  it('refuses a secret that is not whsec_ base64, and a call without a secret', async () => {
    const delivery = signed();
    await expect(
      verifyDelivery({ ...delivery, secret: 'whsec_not base64!', replayStore: false }),
    ).rejects.toThrow(/base64/);
    await expect(verifyDelivery({ ...delivery, replayStore: false })).rejects.toThrow(TypeError);
  });
});

describe('compatibility with the standardwebhooks package', () => {
  it('verifies what the kit signed, with one secret and with two', () => {
    const one = signed();
    expect(new Webhook(secret).verify(one.body, one.headers)).toEqual(RESULT);
    const two = signed({ secrets: [secret, otherSecret] });
    expect(new Webhook(secret).verify(two.body, two.headers)).toEqual(RESULT);
    expect(new Webhook(otherSecret).verify(two.body, two.headers)).toEqual(RESULT);
    expect(() => new Webhook(newSigningSecret()).verify(two.body, two.headers)).toThrow(
      /No matching signature/,
    );
  });

  it('signs what the kit verifies', async () => {
    const wh = new Webhook(secret);
    const id = 'msg_from_the_package';
    const at = new Date();
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': wh.sign(id, at, BODY),
    };
    expect(
      signWebhook({
        id,
        body: BODY,
        secrets: [secret],
        timestamp: Math.floor(at.getTime() / 1000),
      }),
    ).toEqual(headers);
    await expect(
      verifyDelivery({ body: BODY, headers, secret, replayStore: false }),
    ).resolves.toEqual(RESULT);
    await expect(
      verifyDelivery({
        body: BODY,
        headers,
        secret: secret.slice('whsec_'.length),
        replayStore: false,
      }),
    ).resolves.toEqual(RESULT);
  });
});

describe('the arbiterWebhook express middleware', () => {
  let server: Server;
  let url: string;
  const received: ArbiterResult[] = [];

  beforeAll(async () => {
    const app = express();
    const handler = (req: express.Request, res: express.Response) => {
      if (req.arbiterResult) received.push(req.arbiterResult);
      res.status(200).json({ ok: true, id: req.arbiterWebhook?.id });
    };
    app.post(
      '/raw',
      express.raw({ type: 'application/json' }),
      arbiterWebhook({ secret }),
      handler,
    );
    app.post('/unparsed', arbiterWebhook({ secrets: [otherSecret, secret] }), handler);
    app.post('/parsed', express.json(), arbiterWebhook({ secret }), handler);
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (path: string, delivery: { body: string; headers: Record<string, string> }) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      body: delivery.body,
      headers: { 'content-type': 'application/json', ...delivery.headers },
    });

  it('sets req.arbiterResult on a verified delivery (after express.raw, or with no body parser)', async () => {
    for (const path of ['/raw', '/unparsed']) {
      const delivery = signed({ id: `msg_${path.slice(1)}` });
      const response = await post(path, delivery);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true, id: `msg_${path.slice(1)}` });
    }
    expect(received).toEqual([RESULT, RESULT]);
  });

  it('answers 401 with the reason for a bad signature, a stale delivery or a replay', async () => {
    const bad = await post('/raw', signed({ secrets: [otherSecret] }));
    expect(bad.status).toBe(401);
    expect(bad.headers.get('content-type')).toBe('application/json');
    const refused = (await bad.json()) as { reason: string; error: string };
    expect(refused.reason).toBe('bad-signature');
    expect(refused.error).toMatch(/signature/);

    const stale = await post('/raw', signed({ timestamp: nowSeconds() - 3600 }));
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { reason: string }).reason).toBe('too-old');

    const once = signed({ id: 'msg_replayed_via_http' });
    expect((await post('/raw', once)).status).toBe(200);
    const again = await post('/raw', once);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { reason: string }).reason).toBe('replayed');
  });

  it('answers 400 for a request that is not a delivery', async () => {
    const response = await fetch(`${url}/raw`, {
      method: 'POST',
      body: BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { reason: string }).reason).toBe('missing-headers');
    const malformed = await post('/raw', signed({ body: '{"hello":"world"}' }));
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { reason: string }).reason).toBe('malformed-body');
  });

  it('explains, with a 500, that a body already parsed by express.json() cannot be verified', async () => {
    const response = await post('/parsed', signed({ id: 'msg_parsed' }));
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: string }).error).toMatch(/express\.raw/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_AGENT } from '../../cli/runtime.js';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { createOutboundHttp } from '../../core/outbound-http.js';
import { guardedNetwork, type GuardedNetwork } from '../support/guarded-network.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import {
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * A bucket's `callback`, S3 `endpoint`, `queue.url` and `queue.endpoint` follow the rule every
 * tenant URL follows (core/url-policy.ts), at registration: a forbidden IP literal is a 400 that
 * says why, and nothing is stored, so nothing is ever sent there.
 *
 * No network is allowed here (ARBITER_ALLOWED_NETWORKS empty), so loopback stands for a forbidden
 * address too. The service's outbound client is swapped for one with the test resolver and a
 * connector that permits nothing: even a bug could not send a packet anywhere.
 */
describe('bucket URLs at registration', () => {
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let net: GuardedNetwork;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_ALLOWED_NETWORKS: '',
      ARBITER_SECRET_KEY: Buffer.alloc(32, 5).toString('base64'),
    });
    net = guardedNetwork({ permitted: [], names: {} });
    const guarded = createOutboundHttp({
      userAgent: USER_AGENT,
      policy: createNetworkPolicy(service.config.allowedNetworks),
      resolve: net.resolve,
      connect: net.connect,
    });
    service.service.runtime.pipeline.http = guarded;
    service.service.runtime.delivery.http = guarded;
    tenant = await service.createTenant('bucket-urls');
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await service?.stop();
  });

  const credentials = { type: 'static', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' };
  const register = (body: unknown) =>
    fetch(`${service.url}/v1/buckets/url-checked`, {
      method: 'PUT',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const NOT_ALLOWED = '(not in ARBITER_ALLOWED_NETWORKS)';

  it('refuses forbidden IP literals in callback, endpoint and queue URLs with a 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [
        { region: 'us-east-1', credentials, callback: 'http://169.254.169.254/latest/meta-data/' },
        `The callback was refused: 169.254.169.254 is a cloud metadata (link-local) address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, callback: 'http://10.0.0.1/hook' },
        `The callback was refused: 10.0.0.1 is a private address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, callback: 'http://[::ffff:127.0.0.1]/hook' },
        `The callback was refused: ::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, callback: `${receiver.url}/hook` },
        `The callback was refused: 127.0.0.1 is a loopback address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, callback: 'http://0xa9fea9fe/' },
        `The callback was refused: 169.254.169.254 is a cloud metadata (link-local) address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, callback: 'https://user:pw@hooks.example.com/' },
        'The callback was refused: URLs with embedded credentials (user:password@) are not accepted',
      ],
      [
        { endpoint: 'http://169.254.169.254', credentials },
        `The endpoint was refused: 169.254.169.254 is a cloud metadata (link-local) address ${NOT_ALLOWED}`,
      ],
      [
        { endpoint: 'http://[::ffff:127.0.0.1]:9000', credentials },
        `The endpoint was refused: ::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address ${NOT_ALLOWED}`,
      ],
      [
        { region: 'us-east-1', credentials, queue: { url: 'http://10.1.2.3/123/q' } },
        `The queue.url was refused: 10.1.2.3 is a private address ${NOT_ALLOWED}`,
      ],
      [
        {
          region: 'us-east-1',
          credentials,
          queue: {
            url: 'https://sqs.us-east-1.amazonaws.com/123/q',
            endpoint: 'http://[fd00:ec2::254]',
          },
        },
        `The queue.endpoint was refused: fd00:ec2::254 is a cloud metadata (unique-local) address ${NOT_ALLOWED}`,
      ],
    ];
    for (const [body, message] of cases) {
      const response = await register(body);
      const text = await response.text();
      expect({ body, status: response.status, text }).toEqual({
        body,
        status: 400,
        text: JSON.stringify({ error: message }),
      });
    }
    // Nothing was registered, and no connection or lookup was ever attempted.
    const missing = await fetch(`${service.url}/v1/buckets/url-checked`, {
      headers: { authorization: tenant.auth },
    });
    expect(missing.status).toBe(404);
    expect(net.lookups).toEqual([]);
    expect(net.attempts).toEqual([]);
    expect(net.violations).toEqual([]);
    expect(receiver.deliveries).toEqual([]);
  });

  it('gives a file callback and a bucket callback the same answer for the same URL', async () => {
    const url = 'http://10.0.0.1/hook';
    const file = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      body: new URLSearchParams({ location: 'https://files.example.com/a', callback: url }),
    });
    const bucket = await register({ region: 'us-east-1', credentials, callback: url });
    expect(file.status).toBe(400);
    expect(bucket.status).toBe(400);
    expect(await file.json()).toEqual(await bucket.json());
    expect(net.attempts).toEqual([]);
  });

  it('accepts a callback and endpoint named by host name: those are judged when connecting', async () => {
    const response = await register({
      endpoint: 'https://s3.storage.example.com',
      credentials,
      callback: 'https://hooks.example.com/arbiter',
    });
    expect(response.status).toBe(201);
    // Registering sends nothing anywhere.
    expect(net.lookups).toEqual([]);
    expect(net.attempts).toEqual([]);
  });
});

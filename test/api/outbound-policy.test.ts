import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_AGENT } from '../../cli/runtime.js';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { createOutboundHttp } from '../../core/outbound-http.js';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import { guardedNetwork, type GuardedNetwork } from '../support/guarded-network.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The outbound rules (docs/architecture.md) through the API: a forbidden `location` or `callback` that is an IP literal is a
 * 400 at submit time; a name is resolved by the worker, and a refusal becomes the result's error.
 *
 * Only 127.0.0.1/32 is allowed here, so 127.0.0.2 (still this machine) stands for a forbidden
 * address. The service's outbound client is swapped, right after start and before any job exists,
 * for one built from the same configuration but with the test resolver and connector: even a bug
 * could not send a packet anywhere but 127.0.0.1.
 */

describe('outbound network policy through the API', () => {
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let net: GuardedNetwork;
  let port: number;
  const clean = randomContent(4096);

  beforeAll(async () => {
    service = await startTestService({ ARBITER_ALLOWED_NETWORKS: '127.0.0.1/32' });
    net = guardedNetwork({
      permitted: ['127.0.0.1'],
      names: {
        'metadata.test': ['169.254.169.254'],
        'files.example.test': ['127.0.0.1'],
        'alias.test': ['127.0.0.2'],
      },
    });
    const guarded = createOutboundHttp({
      userAgent: USER_AGENT,
      policy: createNetworkPolicy(service.config.allowedNetworks),
      resolve: net.resolve,
      connect: net.connect,
    });
    service.service.runtime.pipeline.http = guarded;
    service.service.runtime.delivery.http = guarded;
    tenant = await service.createTenant('outbound');
    content = await startHttpServer({
      '/clean.bin': clean,
      '/redirect': (req, res) => {
        res
          .writeHead(302, {
            location: new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/',
          })
          .end();
      },
    });
    port = Number(new URL(content.url).port);
    receiver = await startCallbackReceiver();
  });

  afterAll(async () => {
    await content?.close();
    await receiver?.close();
    await service?.stop();
    expect(net?.violations ?? []).toEqual([]);
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);
  const fetchForm = (fields: Record<string, string>) =>
    api('/files/fetch', { method: 'POST', body: new URLSearchParams(fields) });
  const pollResult = (id: string) => pollScanResult(service, tenant, id);

  async function expectRefused(response: Response, message: string): Promise<void> {
    const text = await response.text();
    expect(response.status, text).toBe(400);
    expect(JSON.parse(text)).toEqual({ error: message });
  }

  it('answers 400 at submit for the metadata address, queueing nothing', async () => {
    await expectRefused(
      await fetchForm({ location: 'http://169.254.169.254/latest/meta-data/' }),
      'The location was refused: 169.254.169.254 is a cloud metadata (link-local) address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(net.attempts).toEqual([]);
  });

  it.each([
    ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'IPv4-mapped form of 169.254.169.254'],
    ['http://2852039166/latest/meta-data/', '169.254.169.254 is a cloud metadata'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'fd00:ec2::254 is a cloud metadata'],
    ['http://0x7f.0.0.2:PORT/clean.bin', '127.0.0.2 is a loopback'],
    ['http://127.0.0.2.:PORT/clean.bin', '127.0.0.2 is a loopback'],
    ['http://[::1]:PORT/clean.bin', '::1 is a loopback'],
    ['http://10.0.0.5/file', '10.0.0.5 is a private'],
    ['http://0/', '0.0.0.0 is an unspecified'],
  ])('/files/fetch refuses location %s at submit', async (location, why) => {
    const response = await fetchForm({ location: location.replace('PORT', String(port)) });
    const text = await response.text();
    expect(response.status, text).toBe(400);
    expect((JSON.parse(text) as { error: string }).error).toMatch(
      new RegExp(`^The location was refused: .*${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });

  it('refuses a forbidden callback at submit on /files/fetch, /files/async and /files, leaving no upload behind', async () => {
    const incoming = path.join(service.config.spoolDir, 'incoming');
    const callback = 'http://[fd00:ec2::254]/hook';
    const message =
      'The callback was refused: fd00:ec2::254 is a cloud metadata (unique-local) address (not in ARBITER_ALLOWED_NETWORKS)';
    await expectRefused(
      await fetchForm({ location: `${content.url}/clean.bin`, callback }),
      message,
    );
    await expectRefused(
      await api('/files/async', { method: 'POST', body: fileForm(clean, { callback }) }),
      message,
    );
    await expectRefused(
      await api('/files', {
        method: 'POST',
        body: fileForm(clean, { callback: 'http://192.168.1.1/hook' }),
      }),
      'The callback was refused: 192.168.1.1 is a private address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    await expectRefused(
      await api('/files', {
        method: 'POST',
        body: fileForm(Buffer.alloc(0), { location: 'http://[::ffff:a9fe:a9fe]/' }),
      }),
      'The location was refused: ::ffff:a9fe:a9fe is an IPv4-mapped form of 169.254.169.254, a cloud metadata (link-local) address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(await readdir(incoming)).toEqual([]);
    expect(net.attempts).toEqual([]);
  });

  it('fetches and calls back within an allowed network', async () => {
    const response = await fetchForm({
      location: `http://files.example.test:${port}/clean.bin`,
      callback: `${receiver.url}/callback`,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await pollResult(id);
    expect(result).toMatchObject({ id, checksum: sha1(clean), findings: [] });
    const deliveries = await receiver.waitForDeliveries(1);
    expect(deliveries.some((d) => d.json.id === id)).toBe(true);
    expect(new Set(net.addresses())).toEqual(new Set(['127.0.0.1']));
  });

  it('accepts a name at submit; the worker refuses it when it resolves to a forbidden address', async () => {
    const response = await fetchForm({
      location: 'http://metadata.test/latest/meta-data/',
      callback: `${receiver.url}/callback`,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await pollResult(id);
    expect(result.error).toContain(
      'refused: metadata.test resolves to a forbidden address: 169.254.169.254 is a cloud metadata (link-local) address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    const trace = (await (await api(`/files/${id}/trace`)).json()) as {
      events: { message: string }[];
    };
    expect(JSON.stringify(trace)).toContain('metadata.test resolves to a forbidden address');
    // The error result is still called back, to the allowed receiver.
    await waitFor(() => receiver.deliveries.find((d) => d.json.id === id), {
      what: 'the error callback',
    });
    expect(net.addresses()).not.toContain('169.254.169.254');
  });

  it('refuses, in the worker, a redirect from an allowed server to a forbidden address', async () => {
    for (const target of [
      `http://127.0.0.2:${port}/clean.bin`,
      `http://alias.test:${port}/clean.bin`,
      'http://169.254.169.254/',
    ]) {
      const response = await fetchForm({
        location: `${content.url}/redirect?to=${encodeURIComponent(target)}`,
      });
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      const result = await pollResult(id);
      expect(result.error).toMatch(
        /refused: .*(127\.0\.0\.2 is a loopback|169\.254\.169\.254 is a cloud metadata)/,
      );
    }
    expect(net.addresses().every((address) => address === '127.0.0.1')).toBe(true);
  });

  it('a synchronous scan of a refused name answers 400 with the refusal', async () => {
    const form = new FormData();
    form.append('location', 'http://alias.test/clean.bin');
    const response = await api('/files', { method: 'POST', body: form });
    const body = (await response.json()) as { error: string };
    expect(response.status).toBe(400);
    expect(body.error).toContain(
      'refused: alias.test resolves to a forbidden address: 127.0.0.2 is a loopback address',
    );
  });
});

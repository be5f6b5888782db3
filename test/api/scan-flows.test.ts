import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, eicarWithNewline, fileForm, randomContent, sha1 } from '../support/content.js';
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

const EICAR_FINDING = 'content.malicious.eicar-test-signature';

describe('scanning through the Scanii v2.2 API', () => {
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  const clean = randomContent(64 * 1024);

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('flows');
    content = await startHttpServer({
      '/eicar.txt': eicar(),
      '/clean.bin': clean,
      '/gone': (_req, res) => void res.writeHead(404).end(),
    });
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await content?.close();
    await receiver?.close();
    await service?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);

  const pollResult = (id: string) => pollScanResult(service, tenant, id);

  it('answers a synchronous upload with the result, its SHA-1, type, metadata and Location', async () => {
    const response = await api('/files', {
      method: 'POST',
      body: fileForm(clean, { 'metadata[order]': '42' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-scanii-request-id')).toBeTruthy();
    expect(response.headers.get('x-scanii-host-id')).toBeTruthy();
    expect(response.headers.get('x-runtime')).toMatch(/^\d+ms$/);
    const result = (await response.json()) as Record<string, unknown>;
    expect(result).toMatchObject({
      checksum: sha1(clean),
      content_length: clean.length,
      findings: [],
      content_type: 'application/octet-stream',
      metadata: { order: '42' },
    });
    expect(result.id).toMatch(/^[0-9a-f]{32}$/);
    expect(result.creation_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(response.headers.get('location')).toBe(`${service.url}/v2.2/files/${String(result.id)}`);
  });

  it('finds EICAR in a synchronous upload, raw and with a trailing newline', async () => {
    for (const sample of [eicar(), eicarWithNewline()]) {
      const response = await api('/files', { method: 'POST', body: fileForm(sample) });
      expect(response.status).toBe(201);
      const result = (await response.json()) as Record<string, unknown>;
      expect(result.findings).toEqual([EICAR_FINDING]);
      expect(result.content_type).toBe('text/plain');
      expect(result.checksum).toBe(sha1(sample));
    }
  });

  it('scans an async upload: 202 with an id, 404 until done, then the result and a callback', async () => {
    const response = await api('/files/async', {
      method: 'POST',
      body: fileForm(eicar(), { callback: `${receiver.url}/callback`, 'metadata[k]': 'v' }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    expect(response.headers.get('location')).toBe(`${service.url}/v2.2/files/${id}`);
    const result = await pollResult(id);
    expect(result).toMatchObject({
      id,
      findings: [EICAR_FINDING],
      metadata: { k: 'v' },
      checksum: sha1(eicar()),
    });
    const deliveries = await receiver.waitForDeliveries(1);
    const delivery = deliveries.find((d) => d.json.id === id);
    expect(delivery?.json).toEqual(result);
    expect(delivery?.headers['content-type']).toBe('application/json');
  });

  it('fetches a location and calls back with the result (the CMS arbitration flow)', async () => {
    const before = receiver.deliveries.length;
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        location: `${content.url}/eicar.txt`,
        callback: `${receiver.url}/callback`,
        'metadata[upload]': 'u-1',
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const deliveries = await receiver.waitForDeliveries(before + 1);
    const delivery = deliveries.find((d) => d.json.id === id);
    expect(delivery?.json).toMatchObject({
      id,
      findings: [EICAR_FINDING],
      metadata: { upload: 'u-1' },
      checksum: sha1(eicar()),
    });
    expect(await pollResult(id)).toMatchObject({ findings: [EICAR_FINDING] });
  });

  it('accepts /files/fetch as JSON and as multipart too', async () => {
    const asJson = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/clean.bin`, metadata: { via: 'json' } }),
    });
    expect(asJson.status).toBe(202);
    const form = new FormData();
    form.append('location', `${content.url}/clean.bin`);
    form.append('metadata[via]', 'multipart');
    const asMultipart = await api('/files/fetch', { method: 'POST', body: form });
    expect(asMultipart.status).toBe(202);
    for (const [response, via] of [
      [asJson, 'json'],
      [asMultipart, 'multipart'],
    ] as const) {
      const { id } = (await response.json()) as { id: string };
      expect(await pollResult(id)).toMatchObject({
        findings: [],
        checksum: sha1(clean),
        metadata: { via },
      });
    }
  });

  it('stores an error result, and still calls back, when the location cannot be downloaded', async () => {
    const before = receiver.deliveries.length;
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        location: `${content.url}/gone`,
        callback: `${receiver.url}/callback`,
      }),
    });
    const { id } = (await response.json()) as { id: string };
    const result = await pollResult(id);
    expect(result.error).toMatch(/HTTP 404/);
    expect(result.checksum).toBeNull();
    const deliveries = await receiver.waitForDeliveries(before + 1);
    expect(deliveries.find((d) => d.json.id === id)?.json.error).toMatch(/HTTP 404/);
  });

  it('scans a location synchronously with POST /files', async () => {
    const form = new FormData();
    form.append('location', `${content.url}/eicar.txt`);
    const response = await api('/files', { method: 'POST', body: form });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      findings: [EICAR_FINDING],
      checksum: sha1(eicar()),
    });
  });

  it('records every step in the trace', async () => {
    const response = await api('/files/async', {
      method: 'POST',
      body: fileForm(clean, { callback: `${receiver.url}/callback` }),
    });
    const { id } = (await response.json()) as { id: string };
    await pollResult(id);
    const trace = await waitFor(
      async () => {
        const body = (await (await api(`/files/${id}/trace`)).json()) as {
          id: string;
          events: Array<{ timestamp: string; message: string }>;
        };
        return body.events.some((e) => e.message.startsWith('callback attempt')) ? body : undefined;
      },
      { what: 'callback attempt in trace' },
    );
    const messages = trace.events.map((e) => e.message);
    expect(trace.id).toBe(id);
    expect(messages[0]).toBe('content received for processing');
    expect(messages.some((m) => m.startsWith('scanned by builtin'))).toBe(true);
    expect(messages.some((m) => m.startsWith('content processed successfully'))).toBe(true);
    expect(
      messages.some((m) => /^callback attempt 1 to http:\/\/127\.0\.0\.1:\d+: HTTP 200/.test(m)),
    ).toBe(true);
    for (const event of trace.events) expect(event.timestamp).toMatch(/Z$/);
  });

  it('deletes a result: 204, then 404; the trace stays until deleted itself', async () => {
    const created = (await (
      await api('/files', { method: 'POST', body: fileForm(clean) })
    ).json()) as { id: string };
    expect((await api(`/files/${created.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/files/${created.id}`)).status).toBe(404);
    expect((await api(`/files/${created.id}`, { method: 'DELETE' })).status).toBe(404);
    expect((await api(`/files/${created.id}/trace`)).status).toBe(200);
    expect((await api(`/files/${created.id}/trace`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/files/${created.id}/trace`)).status).toBe(404);
  });

  it('serves the same API under /v2.1', async () => {
    const response = await fetch(`${service.url}/v2.1/ping`, {
      headers: { authorization: tenant.auth },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: 'pong', key: tenant.key });
  });
});

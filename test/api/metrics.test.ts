import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/** One sample of the Prometheus text format: name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    )) {
      labels[label[1]!] = label[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; 0 if absent. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return found.reduce((sum, sample) => sum + sample.value, 0);
}

const scrape = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(`${url}/metrics`, init);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  return { text, samples: parseMetrics(text) };
};

describe('Prometheus metrics after a scan flow', () => {
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  const ids: string[] = [];
  const clean = randomContent(10_000);

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('metrics');
    receiver = await startCallbackReceiver();
    content = await startHttpServer({ '/clean.bin': clean });

    for (const sample of [clean, eicar()]) {
      const response = await api('/files', { method: 'POST', body: fileForm(sample) });
      expect(response.status).toBe(201);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const accepted = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        location: `${content.url}/clean.bin`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    ids.push(id);
    await receiver.waitForDeliveries(1);
    expect((await api(`/files/${id}`)).status).toBe(200);
    expect((await api(`/files/${id}/trace`)).status).toBe(200);
    expect(
      (await fetch(`${service.url}/v2.1/files/${id}`, { headers: { authorization: tenant.auth } }))
        .status,
    ).toBe(200);
    expect((await fetch(`${service.url}/no/such/${id}`)).status).toBe(404);
    // An S3 test event: read, and skipped.
    const event = await fetch(`${service.url}/v1/events/s3`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'some-bucket' }),
    });
    expect(event.status).toBe(202);
  });
  afterAll(async () => {
    await receiver?.close();
    await content?.close();
    await service?.stop();
  });

  it('counts and times requests by route template and status, never by raw id', async () => {
    const { text, samples } = await scrape(service.url);
    for (const id of ids) expect(text).not.toContain(id);
    expect(text).not.toContain(tenant.id);

    const count = (labels: Record<string, string>) =>
      valueOf(samples, 'arbiter_http_requests_total', labels);
    expect(count({ method: 'POST', route: '/v2.2/files', status: '201' })).toBe(2);
    expect(count({ method: 'POST', route: '/v2.2/files/fetch', status: '202' })).toBe(1);
    expect(
      count({ method: 'GET', route: '/v2.2/files/:id', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(count({ method: 'GET', route: '/v2.2/files/:id/trace', status: '200' })).toBe(1);
    expect(count({ method: 'GET', route: '/v2.1/files/:id', status: '200' })).toBe(1);
    expect(count({ method: 'POST', route: '/admin/tenants', status: '201' })).toBe(1);
    expect(count({ route: 'unmatched', status: '404' })).toBe(1);

    const routes = new Set(
      samples.filter((s) => s.name === 'arbiter_http_requests_total').map((s) => s.labels.route),
    );
    for (const route of routes) expect(route).toMatch(/^(unmatched|\/[A-Za-z0-9/._:-]*)$/);

    const latency = { method: 'POST', route: '/v2.2/files', status: '201' };
    expect(valueOf(samples, 'arbiter_http_request_duration_seconds_count', latency)).toBe(2);
    const seconds = valueOf(samples, 'arbiter_http_request_duration_seconds_sum', latency);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);
    expect(
      valueOf(samples, 'arbiter_http_request_duration_seconds_bucket', { ...latency, le: '+Inf' }),
    ).toBe(2);
  });

  it('reports scans by engine, results and findings by class, callbacks by outcome and S3 events', async () => {
    const { samples } = await scrape(service.url);
    expect(
      valueOf(samples, 'arbiter_scan_duration_seconds_count', { engine: 'builtin', outcome: 'ok' }),
    ).toBe(3);
    expect(valueOf(samples, 'arbiter_scans_total', { engine: 'builtin', outcome: 'ok' })).toBe(3);
    expect(valueOf(samples, 'arbiter_scanned_bytes_total', { engine: 'builtin' })).toBe(
      2 * clean.length + eicar().length,
    );
    expect(valueOf(samples, 'arbiter_scan_results_total', { class: 'clean' })).toBe(2);
    expect(valueOf(samples, 'arbiter_scan_results_total', { class: 'malicious' })).toBe(1);
    expect(valueOf(samples, 'arbiter_scan_results_total', { class: 'error' })).toBe(0);
    expect(valueOf(samples, 'arbiter_findings_total', { class: 'malicious' })).toBe(1);
    expect(valueOf(samples, 'arbiter_findings_total', { class: 'clean' })).toBe(2);
    expect(valueOf(samples, 'arbiter_callback_attempts_total', { outcome: 'delivered' })).toBe(1);
    expect(valueOf(samples, 'arbiter_callback_attempts_total', { outcome: 'failed' })).toBe(0);
    expect(valueOf(samples, 'arbiter_s3_events_received_total')).toBe(1);
    expect(valueOf(samples, 'arbiter_s3_events_skipped_total')).toBe(1);
  });

  it('reports every queue’s depth by state and the age of its oldest waiting job, and process metrics', async () => {
    const { samples } = await scrape(service.url);
    for (const queue of ['scan', 'callback']) {
      expect(
        samples.some(
          (s) =>
            s.name === 'arbiter_queue_jobs' &&
            s.labels.queue === queue &&
            s.labels.state === 'waiting',
        ),
      ).toBe(true);
      expect(
        valueOf(samples, 'arbiter_queue_jobs', { queue, state: 'active' }),
      ).toBeGreaterThanOrEqual(0);
      expect(
        valueOf(samples, 'arbiter_queue_oldest_waiting_age_seconds', { queue }),
      ).toBeGreaterThanOrEqual(0);
    }
    expect(valueOf(samples, 'arbiter_queue_jobs', { queue: 'scan', state: 'completed' })).toBe(1);
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });
});

describe('metrics of separate api and worker processes', () => {
  let redis: TestRedis;
  let api: TestService;
  let worker: TestService | undefined;
  let content: TestHttpServer;
  const TOKEN = 'metrics-token-0123456789';
  const env = { ARBITER_METRICS_TOKEN: TOKEN, ARBITER_WORKER_METRICS_PORT: '0' };
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    redis = await startTestRedis();
    api = await startTestService(env, { redis, roles: { api: true, workers: false } });
    content = await startHttpServer({ '/a.bin': randomContent(2048) });
  });
  afterAll(async () => {
    await content?.close();
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
  });

  it('shows a waiting job and its age while no worker runs, then the scan on the worker’s port', async () => {
    const tenant = await api.createTenant('split');
    const accepted = await fetch(`${api.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/a.bin` }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const queued = Date.now();
    const before = await scrape(api.url, { headers: auth });
    const waiting =
      valueOf(before.samples, 'arbiter_queue_jobs', { queue: 'scan', state: 'waiting' }) +
      valueOf(before.samples, 'arbiter_queue_jobs', { queue: 'scan', state: 'prioritized' });
    expect(waiting).toBe(1);
    const age = valueOf(before.samples, 'arbiter_queue_oldest_waiting_age_seconds', {
      queue: 'scan',
    });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThanOrEqual((Date.now() - queued) / 1000 + 5);
    // Later scrapes see it older.
    await waitFor(
      async () => {
        const { samples } = await scrape(api.url, { headers: auth });
        return (
          valueOf(samples, 'arbiter_queue_oldest_waiting_age_seconds', { queue: 'scan' }) > age
        );
      },
      { what: 'the oldest waiting job to age' },
    );

    worker = await startTestService(env, { redis, roles: { api: false, workers: true } });
    const monitorUrl = worker.service.monitorUrl ?? '';
    expect(monitorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(worker.service.url).toBeUndefined();
    await waitFor(
      async () =>
        (await fetch(`${api.url}/v2.2/files/${id}`, { headers: { authorization: tenant.auth } }))
          .status === 200,
      { what: 'the result' },
    );
    const onWorker = await scrape(monitorUrl, { headers: auth });
    expect(
      valueOf(onWorker.samples, 'arbiter_scans_total', { engine: 'builtin', outcome: 'ok' }),
    ).toBe(1);
    expect(valueOf(onWorker.samples, 'arbiter_scanned_bytes_total', { engine: 'builtin' })).toBe(
      2048,
    );
    expect(valueOf(onWorker.samples, 'arbiter_scan_results_total', { class: 'clean' })).toBe(1);
    expect(
      valueOf(onWorker.samples, 'arbiter_queue_oldest_waiting_age_seconds', { queue: 'scan' }),
    ).toBe(0);
    const onApi = await scrape(api.url, { headers: auth });
    expect(valueOf(onApi.samples, 'arbiter_scans_total')).toBe(0);
    expect(
      valueOf(onApi.samples, 'arbiter_http_requests_total', {
        route: '/v2.2/files/fetch',
        status: '202',
      }),
    ).toBe(1);
  });

  it('guards /metrics with ARBITER_METRICS_TOKEN, on the API and on the worker port', async () => {
    const monitorUrl = worker?.service.monitorUrl ?? '';
    for (const url of [api.url, monitorUrl]) {
      const refused = await fetch(`${url}/metrics`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await fetch(`${url}/metrics`, {
        headers: { authorization: 'Bearer wrong-token-0123456789' },
      });
      expect(wrong.status).toBe(401);
      await scrape(url, { headers: auth });
    }
    expect((await fetch(`${monitorUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${monitorUrl}/v2.2/ping`)).status).toBe(404);
  });
});

import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../core/redis.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Locations that trickle: a server sending one byte every 200 ms is never silent long enough for
 * the idle timeout, so without more it held a scan slot for the whole download time limit (and was
 * retried after it). Here, against the real service (api + workers in this process, real Redis):
 * one tenant's trickling fetches hold at most its share of the scan slots, so another tenant's
 * upload is scanned while they run; they end, once, with an error result naming the minimum rate;
 * a sync scan of such a location gets the same limit; and deleting a pending fetch stops its
 * download at once.
 */

const TRICKLE_MS = 200;

interface Trickler extends TestHttpServer {
  /** Downloads being served right now, by `?n=` label. */
  open: Set<string>;
  /** Most downloads served at once so far. */
  peak: number;
  /** Labels whose connection closed, in order. */
  closed: string[];
}

/** Serves `/trickle?n=label`: headers, then one byte every TRICKLE_MS, forever. */
async function startTrickler(): Promise<Trickler> {
  const open = new Set<string>();
  const closed: string[] = [];
  const trickler = {} as Trickler;
  const server = await startHttpServer({
    '/trickle': (req: IncomingMessage, res: ServerResponse) => {
      const label = new URL(req.url ?? '/', 'http://test').searchParams.get('n') ?? '';
      open.add(label);
      trickler.peak = Math.max(trickler.peak, open.size);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write('x'), TRICKLE_MS);
      req.socket.on('close', () => {
        clearInterval(timer);
        open.delete(label);
        closed.push(label);
      });
    },
  });
  return Object.assign(trickler, server, { open, closed, peak: 0 });
}

const submitFetch = async (service: TestService, tenant: TestTenant, location: string) => {
  const response = await scaniiRequest(service, tenant, '/files/fetch', {
    method: 'POST',
    body: new URLSearchParams({ location }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
};

const traceOf = async (service: TestService, tenant: TestTenant, id: string) => {
  const response = await scaniiRequest(service, tenant, `/files/${id}/trace`);
  return ((await response.json()) as { events: { message: string }[] }).events.map(
    (e) => e.message,
  );
};

describe('a tenant whose locations trickle', () => {
  let redis: TestRedis;
  let client: Redis;
  let service: TestService;
  let slow: TestTenant;
  let other: TestTenant;
  let trickler: Trickler;

  beforeAll(async () => {
    redis = await startTestRedis();
    client = createRedis(redis.url, 'command', () => undefined);
    service = await startTestService(
      {
        // The defaults' shape: 4 scan slots, so one tenant gets at most 3 of them.
        ARBITER_SCAN_CONCURRENCY: '4',
        // 5 bytes/s arrive; 100 bytes/s are asked for, averaged over 4 s (kept short for the test).
        ARBITER_FETCH_MIN_RATE: '100',
        ARBITER_FETCH_RATE_WINDOW_MS: '4000',
        // Scan leases last twice the job lock: 2 s here, shorter than a download, so the bound
        // holds only if running scans renew their leases.
        ARBITER_JOB_LOCK_MS: '1000',
      },
      { redis },
    );
    slow = await service.createTenant('slow');
    other = await service.createTenant('other');
    trickler = await startTrickler();
  });
  afterAll(async () => {
    await trickler?.close();
    await service?.stop();
    client?.disconnect();
    await redis?.stop();
  });

  it("holds at most its share of the scan slots: another tenant's upload is scanned meanwhile; its fetches end once, with an error naming the rate", async () => {
    expect(service.config.scanTenantConcurrency).toBe(3);
    const leaseKey = service.keys.scanInflight(slow.id);
    let mostLeases = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        mostLeases = Math.max(mostLeases, await client.zcard(leaseKey));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    // More trickling fetches than there are scan slots in all.
    const slowIds: string[] = [];
    for (let i = 0; i < 6; i += 1)
      slowIds.push(await submitFetch(service, slow, `${trickler.url}/trickle?n=${i}`));
    await waitFor(() => trickler.open.size === 3, {
      timeoutMs: 30_000,
      what: "three of the slow tenant's downloads to be running",
    });

    const form = new FormData();
    form.append('file', new Blob([Buffer.from('an ordinary upload\n')]), 'upload.txt');
    const upload = await scaniiRequest(service, other, '/files/async', {
      method: 'POST',
      body: form,
    });
    expect(upload.status).toBe(202);
    const { id: uploadId } = (await upload.json()) as { id: string };
    const uploaded = await pollScanResult<{ findings: string[] }>(service, other, uploadId, 30_000);
    expect(uploaded.findings).toEqual([]);
    // Scanned while the first three slow downloads were still running, none of them finished.
    const stillRunning = [...trickler.open];
    expect(trickler.closed).toEqual([]);
    expect(stillRunning).toHaveLength(3);

    // Every slow fetch ends with an error result naming the rate, after a single attempt.
    for (const id of slowIds) {
      const result = await pollScanResult<{ error?: string; findings: string[] }>(
        service,
        slow,
        id,
        90_000,
      );
      expect(result.error).toMatch(
        /^could not download content from http:\/\/127\.0\.0\.1:\d+: too slow: the location sent \d+ bytes in 4 s, below the minimum rate of 100 bytes\/s$/,
      );
      const trace = await traceOf(service, slow, id);
      expect(trace.filter((m) => m.startsWith('fetching content from'))).toHaveLength(1);
    }
    sampling = false;
    await sampler;
    expect(trickler.hits.get('/trickle')).toBe(6);
    expect(trickler.peak).toBe(3);
    expect(mostLeases).toBe(3);
    await waitFor(async () => (await client.zcard(leaseKey)) === 0, {
      what: "the slow tenant's leases to be released",
    });
  }, 180_000);

  it('ends a sync scan of a trickling location the same way (400 with the reason)', async () => {
    const form = new FormData();
    form.append('location', `${trickler.url}/trickle?n=sync`);
    const response = await scaniiRequest(service, slow, '/files', { method: 'POST', body: form });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string };
    expect(body.error).toMatch(/too slow: the location sent \d+ bytes in 4 s/);
  });
});

describe('deleting a pending fetch', () => {
  let service: TestService;
  let tenant: TestTenant;
  let trickler: Trickler;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    // No minimum rate: without the deletion, the download would run its full 5 minutes.
    service = await startTestService({ ARBITER_FETCH_MIN_RATE: '0' });
    tenant = await service.createTenant('deleter');
    trickler = await startTrickler();
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await trickler?.close();
    await receiver?.close();
    await service?.stop();
  });

  it('stops its download: the connection closes, the partial file is gone, no result, no callback', async () => {
    const response = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      body: new URLSearchParams({
        location: `${trickler.url}/trickle?n=doomed`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const partial = path.join(service.config.spoolDir, 'fetch', id);
    await waitFor(() => trickler.open.has('doomed') && existsSync(partial), {
      timeoutMs: 30_000,
      what: 'the download to be under way',
    });

    const deleted = await scaniiRequest(service, tenant, `/files/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    await waitFor(() => trickler.closed.includes('doomed'), {
      timeoutMs: 20_000,
      what: 'the download connection to close',
    });

    const scanJob = await service.service.runtime.queues.scan.getJob(id);
    await waitFor(async () => (await scanJob?.getState()) === 'completed', {
      what: 'the scan job to end',
    });
    expect((await scaniiRequest(service, tenant, `/files/${id}`)).status).toBe(404);
    expect(existsSync(partial)).toBe(false);
    expect(await service.service.runtime.queues.callback.getJob(`cb-${id}`)).toBeUndefined();
    expect(receiver.deliveries).toEqual([]);
    expect(trickler.hits.get('/trickle')).toBe(1);
  });
});

import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import { createMetrics } from '../../core/metrics.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { SpoolSweeper } from '../../worker/chores/spool-sweeper.js';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  spawnArbiter,
  startWorkerProcess,
} from '../support/worker-process.js';

/**
 * Nothing accepted leaks into the spool: uploads of scans deleted (or expired) before a worker
 * started them, partial uploads of a killed API process, downloads left by a worker that hit its
 * shutdown deadline. What a live pending scan still needs is never removed.
 */

afterEach(async () => {
  await killAllArbiterProcesses();
});

/** Sum of the samples `name{labels…}` on the service's /metrics (0 when absent). */
async function metric(url: string, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = new Map<string, string>();
    for (const m of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g))
      found.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value))
      sum += Number(match[3]);
  }
  return sum;
}

async function submitUpload(service: TestService, tenant: TestTenant, content: Buffer) {
  const response = await scaniiRequest(service, tenant, '/files/async', {
    method: 'POST',
    body: fileForm(content),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const uploadPath = (service: TestService, tenant: TestTenant, id: string) =>
  service.service.runtime.spool.uploadPath(tenant.id, id);

/** An hour ago: older than any grace period these tests configure. */
const anHourAgo = () => new Date(Date.now() - 3_600_000);

describe('an upload deleted before a worker started it', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    // No workers (the scans stay queued) and no periodic sweep after the one at start: only
    // DELETE itself can remove the upload here.
    service = await startTestService(
      { ARBITER_SPOOL_SWEEP_INTERVAL_MS: '3600000' },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('delete-queued');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('is removed from the spool by the DELETE, for every one of a burst', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1)
      ids.push(await submitUpload(service, tenant, randomContent(64 * 1024)));
    for (const id of ids) expect(existsSync(uploadPath(service, tenant, id))).toBe(true);

    for (const id of ids) {
      const response = await scaniiRequest(service, tenant, `/files/${id}`, { method: 'DELETE' });
      expect(response.status).toBe(204);
      expect(existsSync(uploadPath(service, tenant, id))).toBe(false);
    }
    expect(await readdir(path.join(service.config.spoolDir, 'uploads', tenant.id))).toEqual([]);
  });
});

describe('an upload whose record expired before a worker started it', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService({ ARBITER_SPOOL_SWEEP_INTERVAL_MS: '3600000' });
    tenant = await service.createTenant('expired-queued');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('is removed by the worker that finds the record gone', async () => {
    const { queues, redis } = service.service.runtime;
    // Held in the queue while its record disappears, as a long backlog and a short TTL would.
    await queues.scan.pause();
    const id = await submitUpload(service, tenant, randomContent(64 * 1024));
    await redis.del(service.keys.scan(tenant.id, id));
    expect(existsSync(uploadPath(service, tenant, id))).toBe(true);

    await queues.scan.resume();
    await waitFor(async () => (await queues.scan.getJobState(id)) === 'completed', {
      what: 'the worker to take the job',
    });
    expect(existsSync(uploadPath(service, tenant, id))).toBe(false);
  });
});

describe('the spool sweeper', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    // No workers: uploads stay pending with their jobs queued. A short grace and interval.
    service = await startTestService(
      { ARBITER_SPOOL_SWEEP_INTERVAL_MS: '100', ARBITER_SPOOL_GRACE_MS: '60000' },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('sweeper');
  });
  afterAll(async () => {
    await service?.stop();
  });

  /** Waits for two more sweeps: one that surely started after the files below were in place. */
  const twoMoreSweeps = async () => {
    const before = await metric(service.url, 'arbiter_spool_sweeps_total', { outcome: 'ok' });
    await waitFor(
      async () =>
        (await metric(service.url, 'arbiter_spool_sweeps_total', { outcome: 'ok' })) >= before + 2,
      { what: 'two more spool sweeps' },
    );
  };

  it('removes abandoned files, keeps what live scans own, and counts what it removed', async () => {
    const spool = service.service.runtime.spool;
    const counted = async () => ({
      incoming: await metric(service.url, 'arbiter_spool_swept_files_total', { area: 'incoming' }),
      uploads: await metric(service.url, 'arbiter_spool_swept_files_total', { area: 'uploads' }),
      fetch: await metric(service.url, 'arbiter_spool_swept_files_total', { area: 'fetch' }),
      bytes: await metric(service.url, 'arbiter_spool_swept_bytes_total'),
    });
    const before = await counted();

    // A live pending upload, untouched for an hour: its job still needs it.
    const pendingId = await submitUpload(service, tenant, randomContent(4096));
    const pending = uploadPath(service, tenant, pendingId);
    await utimes(pending, anHourAgo(), anHourAgo());
    // A partial upload nobody has written to for an hour (what a killed request leaves).
    const partial = path.join(spool.incomingDir, newId());
    await writeFile(partial, randomContent(1000));
    await utimes(partial, anHourAgo(), anHourAgo());
    // An upload in progress: written to just now.
    const receiving = path.join(spool.incomingDir, newId());
    await writeFile(receiving, randomContent(10));
    // The upload of a scan whose record is gone (expired).
    const orphanUpload = spool.uploadPath(tenant.id, newId());
    await writeFile(orphanUpload, randomContent(2000));
    // A download with no job, untouched for an hour; and one with no job written just now (a
    // synchronous scan's download).
    const orphanFetch = spool.fetchPath(newId());
    await writeFile(orphanFetch, randomContent(3000));
    await utimes(orphanFetch, anHourAgo(), anHourAgo());
    const syncFetch = spool.fetchPath(newId());
    await writeFile(syncFetch, randomContent(10));

    await waitFor(
      () => !existsSync(partial) && !existsSync(orphanUpload) && !existsSync(orphanFetch),
      {
        what: 'the sweeper to remove the abandoned files',
      },
    );
    await twoMoreSweeps();
    expect({
      pending: existsSync(pending),
      receiving: existsSync(receiving),
      syncFetch: existsSync(syncFetch),
    }).toEqual({ pending: true, receiving: true, syncFetch: true });
    expect(await counted()).toEqual({
      incoming: before.incoming + 1,
      uploads: before.uploads + 1,
      fetch: before.fetch + 1,
      bytes: before.bytes + 1000 + 2000 + 3000,
    });

    await rm(syncFetch);
    await rm(receiving);
  });

  it('removes the upload of a scan deleted while a worker held its job, once it is gone', async () => {
    const id = await submitUpload(service, tenant, randomContent(4096));
    const file = uploadPath(service, tenant, id);
    // A worker takes the job (as a real one would, then dies or is slow): DELETE must leave
    // the file to it, since it may be reading it.
    const holder = new Worker(QUEUE_NAMES.scan, null, {
      connection: redisOptionsFromUrl(service.redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.scan),
    });
    try {
      // (Jobs of the other test's scans, queued before it, come first: taken and held too.)
      await waitFor(async () => (await holder.getNextJob('test-token'))?.id === id, {
        what: 'the test worker to take the job',
      });
      expect(await service.service.runtime.queues.scan.getJobState(id)).toBe('active');
      const response = await scaniiRequest(service, tenant, `/files/${id}`, { method: 'DELETE' });
      expect(response.status).toBe(204);
      // The scan is no longer pending: the sweeper removes its upload.
      await waitFor(() => !existsSync(file), { what: 'the sweeper to remove the deleted upload' });
    } finally {
      await holder.close(true);
    }
  });
});

describe('two sweepers on one spool at once', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_SPOOL_SWEEP_INTERVAL_MS: '3600000' },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('two-sweepers');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('remove each abandoned file once between them, count it once, and keep live ones', async () => {
    const { spool, scans, queues, logger } = service.service.runtime;
    // A live pending upload (which also makes the tenant's folder).
    const pendingId = await submitUpload(service, tenant, randomContent(100));
    const abandoned: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const file = i % 2 === 0 ? spool.uploadPath(tenant.id, newId()) : spool.fetchPath(newId());
      await writeFile(file, randomContent(100));
      await utimes(file, anHourAgo(), anHourAgo());
      abandoned.push(file);
    }
    // Two processes' sweepers (each with its own metrics), as two workers sharing a volume.
    const sweeper = () =>
      new SpoolSweeper({
        spool,
        scans,
        queues,
        metrics: createMetrics({ defaultMetrics: false }),
        logger,
        graceMs: 60_000,
      });
    const [a, b] = await Promise.all([sweeper().sweep(), sweeper().sweep()]);
    const total = (area: 'uploads' | 'fetch') => a[area].files + b[area].files;
    expect({ uploads: total('uploads'), fetch: total('fetch') }).toEqual({
      uploads: 20,
      fetch: 20,
    });
    expect(a.uploads.bytes + b.uploads.bytes + a.fetch.bytes + b.fetch.bytes).toBe(40 * 100);
    expect(abandoned.filter((file) => existsSync(file))).toEqual([]);
    expect(existsSync(uploadPath(service, tenant, pendingId))).toBe(true);
  });
});

describe('a partial upload left by an API process killed mid-upload', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_SPOOL_SWEEP_INTERVAL_MS: '100', ARBITER_SPOOL_GRACE_MS: '1500' },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('killed-upload');
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    await service?.stop();
  });

  it('is swept once nobody has written to it for the grace period', async () => {
    // A second API process on the same spool and Redis, killed while it receives an upload.
    const api = spawnArbiter(['api'], { ...service.env, ARBITER_SPOOL_GRACE_MS: '3600000' });
    const listening = await api.waitForLog('API listening', 20_000);
    const apiUrl = new URL(String(listening.url));
    const incoming = service.service.runtime.spool.incomingDir;
    const existing = new Set(await readdir(incoming));
    const before = await metric(service.url, 'arbiter_spool_swept_files_total', {
      area: 'incoming',
    });

    const boundary = 'spool-leak-boundary';
    const upload = httpRequest({
      host: apiUrl.hostname,
      port: apiUrl.port,
      path: '/v2.2/files/async',
      method: 'POST',
      headers: {
        authorization: tenant.auth,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(20 * 1024 * 1024),
      },
    });
    upload.on('error', () => undefined);
    upload.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    upload.write(randomContent(256 * 1024));
    const partial = await waitFor(
      async () => {
        for (const name of await readdir(incoming)) {
          if (existsSync(path.join(incoming, name)) && !existing.has(name)) {
            const size = (await stat(path.join(incoming, name)).catch(() => undefined))?.size ?? 0;
            if (size > 0) return path.join(incoming, name);
          }
        }
        return undefined;
      },
      { what: 'the killed process to start writing the upload' },
    );
    await api.kill();
    upload.destroy();
    expect(existsSync(partial)).toBe(true);

    await waitFor(() => !existsSync(partial), {
      timeoutMs: 30_000,
      what: 'the sweeper to remove the partial upload',
    });
    expect(
      await metric(service.url, 'arbiter_spool_swept_files_total', { area: 'incoming' }),
    ).toBeGreaterThanOrEqual(before + 1);
  });
});

describe('a download left behind by a worker that hit its shutdown deadline', () => {
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let otherSpool: string;
  const payload = randomContent(256 * 1024);
  let holding = true;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    // The API process sweeps the shared spool often, with a grace far longer than the test: the
    // download goes because its job is no longer held by anyone, not because it is old.
    service = await startTestService(
      { ARBITER_SPOOL_SWEEP_INTERVAL_MS: '100', ARBITER_SPOOL_GRACE_MS: '3600000' },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('deadline');
    content = await startHttpServer({
      '/slow.bin': (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(payload.length),
        });
        if (!holding) {
          res.end(payload);
          return;
        }
        res.write(payload.subarray(0, 1024));
        held.push(res);
      },
    });
    otherSpool = await mkdtemp(path.join(tmpdir(), 'arbiter-other-spool-'));
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    for (const res of held) res.destroy();
    await content?.close();
    await service?.stop();
    await redis?.stop();
    await rm(otherSpool, { recursive: true, force: true });
  });

  it('is kept while its job runs and swept once the job was finished by another host', async () => {
    const first = await startWorkerProcess({
      ...service.env,
      ARBITER_SHUTDOWN_TIMEOUT_MS: '300',
      ARBITER_JOB_LOCK_MS: '5000',
    });
    const response = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location: `${content.url}/slow.bin` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const download = service.service.runtime.spool.fetchPath(id);
    await waitFor(() => held.length === 1 && existsSync(download), {
      what: 'the worker to start the download',
    });
    // The sweeps running meanwhile leave a download whose job is active alone.
    const sweeps = await metric(service.url, 'arbiter_spool_sweeps_total', { outcome: 'ok' });
    await waitFor(
      async () =>
        (await metric(service.url, 'arbiter_spool_sweeps_total', { outcome: 'ok' })) >= sweeps + 2,
      { what: 'two sweeps' },
    );
    expect(existsSync(download)).toBe(true);

    // SIGTERM, and the download still held at the deadline: the process exits with the job.
    const exit = await first.signal('SIGTERM');
    expect(exit.code).toBe(1);
    expect(first.logs.some((line) => line.msg?.startsWith('shutdown deadline reached'))).toBe(true);
    expect(existsSync(download)).toBe(true);

    // Another host (its own spool) takes the job back once the lock lapses and finishes it.
    holding = false;
    await startWorkerProcess({
      ...service.env,
      ARBITER_SPOOL_DIR: otherSpool,
      ARBITER_STALLED_INTERVAL_MS: '500',
    });
    const result = await pollScanResult<{ checksum: string }>(service, tenant, id, 60_000);
    expect(result.checksum).toBe(sha1(payload));
    await waitFor(() => !existsSync(download), {
      what: 'the sweeper to remove the abandoned download',
    });
    expect(
      await metric(service.url, 'arbiter_spool_swept_files_total', { area: 'fetch' }),
    ).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

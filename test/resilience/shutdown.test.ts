import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { randomContent, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  ADMIN_TOKEN,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  spawnArbiter,
  startWorkerProcess,
} from '../support/worker-process.js';

afterEach(async () => {
  await killAllArbiterProcesses();
});

/** SIGTERM: stop taking work, finish the jobs in flight, exit 0. */
describe('SIGTERM to a worker process with a scan in flight', () => {
  let redis: TestRedis;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let scanQueue: Queue;
  const payload = randomContent(256 * 1024);
  /** The response to the slow download, held until the test releases it. */
  let held: ServerResponse | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
    service = await startTestService(
      { ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8' },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('shutdown');
    content = await startHttpServer({
      '/slow.bin': (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(payload.length),
        });
        res.write(payload.subarray(0, 1024));
        held = res;
      },
      '/fast.bin': payload,
    });
    scanQueue = new Queue(QUEUE_NAMES.scan, {
      connection: redisOptionsFromUrl(redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.scan),
    });
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    await scanQueue?.close();
    await content?.close();
    await service?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);
  const submitFetch = async (location: string) => {
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('finishes the job, stores its result, takes no new job, and exits 0', async () => {
    const worker = await startWorkerProcess(service.env);
    const id = await submitFetch(`${content.url}/slow.bin`);
    await waitFor(() => held, { what: 'the worker to start the slow download' });

    worker.child.kill('SIGTERM');
    await worker.waitForLog(
      (line) => typeof line.msg === 'string' && line.msg.startsWith('shutting down'),
    );
    // Work submitted after SIGTERM is left for another worker.
    const later = await submitFetch(`${content.url}/fast.bin`);
    // Let the download finish only now, so the job is surely in flight during the shutdown.
    held?.end(payload.subarray(1024));

    const exit = await worker.exited;
    expect({ exit, output: exit.code === 0 ? '' : worker.output() }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    const result = (await (await api(`/files/${id}`)).json()) as Record<string, unknown>;
    expect(result).toMatchObject({
      id,
      checksum: sha1(payload),
      content_length: payload.length,
      findings: [],
    });
    // Scan jobs carry their tenant's fairness priority (core/scan-fairness.ts).
    expect(await scanQueue.getJobState(later)).toBe('prioritized');
    expect((await api(`/files/${later}`)).status).toBe(404);
    expect(worker.logs.some((line) => line.msg === 'stopped')).toBe(true);

    // The job left behind is picked up by the next worker.
    await startWorkerProcess(service.env);
    await waitFor(async () => (await api(`/files/${later}`)).status === 200, {
      what: 'the next worker to scan it',
    });
  });
});

describe('arbiter serve with its embedded Redis', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-serve-'));
  });
  let redisPid: number | undefined;
  afterAll(async () => {
    await killAllArbiterProcesses();
    if (redisPid !== undefined && isAlive(redisPid)) process.kill(redisPid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts a private redis-server, is healthy and ready, and on SIGTERM exits 0 taking it down', async () => {
    const port = await freePort();
    const serve = spawnArbiter(['serve'], {
      PORT: String(port),
      ARBITER_LISTEN_HOST: '127.0.0.1',
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    await serve.waitForLog('API listening', 20_000);
    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await waitFor(
      async () => {
        const response = await fetch(`${url}/readyz`);
        return response.status === 200
          ? ((await response.json()) as { checks: Record<string, string> })
          : undefined;
      },
      { what: 'readyz 200' },
    );
    expect(ready.checks.redis).toBe('ok');

    // The private Redis: on a unix socket in the data folder, a child of `serve`.
    const socket = path.join(dataDir, 'redis', 'redis.sock');
    expect(existsSync(socket)).toBe(true);
    redisPid = await redisServerPid(socket);
    expect(isAlive(redisPid)).toBe(true);

    // It works end to end on that Redis.
    const tenantResponse = await fetch(`${url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'embedded' }),
    });
    expect(tenantResponse.status).toBe(201);

    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect({ exit, output: exit.code === 0 ? '' : serve.output() }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    await waitFor(() => !isAlive(redisPid ?? 0), {
      timeoutMs: 5_000,
      what: `redis-server ${redisPid} to exit`,
    });
    await expect(redisServerPid(socket)).rejects.toThrow();
  });
});

async function redisServerPid(socket: string): Promise<number> {
  const client = new Redis({
    path: socket,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('server');
    const pid = /process_id:(\d+)/.exec(info)?.[1];
    if (!pid) throw new Error('no process_id in INFO');
    return Number(pid);
  } finally {
    client.disconnect();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

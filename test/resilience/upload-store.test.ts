import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { STAGED_UPLOADS_PREFIX } from '../../core/s3-upload-store.js';
import { eicar, fileForm, randomContent, sha1 } from '../support/content.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { REGION, S3RVER_CREDENTIALS, startS3Harness, type S3Harness } from '../support/s3.js';
import { ADMIN_TOKEN, basic, pollScanResult, scaniiRequest } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  spawnArbiter,
  startWorkerProcess,
  type ArbiterProcess,
} from '../support/worker-process.js';

const BUCKET = 'arbiter-uploads';
const PREFIX = 'staged/';
const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const MAX_FILE_SIZE = 6 * 1024 * 1024;
/** Uploads up to this size are staged in Redis, larger ones in the bucket. */
const REDIS_MAX = 64 * 1024;
const OVER_REDIS_MAX = REDIS_MAX + 4096;

/**
 * A proxy in front of s3rver, so a test can make the store unreachable (`down`: connections
 * are cut) or hold a worker's reads of staged objects (`holdReads`: GETs are never answered).
 */
interface StoreProxy {
  url: string;
  down: boolean;
  holdReads: boolean;
  heldReads: number;
  close(): Promise<void>;
}

async function startStoreProxy(target: string): Promise<StoreProxy> {
  const upstream = new URL(target);
  const proxy: StoreProxy & { server?: Server } = {
    url: '',
    down: false,
    holdReads: false,
    heldReads: 0,
    close: () => new Promise((resolve) => proxy.server?.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    if (proxy.down) {
      req.socket.destroy();
      return;
    }
    if (
      proxy.holdReads &&
      req.method === 'GET' &&
      req.url?.includes(`/${PREFIX}${STAGED_UPLOADS_PREFIX}`)
    ) {
      proxy.heldReads += 1;
      return;
    }
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  proxy.server = server;
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/**
 * `ARBITER_UPLOAD_STORE=s3://…`: an API process and worker processes with separate data folders,
 * sharing nothing but Redis and the bucket (s3rver). Async uploads are staged in the bucket and
 * scanned by the worker; the staged object goes away when the scan ends or is deleted.
 */
describe('async uploads staged in an object store', () => {
  let redis: TestRedis;
  let s3: S3Harness;
  let proxy: StoreProxy;
  let api: ArbiterProcess;
  let apiUrl: string;
  let tenant: { auth: string; id: string };
  let scanQueue: Queue;
  let inspector: Redis;
  const folders: string[] = [];

  const dataDir = async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'arbiter-staging-'));
    folders.push(folder);
    return folder;
  };

  const baseEnv = (): Record<string, string> => ({
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    ...redis.serviceEnv,
    ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    ARBITER_ENGINES: 'builtin',
    ARBITER_RATE_LIMIT_RPS: '100000',
    ARBITER_MAX_FILE_SIZE: String(MAX_FILE_SIZE),
    ARBITER_JOB_LOCK_MS: '1500',
    ARBITER_STALLED_INTERVAL_MS: '500',
    ARBITER_UPLOAD_STORE: `s3://${BUCKET}/${PREFIX}`,
    ARBITER_UPLOAD_STORE_REDIS_MAX: String(REDIS_MAX),
    AWS_ENDPOINT_URL_S3: proxy.url,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  });

  const startWorker = async () =>
    startWorkerProcess({ ...baseEnv(), ARBITER_DATA_DIR: await dataDir() });

  const staged = () => s3.listKeys(BUCKET, PREFIX);
  /** Small uploads staged in Redis (the default ARBITER_REDIS_PREFIX, core/keys.ts). */
  const stagedInRedis = () => inspector.keys('arbiter:upload:*');

  const uploadAsync = (content: Buffer) =>
    scaniiRequest({ url: apiUrl }, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(content),
    });

  const acceptedId = async (content: Buffer) => {
    const response = await uploadAsync(content);
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  /** Scan jobs ever queued (finished ones are kept for an hour). */
  const scanJobsEver = async () => {
    const counts = await scanQueue.getJobCounts(
      'wait',
      'prioritized',
      'delayed',
      'active',
      'completed',
      'failed',
    );
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  };

  beforeAll(async () => {
    redis = await startTestRedis();
    s3 = await startS3Harness();
    await s3.createBucket(BUCKET);
    proxy = await startStoreProxy(s3.s3Endpoint);
    inspector = new Redis(redisOptionsFromUrl(redis.url));
    // The default ARBITER_REDIS_PREFIX's queues (core/keys.ts).
    scanQueue = new Queue(QUEUE_NAMES.scan, {
      connection: redisOptionsFromUrl(redis.url),
      prefix: redis.keys('arbiter').queuePrefix(QUEUE_NAMES.scan),
    });
    api = spawnArbiter(['api'], { ...baseEnv(), ARBITER_DATA_DIR: await dataDir() });
    apiUrl = String((await api.waitForLog('API listening', 20_000)).url);
    const created = await fetch(`${apiUrl}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'staging' }),
    });
    const { id, key, secret } = (await created.json()) as {
      id: string;
      key: string;
      secret: string;
    };
    tenant = { id, auth: basic(key, secret) };
  }, 60_000);

  afterEach(async () => {
    proxy.down = false;
    proxy.holdReads = false;
    // The API stays up across tests; workers are each test's own.
    await Promise.all(workers.splice(0).map((worker) => worker.kill()));
  });

  const workers: ArbiterProcess[] = [];

  afterAll(async () => {
    await killAllArbiterProcesses();
    await scanQueue?.close();
    inspector?.disconnect();
    await proxy?.close();
    await s3?.stop();
    await redis?.stop();
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  it('scans small uploads from Redis and multi-MiB ones from the bucket, then removes them', async () => {
    workers.push(await startWorker());
    const small = eicar();
    const large = randomContent(3 * 1024 * 1024 + 17);
    const [smallId, largeId] = await Promise.all([acceptedId(small), acceptedId(large)]);

    const smallResult = await pollScanResult({ url: apiUrl }, tenant, smallId);
    const largeResult = await pollScanResult({ url: apiUrl }, tenant, largeId);
    expect(smallResult).toMatchObject({
      checksum: sha1(small),
      content_length: small.length,
      findings: [EICAR_FINDING],
    });
    expect(largeResult).toMatchObject({
      checksum: sha1(large),
      content_length: large.length,
      findings: [],
    });
    await waitFor(async () => (await staged()).length === 0, { what: 'staged objects removed' });
    expect(await stagedInRedis()).toEqual([]);
  });

  it('removes the staged upload of a pending scan that is deleted, in Redis or the bucket', async () => {
    const smallId = await acceptedId(randomContent(2048));
    const largeId = await acceptedId(randomContent(OVER_REDIS_MAX));
    expect(await staged()).toEqual([expect.stringMatching(new RegExp(`/${largeId}$`))]);
    expect(await stagedInRedis()).toEqual([expect.stringMatching(new RegExp(`:${smallId}$`))]);

    for (const id of [smallId, largeId]) {
      const deleted = await scaniiRequest({ url: apiUrl }, tenant, `/files/${id}`, {
        method: 'DELETE',
      });
      expect(deleted.status).toBe(204);
    }
    for (const id of [smallId, largeId])
      expect(await scanQueue.getJobState(id)).toMatch(/^(waiting|prioritized)$/);
    await waitFor(async () => (await staged()).length === 0, { what: 'staged object removed' });
    expect(await stagedInRedis()).toEqual([]);

    // A worker taking the deleted scan's job later finds nothing to do.
    workers.push(await startWorker());
    for (const id of [smallId, largeId]) {
      await waitFor(async () => (await scanQueue.getJobState(id)) === 'completed', {
        what: 'the job to be taken',
      });
    }
    for (const id of [smallId, largeId])
      expect((await scaniiRequest({ url: apiUrl }, tenant, `/files/${id}`)).status).toBe(404);
  });

  it('retries the job of a worker killed while reading the staged upload', async () => {
    proxy.holdReads = true;
    const first = await startWorker();
    const content = randomContent(OVER_REDIS_MAX);
    const id = await acceptedId(content);
    await waitFor(() => proxy.heldReads > 0, { what: 'the worker to read the staged upload' });
    expect((await first.kill()).signal).toBe('SIGKILL');
    proxy.holdReads = false;

    workers.push(await startWorker());
    const result = await pollScanResult({ url: apiUrl }, tenant, id, 30_000);
    expect(result).toMatchObject({ checksum: sha1(content), findings: [] });
    await waitFor(async () => (await staged()).length === 0, { what: 'staged object removed' });
  });

  it('queues again a pending scan whose job was lost while its upload is still staged', async () => {
    const small = randomContent(1024);
    const large = randomContent(OVER_REDIS_MAX);
    const ids = [await acceptedId(small), await acceptedId(large)];
    // As if the API had died between writing the records and queueing the jobs.
    for (const id of ids) expect(await scanQueue.remove(id)).toBe(1);
    workers.push(
      await startWorkerProcess({
        ...baseEnv(),
        ARBITER_DATA_DIR: await dataDir(),
        ARBITER_PENDING_GRACE_MS: '200',
        ARBITER_PENDING_REAP_INTERVAL_MS: '200',
      }),
    );
    const results = await Promise.all(ids.map((id) => pollScanResult({ url: apiUrl }, tenant, id)));
    expect(results.map((result) => result.checksum)).toEqual([sha1(small), sha1(large)]);
  });

  it('answers 503 and accepts nothing while the store is unreachable', async () => {
    proxy.down = true;
    const before = await scanJobsEver();
    const response = await uploadAsync(randomContent(OVER_REDIS_MAX));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({
      error: expect.stringContaining('upload store is unavailable') as unknown,
    });
    proxy.down = false;
    expect(await staged()).toEqual([]);
    expect(await scanJobsEver()).toBe(before);
  });

  it('sweeps a staged object whose scan is not pending once it is older than the grace', async () => {
    const abandoned = `${PREFIX}${STAGED_UPLOADS_PREFIX}${tenant.id}/${newId()}`;
    await s3.putObject(BUCKET, abandoned, randomContent(1024));
    const sweeper = await startWorkerProcess({
      ...baseEnv(),
      ARBITER_DATA_DIR: await dataDir(),
      ARBITER_SPOOL_SWEEP_INTERVAL_MS: '100',
      ARBITER_SPOOL_GRACE_MS: '1000',
    });
    workers.push(sweeper);
    await waitFor(async () => !(await staged()).includes(abandoned), {
      what: 'the abandoned object to be swept',
    });
  });

  it('answers 413 to an upload over the size limit and leaves no object behind', async () => {
    const response = await uploadAsync(randomContent(MAX_FILE_SIZE + 1024 * 1024));
    expect(response.status).toBe(413);
    expect(await staged()).toEqual([]);
  });
});

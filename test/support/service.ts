import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startService, type RunningService, type ServiceSeams } from '../../cli/serve.js';
import { loadConfig, type Config } from '../../core/config.js';
import { RedisKeys } from '../../core/keys.js';
import { createLogger } from '../../core/logger.js';
import { EICAR } from '../../scanning/eicar.js';
import type { DestinationStream } from 'pino';
import { startTestRedis, type TestRedis } from './redis-server.js';
import { expect } from 'vitest';
import { fileForm, randomContent, sha1 } from './content.js';
import type { CallbackReceiver } from './http-servers.js';
import { waitFor } from './wait.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestTenant {
  id: string;
  name: string;
  key: string;
  secret: string;
  signing_secret: string;
  /** `Authorization` header value for this tenant's key. */
  auth: string;
}

export interface TestService {
  url: string;
  config: Config;
  redis: TestRedis;
  service: RunningService;
  dataDir: string;
  env: Record<string, string>;
  /** The service's key layout (hash tags on exactly when it runs on a Cluster, as cli/runtime.ts). */
  keys: RedisKeys;
  createTenant(name?: string): Promise<TestTenant>;
  /** A request to the admin API (`/admin{path}`) with the admin token; JSON unless told otherwise. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * The whole service (api + workers) in this process, against a real redis-server, exactly as
 * `arbiter serve` wires it. `env` overrides configuration the way an operator would. With
 * `ARBITER_TEST_REDIS=cluster` that Redis is a single-node Cluster (test/support/redis-server.ts).
 */
export async function startTestService(
  env: Record<string, string> = {},
  options: {
    redis?: TestRedis;
    roles?: { api: boolean; workers: boolean };
    /** Where the service's logs go (with LOG_LEVEL / TEST_LOG_LEVEL deciding how much). */
    logDestination?: DestinationStream;
    /** Parts of the service a test replaces (cli/serve.ts ServiceSeams). */
    seams?: ServiceSeams;
  } = {},
): Promise<TestService> {
  const redis = options.redis ?? (await startTestRedis());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-data-'));
  const fullEnv: Record<string, string> = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    ...redis.serviceEnv,
    ARBITER_DATA_DIR: dataDir,
    ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Test servers listen on loopback, which the outbound policy refuses unless listed.
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
    // Tests fire requests far faster than a client would: the limiter runs (its Redis calls are
    // exercised everywhere) but does not refuse; test/api/rate-limits.test.ts sets real limits.
    ARBITER_RATE_LIMIT_RPS: '100000',
    // A process running workers without the API serves /metrics on this port: any free one, so
    // that test files running at the same time (and their worker processes) never collide.
    ARBITER_WORKER_METRICS_PORT: '0',
    // The built-in engine alone unless a test asks otherwise: with ARBITER_ENGINES unset, a
    // process starts a private clamd on any ClamAV database it finds (test/fixtures/signatures
    // is one). test/scanning/embedded-clamd.test.ts passes '' (unset) to test exactly that.
    ARBITER_ENGINES: 'builtin',
    ...env,
  };
  const config = loadConfig(fullEnv);
  const logger = createLogger(config.logLevel, 'arbiter', options.logDestination);
  const service = await startService(
    config,
    logger,
    options.roles ?? { api: true, workers: true },
    { seams: options.seams },
  ).catch(async (error: unknown) => {
    // A test may expect the start to fail (test/scanning/embedded-clamd.test.ts): leave nothing.
    if (!options.redis) await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  const url = service.url ?? '';
  return {
    url,
    config,
    redis,
    service,
    dataDir,
    env: fullEnv,
    keys: new RedisKeys(config.redisPrefix, {
      hashTags: service.runtime.redisTarget.mode === 'cluster',
    }),
    async createTenant(name = 'tenant') {
      const response = await adminRequest(url, '/tenants', {
        method: 'POST',
        body: JSON.stringify({ name }),
      });
      if (response.status !== 201) throw new Error(`tenant creation failed: ${response.status}`);
      const tenant = (await response.json()) as Omit<TestTenant, 'auth'>;
      return { ...tenant, auth: basic(tenant.key, tenant.secret) };
    },
    admin: (adminPath, init) => adminRequest(url, adminPath, init),
    async stop() {
      await service.stop();
      if (!options.redis) await redis.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function adminRequest(url: string, adminPath: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/admin${adminPath}`, {
    ...init,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      'content-type': 'application/json',
      ...(init.headers ?? {}),
    },
  });
}

/**
 * A request to the Scanii API (`/v2.2{path}`) as the tenant. `timeoutMs` aborts a request that
 * hangs (resilience tests, where the service is meant to answer even while Redis is down).
 */
export function scaniiRequest(
  service: { url: string },
  tenant: { auth: string },
  requestPath: string,
  init: RequestInit = {},
  timeoutMs?: number,
): Promise<Response> {
  return fetch(`${service.url}/v2.2${requestPath}`, {
    ...init,
    headers: { authorization: tenant.auth, ...(init.headers ?? {}) },
    ...(timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
  });
}

/** A sync `POST /v2.2/files` upload as the tenant; fails the test (with the body) unless 201. */
export async function scanUpload<T = Record<string, unknown>>(
  service: { url: string },
  tenant: { auth: string },
  content: Buffer,
  name: string,
): Promise<T> {
  const response = await scaniiRequest(service, tenant, '/files', {
    method: 'POST',
    body: fileForm(content, {}, name),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as T;
}

/** The messages of a scan's trace (`GET /v2.2/files/{id}/trace`), in order. */
export async function traceMessages(
  service: { url: string },
  tenant: { auth: string },
  id: string,
): Promise<string[]> {
  const response = await scaniiRequest(service, tenant, `/files/${id}/trace`);
  expect(response.status).toBe(200);
  const { events } = (await response.json()) as { events: Array<{ message: string }> };
  return events.map((event) => event.message);
}

/** Polls `GET /v2.2/files/{id}` as the tenant until the result exists (404 while pending). */
export function pollScanResult<T = Record<string, unknown>>(
  service: { url: string },
  tenant: { auth: string },
  id: string,
  timeoutMs = 15_000,
): Promise<T> {
  return waitFor(
    async () => {
      const response = await fetch(`${service.url}/v2.2/files/${id}`, {
        headers: { authorization: tenant.auth },
      });
      return response.status === 200 ? ((await response.json()) as T) : undefined;
    },
    { timeoutMs, what: `result ${id}` },
  );
}

/**
 * The service on its default engines — the built-in engine and a private clamd — with a clamd
 * database holding only the EICAR test file's hash: clamd alone then finds EICAR only as a whole
 * file it reads, so a payload found inside a container shows what the engines together open.
 * Its data folder is removed when it stops.
 */
export async function startEicarHashService(): Promise<TestService> {
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-eicar-hash-'));
  // clamd runs as its own user: it must reach the database through these folders.
  await chmod(work, 0o755);
  const dataDir = path.join(work, 'data');
  await mkdir(path.join(dataDir, 'clamav'), { recursive: true });
  const md5 = createHash('md5').update(EICAR).digest('hex');
  await writeFile(
    path.join(dataDir, 'clamav', 'eicar.hdb'),
    `${md5}:${EICAR.length}:Eicar-Test-Signature\n`,
  );
  await chmod(dataDir, 0o755);
  const started = await startTestService({ ARBITER_ENGINES: '', ARBITER_DATA_DIR: dataDir });
  return {
    ...started,
    stop: async () => {
      await started.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * A clean upload scanned synchronously (201 with its result), then asynchronously with a
 * callback: its result polled and its callback received. Returns the async scan's id.
 */
export async function expectSyncAndAsyncScans(
  service: { url: string },
  tenant: TestTenant,
  receiver: Pick<CallbackReceiver, 'url' | 'deliveries'>,
): Promise<string> {
  const upload = randomContent(2048);
  const request = (path: string, body: FormData) =>
    scaniiRequest(service, tenant, path, { method: 'POST', body }, 15_000);
  const sync = await request('/files', fileForm(upload));
  expect(sync.status).toBe(201);
  expect(await sync.json()).toMatchObject({ checksum: sha1(upload), findings: [] });

  const accepted = await request(
    '/files/async',
    fileForm(upload, { callback: `${receiver.url}/callback` }),
  );
  expect(accepted.status).toBe(202);
  const { id } = (await accepted.json()) as { id: string };
  expect(await pollScanResult(service, tenant, id)).toMatchObject({ id, checksum: sha1(upload) });
  await waitFor(() => receiver.deliveries.some((d) => d.json.id === id), {
    what: `the callback of ${id}`,
  });
  return id;
}

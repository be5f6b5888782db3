import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestCluster } from './redis-cluster.js';
import { startTestSentinels } from './redis-sentinel.js';
import { REGION, S3RVER_CREDENTIALS, type S3Harness } from './s3.js';
import { ADMIN_TOKEN, basic } from './service.js';
import { waitFor } from './wait.js';
import { spawnArbiter, type ArbiterProcess } from './worker-process.js';

/**
 * Arbiter across machines, on one host: `arbiter api` and `arbiter worker` processes that share
 * nothing but Redis and the upload bucket (s3rver). Each has a data folder (and so a spool) of
 * its own, as on separate machines, so a scan only works when what the api accepted reaches the
 * worker through Redis and the bucket.
 */

/**
 * The Redis the processes share, as an operator would point them at it. A topology is one
 * implementation of this (Sentinel below; a Redis Cluster is another), so a test runs on any.
 */
export interface RedisTopology {
  /** What it is, for test names and messages. */
  description: string;
  /** The environment that points an Arbiter process at it (REDIS_* settings). */
  env: Record<string, string>;
  /**
   * SIGKILLs the primary (in a cluster, the one holding the most keys), as a crash would, and
   * resolves once a replica has been promoted in its place: the port of the killed one.
   */
  killPrimary(): Promise<number>;
  stop(): Promise<void>;
}

/** A primary, a replica and three Sentinels (test/support/redis-sentinel.ts). */
export async function sentinelTopology(): Promise<RedisTopology> {
  const sentinels = await startTestSentinels();
  return {
    description: 'Redis behind three Sentinels',
    env: { REDIS_SENTINELS: sentinels.sentinels, REDIS_SENTINEL_NAME: sentinels.name },
    async killPrimary() {
      const killed = await sentinels.killPrimary();
      await waitFor(async () => (await sentinels.primaryPort()) !== killed, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'the Sentinels to promote the replica',
      });
      return killed;
    },
    stop: () => sentinels.stop(),
  };
}

/**
 * A Redis Cluster of 3 primaries and 3 replicas (test/support/redis-cluster.ts); the primary
 * killed is the one holding the most keys, so the failover hits the largest share of the data.
 */
export async function clusterTopology(): Promise<RedisTopology> {
  const cluster = await startTestCluster();
  return {
    description: 'a Redis Cluster of 3 primaries and 3 replicas',
    env: { REDIS_CLUSTER_NODES: cluster.nodes },
    async killPrimary() {
      const victim = await cluster.primaryHoldingMostKeys();
      await cluster.kill(victim);
      await waitFor(
        async () => {
          const primaries = await cluster.primaries();
          return primaries.length === 3 && primaries.every((node) => node.port !== victim.port);
        },
        { timeoutMs: 30_000, intervalMs: 100, what: "the dead primary's replica to be promoted" },
      );
      return victim.port;
    },
    stop: () => cluster.stop(),
  };
}

export interface ArbiterNode {
  /** `api-1`, `worker-2`, … */
  name: string;
  process: ArbiterProcess;
  /** The API's base URL (api nodes only). */
  url: string;
  dataDir: string;
}

export interface ArbiterNodes {
  apis: ArbiterNode[];
  workers: ArbiterNode[];
  /** Every node's environment but its data folder (the same for all, as one ConfigMap). */
  env: Record<string, string>;
  /** Creates a tenant through `api` (the admin API); its key and Authorization header. */
  createTenant(api: ArbiterNode, name: string): Promise<MultiNodeTenant>;
  stop(): Promise<void>;
}

export interface MultiNodeTenant {
  id: string;
  key: string;
  signing_secret: string;
  auth: string;
}

export interface ArbiterNodesOptions {
  redis: RedisTopology;
  s3: Pick<S3Harness, 's3Endpoint'>;
  /** `s3://bucket/prefix` in the harness's s3rver: where async uploads are staged. */
  uploadStore: string;
  apis: number;
  workers: number;
  /** Settings added to (or overriding) the common ones. */
  env?: Record<string, string>;
}

/** Starts the api and worker processes, each on its own data folder; resolves when all are ready. */
export async function startArbiterNodes(options: ArbiterNodesOptions): Promise<ArbiterNodes> {
  const env: Record<string, string> = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    ...options.redis.env,
    ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    // The built-in engine alone: no private clamd per process on a small test machine.
    ARBITER_ENGINES: 'builtin',
    ARBITER_RATE_LIMIT_RPS: '100000',
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    ARBITER_SECRET_KEY: Buffer.alloc(32, 14).toString('base64'),
    ARBITER_UPLOAD_STORE: options.uploadStore,
    AWS_ENDPOINT_URL_S3: options.s3.s3Endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    ...options.env,
  };
  const folders: string[] = [];
  const started: ArbiterProcess[] = [];
  const startNode = async (role: 'api' | 'worker', index: number): Promise<ArbiterNode> => {
    const dataDir = await mkdtemp(path.join(tmpdir(), `arbiter-${role}-${index}-`));
    folders.push(dataDir);
    const child = spawnArbiter([role], { ...env, ARBITER_DATA_DIR: dataDir });
    started.push(child);
    const ready = await child.waitForLog(
      role === 'api' ? 'API listening' : 'workers started',
      60_000,
    );
    return {
      name: `${role}-${index}`,
      process: child,
      url: role === 'api' ? String(ready.url) : '',
      dataDir,
    };
  };
  const stop = async () => {
    await Promise.all(started.map((child) => child.kill()));
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  };
  try {
    const range = (count: number) => Array.from({ length: count }, (_v, i) => i + 1);
    const [apis, workers] = await Promise.all([
      Promise.all(range(options.apis).map((i) => startNode('api', i))),
      Promise.all(range(options.workers).map((i) => startNode('worker', i))),
    ]);
    return {
      apis,
      workers,
      env,
      async createTenant(api, name) {
        const response = await fetch(`${api.url}/admin/tenants`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name }),
        });
        if (response.status !== 201) throw new Error(`tenant creation: ${response.status}`);
        const tenant = (await response.json()) as Omit<MultiNodeTenant, 'auth'> & {
          secret: string;
        };
        return {
          id: tenant.id,
          key: tenant.key,
          signing_secret: tenant.signing_secret,
          auth: basic(tenant.key, tenant.secret),
        };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

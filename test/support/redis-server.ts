import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { redisAnswersPing } from '../../core/embedded-redis.js';
import { RedisKeys } from '../../core/keys.js';
import { freePort } from './redis-sentinel.js';
import { waitFor } from './wait.js';

/**
 * A real redis-server for one test file, on a unix socket in a fresh temp folder (no port races,
 * nothing reachable from outside). With `appendonly`, a restart replays the AOF like production.
 * With `cluster`, a single-node Redis Cluster holding every slot: a plain client works against it
 * (no MOVED replies), but Redis refuses what a Cluster refuses, CROSSSLOT above all. It also
 * listens on a loopback port, which a Cluster client needs (REDIS_CLUSTER_NODES takes host:port).
 */
export interface TestRedis {
  /** `unix://` URL of the socket: for the test's own plain clients, in either mode. */
  url: string;
  socket: string;
  dir: string;
  /** Whether this is the single-node Cluster. */
  cluster: boolean;
  /** How a service reaches it: REDIS_URL, or REDIS_CLUSTER_NODES for the Cluster. */
  serviceEnv: Record<string, string>;
  /** The key layout a service on this Redis uses (hash tags exactly on the Cluster). */
  keys(prefix: string): RedisKeys;
  /** Kills the server without warning (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same folder and socket. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Which Redis the suite runs services on: `ARBITER_TEST_REDIS=cluster` (`npm run test:cluster`)
 * makes every startTestRedis without an explicit `cluster` a single-node Cluster, so the flows
 * the tests drive meet CROSSSLOT wherever an operation spans two slots. Default: one server.
 */
export function testRedisMode(): 'server' | 'cluster' {
  return process.env.ARBITER_TEST_REDIS === 'cluster' ? 'cluster' : 'server';
}

export async function startTestRedis(
  options: { appendonly?: boolean; cluster?: boolean } = {},
): Promise<TestRedis> {
  const cluster = options.cluster ?? testRedisMode() === 'cluster';
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-redis-'));
  const socket = path.join(dir, 'redis.sock');
  // Ports chosen once, so a restart comes back where clients (and nodes.conf) expect it.
  const ports = cluster ? { client: await freePort(), bus: await freePort() } : undefined;
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        ...(ports
          ? [
              ...['--port', String(ports.client), '--bind', '127.0.0.1'],
              ...['--cluster-port', String(ports.bus), '--cluster-announce-ip', '127.0.0.1'],
            ]
          : ['--port', '0']),
        '--unixsocket',
        socket,
        '--unixsocketperm',
        '700',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.appendonly ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        ...(cluster
          ? ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf')]
          : []),
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => redisAnswersPing(socket), {
      timeoutMs: 10_000,
      what: 'redis-server to answer PING',
    });
    if (cluster) await takeEverySlot(socket);
  };

  const stopWith = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };

  await start();
  return {
    url: `unix://${socket}`,
    socket,
    dir,
    cluster,
    serviceEnv: ports
      ? { REDIS_CLUSTER_NODES: `127.0.0.1:${ports.client}` }
      : { REDIS_URL: `unix://${socket}` },
    keys: (prefix) => new RedisKeys(prefix, { hashTags: cluster }),
    kill: () => stopWith('SIGKILL'),
    start,
    stop: () => stopWith('SIGTERM'),
  };
}

/** Gives the one node every slot (kept in its nodes.conf across a restart), then waits for it. */
async function takeEverySlot(socket: string): Promise<void> {
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const ranges = (await client.call('CLUSTER', 'SLOTS')) as unknown[];
    if (ranges.length === 0) await client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await waitFor(
      async () => String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
      { timeoutMs: 20_000, what: 'the single-node cluster to be ok' },
    );
  } finally {
    client.disconnect();
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { waitFor } from './wait.js';

/**
 * A Sentinel-managed Redis on loopback for one test file: a primary, one replica and three
 * Sentinels (`redis-server --sentinel`), each its own process with its own folder and free port.
 * The Sentinels decide quickly (a primary silent for `downAfterMs` is down; quorum 2), so a test
 * sees a whole failover in a few seconds.
 */
export interface TestSentinels {
  /** The name the Sentinels monitor (REDIS_SENTINEL_NAME). */
  name: string;
  /** `127.0.0.1:port,…` of the three Sentinels (REDIS_SENTINELS). */
  sentinels: string;
  /** The port of the primary as the Sentinels name it now. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the current primary (as a crash would); resolves with its port once it is dead. */
  killPrimary(): Promise<number>;
  stop(): Promise<void>;
}

const NAME = 'arbiter';
const HOST = '127.0.0.1';

interface Node {
  port: number;
  child: ChildProcess;
  client: RedisOptions;
}

/**
 * What makes a setup secured (ACL users, TLS): config lines added to the data nodes (primary and
 * replica) and to the Sentinels, the client options the harness itself connects to each with,
 * and `tls-port` instead of `port` when they speak TLS only.
 */
export interface SentinelSecurity {
  dataLines: string[];
  sentinelLines: string[];
  dataClient: RedisOptions;
  sentinelClient: RedisOptions;
  tls: boolean;
}

const OPEN: SentinelSecurity = {
  dataLines: [],
  sentinelLines: [],
  dataClient: {},
  sentinelClient: {},
  tls: false,
};

export async function startTestSentinels(
  options: { downAfterMs?: number; failoverTimeoutMs?: number; security?: SentinelSecurity } = {},
): Promise<TestSentinels> {
  const security = options.security ?? OPEN;
  const root = await mkdtemp(path.join(tmpdir(), 'arbiter-sentinel-'));
  const nodes: Node[] = [];
  const held: Server[] = [];
  const startNode = async (label: string, config: string[], sentinel = false): Promise<Node> => {
    const client = sentinel ? security.sentinelClient : security.dataClient;
    const dir = path.join(root, label);
    await mkdir(dir);
    const spawnNode = async (): Promise<Node> => {
      const port = await freePort();
      const file = path.join(dir, 'redis.conf');
      const listen = security.tls ? ['port 0', `tls-port ${port}`] : [`port ${port}`];
      const secured = sentinel ? security.sentinelLines : security.dataLines;
      // Secured lines last: a Sentinel's `sentinel auth-pass <name>` follows its `sentinel monitor`.
      const lines = [...listen, `bind ${HOST}`, `dir ${dir}`, 'save ""', ...config, ...secured];
      await writeFile(file, `${lines.join('\n')}\n`);
      // Sentinels rewrite their config file as they learn the topology: it is theirs to keep.
      const child = spawn('redis-server', sentinel ? [file, '--sentinel'] : [file], {
        stdio: 'ignore',
      });
      return { port, child, client };
    };
    return startAnswering(nodes, spawnNode, (node) => answers(node, 'PING'), `${label} to start`);
  };

  try {
    const primary = await startNode('primary', ['appendonly no']);
    await startNode('replica', [`replicaof ${HOST} ${primary.port}`]);
    await waitFor(async () => /master_link_status:up/.test(await info(nodes[1]!)), {
      timeoutMs: 10_000,
      what: 'the replica to sync with the primary',
    });
    const sentinelConfig = [
      `sentinel monitor ${NAME} ${HOST} ${primary.port} 2`,
      `sentinel down-after-milliseconds ${NAME} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${NAME} ${options.failoverTimeoutMs ?? 5000}`,
      `sentinel parallel-syncs ${NAME} 1`,
    ];
    const sentinels: Node[] = [];
    for (const index of [1, 2, 3])
      sentinels.push(await startNode(`sentinel-${index}`, sentinelConfig, true));
    // A failover needs every Sentinel to know the replica and the others (they find each other
    // through the primary's hello channel, every 2 s).
    await waitFor(
      async () => {
        for (const sentinel of sentinels) {
          const state = await sentinelMaster(sentinel);
          if (state['num-slaves'] !== '1' || state['num-other-sentinels'] !== '2') return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the Sentinels to know each other' },
    );

    const primaryPort = async () => {
      const reply = await command<[string, string] | null>(sentinels[0]!, [
        'SENTINEL',
        'get-master-addr-by-name',
        NAME,
      ]);
      if (!reply) throw new Error('the Sentinels name no primary');
      return Number(reply[1]);
    };
    return {
      name: NAME,
      sentinels: sentinels.map((node) => `${HOST}:${node.port}`).join(','),
      primaryPort,
      async killPrimary() {
        const port = await primaryPort();
        const node = nodes.find((candidate) => candidate.port === port);
        if (!node) throw new Error(`no process of this harness listens on ${port}`);
        await stopNode(node, 'SIGKILL');
        held.push(await holdPort(port));
        return port;
      },
      async stop() {
        for (const holder of held) holder.close();
        await Promise.all(nodes.map((node) => stopNode(node, 'SIGTERM')));
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(nodes.map((node) => stopNode(node, 'SIGKILL')));
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Starts a node (`spawnNode` picks its ports with freePort and spawns it) and waits until it
 * answers; the node is added to `nodes` (stopped with them). A port free when chosen can be taken
 * before the server binds it (the loopback connections of test files running at the same time
 * draw from the same range), and the server then exits at once: it is started again on new
 * ports, up to three times, instead of being waited for in vain.
 */
export async function startAnswering<N extends { child: ChildProcess }>(
  nodes: N[],
  spawnNode: () => Promise<N>,
  answers: (node: N) => Promise<boolean>,
  what: string,
): Promise<N> {
  for (let attempt = 1; ; attempt += 1) {
    const node = await spawnNode();
    nodes.push(node);
    const exited = () => node.child.exitCode !== null || node.child.signalCode !== null;
    await waitFor(async () => exited() || (await answers(node)), { timeoutMs: 10_000, what });
    if (!exited()) return node;
    nodes.splice(nodes.indexOf(node), 1);
    if (attempt === 3) throw new Error(`${what}: redis-server exited at start three times`);
  }
}

/**
 * Keeps a killed node's port from being taken by another test file's Redis (the OS hands freed
 * ports out again): a client or Sentinel reconnecting to the dead address would then find a
 * stranger answering as a primary, and could stay with it. Connections to the port are reset at
 * once, as to a dead server. Best effort: if the port was taken already, nothing is held.
 */
async function holdPort(port: number): Promise<Server> {
  const holder = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => {
    holder.once('error', () => resolve());
    holder.listen(port, HOST, () => resolve());
  });
  return holder;
}

/** A port nothing listens on right now (the OS picks it; the node binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Stops a node's process with `signal` and waits for it to exit (nothing if it already has). */
export async function stopNode(
  node: { child: ChildProcess },
  signal: NodeJS.Signals,
): Promise<void> {
  const { child } = node;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** One command on a fresh connection, without retries (the node may not be up yet). */
export async function oneShotCommand<T>(
  port: number,
  client: RedisOptions,
  args: string[],
): Promise<T> {
  const connection = new Redis({
    ...client,
    host: HOST,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  connection.on('error', () => undefined);
  try {
    await connection.connect();
    return (await connection.call(args[0]!, ...args.slice(1))) as T;
  } finally {
    if (connection.status !== 'end') connection.disconnect();
  }
}

const command = <T>(node: Pick<Node, 'port' | 'client'>, args: string[]) =>
  oneShotCommand<T>(node.port, node.client, args);

const answers = (node: Node, name: string) =>
  command<string>(node, [name]).then(
    () => true,
    () => false,
  );

const info = (node: Node) => command<string>(node, ['INFO', 'replication']);

async function sentinelMaster(node: Node): Promise<Record<string, string>> {
  const flat = await command<string[]>(node, ['SENTINEL', 'master', NAME]);
  const state: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) state[flat[i]!] = flat[i + 1]!;
  return state;
}

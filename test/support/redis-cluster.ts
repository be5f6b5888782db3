import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RedisOptions } from 'ioredis';
import { freePort, oneShotCommand, startAnswering, stopNode } from './redis-sentinel.js';
import type { TestCertificates } from './tls-certificates.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A Redis Cluster on loopback for one test file: 6 `redis-server` processes (3 primaries, 3
 * replicas), each with its own folder, port and cluster bus port, made a cluster by
 * `redis-cli --cluster create`. Nodes decide quickly (`cluster-node-timeout` 1 s), so a test
 * sees a whole failover in a few seconds.
 */
export interface TestCluster {
  /** `127.0.0.1:port,…` of every node (REDIS_CLUSTER_NODES). */
  nodes: string;
  /** The primary whose keyspace is the largest now (DBSIZE), by its port. */
  primaryHoldingMostKeys(): Promise<ClusterNode>;
  /** The nodes serving slots now (CLUSTER NODES as the first live node sees it). */
  primaries(): Promise<ClusterNode[]>;
  /** SIGKILLs this node (as a crash would); resolves once it is dead. */
  kill(node: ClusterNode): Promise<void>;
  /** One command on one node (as the harness's own client: credentials and TLS included). */
  command<T>(node: ClusterNode, args: string[]): Promise<T>;
  /** Every key of every primary matching `pattern` (SCAN on each). */
  keys(pattern: string): Promise<Array<{ node: ClusterNode; key: string }>>;
  stop(): Promise<void>;
}

export interface ClusterNode {
  port: number;
}

/**
 * What makes the cluster secured: an ACL user (the `default` user off; replicas authenticate to
 * their primary as that user) and TLS on every connection (clients, replication, cluster bus),
 * with certificates from test/support/tls-certificates.ts.
 */
export interface ClusterSecurity {
  acl?: { username: string; password: string };
  tls?: TestCertificates;
}

const HOST = '127.0.0.1';
const NODE_COUNT = 6;

interface RunningNode extends ClusterNode {
  busPort: number;
  child: ChildProcess;
}

export async function startTestCluster(
  options: { security?: ClusterSecurity; nodeTimeoutMs?: number } = {},
): Promise<TestCluster> {
  const security = options.security ?? {};
  const client = await clientOptions(security);
  const root = await mkdtemp(path.join(tmpdir(), 'arbiter-cluster-'));
  const nodes: RunningNode[] = [];
  const command = <T>(node: ClusterNode, args: string[]) =>
    oneShotCommand<T>(node.port, client, args);

  const startNode = async (index: number): Promise<RunningNode> => {
    const dir = path.join(root, `node-${index}`);
    await mkdir(dir);
    return startAnswering(
      nodes,
      () => spawnNode(dir),
      (node) => answers(() => command(node, ['PING'])),
      `cluster node ${index} to start`,
    );
  };

  const spawnNode = async (dir: string): Promise<RunningNode> => {
    const [port, busPort] = [await freePort(), await freePort()];
    const lines = [
      ...(security.tls ? ['port 0', `tls-port ${port}`] : [`port ${port}`]),
      `bind ${HOST}`,
      `dir ${dir}`,
      'cluster-enabled yes',
      'cluster-config-file nodes.conf',
      `cluster-port ${busPort}`,
      `cluster-node-timeout ${options.nodeTimeoutMs ?? 1000}`,
      'appendonly yes',
      'save ""',
      ...securityLines(security),
    ];
    const file = path.join(dir, 'redis.conf');
    await writeFile(file, `${lines.join('\n')}\n`);
    const child = spawn('redis-server', [file], { stdio: 'ignore' });
    return { port, busPort, child };
  };

  try {
    for (let index = 1; index <= NODE_COUNT; index++) await startNode(index);
    await run(
      'redis-cli',
      [
        ...cliSecurityArgs(security),
        '--cluster',
        'create',
        ...nodes.map((node) => `${HOST}:${node.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    await waitFor(
      async () => {
        for (const node of nodes) {
          const info = await command<string>(node, ['CLUSTER', 'INFO']);
          if (!/cluster_state:ok/.test(info)) return false;
          if (!new RegExp(`cluster_known_nodes:${NODE_COUNT}\\b`).test(info)) return false;
          const replication = await command<string>(node, ['INFO', 'replication']);
          // A replica that has not synced yet could not take over from its primary.
          if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication))
            return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'cluster_state:ok on every node' },
    );

    const live = () =>
      nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
    const primaries = async (): Promise<ClusterNode[]> => {
      const [first] = live();
      if (!first) throw new Error('no cluster node is running');
      const table = await command<string>(first, ['CLUSTER', 'NODES']);
      return table
        .split('\n')
        .map((line) => line.split(' '))
        .filter((fields) => /\bmaster\b/.test(fields[2] ?? '') && !/fail/.test(fields[2] ?? ''))
        .map((fields) => ({ port: Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]) }));
    };
    return {
      nodes: nodes.map((node) => `${HOST}:${node.port}`).join(','),
      primaries,
      async primaryHoldingMostKeys() {
        let most: { node: ClusterNode; size: number } | undefined;
        for (const node of await primaries()) {
          const size = await command<number>(node, ['DBSIZE']);
          if (!most || size > most.size) most = { node, size };
        }
        if (!most) throw new Error('the cluster has no primary');
        return most.node;
      },
      async kill(target) {
        const node = nodes.find((candidate) => candidate.port === target.port);
        if (!node) throw new Error(`no node of this cluster listens on ${target.port}`);
        await stopNode(node, 'SIGKILL');
      },
      command,
      async keys(pattern) {
        const found: Array<{ node: ClusterNode; key: string }> = [];
        for (const node of await primaries()) {
          let cursor = '0';
          do {
            const [next, keys] = await command<[string, string[]]>(node, [
              'SCAN',
              cursor,
              'MATCH',
              pattern,
              'COUNT',
              '1000',
            ]);
            for (const key of keys) found.push({ node, key });
            cursor = next;
          } while (cursor !== '0');
        }
        return found;
      },
      async stop() {
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

/** The config lines of a secured node: the ACL user and replication as it, TLS everywhere. */
function securityLines(security: ClusterSecurity): string[] {
  const lines: string[] = [];
  if (security.acl) {
    const { username, password } = security.acl;
    lines.push(
      'user default off',
      `user ${username} on >${password} ~* &* +@all`,
      `masteruser ${username}`,
      `masterauth ${password}`,
    );
  }
  if (security.tls) {
    lines.push(
      `tls-cert-file ${security.tls.serverCert}`,
      `tls-key-file ${security.tls.serverKey}`,
      `tls-ca-cert-file ${security.tls.ca}`,
      // Clients are not asked for a certificate: test/resilience/redis-access.test.ts covers it.
      'tls-auth-clients no',
      'tls-cluster yes',
      'tls-replication yes',
    );
  }
  return lines;
}

function cliSecurityArgs(security: ClusterSecurity): string[] {
  const args: string[] = [];
  if (security.acl) args.push('--user', security.acl.username, '--pass', security.acl.password);
  if (security.tls) args.push('--tls', '--cacert', security.tls.ca);
  // The password on the command line is the test's own: redis-cli's warning about it is noise.
  if (security.acl) args.push('--no-auth-warning');
  return args;
}

async function clientOptions(security: ClusterSecurity): Promise<RedisOptions> {
  return {
    ...(security.acl ? security.acl : {}),
    ...(security.tls ? { tls: { ca: await readFile(security.tls.ca) } } : {}),
  };
}

const answers = (attempt: () => Promise<unknown>) =>
  attempt().then(
    () => true,
    () => false,
  );

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis as IORedis, ReplyError, type Command } from 'ioredis';
import type { ConnectionOptions as QueueConnection } from 'bullmq';
import { ConfigError } from './config.js';
import { DomainError } from './errors.js';
import { defineLuaScripts, type LuaCommands } from './lua-scripts.js';

export type { LuaPipeline } from './lua-scripts.js';

/**
 * A client as createRedis makes it: ioredis with every Lua script defined as a command. On a
 * Cluster it is an ioredis `Cluster` under this one type (see createRedis): the stores issue the
 * same commands either way, each routed by ioredis to the node serving its key's slot.
 */
export type Redis = IORedis & LuaCommands;

/**
 * Two kinds of connection: commands issued while serving a request should fail fast when Redis
 * is away (the client gets a 503 and retries), while BullMQ workers must wait for Redis forever
 * (`maxRetriesPerRequest: null`, as BullMQ requires for blocking commands).
 */
export type ConnectionRole = 'command' | 'worker';

/** One server's address and credentials, in the form both ioredis and BullMQ accept. */
export interface RedisEndpoint {
  host?: string;
  port?: number;
  path?: string;
  db?: number;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
}

/** A `redis://`, `rediss://` or `unix://` URL as a single server's endpoint (TLS: system trust). */
export function redisOptionsFromUrl(url: string): RedisEndpoint {
  const parsed = new URL(url);
  if (parsed.protocol === 'unix:') {
    const db = parsed.searchParams.get('db');
    return { path: decodeURIComponent(parsed.pathname), db: db ? Number(db) : 0 };
  }
  const options: RedisEndpoint = {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/**
 * Where Redis is, built once per process from the configuration (`redisTarget`): every client of
 * the process (commands, BullMQ queues and workers and their blocking connections) is made from
 * it, so they all reach the same Redis the same way. `mode` says which kind of deployment the
 * options describe, each made by createRedis and for BullMQ alike.
 */
export type RedisTarget =
  | { mode: 'server'; options: RedisEndpoint; label: string }
  | { mode: 'sentinel'; options: SentinelEndpoint; label: string }
  | { mode: 'cluster'; options: ClusterEndpoint; label: string };

/**
 * A Redis Cluster: the seed nodes the operator listed (the client learns the others from them)
 * and the credentials and TLS used for every node.
 */
export interface ClusterEndpoint {
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
}

/** The primary a set of Sentinels names, with the credentials and TLS used for it and for them. */
export interface SentinelEndpoint {
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  db: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls?: ConnectionOptions;
  enableTLSForSentinelMode?: boolean;
  sentinelTLS?: ConnectionOptions;
  /**
   * Whether ioredis also subscribes to the Sentinels' `+switch-master`. Always off (see
   * redisTarget): a failover is followed without it.
   */
  failoverDetector: false;
}

/** Redis settings as core/config.ts structures them (`config.redis`). */
export interface RedisSettings {
  url?: string | undefined;
  clusterNodes?: Array<{ host: string; port: number }> | undefined;
  sentinel?:
    | {
        nodes: Array<{ host: string; port: number }>;
        name: string;
        username?: string | undefined;
        password?: string | undefined;
        tls: boolean;
      }
    | undefined;
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
  tlsFiles: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined };
}

/**
 * The process's RedisTarget: the Cluster of `settings.clusterNodes`, else the Sentinels' primary,
 * else the server at `settings.url`, else the embedded one at `fallbackUrl`. TLS files are read
 * here, once: a missing file stops the start.
 */
export function redisTarget(settings: RedisSettings, fallbackUrl?: string): RedisTarget {
  if (settings.clusterNodes) {
    const options: ClusterEndpoint = {
      nodes: settings.clusterNodes,
      ...definedOnly({ username: settings.username, password: settings.password }),
      ...(settings.tls ? { tls: tlsTrust(settings.tlsFiles) } : {}),
    };
    const nodes = settings.clusterNodes.map((node) => `${node.host}:${node.port}`).join(',');
    return { mode: 'cluster', options, label: `cluster via ${nodes}` };
  }
  const sentinel = settings.sentinel;
  if (sentinel) {
    const tls = settings.tls || sentinel.tls ? tlsTrust(settings.tlsFiles) : undefined;
    const options: SentinelEndpoint = {
      sentinels: sentinel.nodes,
      name: sentinel.name,
      db: 0,
      // ioredis's failover detector races its own reconnection: when `+switch-master` arrives
      // while a reconnect is asking a Sentinel where the primary is, that attempt fails with
      // "Connection is closed" and the client ends for good (status `end`, never retried), so
      // some of a process's connections stayed dead (of thirty clients, one or two in four
      // failovers out of five, measured).
      // Without it nothing is lost: a killed primary drops its connections, which ask the
      // Sentinels again on every reconnect; a demoted one has its clients disconnected by the
      // Sentinels' reconfiguration, and a write that still reaches it gets READONLY, which
      // reconnects (reconnectOnReadonly).
      failoverDetector: false,
      ...definedOnly({
        username: settings.username,
        password: settings.password,
        sentinelUsername: sentinel.username,
        sentinelPassword: sentinel.password,
      }),
      ...(settings.tls ? { tls, enableTLSForSentinelMode: true } : {}),
      ...(sentinel.tls ? { sentinelTLS: tls } : {}),
    };
    const nodes = sentinel.nodes.map((node) => `${node.host}:${node.port}`).join(',');
    return { mode: 'sentinel', options, label: `sentinel ${sentinel.name} via ${nodes}` };
  }
  const url = settings.url ?? fallbackUrl;
  if (!url) throw new Error('no Redis configured and no embedded Redis started');
  const options = redisOptionsFromUrl(url);
  if (options.tls) options.tls = tlsTrust(settings.tlsFiles);
  return { mode: 'server', options, label: redactedUrl(url) };
}

/** A single server at this URL (the embedded Redis, a test's redis-server). */
export const serverTarget = (url: string): RedisTarget =>
  redisTarget({ url, tls: false, tlsFiles: {} });

function tlsTrust(files: RedisSettings['tlsFiles']): ConnectionOptions {
  return definedOnly({
    ca: files.ca ? readPem(files.ca, 'REDIS_TLS_CA_FILE') : undefined,
    cert: files.cert ? readPem(files.cert, 'REDIS_TLS_CERT_FILE') : undefined,
    key: files.key ? readPem(files.key, 'REDIS_TLS_KEY_FILE') : undefined,
  });
}

function readPem(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    // Told like any other setting an operator got wrong (cli/main.ts prints it without a stack).
    throw new ConfigError([`${setting}: cannot read ${file}: ${(error as Error).message}`]);
  }
}

function definedOnly<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/** The URL for logs: the password never leaves the process. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/**
 * Reconnect forever with a capped delay: Redis restarts must heal without operator action, and
 * soon after Redis is back. Used for BullMQ's connections too, whose own default backs off to
 * 20 s: after an outage of a few seconds, every enqueue (and so every `POST /files/async`) would
 * wait up to that long for the queue connection to come back.
 */
export const reconnectDelayMs = (times: number): number => Math.min(times * 100, 1000);

/**
 * A connection that lands on a replica (a primary demoted by a failover, still listed by a
 * Sentinel for a moment) answers writes with READONLY: reconnect, which asks the Sentinels
 * again, and resend the command (2) instead of failing it.
 */
export const reconnectOnReadonly = (error: Error): 2 | false =>
  error.message.startsWith('READONLY') ? 2 : false;

/** The options every client of one role gets on top of the target's. */
function roleOptions(role: ConnectionRole) {
  return {
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    retryStrategy: reconnectDelayMs,
    reconnectOnError: reconnectOnReadonly,
  };
}

/**
 * ioredis Cluster options for one role, on top of the nodes' credentials and TLS:
 * - `scaleReads: 'master'`: every command goes to the primary serving its slot. Arbiter reads
 *   what it has just written (a scan's record right after accepting it): a replica may lag.
 * - `retryDelayOnFailover`, `retryDelayOnClusterDown`, `retryDelayOnTryAgain`: a command whose
 *   node went away (its connection closed), that met CLUSTERDOWN (slots unserved while a replica
 *   is promoted) or TRYAGAIN (a slot moving while resharding) is sent again after this delay,
 *   on a refreshed slot map: a failover is ridden out instead of failing every command at once.
 * - `maxRedirections`: how many such resends (and MOVED/ASK redirections) one command gets.
 *   `command`: 16, 200 ms apart (2–3 s), then the request is answered 503 (see CommandCluster).
 *   `worker`: about 2 minutes, longer than a failover with Redis's default cluster-node-timeout
 *   (15 s), as BullMQ's workers wait for Redis rather than fail their jobs.
 * - `clusterRetryStrategy`: when no node answers at all, reconnect forever, capped at 1 s, as the
 *   single-server client does (reconnectDelayMs).
 * - `slotsRefreshTimeout`: 2 s for CLUSTER SLOTS: a TLS handshake with a busy node can take more
 *   than the default 1 s, and a refresh that times out leaves the slot map stale.
 * - `enableOfflineQueue`: `worker` connections queue commands while the cluster is unreachable
 *   and send them when it is back (waiting forever, as BullMQ requires). `command` connections
 *   refuse them at once instead, so a request is answered 503 and nothing it asked for runs
 *   later; ioredis's Cluster has no bound like `maxRetriesPerRequest` on its offline queue, so
 *   queued commands would otherwise wait for the whole outage. (createRedis's client connects
 *   before it is used: see redisReady.)
 * - `redisOptions`: the user, password and TLS of every node, the discovered ones included;
 *   `maxRetriesPerRequest: null` on `worker` connections, as BullMQ requires of them.
 * - `dnsLookup`: with TLS, seed host names are kept as written rather than resolved to addresses,
 *   so that a node's certificate is checked against the name the operator gave. (Nodes found
 *   through CLUSTER SLOTS are reached at the address they announce: their certificates must
 *   name it.)
 */
function clusterOptions(endpoint: ClusterEndpoint, role: ConnectionRole): ClusterOptions {
  const redisOptions: NonNullable<ClusterOptions['redisOptions']> = {
    ...definedOnly({
      username: endpoint.username,
      password: endpoint.password,
      tls: endpoint.tls,
    }),
    maxRetriesPerRequest: role === 'worker' ? null : 2,
  };
  return {
    scaleReads: 'master',
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    maxRedirections: role === 'worker' ? 600 : 16,
    clusterRetryStrategy: reconnectDelayMs,
    slotsRefreshTimeout: 2_000,
    enableOfflineQueue: role === 'worker',
    enableReadyCheck: true,
    redisOptions,
    ...(endpoint.tls ? { dnsLookup: keepHostName } : {}),
  };
}

/** The options `new Cluster` takes (ioredis's type, with the reply mapping it defaults to). */
type ClusterOptions = NonNullable<ConstructorParameters<typeof CommandCluster>[1]>;

const CLUSTER_RETRY_DELAY_MS = 200;

const keepHostName: NonNullable<ClusterOptions['dnsLookup']> = (address, callback) =>
  callback(null, address, 0);

/**
 * The connection for BullMQ queues (`command`) and workers (`worker`): options BullMQ connects
 * with, for one server or a Sentinel-managed primary. On a Cluster BullMQ must be given a
 * client instance (from options it makes a single-server client): queues share the one given,
 * and so do workers for their non-blocking commands (each makes its blocking connection with
 * `duplicate`, and closes only that one). BullMQ leaves the shared instance open, so the
 * process closes it after them (closeQueueConnection): left open, it keeps a stopped process
 * alive. The `worker` instance is lazy, so a process without workers never connects it.
 */
export function queueConnectionOptions(
  target: RedisTarget | string,
  role: ConnectionRole,
): QueueConnection {
  const resolved = targetOf(target);
  if (resolved.mode === 'cluster')
    return new Cluster(resolved.options.nodes, {
      ...clusterOptions(resolved.options, role),
      lazyConnect: role === 'worker',
    });
  return { ...resolved.options, ...roleOptions(role) };
}

/**
 * Closes a queue connection that is a client instance (a Cluster's, which the queues and workers
 * share and leave open); options are connected and closed by BullMQ itself.
 */
export function closeQueueConnection(connection: QueueConnection): void {
  if (connection instanceof Cluster) connection.disconnect();
}

const targetOf = (target: RedisTarget | string): RedisTarget =>
  typeof target === 'string' ? serverTarget(target) : target;

/** What a client sees when a request needs Redis and Redis cannot be reached. */
export const REDIS_UNAVAILABLE_MESSAGE =
  'The service cannot reach its data store right now. Please retry shortly.';

/**
 * The `command` connection: when Redis cannot be reached (the command waited through
 * `maxRetriesPerRequest` reconnect attempts, or the connection closed under it), the command
 * fails with an `unavailable` domain error, which the API answers with 503 and Retry-After
 * instead of a 500. Errors Redis itself answered (ReplyError: a bad command, a script error) are
 * bugs, not outages, and are left as they are.
 */
class CommandConnection extends IORedis {
  private readonly mapped = new WeakMap<Command, Command['reject']>();

  override sendCommand(...args: Parameters<IORedis['sendCommand']>): unknown {
    const [command] = args;
    // A command can pass through here more than once (offline queue flush, resend after a
    // reconnect); wrap its reject once.
    if (this.mapped.get(command) !== command.reject) {
      const reject = command.reject;
      command.reject = (error: Error) => reject(isOutage(error) ? unavailableError(error) : error);
      this.mapped.set(command, command.reject);
    }
    return super.sendCommand(...args);
  }
}

/**
 * The `command` connection to a Cluster, mapping outages to the `unavailable` DomainError like
 * CommandConnection. The mapping wraps each command's reject once, under ioredis's own handling:
 * a command ioredis can still resend (TRYAGAIN, CLUSTERDOWN, a closed node connection during a
 * failover, see clusterOptions) is resent, and only its final failure is mapped.
 */
class CommandCluster extends Cluster {
  private readonly mapped = new WeakSet<Command>();

  override sendCommand(...args: Parameters<Cluster['sendCommand']>): unknown {
    const [command] = args;
    if (!this.mapped.has(command)) {
      const reject = command.reject;
      command.reject = (error: Error) => reject(isOutage(error) ? unavailableError(error) : error);
      this.mapped.add(command);
    }
    return super.sendCommand(...args);
  }
}

const RedisReplyError = ReplyError as abstract new (...args: never[]) => Error;

/**
 * Replies that mean "not now" rather than "wrong": a Cluster with unserved slots (CLUSTERDOWN),
 * a slot being moved (TRYAGAIN), a replica that lost its primary (MASTERDOWN), a node still
 * loading its data after a restart (LOADING).
 */
const OUTAGE_REPLY = /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING)\b/;

/**
 * Whether a command failed because Redis could not be reached (or could not serve it for now):
 * anything but a reply Redis gave, and the replies above. Every other reply (a wrong command, a
 * script error, CROSSSLOT) is a bug and stays one. A Cluster's own failures (ClusterAllFailedError,
 * "Failed to refresh slots cache", too many redirections, not ready) are not replies: outages.
 */
function isOutage(error: Error): boolean {
  if (error instanceof DomainError) return false;
  if (error instanceof RedisReplyError) return OUTAGE_REPLY.test(error.message);
  return true;
}

function unavailableError(cause: Error): DomainError {
  const error = new DomainError('unavailable', REDIS_UNAVAILABLE_MESSAGE, 5);
  error.cause = cause;
  return error;
}

/** A client on `target` (a URL: one server there) for `role`, with the Lua scripts defined. */
export function createRedis(
  target: RedisTarget | string,
  role: ConnectionRole,
  onError: (e: Error) => void,
): Redis {
  const resolved = targetOf(target);
  if (resolved.mode === 'cluster') return createClusterClient(resolved.options, role, onError);
  const Client = role === 'command' ? CommandConnection : IORedis;
  const redis = new Client({
    ...resolved.options,
    ...roleOptions(role),
    enableReadyCheck: true,
  });
  // Without a listener, ioredis prints every reconnect error as an unhandled event.
  redis.on('error', onError);
  return defineLuaScripts(redis);
}

/**
 * A Cluster client under the `Redis` type. The cast is kept here: a Cluster serves every command
 * the stores use (each routed to its key's slot; a multi-key command or script must keep its
 * keys in one slot, which the hash tags of core/keys.ts ensure), and what differs from one
 * server (`options`, `duplicate`, SCAN walking one node only) is dealt with where it is used
 * (queueConnectionOptions, redisPrimaries).
 */
function createClusterClient(
  endpoint: ClusterEndpoint,
  role: ConnectionRole,
  onError: (e: Error) => void,
): Redis {
  const options = clusterOptions(endpoint, role);
  const cluster =
    role === 'command'
      ? new CommandCluster(endpoint.nodes, options)
      : new Cluster(endpoint.nodes, options);
  cluster.on('error', onError);
  // A node's own connection problems (one node gone during a failover) are told per node.
  cluster.on('node error', (error: Error, node: string) =>
    onError(new Error(`${node}: ${error.message}`, { cause: error })),
  );
  return defineLuaScripts(cluster as unknown as IORedis);
}

/**
 * Waits (at most `timeoutMs`) for a Cluster client made by createRedis to be connected; false if
 * it is not by then. A Cluster's `command` client refuses commands until then (it has no offline
 * queue, see clusterOptions), so a process waits for it before using it. A single server's
 * client queues its first commands until it is connected: nothing to wait for.
 */
export async function redisReady(redis: Redis, timeoutMs = 10_000): Promise<boolean> {
  const client = redis as unknown as IORedis | Cluster;
  if (!(client instanceof Cluster) || client.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/** What can be asked of each node of a keyspace: SCAN, which walks one node's keys only. */
export type ScanNode = Pick<IORedis, 'scan'>;

/**
 * The nodes to SCAN to see every key: each primary of a Cluster (the node clients ioredis keeps,
 * a SCAN failing for an outage answered `unavailable` as the command client's commands are), or
 * the one server of any other client. The cast is the one of createClusterClient.
 */
export function redisPrimaries(redis: Redis): ScanNode[] {
  const client = redis as unknown as IORedis | Cluster;
  if (!(client instanceof Cluster)) return [redis];
  const primaries = client.nodes('master');
  // Not connected (yet, or any more): walking no node would silently find no key at all.
  if (primaries.length === 0)
    throw unavailableError(new Error('no primary of the Redis Cluster is connected'));
  return primaries.map((node) => ({
    scan: ((...args: Parameters<IORedis['scan']>) =>
      node.scan(...args).catch((error: Error) => {
        throw isOutage(error) ? unavailableError(error) : error;
      })) as IORedis['scan'],
  }));
}

/**
 * Redis refused Arbiter itself (a wrong ACL user or password, a certificate not trusted): retrying
 * cannot help, so the start stops with this instead of serving 503s until someone reads the logs.
 */
export class RedisAccessError extends Error {
  constructor(target: RedisTarget, cause: Error) {
    super(
      `Redis (${target.label}) refused the connection: ${cause.message}. ` +
        'Check the user and password (REDIS_URL, REDIS_USERNAME/REDIS_PASSWORD) and the TLS trust (REDIS_TLS_CA_FILE).',
    );
    this.name = 'RedisAccessError';
    this.cause = cause;
  }
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isAccessRefusal(error: Error): boolean {
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(error.message)) return true;
  return TLS_TRUST_CODES.has((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * One connection attempt at start: throws RedisAccessError when Redis refuses Arbiter's
 * credentials or its certificate is not trusted. `unreachable` (nothing listening yet, the
 * Sentinels not answering) is not fatal: the clients keep reconnecting, as after an outage. A
 * Cluster is probed at its seed nodes, one after the other, with the credentials and TLS every
 * node gets: the first that answers or refuses decides.
 */
export async function checkRedisAccess(
  target: RedisTarget,
  timeoutMs = 5_000,
): Promise<'ok' | 'unreachable'> {
  if (target.mode !== 'cluster') return probeAccess(target, target.options, timeoutMs);
  const { nodes, ...credentials } = target.options;
  for (const node of nodes)
    if ((await probeAccess(target, { ...credentials, ...node }, timeoutMs)) === 'ok') return 'ok';
  return 'unreachable';
}

async function probeAccess(
  target: RedisTarget,
  options: RedisEndpoint | SentinelEndpoint,
  timeoutMs: number,
): Promise<'ok' | 'unreachable'> {
  const probe = new IORedis({
    ...options,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
    failoverDetector: false,
  });
  let firstError: Error | undefined;
  probe.on('error', (error: Error) => (firstError ??= error));
  try {
    await probe.connect();
    await probe.ping();
    return 'ok';
  } catch (error) {
    const cause = firstError ?? (error as Error);
    if (isAccessRefusal(cause)) throw new RedisAccessError(target, cause);
    return 'unreachable';
  } finally {
    // See redisAnswersPing (core/embedded-redis.ts): an ended client must not be disconnected.
    if (probe.status !== 'end') probe.disconnect();
  }
}

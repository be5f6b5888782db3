import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis as IORedis, ReplyError, type Command } from 'ioredis';
import { ConfigError } from './config.js';
import { DomainError } from './errors.js';
import { defineLuaScripts, type LuaCommands } from './lua-scripts.js';

export type { LuaPipeline } from './lua-scripts.js';

/** A client as createRedis makes it: ioredis with every Lua script defined as a command. */
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
 * options describe; a new kind (a Cluster) is a new mode, made by createRedis and BullMQ alike.
 */
export type RedisTarget =
  | { mode: 'server'; options: RedisEndpoint; label: string }
  | { mode: 'sentinel'; options: SentinelEndpoint; label: string };

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
  /** Listen to the Sentinels' `+switch-master`: reconnect as soon as they name a new primary. */
  failoverDetector: boolean;
}

/** Redis settings as core/config.ts structures them (`config.redis`). */
export interface RedisSettings {
  url?: string | undefined;
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
 * The process's RedisTarget: the Sentinels' primary, else the server at `settings.url`, else the
 * embedded one at `fallbackUrl`. TLS files are read here, once: a missing file stops the start.
 */
export function redisTarget(settings: RedisSettings, fallbackUrl?: string): RedisTarget {
  const sentinel = settings.sentinel;
  if (sentinel) {
    const tls = settings.tls || sentinel.tls ? tlsTrust(settings.tlsFiles) : undefined;
    const options: SentinelEndpoint = {
      sentinels: sentinel.nodes,
      name: sentinel.name,
      db: 0,
      failoverDetector: true,
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

/** Connection options for BullMQ queues (`command`) and workers (`worker`). */
export function queueConnectionOptions(target: RedisTarget | string, role: ConnectionRole) {
  return { ...targetOf(target).options, ...roleOptions(role) };
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

const RedisReplyError = ReplyError as abstract new (...args: never[]) => Error;

function isOutage(error: Error): boolean {
  if (error instanceof DomainError) return false;
  return !(error instanceof RedisReplyError);
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
  const Client = role === 'command' ? CommandConnection : IORedis;
  const redis = new Client({
    ...targetOf(target).options,
    ...roleOptions(role),
    enableReadyCheck: true,
  });
  // Without a listener, ioredis prints every reconnect error as an unhandled event.
  redis.on('error', onError);
  return defineLuaScripts(redis);
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
 * Sentinels not answering) is not fatal: the clients keep reconnecting, as after an outage.
 */
export async function checkRedisAccess(
  target: RedisTarget,
  timeoutMs = 5_000,
): Promise<'ok' | 'unreachable'> {
  const probe = new IORedis({
    ...target.options,
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

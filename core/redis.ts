import { Redis, ReplyError, type Command } from 'ioredis';
import { DomainError } from './errors.js';

export type { Redis };

/**
 * Two kinds of connection: commands issued while serving a request should fail fast when Redis
 * is away (the client gets a 503 and retries), while BullMQ workers must wait for Redis forever
 * (`maxRetriesPerRequest: null`, as BullMQ requires for blocking commands).
 */
export type ConnectionRole = 'command' | 'worker';

/** Where Redis is, in the form both ioredis and BullMQ accept. */
export interface RedisEndpoint {
  host?: string;
  port?: number;
  path?: string;
  db?: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

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
 * Reconnect forever with a capped delay: Redis restarts must heal without operator action, and
 * soon after Redis is back. Used for BullMQ's connections too, whose own default backs off to
 * 20 s: after an outage of a few seconds, every enqueue (and so every `POST /files/async`) would
 * wait up to that long for the queue connection to come back.
 */
export const reconnectDelayMs = (times: number): number => Math.min(times * 100, 1000);

/** Connection options for BullMQ queues (`command`) and workers (`worker`). */
export function queueConnectionOptions(url: string, role: ConnectionRole) {
  return {
    ...redisOptionsFromUrl(url),
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    retryStrategy: reconnectDelayMs,
  };
}

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
class CommandConnection extends Redis {
  private readonly mapped = new WeakMap<Command, Command['reject']>();

  override sendCommand(...args: Parameters<Redis['sendCommand']>): unknown {
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

export function createRedis(url: string, role: ConnectionRole, onError: (e: Error) => void): Redis {
  const Client = role === 'command' ? CommandConnection : Redis;
  const redis = new Client({
    ...redisOptionsFromUrl(url),
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableReadyCheck: true,
    retryStrategy: reconnectDelayMs,
  });
  // Without a listener, ioredis prints every reconnect error as an unhandled event.
  redis.on('error', onError);
  return redis;
}

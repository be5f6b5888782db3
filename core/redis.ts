import { Redis } from 'ioredis';

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

export function createRedis(url: string, role: ConnectionRole, onError: (e: Error) => void): Redis {
  const redis = new Redis({
    ...redisOptionsFromUrl(url),
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableReadyCheck: true,
    // Reconnect forever with a capped delay: Redis restarts must heal without operator action.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  });
  // Without a listener, ioredis prints every reconnect error as an unhandled event.
  redis.on('error', onError);
  return redis;
}

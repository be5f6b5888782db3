import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Failed console sign-ins, counted in Redis (so across every api process) per client address
 * and per API key named: a guesser is stopped whether it tries many secrets for one key or one
 * secret for many keys. Only failures count, so a user who signs in and out is never locked out.
 */
export class ConsoleSigninLimiter {
  private readonly byAddress: RateLimiterRedis;
  private readonly byKey: RateLimiterRedis;

  constructor(
    redis: Redis,
    keys: RedisKeys,
    settings: { attempts: number; windowSeconds: number },
  ) {
    const common = {
      storeClient: redis,
      points: settings.attempts,
      duration: settings.windowSeconds,
    };
    this.byAddress = new RateLimiterRedis({ ...common, keyPrefix: keys.consoleSigninIpPrefix() });
    this.byKey = new RateLimiterRedis({ ...common, keyPrefix: keys.consoleSigninKeyPrefix() });
  }

  /** Seconds to wait when the address or the key has used up its failures, else 0. */
  async retryAfterSeconds(address: string, key: string | undefined): Promise<number> {
    const states = await Promise.all([
      this.byAddress.get(address),
      key === undefined ? null : this.byKey.get(key),
    ]);
    const waits = states.map((state) =>
      state && state.remainingPoints <= 0 ? Math.ceil(state.msBeforeNext / 1000) : 0,
    );
    return Math.max(0, ...waits);
  }

  /** Counts one failed attempt from `address` (and naming `key`). */
  async recordFailure(address: string, key: string | undefined): Promise<void> {
    await Promise.all([
      consume(this.byAddress, address),
      key === undefined ? undefined : consume(this.byKey, key),
    ]);
  }
}

async function consume(limiter: RateLimiterRedis, id: string): Promise<void> {
  try {
    await limiter.consume(id);
  } catch (error) {
    // Over the limit already: rate-limiter-flexible rejects with the state; the count is kept.
    if (!(error instanceof RateLimiterRes)) throw error;
  }
}

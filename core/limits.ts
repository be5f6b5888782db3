import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from './config.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Per-tenant rate limits and byte quotas, counted in Redis so that they hold across every api
 * (and worker) process. Requests per second use rate-limiter-flexible's Redis limiter (fixed
 * one-second windows, one atomic Lua call per request) with a burst allowance on top
 * (BurstyRateLimiter: `burst` extra requests per 10-second window). Bytes are counted per UTC
 * day under a key that names the day, checked by the library and charged by core/lua/usage-charge.lua.
 */

/** Effective limits of a tenant; 0 means "no limit". */
export interface TenantLimitSettings {
  requestsPerSecond: number;
  burst: number;
  bytesPerDay: number;
}

/** What the operator set for one tenant; null = the configured default. */
export interface TenantLimitOverrides {
  requestsPerSecond: number | null;
  burst: number | null;
  bytesPerDay: number | null;
}

/** The window over which the burst allowance is counted. */
export const BURST_WINDOW_SECONDS = 10;

/** Overrides are read from Redis at most this often per process (a change applies within it). */
const SETTINGS_CACHE_MS = 1000;

/** Quota keys name their UTC day; they are kept a day longer than that, then expire. */
const QUOTA_KEY_SECONDS = 2 * 86_400;

const FIELDS = {
  requestsPerSecond: 'requests_per_second',
  burst: 'burst',
  bytesPerDay: 'bytes_per_day',
} as const;

export class TenantLimitStore {
  private readonly cache = new Map<string, { at: number; settings: TenantLimitSettings }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly defaults: Config['limits'],
  ) {}

  async getOverrides(tenantId: string): Promise<TenantLimitOverrides> {
    const raw = await this.redis.hgetall(this.keys.tenantLimits(tenantId));
    const read = (field: string): number | null =>
      raw[field] === undefined ? null : Number(raw[field]);
    return {
      requestsPerSecond: read(FIELDS.requestsPerSecond),
      burst: read(FIELDS.burst),
      bytesPerDay: read(FIELDS.bytesPerDay),
    };
  }

  /** Replaces the tenant's overrides (a field left null goes back to the default). */
  async setOverrides(tenantId: string, overrides: TenantLimitOverrides): Promise<void> {
    const key = this.keys.tenantLimits(tenantId);
    const values: Record<string, string> = {};
    for (const [name, field] of Object.entries(FIELDS) as Array<
      [keyof TenantLimitOverrides, string]
    >) {
      const value = overrides[name];
      if (value !== null) values[field] = String(value);
    }
    const multi = this.redis.multi().del(key);
    if (Object.keys(values).length > 0) multi.hset(key, values);
    await multi.exec();
    this.cache.delete(tenantId);
  }

  /** The limits in force: the tenant's own where set, else the configured defaults. */
  resolve(overrides: TenantLimitOverrides): TenantLimitSettings {
    const requestsPerSecond = overrides.requestsPerSecond ?? this.defaults.requestsPerSecond;
    return {
      requestsPerSecond,
      // A tenant given its own rate but no burst gets a burst of one second's worth of its rate.
      burst:
        overrides.burst ??
        (overrides.requestsPerSecond !== null ? requestsPerSecond : this.defaults.burst),
      bytesPerDay: overrides.bytesPerDay ?? this.defaults.bytesPerDay,
    };
  }

  async effective(tenantId: string, now = Date.now()): Promise<TenantLimitSettings> {
    const cached = this.cache.get(tenantId);
    if (cached && now - cached.at < SETTINGS_CACHE_MS) return cached.settings;
    const settings = this.resolve(await this.getOverrides(tenantId));
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { at: now, settings });
    return settings;
  }
}

export interface RequestAdmission {
  allowed: boolean;
  /** The tenant's requests per second (`X-RateLimit-Limit`). */
  limit: number;
  /** Requests left in the current second (`X-RateLimit-Remaining`). */
  remaining: number;
  /** When refused: whole seconds until a request may succeed (`Retry-After`). */
  retryAfterSeconds: number;
}

export interface QuotaCheck {
  allowed: boolean;
  /** Bytes per day; 0 = no quota. */
  limit: number;
  /** Bytes counted today before this request. */
  used: number;
  /** When refused: whole seconds until the next UTC day. */
  retryAfterSeconds: number;
}

export class TenantLimiter {
  private readonly requestLimiters = new Map<string, RateLimiterRedis | BurstyRateLimiter>();
  private readonly quotaLimiters = new Map<number, RateLimiterRedis>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly settings: TenantLimitStore,
  ) {}

  /** Counts one request; undefined when the tenant has no rate limit. */
  async admitRequest(tenantId: string): Promise<RequestAdmission | undefined> {
    const { requestsPerSecond, burst } = await this.settings.effective(tenantId);
    if (requestsPerSecond === 0) return undefined;
    try {
      const res = await this.requestLimiter(requestsPerSecond, burst).consume(
        this.keys.tenantSegment(tenantId),
      );
      return {
        allowed: true,
        limit: requestsPerSecond,
        remaining: res.remainingPoints,
        retryAfterSeconds: 0,
      };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      return {
        allowed: false,
        limit: requestsPerSecond,
        remaining: 0,
        retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)),
      };
    }
  }

  /** Before reading a body: refuses a tenant whose quota for today is already used up. */
  async checkQuota(tenantId: string, now = new Date()): Promise<QuotaCheck> {
    const { bytesPerDay } = await this.settings.effective(tenantId);
    if (bytesPerDay === 0) return { allowed: true, limit: 0, used: 0, retryAfterSeconds: 0 };
    const used = await this.bytesUsed(tenantId, now);
    return {
      allowed: used < bytesPerDay,
      limit: bytesPerDay,
      used,
      retryAfterSeconds: secondsToNextUtcDay(now),
    };
  }

  /**
   * Counts accepted upload bytes against today's quota. A request that would go over it is
   * refused and its bytes are not counted (they are given back at once).
   */
  async chargeUpload(tenantId: string, bytes: number, now = new Date()): Promise<QuotaCheck> {
    const { bytesPerDay } = await this.settings.effective(tenantId);
    const limiter = this.quotaLimiter(bytesPerDay);
    const key = this.quotaKey(tenantId, now);
    try {
      const res = await limiter.consume(key, bytes);
      return {
        allowed: true,
        limit: bytesPerDay,
        used: res.consumedPoints - bytes,
        retryAfterSeconds: 0,
      };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      await limiter.reward(key, bytes);
      return {
        allowed: false,
        limit: bytesPerDay,
        used: error.consumedPoints - bytes,
        retryAfterSeconds: secondsToNextUtcDay(now),
      };
    }
  }

  /** Gives back bytes counted by `chargeUpload` at `chargedAt` (the request was then refused). */
  async refundUpload(tenantId: string, bytes: number, chargedAt: Date): Promise<void> {
    await this.quotaLimiter(0).reward(this.quotaKey(tenantId, chargedAt), bytes);
  }

  /** Counts downloaded bytes (fetches): the work was accepted, so this never refuses. */
  async chargeFetched(tenantId: string, bytes: number, now = new Date()): Promise<void> {
    if (bytes <= 0) return;
    // The key the quota limiter reads, written by one short script of our own.
    const key = `${this.keys.quotaPrefix()}:${this.quotaKey(tenantId, now)}`;
    await this.redis.usageCharge(1, key, String(bytes), String(QUOTA_KEY_SECONDS));
  }

  async bytesUsed(tenantId: string, now = new Date()): Promise<number> {
    const res = await this.quotaLimiter(0).get(this.quotaKey(tenantId, now));
    return res?.consumedPoints ?? 0;
  }

  private requestLimiter(
    requestsPerSecond: number,
    burst: number,
  ): RateLimiterRedis | BurstyRateLimiter {
    const cacheKey = `${requestsPerSecond}/${burst}`;
    let limiter = this.requestLimiters.get(cacheKey);
    if (!limiter) {
      // Every instance shares the same keys: a changed limit keeps the tenant's current count.
      const perSecond = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: this.keys.rateLimitPrefix(),
        points: requestsPerSecond,
        duration: 1,
      });
      limiter =
        burst > 0
          ? new BurstyRateLimiter(
              perSecond,
              new RateLimiterRedis({
                storeClient: this.redis,
                keyPrefix: this.keys.burstLimitPrefix(),
                points: burst,
                duration: BURST_WINDOW_SECONDS,
              }),
            )
          : perSecond;
      this.requestLimiters.set(cacheKey, limiter);
    }
    return limiter;
  }

  /** What the quota limiter appends to its prefix: the tenant (as keys name it) and the UTC day. */
  private quotaKey(tenantId: string, now: Date): string {
    return `${this.keys.tenantSegment(tenantId)}:${now.toISOString().slice(0, 10)}`;
  }

  /** `bytesPerDay` 0: a counter that never refuses (usage is counted without a quota too). */
  private quotaLimiter(bytesPerDay: number): RateLimiterRedis {
    let limiter = this.quotaLimiters.get(bytesPerDay);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: this.keys.quotaPrefix(),
        points: bytesPerDay === 0 ? Number.MAX_SAFE_INTEGER : bytesPerDay,
        duration: QUOTA_KEY_SECONDS,
      });
      this.quotaLimiters.set(bytesPerDay, limiter);
    }
    return limiter;
  }
}

export function secondsToNextUtcDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

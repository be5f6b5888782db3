import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';

/**
 * Per-tenant fairness for callback deliveries: at most `limit` deliveries of one tenant are in
 * flight at once across every worker process, so a receiver that hangs or crawls ties up at most
 * that many delivery slots and other tenants' deliveries keep flowing.
 *
 * Each delivery attempt holds a lease: a member of the tenant's `webhook-inflight` ZSET (the
 * BullMQ job id) scored with the time the lease lapses. A worker that dies mid-attempt never
 * releases its lease; it lapses after `leaseMs` (longer than any attempt can take) and is swept by
 * the next acquire. Redis's own clock is used, so workers with skewed clocks agree.
 *
 * A job turned away (the tenant is at its bound) is moved to BullMQ's delayed set by the caller
 * and then parked here, in the tenant's `webhook-parked` ZSET, oldest first. A release hands its
 * slot straight to the oldest parked job (the lease is taken in that job's name) and wakes it
 * (promotes it out of the delayed set), so a fresh job cannot take the slot from under it and a
 * tenant's backlog drains in order, as fast as its slots free up. The delay the job was given is
 * only a fallback for a lost wake-up (a worker that died between the two steps).
 */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: inflight, parked. ARGV: holder, leaseMs, limit.
const ACQUIRE_SCRIPT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`;

// Gives a free slot (if there is one) to the oldest parked job; returns that job's id to wake.
const HAND_OVER = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  local woken = redis.call('ZPOPMIN', KEYS[2])
  if woken[1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), woken[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return woken[1]
  end
end
return false`;

// KEYS: inflight, parked. ARGV: holder, leaseMs, limit, parkedTtlMs. Parks the holder (keeping its
// first place in line), unless a slot was handed to it meanwhile: then it is the one to wake.
// Should a slot have freed with nobody to hand it to, it goes to the oldest parked job at once.
const PARK_SCRIPT = `${NOW}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return ARGV[1] end
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
${HAND_OVER}`;

// KEYS: inflight, parked. ARGV: holder, leaseMs, limit. Frees the holder's slot and hands it over.
const RELEASE_SCRIPT = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
${HAND_OVER}`;

export interface LeaseOptions {
  /** Deliveries of one tenant in flight at once. */
  limit: number;
  /** How long a lease lasts unless released: longer than the longest possible attempt. */
  leaseMs: number;
}

/** Moves a parked job out of the delayed set now (false if it was no longer delayed). */
export type WakeJob = (jobId: string) => Promise<void>;

/** Parked entries outlive the longest fallback delay by far; an idle tenant's list just expires. */
const PARKED_TTL_MS = 24 * 3600 * 1000;

export class TenantDeliveryLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly options: LeaseOptions,
    private readonly wake: WakeJob = () => Promise.resolve(),
  ) {}

  /**
   * Takes one of the tenant's delivery slots for `holder` (a job id); true when granted. A holder
   * that already has a slot (its job was picked up again after a stall) keeps it.
   */
  async acquire(tenantId: string, holder: string): Promise<boolean> {
    const granted = await this.redis.eval(
      ACQUIRE_SCRIPT,
      2,
      this.keys.webhookInflight(tenantId),
      this.keys.webhookParked(tenantId),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
    );
    return granted === 1;
  }

  /**
   * Puts a turned-away job (already in the delayed set) in line for the tenant's next free slot;
   * wakes it (or the oldest in line) at once if a slot is there for it already.
   */
  async park(tenantId: string, holder: string): Promise<void> {
    const woken = await this.redis.eval(
      PARK_SCRIPT,
      2,
      this.keys.webhookInflight(tenantId),
      this.keys.webhookParked(tenantId),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
      String(PARKED_TTL_MS),
    );
    if (typeof woken === 'string') await this.wakeQuietly(woken);
  }

  /** Frees the holder's slot, handing it to the tenant's longest-waiting parked job (woken). */
  async release(tenantId: string, holder: string): Promise<void> {
    const woken = await this.redis.eval(
      RELEASE_SCRIPT,
      2,
      this.keys.webhookInflight(tenantId),
      this.keys.webhookParked(tenantId),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
    );
    if (typeof woken === 'string') await this.wakeQuietly(woken);
  }

  /** Leases currently held (lapsed ones included until the next acquire sweeps them). */
  async inFlight(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.webhookInflight(tenantId));
  }

  /** Jobs waiting for a slot. */
  async parked(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.webhookParked(tenantId));
  }

  private async wakeQuietly(jobId: string): Promise<void> {
    // A job that is gone or already running needs no waking; its fallback delay covers the rest.
    await this.wake(jobId).catch(() => undefined);
  }
}

/**
 * The fallback delay of a turned-away delivery, in case its wake-up is lost (a worker died between
 * turning it away and parking it, or a lease lapsed instead of being released): 5 s, doubling with
 * each time the same job was turned away, up to 60 s, ±50% jitter. Normally a freed slot wakes the
 * job long before; a short fallback would only make parked jobs come back and be turned away again.
 * These waits use up none of the delivery's attempts.
 */
export function fairnessDelayMs(
  timesTurnedAway: number,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(5000 * 2 ** Math.max(0, Math.min(timesTurnedAway, 10)), 60_000);
  return Math.round(nominal * (0.5 + random()));
}

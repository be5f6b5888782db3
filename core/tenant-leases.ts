import type { Redis } from './redis.js';

/**
 * Per-tenant slots across every worker process: at most `limit` jobs of one tenant hold a slot at
 * once, so a tenant whose work hangs or crawls ties up at most that many worker slots and other
 * tenants' jobs keep flowing. Callback deliveries (webhooks/fairness.ts) and scans
 * (worker/scan-slots.ts) each have their own set of slots, under their own keys.
 *
 * Each running job holds a lease: a member of the tenant's `inflight` ZSET (the BullMQ job id)
 * scored with the time the lease lapses. A worker that dies mid-job never releases its lease; it
 * lapses after `leaseMs` (longer than a job runs without renewing it) and is swept by the next
 * acquire. Redis's own clock is used, so workers with skewed clocks agree.
 *
 * A job turned away (the tenant is at its bound) is moved to BullMQ's delayed set by the caller
 * and then parked here, in the tenant's `parked` ZSET, oldest first. A release hands its slot
 * straight to the oldest parked job (the lease is taken in that job's name) and wakes it (promotes
 * it out of the delayed set), so a fresh job cannot take the slot from under it and a tenant's
 * backlog drains in order, as fast as its slots free up. The delay the job was given is only a
 * fallback for a lost wake-up (a worker that died between the two steps).
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

// KEYS: inflight. ARGV: holder, leaseMs. Pushes the holder's lease further out (if it still has one).
const RENEW_SCRIPT = `${NOW}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// KEYS: inflight, parked. ARGV: holder, leaseMs, limit. Frees the holder's slot and hands it over.
const RELEASE_SCRIPT = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
${HAND_OVER}`;

/** Where one kind of slot keeps its leases and its line of parked jobs, per tenant. */
export interface LeaseKeys {
  inflight(tenantId: string): string;
  parked(tenantId: string): string;
}

export interface LeaseOptions {
  /** Jobs of one tenant holding a slot at once. */
  limit: number;
  /** How long a lease lasts unless released or renewed. */
  leaseMs: number;
}

/** Moves a parked job out of the delayed set now (false if it was no longer delayed). */
export type WakeJob = (jobId: string) => Promise<void>;

/** Parked entries outlive the longest fallback delay by far; an idle tenant's list just expires. */
const PARKED_TTL_MS = 24 * 3600 * 1000;

export class TenantLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: LeaseKeys,
    readonly options: LeaseOptions,
    private readonly wake: WakeJob = () => Promise.resolve(),
  ) {}

  /**
   * Takes one of the tenant's slots for `holder` (a job id); true when granted. A holder
   * that already has a slot (its job was picked up again after a stall) keeps it.
   */
  async acquire(tenantId: string, holder: string): Promise<boolean> {
    const granted = await this.redis.eval(
      ACQUIRE_SCRIPT,
      2,
      this.keys.inflight(tenantId),
      this.keys.parked(tenantId),
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
      this.keys.inflight(tenantId),
      this.keys.parked(tenantId),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
      String(PARKED_TTL_MS),
    );
    if (typeof woken === 'string') await this.wakeQuietly(woken);
  }

  /**
   * Keeps a long job's lease from lapsing: call it well within `leaseMs`. False when the lease was
   * gone (it lapsed meanwhile); the job runs on, and its tenant may briefly hold one slot more.
   */
  async renew(tenantId: string, holder: string): Promise<boolean> {
    const renewed = await this.redis.eval(
      RENEW_SCRIPT,
      1,
      this.keys.inflight(tenantId),
      holder,
      String(this.options.leaseMs),
    );
    return renewed === 1;
  }

  /** Frees the holder's slot, handing it to the tenant's longest-waiting parked job (woken). */
  async release(tenantId: string, holder: string): Promise<void> {
    const woken = await this.redis.eval(
      RELEASE_SCRIPT,
      2,
      this.keys.inflight(tenantId),
      this.keys.parked(tenantId),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
    );
    if (typeof woken === 'string') await this.wakeQuietly(woken);
  }

  /** Leases currently held (lapsed ones included until the next acquire sweeps them). */
  async inFlight(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.inflight(tenantId));
  }

  /** Jobs waiting for a slot. */
  async parked(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.parked(tenantId));
  }

  private async wakeQuietly(jobId: string): Promise<void> {
    // A job that is gone or already running needs no waking; its fallback delay covers the rest.
    await this.wake(jobId).catch(() => undefined);
  }
}

/**
 * The fallback delay of a turned-away job, in case its wake-up is lost (a worker died between
 * turning it away and parking it, or a lease lapsed instead of being released): 5 s, doubling with
 * each time the same job was turned away, up to 60 s, ±50% jitter. Normally a freed slot wakes the
 * job long before; a short fallback would only make parked jobs come back and be turned away again.
 * These waits use up none of the job's attempts.
 */
export function fairnessDelayMs(
  timesTurnedAway: number,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(5000 * 2 ** Math.max(0, Math.min(timesTurnedAway, 10)), 60_000);
  return Math.round(nominal * (0.5 + random()));
}

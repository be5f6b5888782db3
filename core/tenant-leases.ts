import type { Redis } from './redis.js';

/** Where one kind of slot keeps its leases and its line of parked jobs, per tenant. */
export interface LeaseKeys {
  inflight(tenantId: string): string;
  parked(tenantId: string): string;
  /**
   * A ZSET a holder leaves in the same step as it is granted a slot, if any: for scans, the
   * tenant's fairness backlog (core/scan-fairness.ts), which a started scan no longer waits in.
   */
  leftOnGrant?(tenantId: string): string;
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
 * fallback for a lost wake-up (a worker that died between the two steps). The scripts are
 * core/lua/tenant-lease-*.lua.
 */
export class TenantLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: LeaseKeys,
    readonly options: LeaseOptions,
    private readonly wake: WakeJob = () => Promise.resolve(),
  ) {}

  /**
   * Takes one of the tenant's slots for `holder` (a job id); true when granted. A holder
   * that already has a slot (its job was picked up again after a stall) keeps it. A granted holder
   * leaves the line, unless `neverParked` says it was never in it (spares a command).
   */
  async acquire(tenantId: string, holder: string, neverParked = false): Promise<boolean> {
    const leftOnGrant = this.keys.leftOnGrant?.(tenantId);
    const granted = await this.redis.tenantLeaseAcquire(
      leftOnGrant ? 3 : 2,
      this.keys.inflight(tenantId),
      this.keys.parked(tenantId),
      ...(leftOnGrant ? [leftOnGrant] : []),
      holder,
      String(this.options.leaseMs),
      String(this.options.limit),
      neverParked ? '0' : '1',
    );
    return granted === 1;
  }

  /**
   * Puts a turned-away job (already in the delayed set) in line for the tenant's next free slot;
   * wakes it (or the oldest in line) at once if a slot is there for it already.
   */
  async park(tenantId: string, holder: string): Promise<void> {
    const woken = await this.redis.tenantLeasePark(
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
    const renewed = await this.redis.tenantLeaseRenew(
      1,
      this.keys.inflight(tenantId),
      holder,
      String(this.options.leaseMs),
    );
    return renewed === 1;
  }

  /** Frees the holder's slot, handing it to the tenant's longest-waiting parked job (woken). */
  async release(tenantId: string, holder: string): Promise<void> {
    const woken = await this.redis.tenantLeaseRelease(
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

import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Per-tenant fairness for the scan queue. BullMQ runs jobs in the order they were added, so a
 * tenant that queues 500 fetches would make everybody else's scans wait behind all of them. Each
 * scan job is therefore added with a BullMQ priority (lower runs first, equal priorities in the
 * order added) equal to its rank in its tenant's current backlog: the n-th job a tenant queued
 * since it last had nothing waiting gets priority n. A tenant arriving with a few jobs gets
 * priorities 1, 2, 3 and runs next to the flooding tenant's first jobs, not after its last; two
 * busy tenants take turns. Within one tenant, jobs keep their order (ranks only grow while the
 * tenant has a backlog), so none of its own jobs is overtaken indefinitely.
 *
 * The backlog is a ZSET per tenant of the scan ids waiting to start (score: when queued, Redis
 * clock): added to at enqueue, removed from when a worker starts the job (in the step that grants
 * the scan its tenant slot: core/tenant-leases.ts, `leftOnGrant`). When it is empty at
 * enqueue, the tenant's rank counter starts over. An id whose removal was lost (a job added to
 * the set but never to the queue, or removed from the queue before it ran) is swept
 * after `staleMs`, so at worst a tenant's ranks keep growing a while longer: the order stays valid.
 * Ranks are capped at BullMQ's highest priority; past it a tenant's jobs simply queue in order.
 *
 * Jobs BullMQ itself puts back (a stalled job of a crashed worker) go to the front of the queue,
 * ahead of every prioritized job: they had been started already.
 */

/** BullMQ's largest priority (2^21). */
export const MAX_SCAN_PRIORITY = 2_097_152;

export interface ScanFairnessOptions {
  /** How long an id may sit in a backlog set before it is taken for a lost removal. */
  staleMs: number;
}

export class ScanFairness {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly options: ScanFairnessOptions = { staleMs: 3_600_000 },
  ) {}

  /** Puts the scan in its tenant's backlog and returns the BullMQ priority its job gets. */
  async priorityFor(tenantId: string, scanId: string): Promise<number> {
    const rank = await this.redis.scanBacklogEnqueue(
      2,
      this.keys.scanBacklog(tenantId),
      this.keys.scanRank(tenantId),
      scanId,
      String(this.options.staleMs),
    );
    return Math.min(Math.max(1, Number(rank)), MAX_SCAN_PRIORITY);
  }

  /** Scans of the tenant queued and not yet started (lost removals included until swept). */
  async backlog(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.scanBacklog(tenantId));
  }
}

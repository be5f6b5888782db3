import type { Logger } from '../core/logger.js';
import { enqueueCallback } from '../core/queues.js';
import type { Metrics, ReapAction } from '../core/metrics.js';
import type { PipelineDeps } from './pipeline.js';
import type { ScanRecord, ScanRequest } from './results.js';
import type { ScanService } from './service.js';

/**
 * Resolves pending scans that no job will ever finish. A scan's record is written before its
 * job is queued (the client is answered only once both are done), so a process killed in
 * between leaves a record that says "pending" for its whole TTL with nothing behind it. Also a
 * job that ended without storing a result (the process died while recording the failure).
 *
 * Pending scans are indexed per tenant (scans/store.ts, `pending-scans:{tid}`) when written and
 * leave the index when finished or deleted. Each run walks the tenants (SSCAN of the tenants set,
 * a page at a time, counting each page's stale entries in one burst so that tenants with none
 * cost no round trip of their own) and claims, tenant by tenant, up to a bounded batch in all of
 * the entries older than the grace period (the claim re-stamps them, so another worker's reaper
 * skips them, a scan that is legitimately still waiting comes up again only a grace period
 * later, and the tenants walked first do not keep the batch to themselves), and for each:
 *
 * - record gone (expired) or no longer pending: the entry is dropped; a finished scan with a
 *   callback is still in the index only while its callback is owed by the worker process that
 *   stored it (worker/inline-callback.ts), so when the reaper finds one, that process stopped
 *   first: the callback is queued;
 * - its job is waiting, delayed or running: nothing to do;
 * - no job: queued again when its content can still be read (a `location` is downloaded again,
 *   a bucket object read again, an upload still in the spool scanned), else an error result is
 *   stored, which fires the callback like any other result;
 * - its job failed or completed without a result: an error result.
 *
 * Object scans are queued again like every scan (ScanService: a scan job with the
 * tenant's fairness priority); the object's lease, taken for an hour at submission and held by
 * this scan id, is refreshed by the object stage when the job runs. The grace period is shorter
 * than the lease, so nothing else has claimed the version meanwhile.
 *
 * Older versions kept one global index; each run first moves what is left in it into the
 * tenants' indexes (ScanStore.adoptLegacyPending), so an upgrade loses no pending scan.
 */
export interface PendingReaperDeps {
  scanning: ScanService;
  metrics: Pick<Metrics, 'pendingReaped'>;
  logger: Logger;
  /** Age (since written, or since last found alive) from which a pending scan is looked at. */
  graceMs: number;
  /** Pending scans looked at per run. */
  batchSize: number;
  /** Every tenant id, a page at a time (TenantStore.eachTenantIdPage). */
  tenantIds: () => AsyncIterable<string[]>;
}

/** Job states in which a worker will still (or does now) process the scan. */
const ALIVE_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children']);

export class PendingReaper {
  constructor(private readonly deps: PendingReaperDeps) {}

  /**
   * One run: returns what was done to the scans looked at. `signal` (shutdown) stops it early;
   * the scans claimed and not looked at come up again a grace period later.
   */
  async reap(signal?: AbortSignal): Promise<Record<ReapAction, number>> {
    const scans = this.deps.scanning.store;
    const done: Record<ReapAction, number> = { requeued: 0, failed: 0 };
    await this.adoptLegacyIndex(signal);
    const cutoffMs = Date.now() - this.deps.graceMs;
    let budget = this.deps.batchSize;
    walk: for await (const page of this.deps.tenantIds()) {
      const stale = await scans.countStalePending(page, cutoffMs);
      for (const [index, tenantId] of page.entries()) {
        if (signal?.aborted || budget === 0) break walk;
        if (stale[index] === 0) continue;
        const claimed = await scans.claimStalePending(tenantId, cutoffMs, budget);
        budget -= claimed.length;
        for (const scanId of claimed) {
          if (signal?.aborted) break walk;
          const action = await this.look(tenantId, scanId);
          if (!action) continue;
          done[action] += 1;
          this.deps.metrics.pendingReaped(action);
        }
      }
    }
    if (done.requeued + done.failed > 0)
      this.deps.logger.info({ reaped: done }, 'pending scans without a job resolved');
    return done;
  }

  /** Entries an older version left in the global index, moved to their tenants' first. */
  private async adoptLegacyIndex(signal?: AbortSignal): Promise<void> {
    const scans = this.deps.scanning.store;
    let moved = 0;
    do moved = await scans.adoptLegacyPending(this.deps.batchSize);
    while (moved > 0 && !signal?.aborted);
  }

  /** One claimed scan: resolved if still pending, else dropped from the index (callback owed?). */
  private async look(tenantId: string, scanId: string): Promise<ReapAction | undefined> {
    const scans = this.deps.scanning.store;
    const record = await scans.get(tenantId, scanId);
    if (record?.state === 'done') await this.queueOwedCallback(record);
    if (record?.state === 'pending') return this.resolve(record);
    await scans.forgetPending(tenantId, scanId);
    return undefined;
  }

  /**
   * A finished scan still in the index owes its callback: the process that stored the result and
   * was to make the first attempt (worker/inline-callback.ts) stopped before it was made or
   * queued. Queued now; its job id derives from the scan id, so one queued meanwhile is kept.
   */
  private async queueOwedCallback(record: ScanRecord): Promise<void> {
    const { request } = record;
    if (!request.callback) return;
    await enqueueCallback(this.deps.scanning.pipeline.queues, {
      tenantId: request.tenantId,
      scanId: request.id,
    });
    this.deps.logger.warn(
      { scanId: request.id, tenantId: request.tenantId },
      'finished scan whose callback was never attempted; queued',
    );
  }

  private async resolve(record: ScanRecord): Promise<ReapAction | undefined> {
    const { scanning } = this.deps;
    const { pipeline } = scanning;
    const { request } = record;
    const state = await pipeline.queues.scan.getJobState(request.id);
    if (ALIVE_STATES.has(state)) return undefined;
    const log = { scanId: request.id, tenantId: request.tenantId, source: request.source, state };
    if (state === 'unknown' && (await contentStillThere(pipeline, request))) {
      await scanning.requeue(
        request,
        'no job was found for this pending scan (the process that accepted it stopped before queueing it): queued again',
      );
      this.deps.logger.warn(log, 'pending scan had no job; queued again');
      return 'requeued';
    }
    const message =
      state === 'unknown'
        ? 'the uploaded content was lost before it could be scanned (the process that received it stopped); please submit it again'
        : 'processing ended without a result; please submit the content again';
    this.deps.logger.warn(log, 'pending scan cannot be processed; storing an error result');
    await scanning.fail(request, message);
    return 'failed';
  }
}

/** A location or bucket object can always be read again; an upload only while it is in the upload store. */
async function contentStillThere(pipeline: PipelineDeps, request: ScanRequest): Promise<boolean> {
  if (request.source !== 'upload') return true;
  return pipeline.uploads.exists(request.tenantId, request.id);
}

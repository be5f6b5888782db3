import type { ObjectOutcome, ObjectRef } from '../../scans/results.js';
import type { ClaimHolder, ObjectScanSubmission, SubmitOutcome } from '../object-scans.js';
import { listPage, matchingObjects, type CrawlerDeps } from './crawler.js';
import type { CrawlCursor } from './jobs.js';

/**
 * A reconcile pass over a retro job that stopped making progress while `scanning` (the stall
 * audit, s3/retro/stall-audit.ts, queues it; the retro queue's `reconcile` job runs it).
 *
 * A job completes when every matched object has an outcome credited. Each credit is one write
 * after the object's scan; a write acknowledged by a Redis primary that then fails over before
 * its replica has it is gone (replication is asynchronous), and so is a credit whose write failed
 * while Redis was away. Nothing would ever send that outcome again, and the job would wait for
 * ever. So the pass lists the job's buckets again, with the crawl's own filter, and for every
 * matching object with no outcome credited:
 *
 * - submits it again on behalf of the job: scanned, and credited when it settles;
 * - if its version is still claimed by a scan (a `duplicate`): a pending scan credits the job
 *   when it settles (the submission made the job one of its watchers); a scan that has a result
 *   held the claim past its end (its release was lost too): its outcome is credited now and the
 *   claim given back; a scan that is gone: the claim is given back and the object submitted.
 *
 * Outcomes are still credited once per object (RetroJobStore.credit), so a pass that races a
 * late outcome counts nothing twice, and a version being scanned is never scanned twice at once.
 * When the pass finds every listed match credited and nothing left in flight, the outcomes still
 * missing belong to objects the listing no longer shows (deleted, or modified out of the window):
 * they are counted as errors and the job completes (RetroJobStore.noteReconciled).
 */

export interface ReconcileDeps extends CrawlerDeps {
  objectScans: CrawlerDeps['objectScans'] & {
    claimHolder(tenantId: string, ref: ObjectRef, holder: string): Promise<ClaimHolder>;
  };
}

export type ReconcileEnd =
  /** The pass ran to the end of the listings (the job may have completed). */
  | 'reconciled'
  /** Nothing to do: the job is not `scanning` (completed meanwhile, cancelled, gone). */
  | 'skipped'
  /** `signal` was aborted (shutdown): the job should be handed back to the queue. */
  | 'interrupted';

interface PassCounts {
  resubmitted: number;
  credited: number;
  /** Objects whose outcome a running scan will still bring. */
  inFlight: number;
}

export async function reconcile(
  deps: ReconcileDeps,
  tenantId: string,
  jobId: string,
  signal?: AbortSignal,
): Promise<ReconcileEnd> {
  const job = await deps.jobs.get(tenantId, jobId);
  if (job?.state !== 'scanning') return 'skipped';
  const window = { from: Date.parse(job.from), to: Date.parse(job.to) };
  const counts: PassCounts = { resubmitted: 0, credited: 0, inFlight: 0 };
  for (const spec of job.buckets) {
    const bucket = await deps.buckets.get(tenantId, spec.name);
    // Unregistered since the crawl: its objects cannot be read again. Left as they are; the job
    // ends when its other outcomes are in (or the missing ones are counted as errors).
    if (!bucket) continue;
    const s3 = deps.clients.s3(bucket);
    let cursor: CrawlCursor = { page: 0, bucket: 0, token: '', after: '' };
    for (;;) {
      if (signal?.aborted) return 'interrupted';
      const listing = await listPage(s3, spec, cursor, deps.pageSize);
      const items = matchingObjects(listing, spec.name, window, jobId);
      await reconcilePage(deps, tenantId, jobId, items, counts);
      if (listing.IsTruncated !== true || !listing.NextContinuationToken) break;
      cursor = {
        page: cursor.page + 1,
        bucket: 0,
        token: listing.NextContinuationToken,
        after: listing.Contents?.at(-1)?.Key ?? cursor.after,
      };
    }
  }
  const settled = counts.resubmitted === 0 && counts.inFlight === 0;
  const state = await deps.jobs.noteReconciled(tenantId, jobId, { ...counts, settled });
  deps.logger.warn(
    { jobId, tenantId, ...counts, state },
    'retro job had stopped making progress: reconciled',
  );
  return 'reconciled';
}

/** One listing page: the matching objects with no outcome credited yet, submitted again. */
async function reconcilePage(
  deps: ReconcileDeps,
  tenantId: string,
  jobId: string,
  items: ObjectScanSubmission[],
  counts: PassCounts,
): Promise<void> {
  const credited = await deps.jobs.credited(tenantId, jobId, items);
  const missing = items.filter((_, index) => !credited[index]);
  if (missing.length === 0) return;
  const again: ObjectScanSubmission[] = [];
  const outcomes = await deps.objectScans.submit(tenantId, missing);
  for (const [index, outcome] of outcomes.entries()) {
    const item = missing[index]!;
    const settled = await settledOutcome(deps, tenantId, item, outcome, counts);
    if (settled === 'submit again') again.push(item);
    else if (settled) {
      await deps.jobs.credit(tenantId, jobId, item, settled);
      counts.credited += 1;
    }
  }
  if (again.length > 0) {
    const retried = await deps.objectScans.submit(tenantId, again);
    counts.resubmitted += retried.filter((outcome) => outcome.status === 'queued').length;
    counts.inFlight += retried.filter((outcome) => outcome.status === 'duplicate').length;
  }
}

/**
 * What one submission found: queued (counted; its outcome comes when it settles), a version
 * claimed by a scan that is running (in flight), settled (its outcome, to credit now), or lost
 * (its claim given back: submit again). Skipped objects were never counted as matched.
 */
async function settledOutcome(
  deps: ReconcileDeps,
  tenantId: string,
  item: ObjectScanSubmission,
  outcome: SubmitOutcome,
  counts: PassCounts,
): Promise<ObjectOutcome | 'submit again' | undefined> {
  if (outcome.status === 'queued') {
    counts.resubmitted += 1;
    return undefined;
  }
  if (outcome.status === 'skipped') return undefined;
  const holder = await deps.objectScans.claimHolder(tenantId, item, outcome.scanId);
  if (holder.state === 'running') {
    counts.inFlight += 1;
    return undefined;
  }
  return holder.state === 'settled' ? holder.outcome : 'submit again';
}

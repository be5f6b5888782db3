import {
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ArbiterError, CrawlError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { BucketStore } from '../bucket-store.js';
import type { AwsClients } from '../clients.js';
import type { ObjectScanSubmission, ObjectScanSubmitter } from '../object-scans.js';
import type { CrawlCursor, RetroJobStore } from './jobs.js';

/**
 * The crawl of one retro job, run by the BullMQ `crawl` job of the retro queue (worker/retro-processor.ts).
 *
 * Page by page (ListObjectsV2, MaxKeys = ARBITER_RETRO_PAGE_SIZE, 1,000 by default), bucket by
 * bucket: keep the objects whose LastModified is within [from, to] and that are not folder
 * markers, submit them in one bulk call (ObjectScanSubmitter.submit), then checkpoint — the
 * continuation token and the counters in one atomic write (RetroJobStore.checkpoint). The next
 * page is listed while the current one is submitted; at most two pages are held in memory,
 * however large the bucket.
 *
 * A crawler that dies (SIGKILL, OOM, lost host) leaves its BullMQ job active with a lock that
 * lapses; BullMQ's stalled-job check puts it back and another worker runs it again, starting from
 * the checkpoint: pages checkpointed before the crash are not listed or submitted again. The one
 * page being submitted when it died is submitted a second time: objects still being scanned come
 * back `duplicate` (and their outcome is still credited to the job), finished ones are scanned
 * again, and outcomes are counted once per object either way.
 */

export interface CrawlerDeps {
  jobs: RetroJobStore;
  buckets: BucketStore;
  clients: AwsClients;
  objectScans: ObjectScanSubmitter;
  pageSize: number;
  logger: Logger;
}

export type CrawlEnd =
  /** Every page is submitted (the job is `scanning` or `completed`). */
  | 'finished'
  /** The job was cancelled (or had ended otherwise) before the crawl finished. */
  | 'stopped'
  /** The checkpoint moved under us (another crawler took over) or the job is gone. */
  | 'superseded'
  /** `signal` was aborted (shutdown): the job should be handed back to the queue. */
  | 'interrupted';

/**
 * A crawl's failure that retrying will not cure (a bucket no longer registered, a listing the
 * store refuses for good): the retro job fails at once with its message. The retro processor
 * reads `retryable` of whatever the crawl threw (core/errors.ts `isRetryable`).
 */
const finalCrawlError = (message: string, cause?: unknown) =>
  new CrawlError(message, { retryable: false, cause });

export async function crawl(
  deps: CrawlerDeps,
  tenantId: string,
  jobId: string,
  signal?: AbortSignal,
): Promise<CrawlEnd> {
  const job = await deps.jobs.get(tenantId, jobId);
  if (!job) return 'superseded';
  if (job.state !== 'crawling') return job.crawlDone ? 'finished' : 'stopped';
  await deps.jobs.markStarted(tenantId, jobId);
  const from = Date.parse(job.from);
  const to = Date.parse(job.to);
  let cursor: CrawlCursor = job.cursor;
  if (cursor.page > 0) {
    deps.logger.info(
      { jobId, page: cursor.page, bucket: cursor.bucket },
      'resuming a retro crawl from its checkpoint',
    );
  }

  // The next page of the same bucket is asked for while this one is being submitted (the store
  // and Redis work at the same time); at most two pages are in memory.
  let prefetched: { page: number; listing: Promise<ListObjectsV2CommandOutput> } | undefined;
  while (cursor.bucket < job.buckets.length) {
    if (signal?.aborted) return 'interrupted';
    const spec = job.buckets[cursor.bucket]!;
    const bucket = await deps.buckets.get(tenantId, spec.name);
    if (!bucket) {
      throw finalCrawlError(
        `the bucket "${spec.name}" is no longer registered (it was deleted after the job was created)`,
      );
    }
    const s3 = deps.clients.s3(bucket);
    const listStarted = performance.now();
    const listing =
      prefetched?.page === cursor.page
        ? await prefetched.listing
        : await listPage(s3, spec, cursor, deps.pageSize);
    prefetched = undefined;
    const listMs = performance.now() - listStarted;

    const items = matchingObjects(listing, spec.name, { from, to }, jobId);
    const listed = listing.Contents?.length ?? 0;
    const lastKey = listing.Contents?.at(-1)?.Key ?? cursor.after;
    const more = listing.IsTruncated === true;
    if (more && !listing.NextContinuationToken) {
      throw finalCrawlError(
        `the listing of "${spec.name}" is truncated but has no NextContinuationToken (is ListObjectsV2 supported by this store?)`,
      );
    }
    const next: CrawlCursor = more
      ? {
          page: cursor.page + 1,
          bucket: cursor.bucket,
          token: listing.NextContinuationToken ?? '',
          after: lastKey,
        }
      : { page: cursor.page + 1, bucket: cursor.bucket + 1, token: '', after: '' };
    const done = next.bucket >= job.buckets.length;
    if (more) {
      const ahead = listPage(s3, spec, next, deps.pageSize);
      ahead.catch(() => undefined); // awaited (and its error seen) on the next turn, if any
      prefetched = { page: next.page, listing: ahead };
    }

    // Cancelled meanwhile: submit nothing more. (A cancel landing during the submission below
    // still lets this one page through; its scans are counted like any queued before.)
    const state = await deps.jobs.state(tenantId, jobId);
    if (state !== 'crawling') return state === undefined ? 'superseded' : 'stopped';

    let skipped = 0;
    const submitStarted = performance.now();
    await deps.jobs.notePageSubmission(tenantId, jobId, cursor.page);
    if (items.length > 0) {
      const outcomes = await deps.objectScans.submit(tenantId, items);
      skipped = outcomes.filter((outcome) => outcome.status === 'skipped').length;
    }
    const recorded = await deps.jobs.checkpoint(
      tenantId,
      jobId,
      cursor.page,
      next,
      { listed, matched: items.length - skipped, skipped },
      done,
    );
    deps.logger.debug(
      {
        jobId,
        page: cursor.page,
        listed,
        submitted: items.length,
        skipped,
        listMs: Math.round(listMs),
        submitMs: Math.round(performance.now() - submitStarted),
      },
      'retro page submitted',
    );
    if (!recorded.ok) {
      deps.logger.warn(
        { jobId, page: cursor.page, reason: recorded.reason },
        'retro crawl superseded: its checkpoint moved (another crawler took over) or the job is gone',
      );
      return 'superseded';
    }
    if (recorded.state !== 'crawling' && !done) return 'stopped';
    cursor = next;
  }
  return 'finished';
}

/**
 * The objects of a listing page a job scans: within its [from, to] window (by LastModified), not
 * folder markers; as submissions on behalf of the job.
 */
export function matchingObjects(
  listing: ListObjectsV2CommandOutput,
  bucket: string,
  window: { from: number; to: number },
  jobId: string,
): ObjectScanSubmission[] {
  const items: ObjectScanSubmission[] = [];
  for (const object of listing.Contents ?? []) {
    const key = object.Key;
    if (key === undefined) continue;
    const size = object.Size ?? 0;
    if (key.endsWith('/') && size === 0) continue; // a folder marker
    const modified = object.LastModified?.getTime();
    if (modified === undefined || modified < window.from || modified > window.to) continue;
    const item: ObjectScanSubmission = { bucket, key, size, origin: 'retro', retroJobId: jobId };
    if (object.ETag) item.eTag = object.ETag;
    items.push(item);
  }
  return items;
}

/** One ListObjectsV2 page at `cursor` (its token, else StartAfter its last key). */
export async function listPage(
  s3: S3Client,
  spec: { name: string; prefix: string },
  cursor: CrawlCursor,
  pageSize: number,
): Promise<ListObjectsV2CommandOutput> {
  const base = {
    Bucket: spec.name,
    MaxKeys: pageSize,
    ...(spec.prefix ? { Prefix: spec.prefix } : {}),
  };
  try {
    return await s3.send(
      new ListObjectsV2Command({
        ...base,
        ...(cursor.token ? { ContinuationToken: cursor.token } : {}),
      }),
    );
  } catch (error) {
    // A store that no longer accepts the checkpointed token (restarted, or tokens that expire)
    // can still be asked for the keys after the last one submitted.
    if (cursor.token && cursor.after && httpStatus(error) === 400) {
      return s3.send(new ListObjectsV2Command({ ...base, StartAfter: cursor.after }));
    }
    throw classify(error, spec.name);
  }
}

const httpStatus = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Errors the store answers for good (no bucket, access denied, bad credentials) fail the job. */
function classify(error: unknown, bucket: string): unknown {
  if (error instanceof ArbiterError) return error;
  const status = httpStatus(error);
  const name = (error as { name?: string }).name ?? 'Error';
  if (status !== undefined && [301, 400, 403, 404].includes(status)) {
    return finalCrawlError(
      `listing "${bucket}" failed: ${name} (HTTP ${status}): ${(error as Error).message}`,
      error,
    );
  }
  return error;
}

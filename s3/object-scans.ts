import { createHash } from 'node:crypto';
import { newId } from '../core/ids.js';
import type { RedisKeys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import type { LuaPipeline, Redis } from '../core/redis.js';
import type { ObjectAction, ObjectOutcome, ObjectRef, ScanResult } from '../scans/results.js';
import { objectRef, objectRequest, type ObjectScanFields } from '../scans/request.js';
import type { ScanIntake, ScanService } from '../scans/service.js';
import type { BucketRecord } from './bucket-schema.js';
import type { BucketStore } from './bucket-store.js';
import { outcomeOf } from './tags.js';

/**
 * Scanning objects of registered buckets: submitting them (one at a time or in bulk), keeping
 * one object version from being scanned twice at once, and telling interested parties how each
 * scan ended. S3 events (SQS and `POST /v1/events/s3`), the API (`scanExistingObject`) and retro
 * jobs all come in through here.
 *
 * ## For retro jobs (and anything else that submits objects in bulk)
 *
 * ```ts
 * const outcomes = await runtime.s3.objectScans.submit(tenantId, [
 *   { bucket: 'uploads', key: 'a/b.pdf', versionId, eTag, size, origin: 'retro', retroJobId },
 *   …up to a ListObjectsV2 page at a time…
 * ]);
 * // outcomes[i]: { status: 'queued', scanId } | { status: 'duplicate', scanId } | { status: 'skipped', reason }
 *
 * runtime.s3.objectScans.addOutcomeListener({
 *   async onObjectOutcome(event) {
 *     // event.retroJobIds: the retro jobs waiting for this scan (the submitter's, plus any whose
 *     // submission found the version already being scanned: a 'duplicate' with a retroJobId
 *     // still gets its outcome). event.outcome: 'clean' | 'infected' | 'unscannable' | 'error'.
 *   },
 * });
 * ```
 *
 * - `submit` (ObjectScanSubmitter) throws a 404 DomainError when a bucket is not registered to
 *   the tenant, and a 503 when Redis cannot take the jobs (nothing is half-accepted: leases
 *   taken for the failed batch are released). One call costs a handful of Redis round trips
 *   whatever its size (pipelined leases, one MULTI for the records, one BullMQ addBulk).
 * - `skipped`: a folder marker, or a key under the bucket's own quarantine/production prefix
 *   (scanning those would loop). Skipped objects get no outcome.
 * - Listeners (ObjectOutcomeListener) are called in the worker that finished the scan, after the
 *   result is stored and the callback queued, **at least once** per scan (again if a worker dies
 *   between storing and notifying and the job is retried): count by `scanId` to stay exact.
 *   A listener that throws is logged and does not fail the scan; keep listeners short (a few
 *   Redis commands).
 */

export type ObjectScanOrigin = 'event' | 'api' | 'retro' | 'rescan';

export interface ObjectScanSubmission extends ObjectRef {
  origin: ObjectScanOrigin;
  /** For origin `retro`: the job to credit with the outcome. */
  retroJobId?: string;
  /** For origin `event`: the S3 event name, for the trace. */
  eventName?: string;
  metadata?: Record<string, string>;
  /** For origin `api`: the API key that asked, whose detection categories apply. */
  keyId?: string;
}

export type SubmitOutcome =
  | { status: 'queued'; scanId: string }
  /** The same object version is being scanned already (by `scanId`); no second scan was queued. */
  | { status: 'duplicate'; scanId: string }
  | { status: 'skipped'; reason: string };

export interface ObjectScanSubmitter {
  submit(tenantId: string, items: ObjectScanSubmission[]): Promise<SubmitOutcome[]>;
}

export interface ObjectOutcomeEvent {
  tenantId: string;
  scanId: string;
  object: { bucket: string; key: string; versionId: string | null };
  outcome: ObjectOutcome;
  action: ObjectAction;
  origin: ObjectScanOrigin;
  /** Retro jobs to credit: the submitting job and any that submitted the version while it ran. */
  retroJobIds: string[];
  /** The stored result; undefined when the scan was deleted before it finished. */
  result: ScanResult | undefined;
}

export interface ObjectOutcomeListener {
  onObjectOutcome(event: ObjectOutcomeEvent): Promise<void> | void;
}

/** How long a submitted object version stays claimed if its scan never reports back. */
export const OBJECT_LEASE_MS = 60 * 60_000;

/**
 * One lease per object version (Redis SET NX, expiring), keyed by tenant, bucket, key and
 * version: the version id, or for unversioned objects the ETag from the event when there is one.
 */
export class ObjectLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlMs = OBJECT_LEASE_MS,
  ) {}

  leaseKey(tenantId: string, ref: ObjectRef): string {
    const version = ref.versionId ? `v:${ref.versionId}` : ref.eTag ? `e:${ref.eTag}` : 'null';
    const digest = createHash('sha256')
      .update(`${ref.bucket}\0${ref.key}\0${version}`)
      .digest('hex')
      .slice(0, 40);
    return this.keys.objectLease(tenantId, digest);
  }

  /** Tries to claim many versions in one round trip. */
  async acquireMany(
    tenantId: string,
    claims: Array<{ ref: ObjectRef; scanId: string; retroJobId?: string }>,
  ): Promise<Array<{ acquired: boolean; holder: string }>> {
    if (claims.length === 0) return [];
    const watchersPrefix = this.keys.objectWatchers(tenantId, '');
    const pipeline = this.redis.pipeline() as LuaPipeline;
    for (const claim of claims) {
      pipeline.objectLeaseAcquire(
        1,
        this.leaseKey(tenantId, claim.ref),
        claim.scanId,
        this.ttlMs,
        claim.retroJobId ?? '',
        watchersPrefix,
      );
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error) throw error;
      const [acquired, holder] = reply as [number, string];
      return { acquired: acquired === 1, holder };
    });
  }

  async refresh(tenantId: string, ref: ObjectRef, scanId: string): Promise<void> {
    await this.redis.objectLeaseRefresh(1, this.leaseKey(tenantId, ref), scanId, this.ttlMs);
  }

  /** Releases the lease (if still held by `scanId`); returns the retro jobs waiting for it. */
  async release(tenantId: string, ref: ObjectRef, scanId: string): Promise<string[]> {
    return (await this.redis.objectLeaseRelease(
      2,
      this.leaseKey(tenantId, ref),
      this.keys.objectWatchers(tenantId, scanId),
      scanId,
    )) as string[];
  }
}

/** The registered outcome listeners, called by the object stage when a scan has settled. */
export class ObjectOutcomes {
  private readonly listeners = new Set<ObjectOutcomeListener>();

  constructor(private readonly logger: Logger) {}

  add(listener: ObjectOutcomeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async emit(event: ObjectOutcomeEvent): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener.onObjectOutcome(event);
      } catch (error) {
        this.logger.error(
          { err: error, scanId: event.scanId },
          'an object outcome listener failed',
        );
      }
    }
  }
}

export type ClaimHolder =
  { state: 'running' } | { state: 'settled'; outcome: ObjectOutcome } | { state: 'lost' };

export interface ObjectScanDeps {
  buckets: BucketStore;
  /** Accepts the scans (and runs those of `scanExistingObject` in the calling process). */
  scanning: ScanService;
  leases: ObjectLeases;
  outcomes: ObjectOutcomes;
}

export interface ExistingObjectScan {
  scanId: string;
  /** True when the version was already being scanned: `result` is that scan's. */
  duplicate: boolean;
  /** Undefined when a duplicate's scan did not finish within the wait. */
  result: ScanResult | undefined;
}

export const describeObject = (ref: {
  bucket: string;
  key: string;
  versionId?: string | null;
}): string => `s3://${ref.bucket}/${ref.key}${ref.versionId ? ` (version ${ref.versionId})` : ''}`;

export class ObjectScanService implements ObjectScanSubmitter {
  constructor(private readonly deps: ObjectScanDeps) {}

  addOutcomeListener(listener: ObjectOutcomeListener): () => void {
    return this.deps.outcomes.add(listener);
  }

  /**
   * Claims an object version for a scan the caller creates and queues itself (a rescan, which
   * names its scans): true when `scanId` holds the lease now (taken, or already its own), false
   * when another scan of the version is running. The object stage releases it when the scan ends.
   */
  async claim(tenantId: string, ref: ObjectRef, scanId: string): Promise<boolean> {
    const [lease] = await this.deps.leases.acquireMany(tenantId, [{ ref: objectRef(ref), scanId }]);
    return lease !== undefined && (lease.acquired || lease.holder === scanId);
  }

  /** Gives back a claim whose scan will not run (e.g. a cancelled rescan dropped it). */
  async releaseClaim(tenantId: string, ref: ObjectRef, scanId: string): Promise<void> {
    await this.deps.leases.release(tenantId, objectRef(ref), scanId);
  }

  /**
   * What became of the scan holding a version's claim (a retro job's reconcile pass asks, for a
   * version still claimed long after it was submitted). `running`: it is still pending, and will
   * credit the job's outcome when it settles. `settled`: it has a result, so the claim outlived
   * its scan (the release was lost, say with a Redis primary that failed over): the claim is
   * given back and the outcome returned. `lost`: no result will ever come (the scan is gone, or
   * was deleted): the claim is given back so the version can be submitted again.
   */
  async claimHolder(tenantId: string, ref: ObjectRef, holder: string): Promise<ClaimHolder> {
    const record = await this.deps.scanning.store.get(tenantId, holder);
    if (record?.state === 'pending') return { state: 'running' };
    await this.releaseClaim(tenantId, ref, holder);
    if (record?.state !== 'done' || !record.result) return { state: 'lost' };
    return { state: 'settled', outcome: record.result.outcome ?? outcomeOf(record.result) };
  }

  async submit(tenantId: string, items: ObjectScanSubmission[]): Promise<SubmitOutcome[]> {
    const buckets = new Map<string, BucketRecord>();
    for (const name of new Set(items.map((item) => item.bucket))) {
      buckets.set(name, await this.deps.buckets.require(tenantId, name));
    }
    const outcomes: SubmitOutcome[] = new Array<SubmitOutcome>(items.length);
    const claims: Array<{ index: number; ref: ObjectRef; scanId: string; retroJobId?: string }> =
      [];
    for (const [index, item] of items.entries()) {
      const reason = skipReason(buckets.get(item.bucket)!, item);
      if (reason) outcomes[index] = { status: 'skipped', reason };
      else
        claims.push({
          index,
          ref: objectRef(item),
          scanId: newId(),
          ...(item.retroJobId ? { retroJobId: item.retroJobId } : {}),
        });
    }

    const leases = await this.deps.leases.acquireMany(tenantId, claims);
    const accepted: ScanIntake[] = [];
    const duplicates: Array<{ holder: string; item: ObjectScanSubmission }> = [];
    for (const [i, claim] of claims.entries()) {
      const lease = leases[i]!;
      const item = items[claim.index]!;
      if (!lease.acquired) {
        outcomes[claim.index] = { status: 'duplicate', scanId: lease.holder };
        duplicates.push({ holder: lease.holder, item });
        continue;
      }
      const request = objectRequest(
        tenantId,
        claim.scanId,
        objectFields(buckets.get(item.bucket)!, item),
      );
      accepted.push({ request, received: receivedMessage(item) });
      outcomes[claim.index] = { status: 'queued', scanId: claim.scanId };
    }

    try {
      await this.deps.scanning.submitMany(accepted);
    } catch (error) {
      // The scans were not accepted (submitMany removed their records): free their versions.
      await Promise.allSettled(
        accepted.map(({ request }) =>
          this.deps.leases.release(tenantId, request.object!, request.id),
        ),
      );
      throw error;
    }
    // Best effort: the running scan's trace says a duplicate arrived (nothing depends on it).
    await Promise.allSettled(
      duplicates.map(({ holder, item }) =>
        this.deps.scanning.store.appendTrace(
          tenantId,
          holder,
          `${item.origin === 'retro' ? `retro job ${item.retroJobId ?? ''}` : item.origin === 'event' ? `another event (${item.eventName ?? 'S3'})` : 'another request'} for this object version arrived while it was being scanned: not scanned twice`,
        ),
      ),
    );
    return outcomes;
  }

  /**
   * Scans one object of a registered bucket now, in this process, and returns the stored result
   * (for `POST /api/Scan/Existing` and the like). The bucket's actions and callback apply as for
   * an event. If the version is already being scanned, waits up to `waitMs` for that scan's
   * result instead of scanning it twice.
   */
  async scanExistingObject(
    tenantId: string,
    bucket: string,
    key: string,
    versionId?: string,
    options: { waitMs?: number; metadata?: Record<string, string>; keyId?: string } = {},
  ): Promise<ExistingObjectScan> {
    const record = await this.deps.buckets.require(tenantId, bucket);
    const item: ObjectScanSubmission = {
      bucket,
      key,
      origin: 'api',
      ...(versionId ? { versionId } : {}),
    };
    if (options.metadata) item.metadata = options.metadata;
    if (options.keyId) item.keyId = options.keyId;
    const ref = objectRef(item);
    const scanId = newId();
    const [lease] = await this.deps.leases.acquireMany(tenantId, [{ ref, scanId }]);
    if (!lease?.acquired) {
      const holder = lease?.holder ?? '';
      return {
        scanId: holder,
        duplicate: true,
        result: await this.waitForResult(tenantId, holder, options.waitMs ?? 60_000),
      };
    }
    const request = objectRequest(tenantId, scanId, objectFields(record, item));
    try {
      const result = await this.deps.scanning.runNow({ request, received: receivedMessage(item) });
      return { scanId, duplicate: false, result };
    } catch (error) {
      await this.deps.leases.release(tenantId, ref, scanId).catch(() => undefined);
      throw error;
    }
  }

  private async waitForResult(
    tenantId: string,
    scanId: string,
    waitMs: number,
  ): Promise<ScanResult | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const record = await this.deps.scanning.store.get(tenantId, scanId);
      if (!record || record.state !== 'pending') return record?.result;
      if (Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** What the scan of `item` records: the object, who asked, and the bucket's callback. */
function objectFields(bucket: BucketRecord, item: ObjectScanSubmission): ObjectScanFields {
  return {
    object: item,
    origin: item.origin,
    callback: bucket.callback,
    metadata: item.metadata,
    retroJobId: item.retroJobId,
    keyId: item.keyId,
  };
}

function receivedMessage(item: ObjectScanSubmission): string {
  const where = describeObject(item);
  switch (item.origin) {
    case 'event':
      return `S3 event ${item.eventName ?? 'ObjectCreated'} received for ${where}`;
    case 'retro':
      return `retro job ${item.retroJobId ?? ''} submitted ${where}`;
    default:
      return `scan of ${where} requested`;
  }
}

/** Objects that must not be scanned: folder markers, and this bucket's own destinations. */
function skipReason(bucket: BucketRecord, item: ObjectRef): string | undefined {
  if (item.key.endsWith('/') && item.size === 0)
    return 'folder marker (key ending in "/" with no content)';
  const { quarantine, production } = bucket.actions;
  if (quarantine && quarantine.bucket === bucket.name && item.key.startsWith(quarantine.prefix)) {
    return `the key is under this bucket's quarantine prefix "${quarantine.prefix}"`;
  }
  if (production && production.bucket === bucket.name && item.key.startsWith(production.prefix)) {
    return `the key is under this bucket's production prefix "${production.prefix}"`;
  }
  return undefined;
}

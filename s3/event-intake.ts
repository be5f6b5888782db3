import { badRequest, notFound } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { BucketStatusStore } from './bucket-status.js';
import type { BucketStore } from './bucket-store.js';
import { parseEventMessage, type EventShape } from './events.js';
import type { ObjectScanSubmitter, SubmitOutcome } from './object-scans.js';

/**
 * One S3 notification message (an SQS message body, or the body of `POST /v1/events/s3`) of a
 * tenant: parsed in whatever shape it came (see events.ts), checked against the tenant's
 * registered buckets, and its objects submitted for scanning.
 *
 * A message that cannot be parsed is a 400 DomainError, one naming a bucket the tenant has not
 * registered a 404; in both cases nothing of the message is submitted (the SQS poller leaves
 * such a message in the queue, where the queue's redrive policy moves it to the dead-letter
 * queue after maxReceiveCount receives).
 */
export interface IntakeReport {
  shape: EventShape;
  queued: IntakeItem[];
  /** Already being scanned (same object version): not scanned twice. */
  duplicates: IntakeItem[];
  skipped: Array<{ bucket?: string; key?: string; reason: string }>;
}

export interface IntakeItem {
  id: string;
  bucket: string;
  key: string;
  versionId: string | null;
}

export class EventIntake {
  constructor(
    private readonly buckets: Pick<BucketStore, 'get'>,
    private readonly submitter: ObjectScanSubmitter,
    /** Counts the records of each notification read, and those skipped (core/metrics.ts). */
    private readonly metrics?: Pick<Metrics, 's3Events'>,
    /** Keeps each bucket's last event time (the console's bucket view). */
    private readonly status?: Pick<BucketStatusStore, 'recordEvent'>,
  ) {}

  async accept(tenantId: string, body: unknown): Promise<IntakeReport> {
    const parsed = parseEventMessage(body);
    if (!parsed.ok) throw badRequest(`The event could not be read: ${parsed.error}.`);
    this.metrics?.s3Events(parsed.items.length, 0);
    const report: IntakeReport = { shape: parsed.shape, queued: [], duplicates: [], skipped: [] };
    const objects = parsed.items.flatMap((item) => {
      if (item.kind === 'skipped') {
        const skipped: IntakeReport['skipped'][number] = { reason: item.reason };
        if (item.bucket) skipped.bucket = item.bucket;
        if (item.key !== undefined) skipped.key = item.key;
        report.skipped.push(skipped);
        return [];
      }
      return [item.event];
    });
    const named = new Set(objects.map((event) => event.bucket));
    for (const name of named) {
      if (!(await this.buckets.get(tenantId, name))) {
        throw notFound(
          `The event names the bucket "${name.slice(0, 70)}", which is not registered to this account.`,
        );
      }
    }
    await this.status?.recordEvent(tenantId, named);
    if (objects.length === 0) return this.counted(report);
    const outcomes: SubmitOutcome[] = await this.submitter.submit(
      tenantId,
      objects.map((event) => ({
        bucket: event.bucket,
        key: event.key,
        origin: 'event' as const,
        eventName: event.eventName,
        ...(event.versionId ? { versionId: event.versionId } : {}),
        ...(event.eTag ? { eTag: event.eTag } : {}),
        ...(event.size !== undefined ? { size: event.size } : {}),
      })),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const event = objects[index]!;
      const base = { bucket: event.bucket, key: event.key, versionId: event.versionId ?? null };
      if (outcome.status === 'queued') report.queued.push({ id: outcome.scanId, ...base });
      else if (outcome.status === 'duplicate')
        report.duplicates.push({ id: outcome.scanId, ...base });
      else report.skipped.push({ bucket: event.bucket, key: event.key, reason: outcome.reason });
    }
    return this.counted(report);
  }

  private counted(report: IntakeReport): IntakeReport {
    this.metrics?.s3Events(0, report.skipped.length);
    return report;
  }
}

import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import type { ObjectOutcome } from '../scans/results.js';
import type { ObjectOutcomeEvent, ObjectOutcomeListener } from './object-scans.js';

/** A scan's outcome is counted once: listeners may run again for a retried job within this. */
const COUNTED_MARKER_SECONDS = 24 * 3600;

const OUTCOMES: readonly ObjectOutcome[] = ['clean', 'infected', 'unscannable', 'error'];

/** What `GET /v1/buckets/{name}/status` shows of one bucket. */
export interface BucketStatusView {
  /** Its SQS queue: whether a worker polls it now; null when the bucket has no queue. */
  polling: {
    active: boolean;
    last_poll_at: string | null;
    last_error: string | null;
    last_error_at: string | null;
  } | null;
  /** The last S3 event notification received for the bucket (SQS or POST /v1/events/s3). */
  last_event_at: string | null;
  /** Object scans of the bucket settled since it was registered, by outcome. */
  counts: Record<ObjectOutcome, number>;
}

interface PollRecord {
  last_poll_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

/**
 * The state of each registered bucket, written where it happens and read by the console: the
 * outcome counters (an ObjectOutcomeListener, in whichever process finishes the scan), the last
 * event time (the event intake), and the SQS poller's last poll (the worker's pollers). The poll
 * record expires `pollTtlSeconds` after it was written, so a poller that died shows as not polling.
 * Keys are in the tenant's slot; they go with the bucket (BucketStore.delete) and the tenant.
 */
export class BucketStatusStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Counts each settled object scan in its bucket's counters (registered in cli/runtime.ts). */
  readonly outcomeListener: ObjectOutcomeListener = {
    onObjectOutcome: async (event: ObjectOutcomeEvent) => {
      await this.redis.bucketOutcomeCount(
        3,
        this.keys.bucket(event.tenantId, event.object.bucket),
        this.keys.bucketStatus(event.tenantId, event.object.bucket),
        this.keys.bucketCounted(event.tenantId, event.scanId),
        event.outcome,
        COUNTED_MARKER_SECONDS,
      );
    },
  };

  /** An event notification named these buckets (all registered to the tenant). */
  async recordEvent(tenantId: string, buckets: Iterable<string>): Promise<void> {
    const at = this.now().toISOString();
    await Promise.all(
      [...buckets].map((name) =>
        this.redis.hset(this.keys.bucketStatus(tenantId, name), 'last_event_at', at),
      ),
    );
  }

  /** A poller's receive on the queue of these buckets ended: `error` when it failed. */
  async recordPoll(
    tenantId: string,
    buckets: readonly string[],
    ttlSeconds: number,
    error?: string,
  ): Promise<void> {
    const at = this.now().toISOString();
    await Promise.all(
      buckets.map(async (name) => {
        const key = this.keys.bucketPoll(tenantId, name);
        const previous = parsePoll(await this.redis.get(key));
        const record: PollRecord = error
          ? { ...previous, last_error: error.slice(0, 500), last_error_at: at }
          : { ...previous, last_poll_at: at };
        await this.redis.set(key, JSON.stringify(record), 'EX', Math.max(1, Math.ceil(ttlSeconds)));
      }),
    );
  }

  async view(tenantId: string, name: string, hasQueue: boolean): Promise<BucketStatusView> {
    const [status, poll] = await Promise.all([
      this.redis.hgetall(this.keys.bucketStatus(tenantId, name)),
      hasQueue ? this.redis.get(this.keys.bucketPoll(tenantId, name)) : Promise.resolve(null),
    ]);
    const counts = Object.fromEntries(
      OUTCOMES.map((outcome) => [outcome, Number(status[outcome] ?? 0)]),
    ) as Record<ObjectOutcome, number>;
    const record = poll === null ? undefined : parsePoll(poll);
    return {
      polling: hasQueue
        ? {
            // Only a successful receive within the TTL counts: a poller failing every receive is
            // alive but not polling its queue.
            active: record !== undefined && record.last_poll_at !== null && !failingSince(record),
            last_poll_at: record?.last_poll_at ?? null,
            last_error: record?.last_error ?? null,
            last_error_at: record?.last_error_at ?? null,
          }
        : null,
      last_event_at: status.last_event_at ?? null,
      counts,
    };
  }
}

/** The last receive failed (its error is newer than the last success). */
function failingSince(record: PollRecord): boolean {
  return (
    record.last_error_at !== null &&
    (record.last_poll_at === null || record.last_error_at > record.last_poll_at)
  );
}

function parsePoll(raw: string | null): PollRecord {
  const empty: PollRecord = { last_poll_at: null, last_error: null, last_error_at: null };
  if (!raw) return empty;
  try {
    return { ...empty, ...(JSON.parse(raw) as Partial<PollRecord>) };
  } catch {
    return empty;
  }
}

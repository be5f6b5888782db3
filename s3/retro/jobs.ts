import { createHash } from 'node:crypto';
import type { RedisKeys } from '../../core/keys.js';
import type { Redis } from '../../core/redis.js';
import type { ObjectOutcome } from '../../scans/results.js';
import type { RetroBucket, RetroCounters, RetroJobState, RetroJobView } from './schema.js';

/**
 * Retro jobs in Redis: one HASH per job holds its definition, state, counters and the crawl
 * checkpoint, so that "this page is submitted" and "the counters include it" are one atomic
 * write (the CHECKPOINT script). Outcomes are credited at most once per object per job through a
 * second HASH (HSETNX on a digest of bucket and key): outcome listeners are called at least once
 * per scan, and a page resubmitted after a crash may scan an object a second time.
 *
 * States: `crawling` (listing and submitting) → `scanning` (every page submitted, outcomes still
 * arriving) → `completed` (as many outcomes as matched objects); `failed` (the crawl could not
 * go on) and `cancelled` (POST /v1/jobs/{id}/cancel) end it early. A job that has ended is kept
 * for `ttlSeconds` (ARBITER_RESULT_TTL).
 */

export interface CrawlCursor {
  /** Pages submitted so far (over all buckets): the number of the next page. */
  page: number;
  /** Index in `buckets` of the bucket being listed. */
  bucket: number;
  /** ListObjectsV2 continuation token of the next page of that bucket ('' = its first page). */
  token: string;
  /** The last key of the last submitted page (StartAfter, should a token be refused). */
  after: string;
}

export interface RetroJobRecord {
  id: string;
  tenantId: string;
  state: RetroJobState;
  buckets: RetroBucket[];
  from: string;
  to: string;
  counters: RetroCounters;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  scheduleId: string | null;
  error: string | null;
  cursor: CrawlCursor;
  crawlDone: boolean;
  /**
   * The last time the job moved on: created, a page checkpointed, an outcome credited, a
   * reconcile pass ended. The stall audit (s3/retro/stall-audit.ts) looks at jobs still open long
   * after it.
   */
  progressAt: string;
  /** Reconcile passes run, and objects they submitted again or credited (s3/retro/reconcile.ts). */
  reconciliations: number;
  reconciledObjects: number;
}

export type CheckpointResult =
  /** Recorded; the job's state after it. */
  | { ok: true; state: RetroJobState }
  /** Not recorded: another crawler already moved past this page, or the job is gone. */
  | { ok: false; reason: 'moved' | 'gone' };

const COUNTER_FIELDS = [
  'listed',
  'matched',
  'scanned',
  'clean',
  'infected',
  'unscannable',
  'errors',
  'skipped',
] as const;

/** The counter an outcome adds to. */
export const OUTCOME_COUNTER: Record<ObjectOutcome, keyof RetroCounters> = {
  clean: 'clean',
  infected: 'infected',
  unscannable: 'unscannable',
  error: 'errors',
};

/** EVAL's arguments after the script: the number of keys, the keys, then the arguments. */
const keysThenArgs = (
  keys: string[],
  args: Array<string | number>,
): [number, ...Array<string | number>] => [keys.length, ...keys, ...args];

/** A digest naming an object within a job (ListObjectsV2 lists each key once per bucket). */
export const objectDigest = (bucket: string, key: string): string =>
  createHash('sha256').update(`${bucket}\0${key}`).digest('base64url').slice(0, 22);

export class RetroJobStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private jobKeys(tenantId: string, jobId: string): string[] {
    return [
      this.keys.retroJob(tenantId, jobId),
      this.keys.retroCredited(tenantId, jobId),
      this.keys.retroPages(tenantId, jobId),
    ];
  }

  /** A new job, state `crawling`, with its crawl at the first page of its first bucket. */
  async create(
    tenantId: string,
    id: string,
    definition: { buckets: RetroBucket[]; from: string; to: string; scheduleId?: string },
  ): Promise<RetroJobRecord> {
    const created = this.now();
    const key = this.keys.retroJob(tenantId, id);
    await this.redis
      .multi()
      .hset(key, this.initialFields(tenantId, id, created, definition))
      .zadd(this.keys.tenantRetroJobs(tenantId), created.getTime(), id)
      .exec();
    return (await this.get(tenantId, id))!;
  }

  /**
   * The job of one schedule firing, created only once (a retried firing finds it). The window of
   * `since-last-run` starts at the previous firing's `to`; the schedule's last run moves forward.
   * Returns undefined when the schedule has been deleted meanwhile.
   */
  async createForSchedule(
    tenantId: string,
    id: string,
    schedule: { id: string; buckets: RetroBucket[]; window: 'all' | 'since-last-run' },
    window: { from: string; to: string },
  ): Promise<{ job: RetroJobRecord; created: boolean } | undefined> {
    const created = this.now();
    const fields = this.initialFields(tenantId, id, created, {
      buckets: schedule.buckets,
      from: window.from,
      to: window.to,
      scheduleId: schedule.id,
    });
    delete fields.from;
    delete fields.to;
    const [jobKey, creditedKey, pagesKey] = this.jobKeys(tenantId, id);
    const reply = (await this.redis.retroJobCreateFromSchedule(
      ...keysThenArgs(
        [
          jobKey!,
          creditedKey!,
          pagesKey!,
          this.keys.tenantRetroJobs(tenantId),
          this.keys.schedule(tenantId, schedule.id),
        ],
        [
          id,
          created.getTime(),
          schedule.window,
          window.from,
          window.to,
          ...Object.entries(fields).flat(),
        ],
      ),
    )) as number;
    if (reply === -1) return undefined;
    const job = await this.get(tenantId, id);
    return job ? { job, created: reply === 1 } : undefined;
  }

  private initialFields(
    tenantId: string,
    id: string,
    created: Date,
    definition: { buckets: RetroBucket[]; from: string; to: string; scheduleId?: string },
  ): Record<string, string> {
    const fields: Record<string, string> = {
      id,
      tenant_id: tenantId,
      state: 'crawling',
      buckets: JSON.stringify(definition.buckets),
      from: definition.from,
      to: definition.to,
      created_at: created.toISOString(),
      cp_page: '0',
      cp_bucket: '0',
      cp_token: '',
      cp_after: '',
      progress_at: created.toISOString(),
    };
    for (const field of COUNTER_FIELDS) fields[field] = '0';
    if (definition.scheduleId) fields.schedule_id = definition.scheduleId;
    return fields;
  }

  /** Forgets a job that could not be queued (POST /v1/jobs answers 503 then). */
  async discard(tenantId: string, id: string): Promise<void> {
    await this.redis
      .multi()
      .del(...this.jobKeys(tenantId, id))
      .zrem(this.keys.tenantRetroJobs(tenantId), id)
      .exec();
  }

  async get(tenantId: string, id: string): Promise<RetroJobRecord | undefined> {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
    return toRecord(await this.redis.hgetall(this.keys.retroJob(tenantId, id)));
  }

  async state(tenantId: string, id: string): Promise<RetroJobState | undefined> {
    return ((await this.redis.hget(this.keys.retroJob(tenantId, id), 'state')) ?? undefined) as
      RetroJobState | undefined;
  }

  /** Newest first; ids whose job has expired are dropped from the index on the way. */
  async list(tenantId: string, limit: number): Promise<RetroJobRecord[]> {
    const index = this.keys.tenantRetroJobs(tenantId);
    const ids = await this.redis.zrevrange(index, 0, limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.retroJob(tenantId, id));
    const replies = (await pipeline.exec()) ?? [];
    const records: RetroJobRecord[] = [];
    const gone: string[] = [];
    replies.forEach(([error, raw], i) => {
      if (error) throw error;
      const record = toRecord(raw as Record<string, string>);
      if (record) records.push(record);
      else gone.push(ids[i]!);
    });
    if (gone.length > 0) await this.redis.zrem(index, ...gone);
    return records;
  }

  /** Sets started_at the first time a crawler picks the job up. */
  async markStarted(tenantId: string, id: string): Promise<void> {
    await this.redis.hsetnx(
      this.keys.retroJob(tenantId, id),
      'started_at',
      this.now().toISOString(),
    );
  }

  /** Counts a pass over listing page `page` (an audit trail: a resumed crawl shows here). */
  async notePageSubmission(tenantId: string, id: string, page: number): Promise<void> {
    await this.redis.hincrby(this.keys.retroPages(tenantId, id), String(page), 1);
  }

  /** Submission count per page number (tests and diagnostics). */
  async pageSubmissions(tenantId: string, id: string): Promise<Map<number, number>> {
    const raw = await this.redis.hgetall(this.keys.retroPages(tenantId, id));
    return new Map(Object.entries(raw).map(([page, count]) => [Number(page), Number(count)]));
  }

  /**
   * Records a submitted page: the counters it adds and where the crawl goes next, in one step,
   * provided the job's checkpoint is still at `page` (a crawler that lost its BullMQ lock while
   * another took over finds it moved and stops). `done` ends the crawl (state `scanning`, or
   * `completed` when every outcome is already in).
   */
  async checkpoint(
    tenantId: string,
    id: string,
    page: number,
    next: CrawlCursor,
    added: { listed: number; matched: number; skipped: number },
    done: boolean,
  ): Promise<CheckpointResult> {
    const reply = (await this.redis.retroJobCheckpoint(
      ...keysThenArgs(this.jobKeys(tenantId, id), [
        page,
        next.page,
        next.bucket,
        next.token,
        next.after,
        added.listed,
        added.matched,
        added.skipped,
        done ? '1' : '0',
        this.now().toISOString(),
        this.ttlSeconds,
      ]),
    )) as string;
    if (reply === 'gone' || reply === 'moved') return { ok: false, reason: reply };
    return { ok: true, state: reply as RetroJobState };
  }

  /** Counts an outcome for an object of the job once; true if it was counted now. */
  async credit(
    tenantId: string,
    id: string,
    object: { bucket: string; key: string },
    outcome: ObjectOutcome,
  ): Promise<boolean> {
    const reply = await this.redis.retroJobCredit(
      ...keysThenArgs(this.jobKeys(tenantId, id), [
        objectDigest(object.bucket, object.key),
        OUTCOME_COUNTER[outcome],
        this.now().toISOString(),
        this.ttlSeconds,
      ]),
    );
    return reply === 1;
  }

  /** How many jobs each tenant has (ended ones included, until they expire): one round trip. */
  async countJobs(tenantIds: string[]): Promise<number[]> {
    if (tenantIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const tenantId of tenantIds) pipeline.zcard(this.keys.tenantRetroJobs(tenantId));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, count]) => {
      if (error) throw error;
      return Number(count);
    });
  }

  /** For each object, whether the job has its outcome (credited once, see `credit`). */
  async credited(
    tenantId: string,
    id: string,
    objects: Array<{ bucket: string; key: string }>,
  ): Promise<boolean[]> {
    if (objects.length === 0) return [];
    const values = await this.redis.hmget(
      this.keys.retroCredited(tenantId, id),
      ...objects.map((object) => objectDigest(object.bucket, object.key)),
    );
    return values.map((value) => value !== null);
  }

  /**
   * Records the end of a reconcile pass (its counts, and a new `progress_at`, so the next pass
   * comes a whole stall period later). `settled`: every matched object still listed was found
   * credited, so the outcomes still missing belong to objects no listing shows any more; they
   * are counted as errors and the job completes. Returns the job's state afterwards.
   */
  async noteReconciled(
    tenantId: string,
    id: string,
    pass: { resubmitted: number; credited: number; settled: boolean },
  ): Promise<RetroJobState | undefined> {
    const reply = (await this.redis.retroJobNoteReconcile(
      ...keysThenArgs(this.jobKeys(tenantId, id), [
        pass.resubmitted,
        pass.credited,
        pass.settled ? '1' : '0',
        this.now().toISOString(),
        this.ttlSeconds,
      ]),
    )) as string | null;
    return (reply ?? undefined) as RetroJobState | undefined;
  }

  /** Ends a running job; returns the state it is in afterwards (undefined: no such job). */
  async end(
    tenantId: string,
    id: string,
    state: 'cancelled' | 'failed',
    error = '',
  ): Promise<RetroJobState | undefined> {
    const reply = (await this.redis.retroJobEnd(
      ...keysThenArgs(this.jobKeys(tenantId, id), [
        state,
        this.now().toISOString(),
        this.ttlSeconds,
        error.slice(0, 1000),
      ]),
    )) as string | null;
    return (reply ?? undefined) as RetroJobState | undefined;
  }
}

function toRecord(raw: Record<string, string>): RetroJobRecord | undefined {
  if (!raw.id || !raw.state || !raw.tenant_id) return undefined;
  const counters = Object.fromEntries(
    COUNTER_FIELDS.map((field) => [field, Number(raw[field] ?? 0)]),
  ) as unknown as RetroCounters;
  return {
    id: raw.id,
    tenantId: raw.tenant_id,
    state: raw.state as RetroJobState,
    buckets: JSON.parse(raw.buckets ?? '[]') as RetroBucket[],
    from: raw.from ?? '',
    to: raw.to ?? '',
    counters,
    createdAt: raw.created_at ?? '',
    startedAt: raw.started_at ?? null,
    finishedAt: raw.finished_at ?? null,
    scheduleId: raw.schedule_id ?? null,
    error: raw.error ?? null,
    cursor: {
      page: Number(raw.cp_page ?? 0),
      bucket: Number(raw.cp_bucket ?? 0),
      token: raw.cp_token ?? '',
      after: raw.cp_after ?? '',
    },
    crawlDone: raw.crawl_done === '1',
    progressAt: raw.progress_at ?? raw.started_at ?? raw.created_at ?? '',
    reconciliations: Number(raw.reconciliations ?? 0),
    reconciledObjects: Number(raw.reconciled_objects ?? 0),
  };
}

export function jobView(record: RetroJobRecord): RetroJobView {
  const view: RetroJobView = {
    id: record.id,
    state: record.state,
    buckets: record.buckets,
    from: record.from,
    to: record.to,
    counters: record.counters,
    created_at: record.createdAt,
    started_at: record.startedAt,
    finished_at: record.finishedAt,
    schedule_id: record.scheduleId,
  };
  if (record.error) view.error = record.error;
  if (record.reconciliations > 0)
    view.reconciled = { passes: record.reconciliations, objects: record.reconciledObjects };
  return view;
}

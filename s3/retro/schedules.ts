import { createHash } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import { badRequest, unavailable } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { RedisKeys } from '../../core/keys.js';
import type { Logger } from '../../core/logger.js';
import { ScheduleFireJobSchema, type Queues, type RetroJobName } from '../../core/queues.js';
import type { Redis } from '../../core/redis.js';
import type { RetroJobRecord, RetroJobStore } from './jobs.js';
import {
  S3_EPOCH,
  ScheduleInputSchema,
  SchedulePreviewSchema,
  type RetroBucket,
  type ScheduleView,
  type ScheduleWindow,
} from './schema.js';

/**
 * Retro schedules: a cron expression (5 fields, or 6 with seconds first; `@daily` and the like),
 * a time zone, buckets and a window. Each is a BullMQ job scheduler on the retro queue
 * (`upsertJobScheduler(id, {pattern, tz})`) whose every firing is a `schedule` job; the worker
 * turns a firing into a retro job (`createForSchedule`, once per firing however often the firing
 * job is retried) and queues its crawl. Window `all`: 2006-03-14 → the firing time;
 * `since-last-run`: the previous firing's time → this firing's time (the first run starts at
 * 2006-03-14). Runs are at least ARBITER_SCHEDULE_MIN_INTERVAL apart, and never overlap: a firing
 * that comes while the previous run is still going is skipped.
 */

export interface ScheduleRecord {
  id: string;
  tenantId: string;
  cron: string;
  timezone: string;
  buckets: RetroBucket[];
  window: ScheduleWindow;
  createdAt: string;
  lastRun: string | null;
  lastJobId: string | null;
  /** The last firing that was skipped because the schedule's previous run was still going. */
  lastSkip: { at: string; runningJobId: string; runningState: string } | null;
}

/** Firings of one schedule whose spacing is checked against the minimum interval. */
export const INTERVAL_SAMPLE = 100;

/** States of a retro job that is still crawling the bucket or waiting for its scans. */
const RUNNING_STATES: ReadonlySet<string> = new Set(['crawling', 'scanning']);

/** What one firing did: started (or found, when retried) its retro job, or was skipped. */
export type FiringOutcome =
  | { kind: 'run'; job: RetroJobRecord; created: boolean }
  | { kind: 'skipped'; runningJobId: string; runningState: string };

/** Options of each firing job (the crawl it starts has its own, RETRO_JOB_OPTIONS). */
const FIRE_JOB_OPTIONS: Omit<JobsOptions, 'jobId' | 'repeat' | 'delay' | 'deduplication'> = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Throws a 400 naming what is wrong with the expression or the zone; returns the next firing. */
export function checkCron(cron: string, timezone: string, now = new Date()): Date {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw badRequest(
      `timezone "${timezone.slice(0, 64)}" is not an IANA time zone name (such as "UTC" or "Europe/Paris")`,
    );
  }
  try {
    return CronExpressionParser.parse(cron, { tz: timezone, currentDate: now }).next().toDate();
  } catch (error) {
    throw badRequest(
      `cron "${cron.slice(0, 100)}" is not a valid cron expression (${(error as Error).message}): use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 3 * * *", daily at 03:00), or 6 with seconds first`,
    );
  }
}

/**
 * Throws a 400 when two of the next INTERVAL_SAMPLE firings would be closer than `minSeconds`:
 * every run lists the whole bucket, so a per-second cron would start a full crawl every second.
 * Many firings are checked, not two, because a cron's shortest gap can come late in its cycle
 * (`0,59 0,23 * * *` runs at 23:59 and again at 00:00).
 */
export function checkInterval(
  cron: string,
  timezone: string,
  minSeconds: number,
  now = new Date(),
): void {
  const runs = CronExpressionParser.parse(cron, { tz: timezone, currentDate: now });
  let previous = runs.next().toDate();
  for (let i = 1; i < INTERVAL_SAMPLE && runs.hasNext(); i++) {
    const next = runs.next().toDate();
    const gapSeconds = (next.getTime() - previous.getTime()) / 1000;
    if (gapSeconds < minSeconds) {
      throw badRequest(
        `cron "${cron.slice(0, 100)}" would run ${duration(gapSeconds)} apart (${previous.toISOString()} and ${next.toISOString()}): runs of a schedule must be at least ${duration(minSeconds)} apart (ARBITER_SCHEDULE_MIN_INTERVAL), since each run lists the whole bucket. Use S3 event notifications to scan new objects as they arrive.`,
      );
    }
    previous = next;
  }
}

/** `900` → "15 minutes", `1` → "1 second". */
function duration(seconds: number): string {
  const [amount, unit] =
    seconds >= 3600 && seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds >= 60 && seconds % 60 === 0
        ? [seconds / 60, 'minute']
        : [seconds, 'second'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/** The retro job id of one firing: the same firing (retried) always makes the same job. */
export const firingJobId = (scheduleId: string, firedAtMs: number): string =>
  createHash('sha256').update(`${scheduleId}:${firedAtMs}`).digest('hex').slice(0, 32);

export class RetroSchedules {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly queues: Queues,
    private readonly jobs: RetroJobStore,
    private readonly requireBuckets: (tenantId: string, buckets: RetroBucket[]) => Promise<void>,
    /** ARBITER_SCHEDULE_MIN_INTERVAL: the shortest time allowed between two runs. */
    private readonly minIntervalSeconds: number,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(tenantId: string, body: unknown): Promise<ScheduleView> {
    const input = ScheduleInputSchema.parse(body ?? {});
    const timezone = input.timezone ?? 'UTC';
    checkCron(input.cron, timezone, this.now());
    checkInterval(input.cron, timezone, this.minIntervalSeconds, this.now());
    await this.requireBuckets(tenantId, input.buckets);
    const id = newId();
    const created = this.now();
    const key = this.keys.schedule(tenantId, id);
    await this.redis
      .multi()
      .hset(key, {
        id,
        tenant_id: tenantId,
        cron: input.cron,
        timezone,
        buckets: JSON.stringify(input.buckets),
        window: input.window,
        created_at: created.toISOString(),
      })
      .zadd(this.keys.tenantSchedules(tenantId), created.getTime(), id)
      .exec();
    try {
      await this.queues.retro.upsertJobScheduler(
        // BullMQ types the scheduler id as a job name; it is any string.
        id as unknown as RetroJobName,
        { pattern: input.cron, tz: timezone },
        {
          name: 'schedule',
          data: ScheduleFireJobSchema.parse({ tenantId, scheduleId: id }),
          opts: FIRE_JOB_OPTIONS,
        },
      );
    } catch (error) {
      this.logger.error({ err: error, scheduleId: id }, 'could not create a job scheduler');
      await this.forget(tenantId, id);
      throw unavailable(
        'The job queue is unavailable; the schedule was not created. Please retry shortly.',
      );
    }
    return (await this.view(tenantId, id))!;
  }

  /**
   * The next runs of a cron, judged exactly as `create` judges it (same schema, same minimum
   * interval): what the console shows as the tenant types. Throws the same 400s.
   */
  preview(query: unknown, count = 5): { cron: string; timezone: string; next_runs: string[] } {
    const input = SchedulePreviewSchema.parse(query ?? {});
    const timezone = input.timezone ?? 'UTC';
    checkCron(input.cron, timezone, this.now());
    checkInterval(input.cron, timezone, this.minIntervalSeconds, this.now());
    const runs = CronExpressionParser.parse(input.cron, { tz: timezone, currentDate: this.now() });
    const next: string[] = [];
    while (next.length < count && runs.hasNext()) next.push(runs.next().toDate().toISOString());
    return { cron: input.cron, timezone, next_runs: next };
  }

  async get(tenantId: string, id: string): Promise<ScheduleRecord | undefined> {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
    return toRecord(await this.redis.hgetall(this.keys.schedule(tenantId, id)));
  }

  async view(tenantId: string, id: string): Promise<ScheduleView | undefined> {
    const record = await this.get(tenantId, id);
    return record ? this.toView(record) : undefined;
  }

  async list(tenantId: string): Promise<ScheduleView[]> {
    const ids = await this.redis.zrevrange(this.keys.tenantSchedules(tenantId), 0, -1);
    const views: ScheduleView[] = [];
    for (const id of ids) {
      const record = await this.get(tenantId, id);
      if (record) views.push(await this.toView(record));
    }
    return views;
  }

  /** Removes the schedule and its job scheduler; false when the tenant has no such schedule. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    const record = await this.get(tenantId, id);
    if (!record) return false;
    await this.queues.retro.removeJobScheduler(id);
    await this.forget(tenantId, id);
    return true;
  }

  /**
   * One firing (the worker's `schedule` job): the retro job for it, created once. A firing that
   * comes while the schedule's previous run is still crawling or scanning is skipped (and
   * recorded on the schedule) rather than starting a second crawl of the same buckets; the next
   * `since-last-run` window then starts where the last run's ended, so no object is missed.
   * Undefined when the schedule has been deleted since.
   */
  async fire(
    tenantId: string,
    scheduleId: string,
    firedAtMs: number,
  ): Promise<FiringOutcome | undefined> {
    const schedule = await this.get(tenantId, scheduleId);
    if (!schedule) return undefined;
    const id = firingJobId(scheduleId, firedAtMs);
    // A retried firing finds its own job as the last one: that is this run, not an overlap.
    if (schedule.lastJobId && schedule.lastJobId !== id) {
      const state = await this.jobs.state(tenantId, schedule.lastJobId);
      if (state && RUNNING_STATES.has(state)) {
        await this.redis.retroScheduleRecordSkip(
          1,
          this.keys.schedule(tenantId, scheduleId),
          new Date(firedAtMs).toISOString(),
          schedule.lastJobId,
          state,
        );
        return { kind: 'skipped', runningJobId: schedule.lastJobId, runningState: state };
      }
    }
    const created = await this.jobs.createForSchedule(
      tenantId,
      id,
      { id: scheduleId, buckets: schedule.buckets, window: schedule.window },
      { from: S3_EPOCH, to: new Date(firedAtMs).toISOString() },
    );
    return created ? { kind: 'run', ...created } : undefined;
  }

  private async forget(tenantId: string, id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.schedule(tenantId, id))
      .zrem(this.keys.tenantSchedules(tenantId), id)
      .exec();
  }

  private async toView(record: ScheduleRecord): Promise<ScheduleView> {
    const scheduler = await this.queues.retro.getJobScheduler(record.id);
    return {
      id: record.id,
      cron: record.cron,
      timezone: record.timezone,
      buckets: record.buckets,
      window: record.window,
      next_run: scheduler?.next ? new Date(scheduler.next).toISOString() : null,
      last_run: record.lastRun,
      last_job_id: record.lastJobId,
      last_skipped_run: record.lastSkip
        ? {
            at: record.lastSkip.at,
            running_job_id: record.lastSkip.runningJobId,
            reason: `skipped: retro job ${record.lastSkip.runningJobId} of this schedule was still ${record.lastSkip.runningState} (a schedule never runs twice at once)`,
          }
        : null,
      created_at: record.createdAt,
    };
  }
}

function toRecord(raw: Record<string, string>): ScheduleRecord | undefined {
  if (!raw.id || !raw.cron || !raw.tenant_id) return undefined;
  return {
    id: raw.id,
    tenantId: raw.tenant_id,
    cron: raw.cron,
    timezone: raw.timezone ?? 'UTC',
    buckets: JSON.parse(raw.buckets ?? '[]') as RetroBucket[],
    window: (raw.window ?? 'all') as ScheduleWindow,
    createdAt: raw.created_at ?? '',
    lastRun: raw.last_run ?? null,
    lastJobId: raw.last_job_id ?? null,
    lastSkip:
      raw.last_skipped_at && raw.last_skipped_for
        ? {
            at: raw.last_skipped_at,
            runningJobId: raw.last_skipped_for,
            runningState: raw.last_skipped_state ?? 'running',
          }
        : null,
  };
}

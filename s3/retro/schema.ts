import { z } from 'zod';
import { instant } from '../../core/instant.js';

/**
 * What the retro-job and schedule endpoints accept, and what they answer. Dates are ISO 8601
 * date-times with a time zone (`2024-05-01T12:00:00Z`, `…+02:00`) or plain dates (`2024-05-01`,
 * read as UTC midnight); both ends of a window are inclusive.
 */

/** The day Amazon S3 opened: no object can be older, so it is where a window starts by default. */
export const S3_EPOCH = '2006-03-14T00:00:00.000Z';

/** Buckets (with prefixes) in one job or schedule. */
export const MAX_JOB_BUCKETS = 100;

const unknownField =
  (where: string, allowed: string) => (issue: { code?: string; keys?: string[] }) =>
    issue.code === 'unrecognized_keys'
      ? `Unknown field "${(issue.keys?.[0] ?? '').slice(0, 64)}" in ${where}: the accepted fields are ${allowed}.`
      : undefined;

export const RetroBucketSchema = z.strictObject(
  {
    name: z
      .string({ error: 'buckets[].name must be the name of a registered bucket' })
      .min(1, 'buckets[].name must be the name of a registered bucket')
      .max(63, 'buckets[].name must be the name of a registered bucket'),
    prefix: z
      .string({ error: 'buckets[].prefix must be text' })
      .max(1024, 'buckets[].prefix is at most 1024 characters (an S3 key is)')
      .default(''),
  },
  { error: unknownField('buckets[]', 'name and prefix') },
);

export type RetroBucket = z.output<typeof RetroBucketSchema>;

const bucketList = z
  .array(RetroBucketSchema, {
    error: (issue) =>
      issue.input === undefined
        ? 'buckets is required: [{"name": "my-bucket", "prefix": "optional/prefix/"}]'
        : 'buckets must be a list of {"name", "prefix"?}',
  })
  .min(1, 'buckets must name at least one registered bucket')
  .max(MAX_JOB_BUCKETS, `buckets lists at most ${MAX_JOB_BUCKETS} entries`)
  .transform(normalizeBuckets);

export const RetroJobInputSchema = z
  .strictObject(
    {
      buckets: bucketList,
      from: instant('from').optional(),
      to: instant('to').optional(),
    },
    { error: unknownField('the job', 'buckets, from and to') },
  )
  .superRefine((input, ctx) => {
    if (input.from && input.to && input.from > input.to) {
      ctx.addIssue({
        code: 'custom',
        message: `from (${input.from}) is after to (${input.to}): the window would be empty`,
      });
    }
  });

export type RetroJobInput = z.output<typeof RetroJobInputSchema>;

export const SCHEDULE_WINDOWS = ['all', 'since-last-run'] as const;
export type ScheduleWindow = (typeof SCHEDULE_WINDOWS)[number];

export const ScheduleInputSchema = z.strictObject(
  {
    cron: z
      .string({ error: 'cron is required: a cron expression such as "0 3 * * *" (daily at 03:00)' })
      .trim()
      .min(1, 'cron is required: a cron expression such as "0 3 * * *" (daily at 03:00)')
      .max(200, 'cron is at most 200 characters'),
    buckets: bucketList,
    window: z
      .enum(SCHEDULE_WINDOWS, { error: 'window must be "all" or "since-last-run"' })
      .default('all'),
    timezone: z
      .string({ error: 'timezone must be an IANA time zone name such as "Europe/Paris"' })
      .min(1, 'timezone must be an IANA time zone name such as "Europe/Paris"')
      .max(64, 'timezone must be an IANA time zone name such as "Europe/Paris"')
      .optional(),
  },
  { error: unknownField('the schedule', 'cron, buckets, window and timezone') },
);

export type ScheduleInput = z.output<typeof ScheduleInputSchema>;

/**
 * `GET /v1/schedules/preview?cron=&timezone=`: the schedule's own `cron` and `timezone` fields,
 * so a preview accepts exactly what a schedule would.
 */
export const SchedulePreviewSchema = ScheduleInputSchema.pick({ cron: true, timezone: true });

/**
 * The same object must not be listed twice by one job (it would be matched twice and counted
 * once): exact repeats are dropped, and so is a prefix already covered by a shorter one of the
 * same bucket (`""` covers everything).
 */
export function normalizeBuckets(buckets: RetroBucket[]): RetroBucket[] {
  const kept: RetroBucket[] = [];
  for (const entry of buckets) {
    const covered = buckets.some(
      (other) =>
        other !== entry &&
        other.name === entry.name &&
        entry.prefix.startsWith(other.prefix) &&
        (other.prefix.length < entry.prefix.length ||
          buckets.indexOf(other) < buckets.indexOf(entry)),
    );
    if (!covered) kept.push({ name: entry.name, prefix: entry.prefix });
  }
  return kept;
}

export type RetroJobState = 'crawling' | 'scanning' | 'completed' | 'failed' | 'cancelled';

export interface RetroCounters {
  /** Objects the listing returned (every key seen, folder markers included). */
  listed: number;
  /** Listed objects in the window, not folder markers, accepted for scanning. */
  matched: number;
  /** Outcomes received for matched objects (each object counted once). */
  scanned: number;
  clean: number;
  infected: number;
  unscannable: number;
  errors: number;
  /** In the window but refused by the bucket (under its own quarantine/production prefix). */
  skipped: number;
}

export interface RetroJobView {
  id: string;
  state: RetroJobState;
  buckets: RetroBucket[];
  from: string;
  to: string;
  counters: RetroCounters;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The schedule whose run this is, or null for a job asked for with POST /v1/jobs. */
  schedule_id: string | null;
  /** Why the job failed (state `failed`), or which matched objects a completed job could not scan. */
  error?: string;
  /** Present once a stalled job was reconciled (s3/retro/reconcile.ts). */
  reconciled?: { passes: number; objects: number };
}

export interface ScheduleView {
  id: string;
  cron: string;
  timezone: string;
  buckets: RetroBucket[];
  window: ScheduleWindow;
  /** The next firing as BullMQ's scheduler has it, or null if none is planned. */
  next_run: string | null;
  /** The last firing (the `to` of the job it started), or null before the first. */
  last_run: string | null;
  /** The retro job of the last firing. */
  last_job_id: string | null;
  /** The last firing skipped because the previous run was still going, or null. */
  last_skipped_run: { at: string; running_job_id: string; reason: string } | null;
  created_at: string;
}

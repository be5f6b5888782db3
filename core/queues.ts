import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { ScanFairness } from './scan-fairness.js';

/**
 * The job catalog: every queue, the payload its jobs carry (ids only, never content or secrets)
 * and its retry policy. Payloads are validated when enqueued and again when processed
 * (worker/job-payload.ts).
 */
export const ScanJobSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  scanId: z.string().regex(/^[0-9a-f]{32}$/),
});
export type ScanJob = z.infer<typeof ScanJobSchema>;

export const CallbackJobSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  scanId: z.string().regex(/^[0-9a-f]{32}$/),
  /** Set on deliveries asked for with `POST /v1/files/{id}/redeliver`: the n-th redelivery. */
  redelivery: z.number().int().positive().optional(),
  /** Set on the delivery a rescan makes when it changed the verdict: the rescan's id. */
  rescan: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  /**
   * Attempts made before this job was queued: the scan worker makes a finished scan's first
   * attempt itself and queues the job only to retry it (worker/inline-callback.ts).
   */
  priorAttempts: z.number().int().positive().optional(),
});
export type CallbackJob = z.infer<typeof CallbackJobSchema>;

/**
 * A retro job's crawl (name `crawl`): one BullMQ job per retro job (see s3/retro/); the same
 * payload names the job of a `reconcile` pass (s3/retro/reconcile.ts).
 */
export const RetroCrawlJobSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  jobId: z.string().regex(/^[0-9a-f]{32}$/),
});
export type RetroCrawlJob = z.infer<typeof RetroCrawlJobSchema>;

/** One firing of a retro schedule (name `schedule`), made by a BullMQ job scheduler. */
export const ScheduleFireJobSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  scheduleId: z.string().regex(/^[0-9a-f]{32}$/),
});
export type ScheduleFireJob = z.infer<typeof ScheduleFireJobSchema>;
export type RetroQueueJob = RetroCrawlJob | ScheduleFireJob;
export type RetroJobName = 'crawl' | 'schedule' | 'reconcile';

/** A rescan's run (rescans/): one BullMQ job per rescan, resumed from its checkpoint. */
export const RescanJobSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  rescanId: z.string().regex(/^[0-9a-f]{32}$/),
});
export type RescanJob = z.infer<typeof RescanJobSchema>;

export const QUEUE_NAMES = {
  scan: 'scan',
  callback: 'callback',
  retro: 'retro',
  rescan: 'rescan',
} as const;

/**
 * A rescan resumes from its checkpoint, so a retry costs at most one page: transient failures
 * (Redis away) are retried with backoff, and the rescan fails when the attempts run out.
 */
export const RESCAN_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Crawls resume from their checkpoint, so a retry costs at most one listing page: transient
 * failures (S3 or Redis away) are retried with backoff; what cannot succeed (the bucket was
 * unregistered, access denied) fails the retro job at once (worker/retro-processor.ts).
 */
export const RETRO_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Scan jobs retry transient failures (an engine or Redis hiccup) a few times; the final attempt
 * stores an error result instead of failing silently (see worker/scan-processor.ts), and a
 * permanent engine error stores it at once. Attempts and the first delay (doubling per retry)
 * come from ARBITER_SCAN_ATTEMPTS and ARBITER_SCAN_RETRY_BASE_MS.
 */
export function scanJobOptions(schedule: {
  scanAttempts: number;
  scanRetryBaseMs: number;
}): JobsOptions {
  return {
    attempts: schedule.scanAttempts,
    backoff: { type: 'exponential', delay: schedule.scanRetryBaseMs },
    // The last 10,000 finished jobs are kept (a late duplicate of a scan id is then ignored by
    // BullMQ); by count alone, as an age as well would cost one more command per completion.
    removeOnComplete: { count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * The scan job options with the default schedule (5 attempts, 2 s first delay). Prefer
 * `queues.scanJobOptions`, which follows the configuration.
 */
export const SCAN_JOB_OPTIONS: JobsOptions = scanJobOptions({
  scanAttempts: 5,
  scanRetryBaseMs: 2000,
});

/**
 * Callback deliveries retry for about a day: with the default schedule delays double from 10 s
 * up to a cap of one hour, with ±20% jitter so that a receiver coming back is not hit by every
 * retry at once. 10+20+40+…+2560 s (9 retries, ~1.4 h) then 20 hourly ones: ~21.4 h over 30
 * attempts (base and cap are configurable: ARBITER_CALLBACK_RETRY_BASE_MS / _MAX_MS).
 */
export const CALLBACK_JOB_OPTIONS: JobsOptions = {
  attempts: 30,
  backoff: { type: 'callback' },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function callbackBackoffMs(
  attemptsMade: number,
  schedule: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const delay = Math.min(schedule.baseMs * 2 ** Math.max(0, attemptsMade - 1), schedule.maxMs);
  return Math.round(delay * (0.8 + 0.4 * random()));
}

export interface Queues {
  scan: Queue<ScanJob>;
  callback: Queue<CallbackJob>;
  /** Retro job crawls and schedule firings (s3/retro/). */
  retro: Queue<RetroQueueJob, void, RetroJobName>;
  /** Rescans by database version (rescans/). */
  rescan: Queue<RescanJob>;
  /** Options for every scan job added (attempts and backoff from the configuration). */
  scanJobOptions: JobsOptions;
  /** Per-tenant priorities for scan jobs (core/scan-fairness.ts); without it, plain FIFO. */
  fairness?: ScanFairness;
  close(): Promise<void>;
}

/** BullMQ's prefix of each queue (core/keys.ts `queuePrefix`: its own hash tag on a Cluster). */
export type QueuePrefix = (queueName: (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES]) => string;

export function createQueues(
  connection: ConnectionOptions,
  prefix: QueuePrefix,
  onError: (error: Error, queue: string) => void = () => undefined,
  options: { scanJobOptions?: JobsOptions; fairness?: ScanFairness } = {},
): Queues {
  const scan = new Queue<ScanJob>(QUEUE_NAMES.scan, {
    connection,
    prefix: prefix(QUEUE_NAMES.scan),
  });
  const callback = new Queue<CallbackJob>(QUEUE_NAMES.callback, {
    connection,
    prefix: prefix(QUEUE_NAMES.callback),
  });
  const retro = new Queue<RetroQueueJob, void, RetroJobName>(QUEUE_NAMES.retro, {
    connection,
    prefix: prefix(QUEUE_NAMES.retro),
  });
  const rescan = new Queue<RescanJob>(QUEUE_NAMES.rescan, {
    connection,
    prefix: prefix(QUEUE_NAMES.rescan),
  });
  // Without a listener BullMQ prints every connection error (each reconnect attempt while
  // Redis is away) straight to stderr, around the structured log.
  for (const queue of [scan, callback, retro, rescan] as Queue[])
    queue.on('error', (error) => onError(error, queue.name));
  return {
    scan,
    callback,
    retro,
    rescan,
    scanJobOptions: options.scanJobOptions ?? SCAN_JOB_OPTIONS,
    ...(options.fairness ? { fairness: options.fairness } : {}),
    close: async () => {
      await Promise.all([scan.close(), callback.close(), retro.close(), rescan.close()]);
    },
  };
}

/** The job id is the scan id: enqueueing the same scan twice can never run it twice at once. */
export async function enqueueScan(queues: Queues, job: ScanJob): Promise<void> {
  const [entry] = await scanJobEntries(queues, [job]);
  if (entry) await queues.scan.add(entry.name, entry.data, entry.opts);
}

/**
 * Scan jobs ready for `queues.scan.add`/`addBulk`: validated, id = scan id, and each with its
 * tenant's fairness priority (its rank in the tenant's backlog, see core/scan-fairness.ts).
 * Every producer of scan jobs goes through here: a job added without a priority would run
 * ahead of every prioritized one.
 */
export async function scanJobEntries(
  queues: Queues,
  jobs: ScanJob[],
): Promise<Array<{ name: 'scan'; data: ScanJob; opts: JobsOptions }>> {
  const entries = [];
  for (const job of jobs) {
    const data = ScanJobSchema.parse(job);
    const priority = await queues.fairness?.priorityFor(data.tenantId, data.scanId);
    entries.push({
      name: 'scan' as const,
      data,
      opts: { ...queues.scanJobOptions, jobId: data.scanId, ...(priority ? { priority } : {}) },
    });
  }
  return entries;
}

/**
 * Queues a delivery. With `priorAttempts` it is a retry of attempts already made elsewhere: it
 * runs after `delayMs` and keeps only the attempts those did not use, so that the delivery as a
 * whole keeps the schedule of CALLBACK_JOB_OPTIONS.
 */
export async function enqueueCallback(
  queues: Pick<Queues, 'callback'>,
  job: CallbackJob,
  delayMs?: number,
): Promise<void> {
  const data = CallbackJobSchema.parse(job);
  const attempts = (CALLBACK_JOB_OPTIONS.attempts ?? 1) - (data.priorAttempts ?? 0);
  await queues.callback.add('deliver', data, {
    ...CALLBACK_JOB_OPTIONS,
    attempts: Math.max(1, attempts),
    ...(delayMs ? { delay: delayMs } : {}),
    jobId: callbackJobId(data),
  });
}

/**
 * `cb-{scanId}` for the delivery a finished scan makes, `cb-{scanId}-r{n}` for the n-th
 * redelivery, `cb-{scanId}-s{rescanId}` for the one a rescan makes when it changed the verdict.
 */
export const callbackJobId = (job: {
  scanId: string;
  redelivery?: number | undefined;
  rescan?: string | undefined;
}): string => {
  if (job.rescan) return `cb-${job.scanId}-s${job.rescan}`;
  return job.redelivery ? `cb-${job.scanId}-r${job.redelivery}` : `cb-${job.scanId}`;
};

import type { ErrorLog } from '../core/error-log.js';
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Config } from '../core/config.js';
import { ArbiterError } from '../core/errors.js';
import {
  QUEUE_NAMES,
  RetroCrawlJobSchema,
  ScheduleFireJobSchema,
  type QueuePrefix,
  type RetroJobName,
  type RetroQueueJob,
} from '../core/queues.js';
import { crawl } from '../s3/retro/crawler.js';
import { reconcile } from '../s3/retro/reconcile.js';
import type { RetroService } from '../s3/retro/index.js';
import { onOutOfAttempts } from './attempts.js';
import { closeWorker, InFlight } from './graceful-close.js';
import { parseJobPayload } from './job-payload.js';

export interface RetroWorker {
  /** Stops crawls after their current page (handing them back to the queue), then closes. */
  close(): Promise<void>;
}

/**
 * The retro queue's worker (worker role): `crawl` jobs run a retro job's crawl, `schedule` jobs
 * (made by the job schedulers) start a retro job, `reconcile` jobs (queued by the stall audit,
 * s3/retro/stall-audit.ts) look again for the outcomes a stalled job still waits for.
 *
 * - A crawl interrupted by shutdown stops after its current page's checkpoint and is moved back
 *   to the queue (delayed by 0 ms; no attempt used), so the next worker resumes it at once.
 * - A crawl whose worker died is found by BullMQ's stalled-job check once its lock lapses
 *   (ARBITER_JOB_LOCK_MS) and is run again from its checkpoint; it may stall many times.
 * - Failures that retrying cannot cure fail the retro job at once; others are retried with
 *   backoff, and the retro job fails when the attempts run out.
 */
export function startRetroWorker(
  config: Config,
  connection: ConnectionOptions,
  prefix: QueuePrefix,
  retro: RetroService,
  /** Recent errors for operators (core/error-log.ts): retro jobs that failed. */
  errors?: Pick<ErrorLog, 'record'>,
): RetroWorker {
  const { logger } = retro.crawler;
  const shutdown = new AbortController();

  const processor = async (job: Job<RetroQueueJob, void, RetroJobName>, token?: string) => {
    if (job.name === 'schedule') {
      const { tenantId, scheduleId } = parseJobPayload(job, ScheduleFireJobSchema);
      await retro.fireSchedule(tenantId, scheduleId, firedAt(job));
      return;
    }
    const { tenantId, jobId } = parseJobPayload(job, RetroCrawlJobSchema);
    try {
      const end =
        job.name === 'reconcile'
          ? await reconcile(retro.crawler, tenantId, jobId, shutdown.signal)
          : await crawl(retro.crawler, tenantId, jobId, shutdown.signal);
      if (end === 'interrupted') {
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // Retrying cannot cure it (a bucket gone or out of reach): the retro job fails at once.
      if (error instanceof ArbiterError && !error.retryable) {
        logger.warn({ jobId, err: error.message }, 'retro job failed');
        errors?.record({
          kind: 'retro',
          tenantId,
          message: `retro job ${jobId} failed: ${error.message}`,
        });
        await retro.jobs.end(tenantId, jobId, 'failed', error.message);
        return;
      }
      throw error;
    }
  };

  const crawls = new InFlight();
  const worker = new Worker<RetroQueueJob, void, RetroJobName>(
    QUEUE_NAMES.retro,
    crawls.track(processor),
    {
      connection,
      prefix: prefix(QUEUE_NAMES.retro),
      concurrency: config.retro.concurrency,
      lockDuration: config.jobLockMs,
      stalledInterval: config.stalledIntervalMs,
      // Resuming is cheap and safe (at most one page is redone): give a crawl many chances.
      maxStalledCount: 10,
    },
  );
  // Only a crawl stands for a retro job, which must not stay `crawling` for ever.
  onOutOfAttempts(
    worker,
    RetroCrawlJobSchema,
    ({ tenantId, jobId }, error) => {
      errors?.record({
        kind: 'retro',
        tenantId,
        message: `retro job ${jobId} failed: the crawl failed: ${error.message}`,
      });
      return retro.jobs.end(tenantId, jobId, 'failed', `the crawl failed: ${error.message}`);
    },
    { logger, failure: 'could not record a failed retro job', names: ['crawl'] },
  );
  worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));

  return {
    async close() {
      shutdown.abort();
      await closeWorker(worker, crawls);
    },
  };
}

/** The firing's planned time: scheduler job ids are `repeat:{schedulerId}:{millis}`. */
function firedAt(job: Job): number {
  const match = /:(\d+)$/.exec(job.id ?? '');
  if (match) return Number(match[1]);
  return (job.opts as { prevMillis?: number }).prevMillis ?? job.timestamp;
}

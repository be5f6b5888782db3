import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Config } from '../core/config.js';
import { QUEUE_NAMES, RescanJobSchema, type QueuePrefix, type RescanJob } from '../core/queues.js';
import { runRescan, type RunnerDeps } from '../rescans/runner.js';
import { onOutOfAttempts } from './attempts.js';
import { closeWorker, InFlight } from './graceful-close.js';
import { parseJobPayload } from './job-payload.js';

export interface RescanWorker {
  /** Stops rescans at their next checkpoint (handing them back to the queue), then closes. */
  close(): Promise<void>;
}

/**
 * The rescan queue's worker (worker role). One job per rescan; a tenant has at most one rescan
 * running (core of RescanStore.create), so one job never competes with another of its tenant.
 *
 * - A rescan interrupted by shutdown stops at its next checkpoint and goes back to the queue
 *   (delayed by 0 ms; no attempt used), so the next worker resumes it at once.
 * - A rescan whose worker died is found by BullMQ's stalled-job check once its lock lapses
 *   (ARBITER_JOB_LOCK_MS) and is run again from its checkpoint.
 * - When the attempts run out, the rescan is marked failed (and the tenant may start another).
 */
export function startRescanWorker(
  config: Config,
  connection: ConnectionOptions,
  prefix: QueuePrefix,
  runner: RunnerDeps,
): RescanWorker {
  const { logger } = runner;
  const shutdown = new AbortController();

  const processor = async (job: Job<RescanJob>, token?: string) => {
    const { tenantId, rescanId } = parseJobPayload(job, RescanJobSchema);
    const end = await runRescan(runner, tenantId, rescanId, shutdown.signal);
    if (end === 'interrupted') {
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
  };

  const running = new InFlight();
  const worker = new Worker<RescanJob>(QUEUE_NAMES.rescan, running.track(processor), {
    connection,
    prefix: prefix(QUEUE_NAMES.rescan),
    concurrency: 2,
    lockDuration: config.jobLockMs,
    stalledInterval: config.stalledIntervalMs,
    // Resuming is cheap and safe (at most one page is listed again): give a rescan many chances.
    maxStalledCount: 10,
  });
  onOutOfAttempts(
    worker,
    RescanJobSchema,
    ({ tenantId, rescanId }, error) =>
      runner.rescans.end(tenantId, rescanId, 'failed', `the rescan failed: ${error.message}`),
    { logger, failure: 'could not record a failed rescan' },
  );
  worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));

  return {
    async close() {
      shutdown.abort();
      await closeWorker(worker, running);
    },
  };
}

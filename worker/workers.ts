import { Worker, type ConnectionOptions, type MinimalJob } from 'bullmq';
import type { Config } from '../core/config.js';
import {
  CallbackJobSchema,
  QUEUE_NAMES,
  ScanJobSchema,
  callbackBackoffMs,
  type CallbackJob,
  type QueuePrefix,
  type ScanJob,
} from '../core/queues.js';
import { onOutOfAttempts } from './attempts.js';
import { createCallbackProcessor, type CallbackDeps } from './callback-processor.js';
import type { PipelineDeps } from '../scans/pipeline.js';
import { createScanProcessor, failScanForGood } from './scan-processor.js';
import { closeWorker, InFlight } from './graceful-close.js';
import { InlineCallbacks } from './inline-callback.js';
import type { ScanSlots } from './scan-slots.js';

export interface Workers {
  /**
   * Stops taking new jobs at once, leaving the ones in flight running: the first step of a
   * shutdown, so that a job queued while the other steps run goes to another worker.
   */
  stopTaking(): Promise<void>;
  /** Stops taking jobs, waits for jobs in flight (BullMQ hands back any still held at exit). */
  close(): Promise<void>;
  /** Scan and callback jobs running in this process now (its heartbeat reports them). */
  inProgress(): number;
}

export function startWorkers(
  config: Config,
  connection: ConnectionOptions,
  prefix: QueuePrefix,
  pipeline: PipelineDeps,
  delivery: CallbackDeps,
  scanSlots: ScanSlots,
): Workers {
  const lockOptions = {
    lockDuration: config.jobLockMs,
    stalledInterval: config.stalledIntervalMs,
    // A job whose worker died is put back this many times before it is given up (and then
    // still answered with an error result, see failScanForGood).
    maxStalledCount: 3,
  };
  const callbackSchedule = {
    baseMs: config.callbackRetryBaseMs,
    maxMs: config.callbackRetryMaxMs,
  };
  const inlineCallbacks = new InlineCallbacks({
    ...delivery,
    scans: pipeline.scans,
    queues: pipeline.queues,
    schedule: callbackSchedule,
    concurrency: config.callbackConcurrency,
    pendingGraceMs: config.pendingReap.graceMs,
    attemptTimeoutMs: config.callbackTimeoutMs,
  });
  const scanJobs = new InFlight();
  const callbackJobs = new InFlight();
  const scanWorker = new Worker<ScanJob>(
    QUEUE_NAMES.scan,
    // Each scan takes one of its tenant's slots first (see scan-slots.ts).
    // A finished scan's first callback attempt is made by this process (see inline-callback.ts).
    scanJobs.track(scanSlots.around(createScanProcessor(pipeline, inlineCallbacks))),
    {
      connection,
      prefix: prefix(QUEUE_NAMES.scan),
      concurrency: config.scanConcurrency,
      ...lockOptions,
    },
  );
  onOutOfAttempts(
    scanWorker,
    ScanJobSchema,
    (job, error) => failScanForGood(pipeline, job, error),
    {
      logger: pipeline.logger,
      failure: 'could not record a failed scan',
    },
  );

  const callbackWorker = new Worker<CallbackJob>(
    QUEUE_NAMES.callback,
    // One job per delivery, with per-tenant fairness (see callback-processor.ts).
    callbackJobs.track(createCallbackProcessor(delivery)),
    {
      connection,
      prefix: prefix(QUEUE_NAMES.callback),
      concurrency: config.callbackConcurrency,
      ...lockOptions,
      settings: {
        // Attempts the scan worker made before queueing the job count towards the schedule.
        backoffStrategy: (attemptsMade: number, _type?: string, _error?: Error, job?: MinimalJob) =>
          callbackBackoffMs(attemptsMade + priorAttempts(job), callbackSchedule),
      },
    },
  );

  // Every attempt is in the scan's trace already; the log says the delivery is over.
  onOutOfAttempts(
    callbackWorker,
    CallbackJobSchema,
    (job, error) => {
      delivery.logger.warn(
        { scanId: job.scanId, redelivery: job.redelivery, rescan: job.rescan, err: error.message },
        'callback delivery given up',
      );
      delivery.errors?.record({
        kind: 'callback',
        tenantId: job.tenantId,
        scanId: job.scanId,
        message: `callback delivery given up: ${error.message}`,
      });
    },
    { logger: delivery.logger, failure: 'could not record a failed callback delivery' },
  );

  for (const worker of [scanWorker, callbackWorker]) {
    worker.on('error', (error) =>
      pipeline.logger.error({ err: error, queue: worker.name }, 'worker error'),
    );
  }

  return {
    inProgress: () => scanJobs.count + callbackJobs.count,
    stopTaking: async () => {
      await Promise.all([scanWorker.pause(true), callbackWorker.pause(true)]);
    },
    close: async () => {
      await Promise.all([
        // Then the first callback attempts the last scans started (the pending reaper's, should
        // the shutdown deadline cut them short).
        closeWorker(scanWorker, scanJobs).then(() => inlineCallbacks.idle()),
        closeWorker(callbackWorker, callbackJobs),
      ]);
    },
  };
}

function priorAttempts(job: MinimalJob | undefined): number {
  const data = job?.data as Partial<CallbackJob> | undefined;
  return typeof data?.priorAttempts === 'number' ? data.priorAttempts : 0;
}

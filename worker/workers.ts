import { Worker, type ConnectionOptions } from 'bullmq';
import type { Config } from '../core/config.js';
import {
  CallbackJobSchema,
  QUEUE_NAMES,
  ScanJobSchema,
  callbackBackoffMs,
  type CallbackJob,
  type ScanJob,
} from '../core/queues.js';
import { onOutOfAttempts } from './attempts.js';
import { createCallbackProcessor, type CallbackDeps } from './callback-processor.js';
import type { PipelineDeps } from '../scans/pipeline.js';
import { createScanProcessor, failScanForGood } from './scan-processor.js';
import { closeWorker, InFlight } from './graceful-close.js';
import type { ScanSlots } from './scan-slots.js';

export interface Workers {
  /** Stops taking jobs, waits for jobs in flight (BullMQ hands back any still held at exit). */
  close(): Promise<void>;
}

export function startWorkers(
  config: Config,
  connection: ConnectionOptions,
  prefix: string,
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
  const scanJobs = new InFlight();
  const callbackJobs = new InFlight();
  const scanWorker = new Worker<ScanJob>(
    QUEUE_NAMES.scan,
    // Each scan takes one of its tenant's slots first (see scan-slots.ts).
    scanJobs.track(scanSlots.around(createScanProcessor(pipeline))),
    {
      connection,
      prefix,
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
      prefix,
      concurrency: config.callbackConcurrency,
      ...lockOptions,
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          callbackBackoffMs(attemptsMade, {
            baseMs: config.callbackRetryBaseMs,
            maxMs: config.callbackRetryMaxMs,
          }),
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
    },
    { logger: delivery.logger, failure: 'could not record a failed callback delivery' },
  );

  for (const worker of [scanWorker, callbackWorker]) {
    worker.on('error', (error) =>
      pipeline.logger.error({ err: error, queue: worker.name }, 'worker error'),
    );
  }

  return {
    close: async () => {
      await Promise.all([
        closeWorker(scanWorker, scanJobs),
        closeWorker(callbackWorker, callbackJobs),
      ]);
    },
  };
}

import { Worker, type ConnectionOptions } from 'bullmq';
import type { Config } from '../core/config.js';
import { QUEUE_NAMES, callbackBackoffMs, type CallbackJob, type ScanJob } from '../core/queues.js';
import { createCallbackProcessor, type CallbackDeps } from '../webhooks/processor.js';
import type { PipelineDeps } from './scan-pipeline.js';
import { createScanProcessor, onScanJobFailed } from './scan-processor.js';

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
): Workers {
  const lockOptions = {
    lockDuration: config.jobLockMs,
    stalledInterval: config.stalledIntervalMs,
    // A job whose worker died is put back this many times before it is given up (and then
    // still answered with an error result, see onScanJobFailed).
    maxStalledCount: 3,
  };
  const scanWorker = new Worker<ScanJob>(QUEUE_NAMES.scan, createScanProcessor(pipeline), {
    connection,
    prefix,
    concurrency: config.scanConcurrency,
    ...lockOptions,
  });
  scanWorker.on('failed', (job, error) => {
    onScanJobFailed(pipeline, job, error).catch((e: unknown) =>
      pipeline.logger.error({ err: e }, 'could not record a failed scan'),
    );
  });

  const callbackWorker = new Worker<CallbackJob>(
    QUEUE_NAMES.callback,
    // One job per delivery, with per-tenant fairness (see webhooks/processor.ts).
    createCallbackProcessor(delivery),
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

  for (const worker of [scanWorker, callbackWorker]) {
    worker.on('error', (error) =>
      pipeline.logger.error({ err: error, queue: worker.name }, 'worker error'),
    );
  }

  return {
    close: async () => {
      await Promise.all([closeWorker(scanWorker), closeWorker(callbackWorker)]);
    },
  };
}

/**
 * Stops taking jobs, then closes gracefully (jobs in flight finish first).
 *
 * BullMQ's close() interrupts the worker's blocking connection and waits for its `end` event.
 * When that connection is between two reconnect attempts (ioredis status `reconnecting`: Redis
 * restarted or was away moments ago), ioredis's disconnect() cancels the retry timer without ever
 * emitting `end`, and close() then waits forever, even once Redis is back (BullMQ #4656). So
 * let the connection come back first: it reconnects by itself as soon as Redis answers, and a
 * Redis that never does is covered by the process's shutdown deadline (cli/serve.ts).
 */
async function closeWorker(worker: Worker): Promise<void> {
  await worker.pause(true);
  const blocking = await worker.backend.blockingConnection?.client;
  if (blocking?.status === 'reconnecting') {
    await new Promise<void>((resolve) => {
      blocking.once('ready', () => resolve());
      blocking.once('end', () => resolve());
    });
  }
  await worker.close();
}

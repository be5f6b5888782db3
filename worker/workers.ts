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
  const scanJobs = new InFlight();
  const callbackJobs = new InFlight();
  const scanWorker = new Worker<ScanJob>(
    QUEUE_NAMES.scan,
    scanJobs.track(createScanProcessor(pipeline)),
    {
      connection,
      prefix,
      concurrency: config.scanConcurrency,
      ...lockOptions,
    },
  );
  scanWorker.on('failed', (job, error) => {
    onScanJobFailed(pipeline, job, error).catch((e: unknown) =>
      pipeline.logger.error({ err: e }, 'could not record a failed scan'),
    );
  });

  const callbackWorker = new Worker<CallbackJob>(
    QUEUE_NAMES.callback,
    // One job per delivery, with per-tenant fairness (see webhooks/processor.ts).
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

/**
 * Stops taking jobs, lets the jobs in flight finish, then closes.
 *
 * BullMQ's close() interrupts the worker's blocking connection and waits for its `end` event.
 * When that connection is reconnecting after a Redis restart, ioredis never emits it and close()
 * would wait forever (BullMQ #4656). So: wait for a reconnecting connection to come back first,
 * and if close() still has not returned a few seconds after the last job finished (seen under
 * heavy load), deliver the missing `end` ourselves: nothing is in flight any more, so nothing
 * can be lost. A Redis that never comes back is covered by the shutdown deadline (cli/serve.ts).
 */
async function closeWorker(worker: Worker, jobs: InFlight): Promise<void> {
  await worker.pause(true);
  const blocking = await worker.backend.blockingConnection?.client;
  if (blocking?.status === 'reconnecting') {
    await new Promise<void>((resolve) => {
      blocking.once('ready', () => resolve());
      blocking.once('end', () => resolve());
    });
  }
  const closing = worker.close();
  await jobs.idle();
  const closed = await Promise.race([
    closing.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CLOSE_GRACE_MS).unref()),
  ]);
  if (!closed) {
    blocking?.emit('end');
    await closing;
  }
}

const CLOSE_GRACE_MS = 5000;

/** Counts the jobs a processor is running, so shutdown can wait for exactly those. */
class InFlight {
  private running = 0;
  private waiters: Array<() => void> = [];

  track<A extends unknown[], R>(processor: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      this.running += 1;
      try {
        return await processor(...args);
      } finally {
        this.running -= 1;
        if (this.running === 0) this.waiters.splice(0).forEach((wake) => wake());
      }
    };
  }

  idle(): Promise<void> {
    return this.running === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.waiters.push(resolve));
  }
}

import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { z } from 'zod';
import type { Logger } from '../core/logger.js';
import { validJobPayload } from './job-payload.js';

type Attempts = Pick<Job, 'attemptsMade' | 'opts'>;

/** The attempt about to run is the job's last: if it fails, no retry follows. */
export function isFinalAttempt(job: Attempts): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * Whether BullMQ has given up on a failed job for good (its `failed` event fires after every
 * failed attempt, retried or not): its attempts are used up; or it failed with
 * UnrecoverableError (a malformed payload, a failure no retry cures); or it stalled more often
 * than the worker's maxStalledCount allows (its workers kept dying), which BullMQ fails without
 * counting an attempt.
 */
export function isOutOfAttempts(job: Attempts, error: Error): boolean {
  return (
    job.attemptsMade >= (job.opts.attempts ?? 1) ||
    error instanceof UnrecoverableError ||
    /stalled/i.test(error.message)
  );
}

/**
 * Settles what a job stood for once BullMQ gives up on it, so that nothing waits forever for a
 * job that will never run again: `settle` gets the job's payload and the last error. Only jobs
 * named in `names` (all when omitted) are settled; a malformed payload names nothing to settle.
 * A `failed` listener has nobody to throw to: `settle` failing is logged with `failure`.
 */
export function onOutOfAttempts<P, D, R, N extends string>(
  worker: Worker<D, R, N>,
  schema: z.ZodType<P>,
  settle: (payload: P, error: Error) => Promise<unknown> | void,
  options: { logger: Logger; failure: string; names?: readonly N[] },
): void {
  worker.on('failed', (job, error) => {
    if (!job || !isOutOfAttempts(job, error)) return;
    if (options.names && !options.names.includes(job.name)) return;
    const payload = validJobPayload(job, schema);
    if (!payload) return;
    Promise.resolve()
      .then(() => settle(payload, error))
      .catch((e: unknown) => options.logger.error({ err: e, queue: worker.name }, options.failure));
  });
}

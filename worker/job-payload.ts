import { UnrecoverableError, type Job } from 'bullmq';
import type { z } from 'zod';

/**
 * A job's payload, checked again when the job is taken (core/queues.ts checks it when it is
 * added): a job written by another version of Arbiter, or by hand, must not reach a processor
 * half-formed. Payloads carry ids only; the processor loads what they name.
 *
 * A malformed payload will be no better at the next attempt, so it fails the job for good
 * (BullMQ's UnrecoverableError: no retry, and `isOutOfAttempts` says so to the `failed` handler).
 */
export function parseJobPayload<T>(job: Pick<Job, 'data' | 'name'>, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(`malformed ${job.name} job: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * The payload, or undefined when it is malformed: for code around a processor that must not
 * throw for it (a `failed` handler, the scan slots), and leaves failing it to the processor.
 */
export function validJobPayload<T>(job: Pick<Job, 'data'>, schema: z.ZodType<T>): T | undefined {
  const parsed = schema.safeParse(job.data);
  return parsed.success ? parsed.data : undefined;
}

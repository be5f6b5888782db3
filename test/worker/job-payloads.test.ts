import { UnrecoverableError, type Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFinalAttempt, isOutOfAttempts } from '../../worker/attempts.js';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Jobs whose payload no processor can use (written by hand, or by another version of Arbiter):
 * each queue fails them at their first attempt, with the reason, instead of retrying them for
 * hours (a callback delivery has 30 attempts) or running them half-formed.
 */
describe('a malformed job on any queue', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.stop();
  });

  const failedAtOnce = async (queue: Queue, name: string, data: unknown, attempts: number) => {
    const job = await queue.add(name, data, {
      attempts,
      backoff: { type: 'fixed', delay: 60_000 },
    });
    await waitFor(async () => (await queue.getJobState(String(job.id))) === 'failed', {
      what: `the malformed ${name} job to fail`,
    });
    const failed = await queue.getJob(String(job.id));
    return { attemptsMade: failed?.attemptsMade, reason: failed?.failedReason };
  };

  it('fails at its first attempt, with the reason, on every queue', async () => {
    const { queues } = service.service.runtime;
    const cases: Array<[Queue, string, unknown]> = [
      [queues.scan as Queue, 'scan', { tenantId: 'not-an-id', scanId: 'a'.repeat(32) }],
      [queues.callback as Queue, 'deliver', { tenantId: 'a'.repeat(32) }],
      [queues.retro as Queue, 'crawl', { tenantId: 'a'.repeat(32), jobId: 42 }],
      [queues.retro as Queue, 'schedule', { tenantId: 'a'.repeat(32) }],
      [queues.rescan as Queue, 'rescan', { rescanId: 'b'.repeat(32) }],
    ];
    for (const [queue, name, data] of cases) {
      const outcome = await failedAtOnce(queue, name, data, 5);
      expect(outcome.attemptsMade, `${name} on ${queue.name}`).toBe(1);
      expect(outcome.reason).toMatch(new RegExp(`^malformed ${name} job: `));
    }
  });
});

describe('out of attempts', () => {
  const job = (attemptsMade: number, attempts?: number) => ({
    attemptsMade,
    opts: attempts === undefined ? {} : { attempts },
  });

  it('is the last attempt used up, an unrecoverable failure, or a job stalled too often', () => {
    const transient = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    expect(isOutOfAttempts(job(1, 5), transient)).toBe(false);
    expect(isOutOfAttempts(job(4, 5), transient)).toBe(false);
    expect(isOutOfAttempts(job(5, 5), transient)).toBe(true);
    // Without attempts set, BullMQ makes one.
    expect(isOutOfAttempts(job(1), transient)).toBe(true);
    expect(isOutOfAttempts(job(1, 5), new UnrecoverableError('malformed scan job'))).toBe(true);
    expect(isOutOfAttempts(job(0, 5), new Error('job stalled more than allowable limit'))).toBe(
      true,
    );
  });

  it('knows the attempt about to run is the last one', () => {
    expect(isFinalAttempt(job(0, 5))).toBe(false);
    expect(isFinalAttempt(job(3, 5))).toBe(false);
    expect(isFinalAttempt(job(4, 5))).toBe(true);
    expect(isFinalAttempt(job(0))).toBe(true);
  });
});

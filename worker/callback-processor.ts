import { DelayedError, type Job } from 'bullmq';
import { CallbackJobSchema, type CallbackJob } from '../core/queues.js';
import { deliverCallback, type DeliveryDeps } from '../webhooks/delivery.js';
import { fairnessDelayMs, type TenantDeliveryLeases } from '../webhooks/fairness.js';
import { parseJobPayload } from './job-payload.js';

/** What the callback worker needs: the delivery itself, and the per-tenant slots. */
export interface CallbackDeps extends DeliveryDeps {
  leases: TenantDeliveryLeases;
}

/**
 * The callback queue's processor: one job is one delivery (its retries are the job's attempts).
 * Before an attempt the job takes one of its tenant's delivery slots; when the tenant already has
 * its bound in flight the job goes back to the delayed set without using up an attempt, waits in
 * line for the tenant's next free slot (see webhooks/fairness.ts), and the worker slot goes to
 * someone else's delivery.
 */
export function createCallbackProcessor(deps: CallbackDeps) {
  return async (job: Job<CallbackJob>, token?: string): Promise<void> => {
    const data = parseJobPayload(job, CallbackJobSchema);
    const holder = job.id ?? `${data.scanId}:${data.redelivery ?? 0}`;

    if (!(await deps.leases.acquire(data.tenantId, holder))) {
      // attemptsStarted counts every start, turned away or not; attemptsMade only real attempts.
      const turnedAway = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
      await job.moveToDelayed(Date.now() + fairnessDelayMs(turnedAway), token);
      // Woken as soon as one of the tenant's slots frees; if parking fails, the delay brings it back.
      await deps.leases.park(data.tenantId, holder).catch(() => undefined);
      throw new DelayedError();
    }
    try {
      await deliverCallback(deps, data, {
        // A retry of the scan worker's own first attempt (worker/inline-callback.ts) counts on.
        attempt: (data.priorAttempts ?? 0) + job.attemptsMade + 1,
        redelivery: data.redelivery,
      });
    } finally {
      // A lease that cannot be released (Redis away) lapses by itself.
      await deps.leases.release(data.tenantId, holder).catch(() => undefined);
    }
  };
}

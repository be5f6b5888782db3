import { UnrecoverableError } from 'bullmq';
import { callbackBackoffMs, enqueueCallback, type Queues } from '../core/queues.js';
import type { InlineDelivery } from '../scans/pipeline.js';
import { deliverCallback, type DeliveryDeps } from '../webhooks/delivery.js';

export interface InlineCallbackDeps extends DeliveryDeps {
  queues: Pick<Queues, 'callback'>;
  /** The callback queue's retry schedule (ARBITER_CALLBACK_RETRY_BASE_MS / _MAX_MS). */
  schedule: { baseMs: number; maxMs: number };
}

/**
 * A finished scan's first callback attempt, made by the scan worker right after the result is
 * stored, with the result it holds: no callback job, no second read of the record. Only when
 * that attempt fails is a callback job queued, as the delivery's retry (attempt 2 on, after the
 * usual backoff); a 410 Gone or a tenant without a signing secret ends the delivery as a job's
 * attempt would. The scan job is still running meanwhile: if the process dies before the attempt
 * is made or its retry queued, the job is picked up again, finds the result stored and queues
 * the callback (scans/pipeline.ts), so the callback is still delivered at least once.
 *
 * The attempt runs in the tenant's scan slot (worker/scan-slots.ts): a receiver that hangs holds
 * only its own tenant's slots, for at most the callback timeout; its retries go through the
 * callback queue and its per-tenant delivery slots as before.
 */
export function inlineCallback(deps: InlineCallbackDeps): InlineDelivery {
  return async (request, result) => {
    const job = { tenantId: request.tenantId, scanId: request.id };
    try {
      await deliverCallback(deps, job, 1, { result, callback: request.callback ?? '' });
    } catch (error) {
      if (error instanceof UnrecoverableError) {
        deps.logger.warn({ scanId: request.id, err: error.message }, 'callback delivery given up');
        return;
      }
      const delayMs = callbackBackoffMs(1, deps.schedule);
      await enqueueCallback(deps.queues, { ...job, priorAttempts: 1 }, delayMs);
    }
  };
}

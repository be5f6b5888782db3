import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../core/logger.js';
import { OutboundError, safeOrigin, type OutboundHttp } from '../core/outbound-http.js';
import type { CallbackJob } from '../core/queues.js';
import type { ScanStore } from '../core/scan-store.js';

export interface DeliveryDeps {
  scans: ScanStore;
  http: OutboundHttp;
  timeoutMs: number;
  userAgent: string;
  logger: Logger;
}

/** Thrown to make BullMQ retry the delivery later (non-2xx answer or network failure). */
export class DeliveryFailed extends Error {
  override name = 'DeliveryFailed';
}

/**
 * Sends one callback attempt: the stored result as JSON to the URL the client gave. 2xx means
 * delivered; 410 Gone means the receiver wants no more and stops the retries; anything else is
 * retried by the queue. Every attempt is written to the scan's trace.
 */
export async function deliverCallback(deps: DeliveryDeps, job: CallbackJob, attempt: number): Promise<void> {
  const record = await deps.scans.get(job.tenantId, job.scanId);
  if (!record?.result || !record.request.callback) return; // deleted or expired: nothing to send
  const url = record.request.callback;
  const origin = safeOrigin(url);
  const trace = (message: string) => deps.scans.appendTrace(job.tenantId, job.scanId, message);
  const body = JSON.stringify(record.result);
  const headers = { 'content-type': 'application/json', 'user-agent': deps.userAgent };

  let status: number;
  try {
    const outcome = await deps.http.post(url, body, headers, deps.timeoutMs);
    status = outcome.status;
    await trace(`callback attempt ${attempt} to ${origin}: HTTP ${status} in ${outcome.latencyMs} ms`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await trace(`callback attempt ${attempt} to ${origin}: failed (${reason})`);
    if (error instanceof OutboundError && error.permanent) throw new UnrecoverableError(reason);
    throw new DeliveryFailed(reason);
  }

  if (status >= 200 && status < 300) return;
  if (status === 410) {
    await trace(`callback receiver at ${origin} answered 410 Gone: no further attempts`);
    throw new UnrecoverableError('receiver answered 410 Gone');
  }
  throw new DeliveryFailed(`receiver answered HTTP ${status}`);
}

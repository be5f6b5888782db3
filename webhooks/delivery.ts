import { UnrecoverableError } from 'bullmq';
import type { ErrorLog } from '../core/error-log.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { DeliveryError, isRetryable } from '../core/errors.js';
import { safeOrigin, type OutboundHttp } from '../core/outbound-http.js';
import type { CallbackJob } from '../core/queues.js';
import type { ScanResult } from '../scans/results.js';
import type { CallbackStat } from '../scans/stats.js';
import type { ScanStore } from '../scans/store.js';
import type { TenantStore } from '../core/tenants.js';
import { signWebhook, webhookIdFor } from './signing.js';

export interface DeliveryDeps {
  scans: Pick<ScanStore, 'get' | 'appendTrace' | 'recordCallbackAttempt'>;
  tenants: Pick<TenantStore, 'getSigningSecrets'>;
  http: OutboundHttp;
  timeoutMs: number;
  userAgent: string;
  logger: Logger;
  /** Clock (epoch ms), for the signature timestamp and the rotation grace period. */
  now?: () => number;
  /** Counts attempts by outcome: delivered, failed, gone (core/metrics.ts). */
  metrics?: Pick<Metrics, 'callbackAttempt'>;
  /** Recent errors for operators (core/error-log.ts): deliveries given up. */
  errors?: Pick<ErrorLog, 'record'>;
}

/** Which attempt this is: 1-based within its delivery job; `redelivery` n for the n-th redelivery. */
export interface DeliveryAttempt {
  attempt: number;
  redelivery?: number;
}

/** What is delivered: the scan's stored result and the URL its client gave. */
export interface DeliveryContent {
  result: ScanResult;
  callback: string;
  /** The tenant's signing secrets, when the caller read them already (else they are read). */
  secrets?: string[];
}

/**
 * Sends one callback attempt: the stored result as JSON to the URL the client gave, signed per
 * Standard Webhooks with the tenant's signing secret(s). 2xx means delivered; 410 Gone means the
 * receiver wants no more and stops the retries; anything else (another status, a 3xx, which is
 * not followed, a timeout, a refused connection) is retried by the queue. Every attempt is written
 * to the scan's trace with its status or error and its latency. `known`: the result and URL the
 * caller holds already (the scan worker that just stored them); otherwise they are read.
 */
export async function deliverCallback(
  deps: DeliveryDeps,
  job: CallbackJob,
  which: number | DeliveryAttempt,
  known?: DeliveryContent,
): Promise<void> {
  const { attempt, redelivery } =
    typeof which === 'number' ? { attempt: which, redelivery: undefined } : which;
  const content = known ?? (await storedContent(deps, job));
  if (!content) return; // deleted or expired: nothing to send
  const url = content.callback;
  const origin = safeOrigin(url);
  const label = `callback attempt ${attempt}${redelivery ? ` (redelivery ${redelivery})` : ''} to ${origin}`;
  const trace = (message: string) => deps.scans.appendTrace(job.tenantId, job.scanId, message);
  // Each attempt: its trace line, its structured record and the tenant's hourly counter, at once.
  const record = (
    message: string,
    outcome: { status?: number; error?: string; latencyMs: number },
    stat?: CallbackStat,
  ) =>
    deps.scans.recordCallbackAttempt(job.tenantId, job.scanId, {
      trace: message,
      record: {
        attempt,
        ...(redelivery ? { redelivery } : {}),
        at: new Date().toISOString(),
        url_origin: origin,
        ...(outcome.status === undefined ? {} : { status: outcome.status }),
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        latency_ms: outcome.latencyMs,
      },
      ...(stat ? { stat } : {}),
    });

  const now = deps.now?.() ?? Date.now();
  const secrets = content.secrets ?? (await deps.tenants.getSigningSecrets(job.tenantId, now));
  if (secrets.length === 0) {
    await record(`${label}: not sent (the account has no webhook signing secret)`, {
      error: 'not sent: the account has no webhook signing secret',
      latencyMs: 0,
    });
    throw new UnrecoverableError('the tenant has no webhook signing secret');
  }
  const body = JSON.stringify(content.result);
  const headers = {
    'content-type': 'application/json',
    'user-agent': deps.userAgent,
    ...signWebhook({
      id: webhookIdFor(job.scanId, job.rescan),
      body,
      secrets,
      timestamp: Math.floor(now / 1000),
    }),
  };

  const started = performance.now();
  let status: number;
  try {
    const outcome = await deps.http.post(url, body, headers, deps.timeoutMs);
    status = outcome.status;
    await record(
      `${label}: HTTP ${status} in ${outcome.latencyMs} ms`,
      { status, latencyMs: outcome.latencyMs },
      status >= 200 && status < 300 ? 'cb_delivered' : 'cb_failed',
    );
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    const reason = error instanceof Error ? error.message : String(error);
    await record(
      `${label}: failed (${reason}) after ${latencyMs} ms`,
      { error: reason, latencyMs },
      'cb_failed',
    );
    deps.metrics?.callbackAttempt('failed');
    if (!isRetryable(error)) throw new UnrecoverableError(reason);
    // A retryable DeliveryError makes BullMQ try again later, with backoff.
    throw new DeliveryError(reason, { retryable: true, cause: error });
  }

  if (status >= 200 && status < 300) {
    deps.metrics?.callbackAttempt('delivered');
    return;
  }
  deps.metrics?.callbackAttempt(status === 410 ? 'gone' : 'failed');
  if (status === 410) {
    await trace(`callback receiver at ${origin} answered 410 Gone: no further attempts`);
    throw new UnrecoverableError('receiver answered 410 Gone');
  }
  throw new DeliveryError(`receiver answered HTTP ${status}`, { retryable: true });
}

async function storedContent(
  deps: DeliveryDeps,
  job: CallbackJob,
): Promise<DeliveryContent | undefined> {
  const record = await deps.scans.get(job.tenantId, job.scanId);
  if (!record?.result || !record.request.callback) return undefined;
  return { result: record.result, callback: record.request.callback };
}

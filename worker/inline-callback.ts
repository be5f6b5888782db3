import { setTimeout as delay } from 'node:timers/promises';
import { UnrecoverableError } from 'bullmq';
import {
  callbackBackoffMs,
  callbackJobId,
  enqueueCallback,
  type CallbackJob,
  type Queues,
} from '../core/queues.js';
import type { CallbackHandOff } from '../scans/pipeline.js';
import type { ScanRequest, ScanResult, TraceEvent } from '../scans/results.js';
import type { ScanStore } from '../scans/store.js';
import { deliverCallback, type DeliveryContent, type DeliveryDeps } from '../webhooks/delivery.js';
import type { TenantDeliveryLeases } from '../webhooks/fairness.js';
import { InFlight } from './graceful-close.js';

export interface InlineCallbackDeps extends DeliveryDeps {
  scans: ScanStore;
  queues: Pick<Queues, 'callback'>;
  /** The tenant delivery slots the callback queue uses too (webhooks/fairness.ts). */
  leases: TenantDeliveryLeases;
  /** The callback queue's retry schedule (ARBITER_CALLBACK_RETRY_BASE_MS / _MAX_MS). */
  schedule: { baseMs: number; maxMs: number };
  /** First attempts this process makes at once (ARBITER_CALLBACK_CONCURRENCY); past it, queued. */
  concurrency: number;
  /** ARBITER_PENDING_GRACE_MS: how old a pending-index entry must be for the reaper to take it. */
  pendingGraceMs: number;
  /** Time allowed for one attempt (ARBITER_CALLBACK_TIMEOUT_MS). */
  attemptTimeoutMs: number;
}

/**
 * The first callback attempt of a result the scan worker just stored, made by the scan worker's
 * process with the result it holds: no callback job, no second read of the record. It runs after
 * the scan job has ended, so a receiver that hangs holds no scan slot; it takes one of the
 * tenant's delivery slots like a callback job (webhooks/fairness.ts), and a delivery that finds
 * none free, or that finds this process at its `concurrency`, is queued as a callback job at once.
 * Only when the attempt fails is a callback job queued, as the delivery's retry (attempt 2 on,
 * after the usual backoff); a 410 Gone or a tenant without a signing secret ends the delivery as
 * a job's attempt would.
 *
 * At least once, even if this process dies: the result was stored with its scan left in the
 * pending index, scored so that the pending reaper takes it up `windowMs` later (longer than an
 * attempt can take), and it leaves the index only once the attempt was made or the job queued.
 * The reaper queues the callback of a finished scan it finds there (scans/pending-reaper.ts).
 */
export class InlineCallbacks implements CallbackHandOff {
  private readonly running = new InFlight();
  private active = 0;
  /** Set at shutdown: no new retries of a failed hand-off (the pending reaper has them). */
  private closing = false;

  constructor(private readonly deps: InlineCallbackDeps) {}

  /** How long after the result an undelivered callback is the reaper's: two attempts and more. */
  get windowMs(): number {
    return 2 * this.deps.attemptTimeoutMs + 5_000;
  }

  owedScore(): number {
    return Date.now() - this.deps.pendingGraceMs + this.windowMs;
  }

  start(request: ScanRequest, result: ScanResult): void {
    const job: CallbackJob = { tenantId: request.tenantId, scanId: request.id };
    const deliver = this.running.track(() => this.deliver(job, request.callback ?? '', result));
    deliver().catch((error: unknown) => {
      // Delivered (or its retry queued) but still in the pending index: only that is left to do;
      // a second delivery would be a needless duplicate.
      const handedOff = error instanceof HandedOff;
      this.deps.logger.warn(
        { err: handedOff ? error.cause : error, scanId: job.scanId },
        handedOff
          ? 'callback handed off, but its pending entry stays until Redis answers'
          : 'could not deliver or queue a callback; queueing it as soon as Redis answers',
      );
      const remaining = handedOff
        ? () => this.deps.scans.forgetPending(job.tenantId, job.scanId)
        : () => this.queue(job);
      void this.running.track(() => this.onceRedisAnswers(remaining))();
    });
  }

  /** Resolves once every attempt started here has ended (shutdown). */
  idle(): Promise<void> {
    this.closing = true;
    return this.running.idle();
  }

  /**
   * After a failure that was not the receiver's (Redis away, typically), does what is left —
   * queue the delivery as a callback job, or drop the pending entry of one handed off — trying
   * again with a growing pause while this process runs and the pending reaper's window has not
   * passed. So a short Redis outage delays a callback by the outage, not by the reaper's window;
   * past the window, or at shutdown, the scan is left to the reaper (it is still in the pending
   * index). The job id is the scan's, so a job the reaper queued too is the same job.
   */
  private async onceRedisAnswers(remaining: () => Promise<void>): Promise<void> {
    const giveUpAt = Date.now() + this.windowMs;
    let pauseMs = 200;
    while (!this.closing && Date.now() < giveUpAt) {
      await delay(pauseMs);
      if (this.closing) return;
      try {
        await remaining();
        return;
      } catch {
        pauseMs = Math.min(pauseMs * 2, 2_000);
      }
    }
  }

  private async deliver(job: CallbackJob, callback: string, result: ScanResult): Promise<void> {
    const holder = callbackJobId(job);
    if (this.active >= this.deps.concurrency) return this.queue(job);
    this.active += 1;
    try {
      // Both in flight at once, as are the three writes after the attempt.
      const [granted, secrets] = await Promise.all([
        this.deps.leases.acquire(job.tenantId, holder),
        this.deps.tenants.getSigningSecrets(job.tenantId),
      ]);
      if (!granted) return await this.queue(job);
      const buffered: BufferedAttempt = { trace: [], attempts: [] };
      const write = () =>
        this.deps.scans.appendCallbackAttempts(job.tenantId, job.scanId, buffered);
      try {
        await this.attempt(job, { callback, result, secrets }, buffered);
      } catch (error) {
        // Not delivered nor queued: the reaper's (the scan stays in the pending index).
        await Promise.all([write(), this.deps.leases.release(job.tenantId, holder)]).catch(
          () => undefined,
        );
        throw error;
      }
      // A lease that cannot be released (Redis away) lapses by itself.
      await Promise.all([
        write(),
        this.deps.leases.release(job.tenantId, holder).catch(() => undefined),
        this.deps.scans.forgetPending(job.tenantId, job.scanId),
      ]).catch((error: unknown) => {
        throw new HandedOff(error);
      });
    } finally {
      this.active -= 1;
    }
  }

  /** The attempt, its trace events and attempt records kept in `buffered` (written with the lease's release). */
  private async attempt(
    job: CallbackJob,
    content: DeliveryContent,
    buffered: BufferedAttempt,
  ): Promise<void> {
    const traceEvent = (message: string) =>
      buffered.trace.push({ timestamp: new Date().toISOString(), message });
    const scans: DeliveryDeps['scans'] = {
      get: (tenantId: string, scanId: string) => this.deps.scans.get(tenantId, scanId),
      appendTrace: (_tenantId, _scanId, message) => {
        traceEvent(message);
        return Promise.resolve();
      },
      recordCallbackAttempt: (_tenantId, _scanId, attempt) => {
        traceEvent(attempt.trace);
        buffered.attempts.push(attempt);
        return Promise.resolve();
      },
    };
    try {
      await deliverCallback({ ...this.deps, scans }, job, 1, content);
    } catch (error) {
      if (error instanceof UnrecoverableError) {
        this.deps.logger.warn(
          { scanId: job.scanId, err: error.message },
          'callback delivery given up',
        );
        this.deps.errors?.record({
          kind: 'callback',
          tenantId: job.tenantId,
          scanId: job.scanId,
          message: `callback delivery given up: ${error.message}`,
        });
        return;
      }
      const delayMs = callbackBackoffMs(1, this.deps.schedule);
      await enqueueCallback(this.deps.queues, { ...job, priorAttempts: 1 }, delayMs);
    }
  }

  /** Hands the whole delivery to the callback queue, no attempt made. */
  private async queue(job: CallbackJob): Promise<void> {
    await enqueueCallback(this.deps.queues, job);
    await this.deps.scans.forgetPending(job.tenantId, job.scanId);
  }
}

/** What an inline attempt wrote, kept until the lease's release (one pipeline then). */
interface BufferedAttempt {
  trace: TraceEvent[];
  attempts: Parameters<ScanStore['recordCallbackAttempt']>[2][];
}

/** The delivery was made or its retry queued; only the pending entry could not be dropped. */
class HandedOff extends Error {
  constructor(cause: unknown) {
    super('the callback was handed off, but its pending entry could not be dropped', { cause });
  }
}

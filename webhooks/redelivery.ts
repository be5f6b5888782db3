import { randomBytes } from 'node:crypto';
import { conflict, notFound } from '../core/errors.js';
import type { RedisKeys } from '../core/keys.js';
import {
  CALLBACK_JOB_OPTIONS,
  CallbackJobSchema,
  callbackJobId,
  type Queues,
} from '../core/queues.js';
import type { Redis } from '../core/redis.js';
import type { ScanStore } from '../scans/store.js';

/**
 * What `POST /v1/files/{id}/redeliver` did:
 *   queued       a new delivery job (its own 30 attempts) was added for the stored result;
 *   rescheduled  a delivery of this result was still waiting for its next retry: it runs now;
 *   in-progress  a delivery of this result is running or about to: nothing more was added.
 */
export type RedeliveryStatus = 'queued' | 'rescheduled' | 'in-progress';

const PENDING_STATES = new Set(['waiting', 'active', 'prioritized', 'waiting-children']);

/** Longer than one decision takes (a few Redis calls); a crashed holder frees it after this. */
const LOCK_MS = 5000;

/**
 * Redelivery of a scan's callback. The deliveries of one scan are a chain of jobs: `cb-{id}` (made
 * when the scan finished), then `cb-{id}-r1`, `cb-{id}-r2`… one per redelivery asked for, counted
 * in `redeliveries:{tid}:{id}`. Only the newest can still be pending, so it decides whether a new
 * one is needed; two deliveries of the same result never run side by side because of a redeliver,
 * not even when two redeliver requests arrive at once (a short per-scan lock serializes them).
 */
export class Redeliveries {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scans: ScanStore,
    private readonly queues: Queues,
    private readonly ttlSeconds: number,
  ) {}

  async redeliver(
    tenantId: string,
    scanId: string,
  ): Promise<{ status: RedeliveryStatus; redelivery?: number }> {
    const record = await this.scans.get(tenantId, scanId);
    if (!record || record.state === 'deleted')
      throw notFound(`Sadly, we could not find a file by that id ${scanId}.`);
    if (!record.request.callback) {
      throw conflict(
        `The file ${scanId} was submitted without a callback URL: there is nothing to redeliver.`,
      );
    }
    if (!record.result) {
      throw conflict(
        `The file ${scanId} is still being processed; its callback will be sent when it is done.`,
      );
    }

    // One request at a time decides for a scan: two calls at once would otherwise both see the
    // last delivery finished and both queue a new one. The other call is told one is on its way.
    const lock = this.keys.redeliverLock(tenantId, scanId);
    const token = randomBytes(12).toString('hex');
    if ((await this.redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK')
      return { status: 'in-progress' };
    try {
      return await this.decide(tenantId, scanId);
    } finally {
      await this.redis.redeliveryLockRelease(1, lock, token).catch(() => undefined);
    }
  }

  private async decide(
    tenantId: string,
    scanId: string,
  ): Promise<{ status: RedeliveryStatus; redelivery?: number }> {
    const latest = Number((await this.redis.get(this.keys.redeliveries(tenantId, scanId))) ?? 0);
    const job = await this.queues.callback.getJob(callbackJobId({ scanId, redelivery: latest }));
    const state = job ? await job.getState() : 'unknown';
    if (job && state === 'delayed') {
      await job.promote().catch(() => undefined); // it may have become active meanwhile: then it runs anyway
      await this.scans.appendTrace(
        tenantId,
        scanId,
        'redelivery requested: the delivery waiting for its next retry runs now',
      );
      return { status: 'rescheduled' };
    }
    if (PENDING_STATES.has(state)) return { status: 'in-progress' };

    const key = this.keys.redeliveries(tenantId, scanId);
    const replies = await this.redis.multi().incr(key).expire(key, this.ttlSeconds).exec();
    const count = Number(replies?.[0]?.[1]);
    const data = CallbackJobSchema.parse({ tenantId, scanId, redelivery: count });
    await this.scans.appendTrace(
      tenantId,
      scanId,
      `redelivery ${count} requested: the result will be sent again`,
    );
    await this.queues.callback.add('deliver', data, {
      ...CALLBACK_JOB_OPTIONS,
      jobId: callbackJobId(data),
    });
    return { status: 'queued', redelivery: count };
  }
}

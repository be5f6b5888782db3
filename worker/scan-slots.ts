import { DelayedError, type Job } from 'bullmq';
import { ScanJobSchema, type ScanJob } from '../core/queues.js';
import { fairnessDelayMs, type TenantLeases } from '../core/tenant-leases.js';
import { validJobPayload } from './job-payload.js';

type ScanProcessor = (job: Job<ScanJob>, token?: string) => Promise<void>;

/**
 * Per-tenant scan slots across the fleet: at most `limit` scans of one tenant run at once on all
 * worker processes together (core/tenant-leases.ts, under the tenant's `scan-inflight` and
 * `scan-parked` keys). Without it a tenant whose locations trickle bytes could hold every scan
 * slot of every worker for as long as its downloads last, and everybody else's scans would wait.
 *
 * A scan job whose tenant is at its bound gives its worker slot back at once: it moves to the
 * delayed set (no attempt used up, so it is not a failure and not a retry), waits in line, and is
 * woken as soon as one of its tenant's scans ends. A running scan renews its lease, so a long
 * download or scan keeps its slot; a worker that dies stops renewing, and the lease lapses soon
 * after the job lock (when the job is picked up again, it takes the same lease back).
 */
export class ScanSlots {
  constructor(
    private readonly leases: TenantLeases,
    /** How often a running scan renews its lease: a fraction of the lease's length. */
    private readonly renewEveryMs: number = Math.max(1000, Math.floor(leases.options.leaseMs / 3)),
  ) {}

  /** The scan processor, run in one of the job's tenant's slots. */
  around(processor: ScanProcessor): ScanProcessor {
    return async (job, token) => {
      const payload = validJobPayload(job, ScanJobSchema);
      // A malformed job has no tenant to count against; the processor fails it for good.
      if (!payload) return processor(job, token);
      return this.run(job, token, payload.tenantId, () => processor(job, token));
    };
  }

  /**
   * Runs `scan` in one of the tenant's slots; when the tenant has none free, turns the job away
   * (throws BullMQ's DelayedError after moving it to the delayed set with the worker's `token`).
   */
  async run<T>(
    job: Job,
    token: string | undefined,
    tenantId: string,
    scan: () => Promise<T>,
  ): Promise<T> {
    const holder = String(job.id);
    // A job on its first start was never turned away, so it is in no line.
    const firstStart = job.attemptsStarted === 1;
    if (!(await this.leases.acquire(tenantId, holder, firstStart))) {
      // attemptsStarted counts every start, turned away or not; attemptsMade only real attempts.
      const turnedAway = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
      await job.moveToDelayed(Date.now() + fairnessDelayMs(turnedAway), token);
      // Woken as soon as one of the tenant's slots frees; if parking fails, the delay brings it back.
      await this.leases.park(tenantId, holder).catch(() => undefined);
      throw new DelayedError();
    }
    const renewal = setInterval(() => {
      // A renewal lost to a Redis hiccup is made up by the next one; the lease outlasts two.
      this.leases.renew(tenantId, holder).catch(() => undefined);
    }, this.renewEveryMs);
    renewal.unref();
    try {
      return await scan();
    } finally {
      clearInterval(renewal);
      // A lease that cannot be released (Redis away) lapses by itself.
      await this.leases.release(tenantId, holder).catch(() => undefined);
    }
  }
}

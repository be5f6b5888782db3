import type { Logger } from '../../core/logger.js';
import { RETRO_JOB_OPTIONS, type Queues } from '../../core/queues.js';
import type { RetroJobRecord, RetroJobStore } from './jobs.js';

/**
 * Finds retro jobs that stopped moving and sets them going again (a worker-role chore, every
 * `intervalMs`; see cli/serve.ts).
 *
 * A job is open while `crawling` or `scanning`, and moves on with every checkpointed page and
 * every credited outcome (its `progress_at`). One still open `stallMs` after its last progress:
 *
 * - `crawling` with no crawl job waiting or running: the job's crawl was lost (queued to a Redis
 *   primary that failed over before its replica had it, or failed without its end recorded). A
 *   crawl is queued again; it resumes from the checkpoint.
 * - `scanning`: some outcome will not arrive. A `reconcile` job is queued (s3/retro/reconcile.ts).
 *
 * Each run walks the tenants a page at a time, counting their jobs in one round trip per page so
 * that tenants without jobs cost nothing more, and reads the newest `jobsPerTenant` jobs of the
 * others. The queued job's id names the stall (job and `progress_at`), so every worker's audit
 * finding the same stall queues it once; a reconcile pass moves `progress_at`, so a job still
 * stuck after it is looked at again a whole stall period later.
 */
export interface RetroStallAuditDeps {
  jobs: RetroJobStore;
  queues: Pick<Queues, 'retro'>;
  logger: Logger;
  /** ARBITER_RETRO_STALL_SECONDS, in milliseconds. */
  stallMs: number;
  /** Every tenant id, a page at a time (TenantStore.eachTenantIdPage). */
  tenantIds: () => AsyncIterable<string[]>;
  /** The crawl's BullMQ job id of a retro job (s3/retro/index.ts). */
  crawlJobId: (jobId: string) => string;
  now?: () => number;
}

/** BullMQ job states in which a crawl will still run (or runs now). */
const ALIVE_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children']);

/** Jobs looked at per tenant and run: the newest (jobs are listed newest first). */
const JOBS_PER_TENANT = 1_000;

export interface AuditRun {
  /** Crawls queued again. */
  resumed: number;
  /** Reconcile passes queued. */
  reconciling: number;
}

export class RetroStallAudit {
  constructor(private readonly deps: RetroStallAuditDeps) {}

  async run(signal?: AbortSignal): Promise<AuditRun> {
    const done: AuditRun = { resumed: 0, reconciling: 0 };
    const cutoff = (this.deps.now?.() ?? Date.now()) - this.deps.stallMs;
    for await (const page of this.deps.tenantIds()) {
      const counts = await this.deps.jobs.countJobs(page);
      for (const [index, tenantId] of page.entries()) {
        if (signal?.aborted) return done;
        if (counts[index] === 0) continue;
        for (const job of await this.deps.jobs.list(tenantId, JOBS_PER_TENANT)) {
          if (!isOpen(job) || !(Date.parse(job.progressAt) < cutoff)) continue;
          const action = await this.restart(tenantId, job);
          if (action) done[action] += 1;
        }
      }
    }
    return done;
  }

  private async restart(
    tenantId: string,
    job: RetroJobRecord,
  ): Promise<keyof AuditRun | undefined> {
    const { queues, logger } = this.deps;
    const stall = `${job.id}-${Date.parse(job.progressAt)}`;
    const log = { tenantId, jobId: job.id, state: job.state, progressAt: job.progressAt };
    const payload = { tenantId, jobId: job.id };
    if (job.state === 'crawling') {
      const crawl = await queues.retro.getJobState(this.deps.crawlJobId(job.id));
      if (ALIVE_STATES.has(crawl)) return undefined;
      await queues.retro.add('crawl', payload, { ...RETRO_JOB_OPTIONS, jobId: `resume-${stall}` });
      logger.warn({ ...log, crawl }, 'retro job had no crawl running: crawl queued again');
      return 'resumed';
    }
    await queues.retro.add('reconcile', payload, {
      ...RETRO_JOB_OPTIONS,
      jobId: `reconcile-${stall}`,
    });
    logger.warn(log, 'retro job has stopped making progress: reconcile queued');
    return 'reconciling';
  }
}

const isOpen = (job: RetroJobRecord): boolean =>
  job.state === 'crawling' || job.state === 'scanning';

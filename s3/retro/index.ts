import { setTimeout as delay } from 'node:timers/promises';
import { badRequest, conflict, isRetryable, notFound, unavailable } from '../../core/errors.js';
import { isId, newId } from '../../core/ids.js';
import type { RedisKeys } from '../../core/keys.js';
import type { Logger } from '../../core/logger.js';
import { RETRO_JOB_OPTIONS, RetroCrawlJobSchema, type Queues } from '../../core/queues.js';
import type { Redis } from '../../core/redis.js';
import type { BucketStore } from '../bucket-store.js';
import type { AwsClients } from '../clients.js';
import type { ObjectOutcomeListener } from '../object-scans.js';
import type { ReconcileDeps } from './reconcile.js';
import { RetroJobStore, type RetroJobRecord } from './jobs.js';
import { RetroSchedules } from './schedules.js';
import { RetroJobInputSchema, S3_EPOCH, type RetroBucket } from './schema.js';

/**
 * Retro jobs and schedules (docs/s3.md): the stores, the crawl's dependencies, the outcome
 * listener that keeps the counters, and the operations behind `/v1/jobs` and `/v1/schedules`.
 * Built once by the composition root; the worker role also starts `startRetroWorker`
 * (worker/retro-processor.ts).
 */
export interface RetroService {
  jobs: RetroJobStore;
  schedules: RetroSchedules;
  /** What crawls and reconcile passes need (s3/retro/crawler.ts, reconcile.ts). */
  crawler: ReconcileDeps;
  /** Credits each scan outcome to the retro jobs waiting for it (register on objectScans). */
  outcomeListener: ObjectOutcomeListener;
  /** POST /v1/jobs: validates, creates the job (state crawling) and queues its crawl. */
  createJob(tenantId: string, body: unknown): Promise<RetroJobRecord>;
  /** POST /v1/jobs/{id}/cancel. */
  cancelJob(tenantId: string, id: string): Promise<RetroJobRecord>;
  /** One firing of a schedule (the worker's `schedule` job). */
  fireSchedule(tenantId: string, scheduleId: string, firedAtMs: number): Promise<void>;
}

export const crawlJobId = (jobId: string): string => `crawl-${jobId}`;

/** Attempts at one credit while Redis is unreachable: about 15 s in all, through a failover. */
const CREDIT_ATTEMPTS = 5;

/**
 * Retries a credit that failed because Redis could not be reached (a failover in progress): the
 * scan's outcome is known now, and would otherwise wait for the stall audit to find it (a whole
 * ARBITER_RETRO_STALL_SECONDS). Credits count each object once, so a retry never counts twice.
 */
async function creditThroughOutage(credit: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await credit();
      return;
    } catch (error) {
      if (attempt >= CREDIT_ATTEMPTS || !isRetryable(error)) throw error;
      await delay(1_000 * attempt);
    }
  }
}

export function createRetro(options: {
  redis: Redis;
  keys: RedisKeys;
  queues: Queues;
  buckets: BucketStore;
  clients: AwsClients;
  objectScans: ReconcileDeps['objectScans'];
  pageSize: number;
  ttlSeconds: number;
  /** ARBITER_SCHEDULE_MIN_INTERVAL. */
  scheduleMinIntervalSeconds: number;
  logger: Logger;
  now?: () => Date;
}): RetroService {
  const { redis, keys, queues, buckets, logger } = options;
  const now = options.now ?? (() => new Date());
  const jobs = new RetroJobStore(redis, keys, options.ttlSeconds, now);

  const requireBuckets = async (tenantId: string, list: RetroBucket[]) => {
    for (const [index, entry] of list.entries()) {
      if (!(await buckets.get(tenantId, entry.name))) {
        throw badRequest(
          `buckets[${index}].name: there is no registered bucket named "${entry.name.slice(0, 70)}" (register it with PUT /v1/buckets/{name} first)`,
        );
      }
    }
  };
  const schedules = new RetroSchedules(
    redis,
    keys,
    queues,
    jobs,
    requireBuckets,
    options.scheduleMinIntervalSeconds,
    logger,
    now,
  );

  const enqueueCrawl = async (tenantId: string, jobId: string) => {
    await queues.retro.add('crawl', RetroCrawlJobSchema.parse({ tenantId, jobId }), {
      ...RETRO_JOB_OPTIONS,
      jobId: crawlJobId(jobId),
    });
  };

  return {
    jobs,
    schedules,
    crawler: {
      jobs,
      buckets,
      clients: options.clients,
      objectScans: options.objectScans,
      pageSize: options.pageSize,
      logger,
    },
    outcomeListener: {
      async onObjectOutcome(event) {
        for (const jobId of event.retroJobIds) {
          await creditThroughOutage(() =>
            jobs.credit(event.tenantId, jobId, event.object, event.outcome),
          );
        }
      },
    },

    async createJob(tenantId, body) {
      const input = RetroJobInputSchema.parse(body ?? {});
      await requireBuckets(tenantId, input.buckets);
      const from = input.from ?? S3_EPOCH;
      const to = input.to ?? now().toISOString();
      if (from > to) {
        throw badRequest(`from (${from}) is after to (${to}): the window would be empty`);
      }
      const id = newId();
      const job = await jobs.create(tenantId, id, { buckets: input.buckets, from, to });
      try {
        await enqueueCrawl(tenantId, id);
      } catch (error) {
        logger.error({ err: error, jobId: id }, 'could not queue a retro crawl');
        await jobs.discard(tenantId, id).catch(() => undefined);
        throw unavailable(
          'The job queue is unavailable; the job was not created. Please retry shortly.',
        );
      }
      return job;
    },

    async cancelJob(tenantId, id) {
      const state = isId(id) ? await jobs.end(tenantId, id, 'cancelled') : undefined;
      if (!state) throw notFound(`There is no retro job with id "${id.slice(0, 64)}".`);
      if (state !== 'cancelled') {
        throw conflict(
          `The job has already ended (${state}); only a running job can be cancelled.`,
        );
      }
      return (await jobs.get(tenantId, id))!;
    },

    async fireSchedule(tenantId, scheduleId, firedAtMs) {
      const fired = await schedules.fire(tenantId, scheduleId, firedAtMs);
      if (!fired) return; // deleted since
      if (fired.kind === 'skipped') {
        logger.info(
          { scheduleId, runningJobId: fired.runningJobId, state: fired.runningState },
          'schedule fired while its previous run is still going: skipped',
        );
        return;
      }
      if (fired.created) {
        logger.info(
          { scheduleId, jobId: fired.job.id, from: fired.job.from, to: fired.job.to },
          'schedule fired: retro job created',
        );
      }
      // Queued again on a retried firing too: the crawl job id makes that a no-op.
      if (fired.job.state === 'crawling') await enqueueCrawl(tenantId, fired.job.id);
    },
  };
}

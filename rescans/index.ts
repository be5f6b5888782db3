import { conflict, notFound, unavailable } from '../core/errors.js';
import { isId, newId } from '../core/ids.js';
import type { RedisKeys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import { RESCAN_JOB_OPTIONS, RescanJobSchema, type Queues } from '../core/queues.js';
import type { Redis } from '../core/redis.js';
import type { ScanService } from '../scans/service.js';
import type { ScanStore } from '../scans/store.js';
import type { UploadStore } from '../core/upload-store.js';
import type { EngineSet } from '../scanning/engines.js';
import type { ObjectRescanDeps } from './objects.js';
import type { RunnerDeps } from './runner.js';
import { parseDatabaseVersion, RescanInputSchema } from './schema.js';
import { RescanStore, type RescanRecord } from './store.js';

/**
 * Rescans by database version (`/v1/rescans`): the store, the runner's dependencies, and the
 * operations behind the routes. Built once by the composition root; the worker role also starts
 * `startRescanWorker` (worker/rescan-processor.ts) with `runner`.
 */
export interface RescanService {
  rescans: RescanStore;
  runner: RunnerDeps;
  /** POST /v1/rescans: validates, creates the rescan (state listing) and queues its run. */
  create(tenantId: string, body: unknown): Promise<RescanRecord>;
  /** POST /v1/rescans/{id}/cancel. */
  cancel(tenantId: string, id: string): Promise<RescanRecord>;
  get(tenantId: string, id: string): Promise<RescanRecord>;
}

/** Where a window starts by default: before any result this service could have stored. */
const EPOCH = '1970-01-01T00:00:00.000Z';

export const rescanJobId = (rescanId: string): string => `rescan-${rescanId}`;

export function createRescans(options: {
  redis: Redis;
  keys: RedisKeys;
  /** Creates and queues the rescans' scans. */
  scanning: ScanService;
  scans: ScanStore;
  queues: Queues;
  uploads: UploadStore;
  engines: EngineSet;
  pageSize: number;
  ttlSeconds: number;
  logger: Logger;
  /** Bucket objects are rescanned through these; without them they are skipped. */
  objects?: ObjectRescanDeps;
}): RescanService {
  const rescans = new RescanStore(options.redis, options.keys, options.ttlSeconds);
  const runner: RunnerDeps = {
    rescans,
    scanning: options.scanning,
    scans: options.scans,
    queues: options.queues,
    uploads: options.uploads,
    pageSize: options.pageSize,
    pollMs: 250,
    logger: options.logger,
    ...(options.objects ? { objects: options.objects } : {}),
  };

  /** "current": the databases this process's engines have loaded now (clamd's as last read). */
  const currentDatabases = (): string[] =>
    options.engines.engines
      .map((engine) => engine.describe?.().version ?? '')
      .filter((version) => parseDatabaseVersion(version) !== undefined);

  const get = async (tenantId: string, id: string) => {
    const record = isId(id) ? await rescans.get(tenantId, id) : undefined;
    if (!record) throw notFound(`There is no rescan with id "${id.slice(0, 64)}".`);
    return record;
  };

  return {
    rescans,
    runner,
    get,
    async create(tenantId, body) {
      const input = RescanInputSchema.parse(body);
      const olderThan = input.older_than.trim();
      const databases = olderThan === 'current' ? currentDatabases() : [olderThan];
      if (databases.length === 0)
        throw unavailable(
          'older_than "current": no engine has reported a database version yet (is clamd up?); retry, or name a version instead',
          30,
        );
      const id = newId();
      const created = await rescans.create(tenantId, id, {
        older_than: olderThan,
        databases,
        findings: input.findings,
        from: input.from ?? EPOCH,
        to: input.to ?? new Date().toISOString(),
      });
      if (!created.created)
        throw conflict(
          `The rescan ${created.running} is still running: a tenant runs one rescan at a time (cancel it with POST /v1/rescans/${created.running}/cancel).`,
        );
      try {
        await options.queues.rescan.add(
          'rescan',
          RescanJobSchema.parse({ tenantId, rescanId: id }),
          { ...RESCAN_JOB_OPTIONS, jobId: rescanJobId(id) },
        );
      } catch (error) {
        // Not queued: it would hold the tenant's one rescan forever.
        await rescans.end(tenantId, id, 'failed', 'the rescan could not be queued');
        throw error;
      }
      return get(tenantId, id);
    },
    async cancel(tenantId, id) {
      await get(tenantId, id);
      if (!(await rescans.end(tenantId, id, 'cancelled')))
        throw conflict(`The rescan ${id} has already ended.`);
      return get(tenantId, id);
    },
  };
}

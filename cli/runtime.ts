import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { clamavDatabaseDir, type Config } from '../core/config.js';
import { S3Client } from '@aws-sdk/client-s3';
import {
  clamdSettings,
  clamdUser,
  findClamdBinary,
  holdsClamdDatabase,
  startEmbeddedClamd,
  stopLeftoverClamd,
  type EmbeddedClamd,
} from '../core/embedded-clamd.js';
import { ConsoleSessionStore } from '../core/console-sessions.js';
import { ConsoleSigninLimiter } from '../core/console-signin-limiter.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../core/embedded-redis.js';
import { RedisKeys } from '../core/keys.js';
import { TenantLimiter, TenantLimitStore } from '../core/limits.js';
import { TenantSettingsStore } from '../core/tenant-settings.js';
import { TenantRuleStore } from '../core/tenant-rules.js';
import { KeySettingsStore } from '../core/key-settings.js';
import { TenantDeletion } from '../core/tenant-deletion.js';
import type { Logger } from '../core/logger.js';
import { createMetrics, type Metrics } from '../core/metrics.js';
import { createNetworkPolicy } from '../core/network-policy.js';
import { createOutboundHttp } from '../core/outbound-http.js';
import { createQueues, scanJobOptions, type QueuePrefix, type Queues } from '../core/queues.js';
import {
  checkRedisAccess,
  closeQueueConnection,
  createRedis,
  queueConnectionOptions,
  redisPrimaries,
  redisReady,
  redisTarget,
  type Redis,
  type RedisTarget,
} from '../core/redis.js';
import { ScanFairness } from '../core/scan-fairness.js';
import { ErrorLog } from '../core/error-log.js';
import { WorkerHeartbeats } from '../core/worker-heartbeats.js';
import { ScanStore } from '../scans/store.js';
import { StatsStore } from '../scans/stats.js';
import { Spool } from '../core/spool.js';
import { LocalUploadStore } from '../core/local-upload-store.js';
import { S3UploadStore } from '../core/s3-upload-store.js';
import type { UploadStore } from '../core/upload-store.js';
import { LocalSanitizedStore } from '../core/local-sanitized-store.js';
import { S3SanitizedStore } from '../core/s3-sanitized-store.js';
import type { SanitizedStore } from '../core/sanitized-store.js';
import { TenantLeases } from '../core/tenant-leases.js';
import { TenantStore } from '../core/tenants.js';
import { TokenStore } from '../core/tokens.js';
import {
  builtinSignatureCount,
  createEngineSet,
  missingClamdWarning,
  type ClamdAbsence,
  type EngineChoice,
  type EngineSet,
} from '../scanning/engines.js';
import type { Analyzer } from '../scanning/analysis/analyzer.js';
import { TenantRuleBook } from '../scanning/analysis/custom-rules/rule-book.js';
import { TenantRulesAnalyzer } from '../scanning/analysis/custom-rules/tenant-rules-analyzer.js';
import { ImageAnalyzer } from '../scanning/analysis/images/image-analyzer.js';
import { LanguageAnalyzer } from '../scanning/analysis/language/language-analyzer.js';
import { SensitiveDataAnalyzer } from '../scanning/analysis/sensitive/sensitive-analyzer.js';
import { TrueTypeAnalyzer } from '../scanning/analysis/true-type/true-type-analyzer.js';
import { YaraRunner } from '../scanning/analysis/yara/yara-runner.js';
import { TenantDeliveryLeases } from '../webhooks/fairness.js';
import type { CallbackDeps } from '../worker/callback-processor.js';
import { Redeliveries } from '../webhooks/redelivery.js';
import { meterEngines } from '../scans/engine-metrics.js';
import { PendingReaper } from '../scans/pending-reaper.js';
import type { PipelineDeps } from '../scans/pipeline.js';
import { ScanService } from '../scans/service.js';
import { SanitizeChoice } from '../scans/sanitize-choice.js';
import { SettingsScanPlanner } from '../scans/scan-plans.js';
import { ScanSlots } from '../worker/scan-slots.js';
import { SpoolSweeper } from '../worker/chores/spool-sweeper.js';
import { SanitizedSweeper } from '../worker/chores/sanitized-sweeper.js';
import { createSanitizerSet, type SanitizerSet } from '../scanning/sanitize/index.js';
import { createS3Access, createS3Protection, type S3Protection } from '../s3/protection.js';
import { createRetro, crawlJobId, type RetroService } from '../s3/retro/index.js';
import { RetroStallAudit } from '../s3/retro/stall-audit.js';
import { createRescans, type RescanService } from '../rescans/index.js';

export const USER_AGENT = 'arbiter/0.1 (+https://github.com/arbiter-scanner/arbiter)';

/**
 * The composition root: every client and store a process needs, built once from the parsed
 * config and passed down explicitly. Nothing below this reads the environment or keeps globals.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  redis: Redis;
  /** Where Redis is (core/redis.ts): every client of the process is made from it. */
  redisTarget: RedisTarget;
  workerConnection: ConnectionOptions;
  queuePrefix: QueuePrefix;
  tenants: TenantStore;
  tokens: TokenStore;
  scans: ScanStore;
  /** The tenants' hourly counters, written by the scan store and callback delivery (scans/stats.ts). */
  stats: StatsStore;
  queues: Queues;
  spool: Spool;
  /** Where async uploads wait for a worker (ARBITER_UPLOAD_STORE). */
  uploads: UploadStore;
  /** Where sanitized copies wait for their download: the same kind of store as the uploads'. */
  sanitized: SanitizedStore;
  engines: EngineSet;
  /**
   * The process's YARA worker threads: one runner for every YARA user (the language rules, and
   * tenants' rules), so its threads and compiled rule sets are shared. Closed by `close`.
   */
  yara: YaraRunner;
  /**
   * What the engines do not detect, for the start-up log, `/readyz` and `/account.json`: set
   * when the default engines run without clamd (not installed, or no database). Empty otherwise.
   */
  scanningWarnings: string[];
  /** The private clamd child process, when this process started one (core/embedded-clamd.ts). */
  embeddedClamd: EmbeddedClamd | undefined;
  /** What the scan workers run on (scans/pipeline.ts); `scanning` wraps the same object. */
  pipeline: PipelineDeps;
  /** A scan's lifecycle: accept, run now, queue again, fail (scans/service.ts). */
  scanning: ScanService;
  delivery: CallbackDeps;
  /** Per-tenant scan slots across all workers (worker/scan-slots.ts). */
  scanSlots: ScanSlots;
  redeliveries: Redeliveries;
  /** Per-tenant rate limits and byte quotas (their overrides and the Redis counters). */
  limits: TenantLimiter;
  /** Per-tenant scanning preferences (unscannable findings, detection categories, thresholds). */
  settings: TenantSettingsStore;
  /** Tenants' own YARA rule files: checked and stored by the rules API, run on their scans. */
  tenantRules: TenantRuleBook;
  /** Per-key overrides of the tenant's detection categories. */
  keySettings: KeySettingsStore;
  /** Whether an API submission gets a sanitized copy: its request's, key's or tenant's say. */
  sanitizeChoice: SanitizeChoice;
  /** Removes a tenant and all its data (`DELETE /admin/tenants/{id}`). */
  tenantDeletion: TenantDeletion;
  /** Browser console sessions (core/console-sessions.ts). */
  consoleSessions: ConsoleSessionStore;
  /** Failed console sign-ins per client address and per API key. */
  consoleSignins: ConsoleSigninLimiter;
  /** Registered buckets, object scans, S3 event intake and the SQS pollers (s3/). */
  s3: S3Protection;
  /** Retro jobs and schedules over registered buckets (s3/retro/). */
  retro: RetroService;
  /** Rescans of stored results by database version (rescans/). */
  rescans: RescanService;
  /** This process's Prometheus registry and instruments (served at /metrics). */
  metrics: Metrics;
  /** Recent errors for operators (`GET /admin/errors`), written where they are logged. */
  errors: ErrorLog;
  /** Worker processes' heartbeats: written by workers (cli/serve.ts), listed by `/admin/workers`. */
  heartbeats: WorkerHeartbeats;
  /** Removes spool files no live scan owns (every role; started by cli/serve.ts). */
  sweeper: SpoolSweeper;
  /** Removes sanitized copies whose result is gone (every role; started by cli/serve.ts). */
  sanitizedSweeper: SanitizedSweeper;
  /** Resolves pending scans that have no job (worker role; started by cli/serve.ts). */
  reaper: PendingReaper;
  /** Sets stalled retro jobs going again (worker role; started by cli/serve.ts). */
  retroAudit: RetroStallAudit;
  checkReadiness(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export async function buildRuntime(
  config: Config,
  logger: Logger,
  options: { signal?: AbortSignal } = {},
): Promise<Runtime> {
  const embedded = await resolveRedis(config, logger);
  // Before the private clamd (which may take minutes to load): credentials Redis refuses stop
  // the start at once.
  const target = await checkedRedisTarget(config, logger, embedded);
  // Before any Redis client: a start that fails or is interrupted here leaves nothing open.
  const clamd = await resolveClamd(config, logger, options.signal).catch(async (error: unknown) => {
    await embedded?.stop();
    throw error;
  });
  const metrics = createMetrics();
  const redis = createRedis(target, 'command', (error) =>
    logger.warn({ err: error.message }, 'redis connection problem'),
  );
  // Connected before serving: a Cluster's command client refuses commands until it is.
  if (!(await redisReady(redis)))
    logger.warn(
      { redis: target.label },
      'redis not ready yet; requests are answered 503 until it is',
    );
  // Hash tags exactly on a Cluster (core/keys.ts): elsewhere the key names stay as they were.
  const keys = new RedisKeys(config.redisPrefix, { hashTags: target.mode === 'cluster' });
  const workerConnection: ConnectionOptions = queueConnectionOptions(target, 'worker');
  const queueConnection = queueConnectionOptions(target, 'command');
  const queues = createQueues(
    queueConnection,
    keys.queuePrefix,
    (error, queue) => logger.warn({ err: error.message, queue }, 'redis connection problem'),
    // Scan jobs are prioritized by their rank in their tenant's backlog (core/scan-fairness.ts).
    { scanJobOptions: scanJobOptions(config), fairness: new ScanFairness(redis, keys) },
  );
  const spool = new Spool(config.spoolDir);
  await spool.init();
  const uploads = createUploadStore(config, spool, logger, { redis, keys });
  const sanitized = createSanitizedStore(config, spool, uploads.s3Client);
  // The sanitizers of every format (sharp, a DOM for SVG and HTML), built once, closed by close.
  const sanitizers: SanitizerSet = createSanitizerSet();
  const yara = new YaraRunner(config.yara);
  const tenantRules = buildTenantRules(config, redis, keys, yara);
  const unmetered = await buildAnalyzers(config, logger, yara, tenantRules.analyzer)
    .then((analyzers) => createEngineSet(config, logger, { ...clamd.choice, analyzers }))
    .catch(async (error: unknown) => {
      await yara.close();
      await clamd.embedded?.stop();
      throw error;
    });
  const scanningWarnings = clamd.absence
    ? [missingClamdWarning(clamd.absence, builtinSignatureCount(unmetered))]
    : [];
  for (const warning of scanningWarnings) logger.warn(warning);
  const engines = meterEngines(unmetered, metrics);
  const http = createOutboundHttp({
    userAgent: USER_AGENT,
    policy: createNetworkPolicy(config.allowedNetworks),
    // Downloads and callbacks to the same host spare a handshake each.
    reuseConnections: true,
  });
  const scans = new ScanStore(redis, keys, config.resultTtlSeconds, config.rescan.resultIndexMax);
  const errors = new ErrorLog(redis, keys, (error) =>
    logger.warn({ err: error }, 'could not record an error for operators'),
  );

  const limits = new TenantLimiter(redis, keys, new TenantLimitStore(redis, keys, config.limits));
  const settings = new TenantSettingsStore(redis, keys);
  const keySettings = new KeySettingsStore(redis, keys);
  // The pipeline's object stage first, then the object scans over the ScanService built on it.
  const s3Access = createS3Access({ config, redis, keys, scans, logger });
  const pipeline: PipelineDeps = {
    scans,
    engines,
    http,
    queues,
    spool,
    uploads: uploads.store,
    limits: {
      maxFetchSize: config.maxFetchSize,
      fetchTimeoutMs: config.fetchTimeoutMs,
      fetchMinRate: config.fetchMinRate,
    },
    logger,
    objects: s3Access.stage,
    usage: limits,
    metrics,
    settings,
    // Scans follow their bucket's detection categories, else their key's, else their tenant's,
    // and a bucket may add classification for some of its keys (scans/scan-plans.ts).
    plans: new SettingsScanPlanner(settings, keySettings, s3Access.plans),
    errors,
    sanitizing: { sanitizers, store: sanitized, limits: config.sanitize },
  };
  const scanning = new ScanService(pipeline);
  const s3 = createS3Protection({ access: s3Access, scanning, config, logger, metrics });
  const retro = createRetro({
    redis,
    keys,
    queues,
    buckets: s3.buckets,
    clients: s3.clients,
    objectScans: s3.objectScans,
    pageSize: config.retro.pageSize,
    ttlSeconds: config.resultTtlSeconds,
    scheduleMinIntervalSeconds: config.retro.scheduleMinIntervalSeconds,
    logger,
  });
  // Every process that finishes scans (workers, and the API's Scan/Existing) keeps the counts.
  s3.objectScans.addOutcomeListener(retro.outcomeListener);
  // …and each bucket's counts by outcome (the console's bucket view).
  s3.objectScans.addOutcomeListener(s3.status.outcomeListener);
  const rescans = createRescans({
    redis,
    keys,
    scanning,
    scans,
    queues,
    uploads: uploads.store,
    engines,
    pageSize: config.rescan.pageSize,
    ttlSeconds: config.resultTtlSeconds,
    logger,
    objects: { buckets: s3.buckets, clients: s3.clients, objectScans: s3.objectScans },
  });
  const tenants = new TenantStore(redis, keys);
  const delivery: CallbackDeps = {
    scans,
    tenants,
    http,
    timeoutMs: config.callbackTimeoutMs,
    userAgent: USER_AGENT,
    logger,
    metrics,
    errors,
    // A lease outlives the longest attempt (the POST's time limit plus the Redis calls around it).
    leases: new TenantDeliveryLeases(
      redis,
      keys,
      { limit: config.callbackTenantConcurrency, leaseMs: config.callbackTimeoutMs + 30_000 },
      async (jobId) => {
        await (await queues.callback.getJob(jobId))?.promote();
      },
    ),
  };

  // A scan's lease lasts twice the job lock, so a dead worker's leases lapse about when its jobs are
  // found stalled (a job run again takes its own lease back if it is still there); a running scan
  // renews its lease, however long its download and engines take.
  const scanSlots = new ScanSlots(
    new TenantLeases(
      redis,
      // A scan granted its slot leaves its tenant's fairness backlog in the same step.
      { inflight: keys.scanInflight, parked: keys.scanParked, leftOnGrant: keys.scanBacklog },
      { limit: config.scanTenantConcurrency, leaseMs: 2 * config.jobLockMs },
      async (jobId) => {
        await (await queues.scan.getJob(jobId))?.promote();
      },
    ),
  );

  // Depth and oldest waiting job of every queue, read from Redis when /metrics is scraped.
  metrics.watchQueues(
    Object.values(queues).filter((value): value is Queue => value instanceof Queue),
  );

  return {
    config,
    logger,
    metrics,
    errors,
    heartbeats: new WorkerHeartbeats(redis, keys, config.workerHeartbeatMs),
    redis,
    redisTarget: target,
    workerConnection,
    queuePrefix: keys.queuePrefix,
    tenants,
    tokens: new TokenStore(redis, keys),
    consoleSessions: new ConsoleSessionStore(redis, keys, {
      idleSeconds: config.console.sessionIdleSeconds,
      maxSeconds: config.console.sessionMaxSeconds,
    }),
    consoleSignins: new ConsoleSigninLimiter(redis, keys, {
      attempts: config.console.signinAttempts,
      windowSeconds: config.console.signinWindowSeconds,
    }),
    scans,
    stats: new StatsStore(redis, keys),
    queues,
    spool,
    uploads: uploads.store,
    sanitized,
    engines,
    yara,
    scanningWarnings,
    embeddedClamd: clamd.embedded,
    pipeline,
    scanning,
    delivery,
    scanSlots,
    limits,
    settings,
    tenantRules: tenantRules.book,
    keySettings,
    sanitizeChoice: new SanitizeChoice(settings, keySettings),
    tenantDeletion: new TenantDeletion({
      redis,
      keys,
      // SCAN walks one node: on a Cluster, every primary (core/redis.ts redisPrimaries).
      keyspaceNodes: () => redisPrimaries(redis),
      schedules: retro.schedules,
      caches: [settings],
      sanitized,
    }),
    redeliveries: new Redeliveries(redis, keys, scans, queues, config.resultTtlSeconds),
    s3,
    retro,
    rescans,
    sweeper: new SpoolSweeper({
      spool,
      ...(uploads.s3 ? { staged: uploads.s3 } : {}),
      scans,
      queues,
      metrics,
      logger,
      graceMs: config.spoolSweep.graceMs,
    }),
    sanitizedSweeper: new SanitizedSweeper({
      store: sanitized,
      scans,
      metrics,
      logger,
      resultTtlMs: config.resultTtlSeconds * 1000,
    }),
    reaper: new PendingReaper({
      scanning,
      metrics,
      logger,
      graceMs: config.pendingReap.graceMs,
      batchSize: config.pendingReap.batchSize,
      tenantIds: () => tenants.eachTenantIdPage(),
    }),
    retroAudit: new RetroStallAudit({
      jobs: retro.jobs,
      queues,
      logger,
      stallMs: config.retro.stallMs,
      tenantIds: () => tenants.eachTenantIdPage(),
      crawlJobId,
    }),
    async checkReadiness() {
      const [redisState, engineState] = await Promise.all([
        redis.ping().then(
          () => 'ok',
          (e: Error) => `unreachable: ${e.message}`,
        ),
        engines.ping().then(
          () => 'ok',
          (e: Error) => `unreachable: ${e.message}`,
        ),
      ]);
      return { redis: redisState, engines: engineState };
    },
    async close() {
      s3.close();
      uploads.s3Client?.destroy();
      await queues.close();
      closeQueueConnection(queueConnection);
      // The workers (closed before this) leave the connection they share open (core/redis.ts).
      closeQueueConnection(workerConnection);
      await engines.close();
      await yara.close();
      sanitizers.close();
      await clamd.embedded?.stop();
      redis.disconnect();
      await embedded?.stop();
    },
  };
}

/**
 * Tenants' own YARA rules: the store, the analyzer scans use and the book the rules API uses,
 * over the process's YARA runner. A scan's first use of a set on a thread compiles it, so one
 * scan task may take the compile budget plus the scan budget.
 */
function buildTenantRules(
  config: Config,
  redis: Redis,
  keys: RedisKeys,
  yara: YaraRunner,
): { analyzer: TenantRulesAnalyzer; book: TenantRuleBook } {
  const limits = config.tenantRules;
  const store = new TenantRuleStore(redis, keys);
  return {
    analyzer: new TenantRulesAnalyzer(store, yara, {
      maxPieceBytes: limits.maxPieceBytes,
      timeoutMs: limits.compileTimeoutMs + limits.scanTimeoutMs,
    }),
    book: new TenantRuleBook(store, yara, {
      maxSourceBytes: limits.maxSourceBytes,
      maxRules: limits.maxRules,
      maxFiles: limits.maxFiles,
      compileTimeoutMs: limits.compileTimeoutMs,
      scanTimeoutMs: limits.scanTimeoutMs,
      probeRuns: config.yara.threads + 1,
    }),
  };
}

/**
 * The analyzers of the categories beyond malware and of tenants' rules, over the process's one
 * YARA runner. The language rules are read and checked here, once: a pack that does not compile
 * stops the start.
 */
async function buildAnalyzers(
  config: Config,
  logger: Logger,
  yara: YaraRunner,
  tenantRules: TenantRulesAnalyzer,
): Promise<Analyzer[]> {
  const language = await LanguageAnalyzer.load(logger, config.language.rulesDir, {
    yara,
    maxBytes: config.language.maxBytes,
  });
  logger.info({ rules: language.pack.version }, 'language rules loaded');
  return [
    language,
    new ImageAnalyzer(config.images),
    new SensitiveDataAnalyzer(config.sensitive),
    new TrueTypeAnalyzer(),
    tenantRules,
  ];
}

/**
 * The process's RedisTarget (core/redis.ts), after one connection to it: Redis refusing the
 * credentials or the certificate stops the start (RedisAccessError); Redis not answering yet
 * does not, the clients keep trying.
 */
async function checkedRedisTarget(
  config: Config,
  logger: Logger,
  embedded: EmbeddedRedis | undefined,
): Promise<RedisTarget> {
  try {
    const target = redisTarget(config.redis, embedded?.url);
    if ((await checkRedisAccess(target)) === 'unreachable')
      logger.warn({ redis: target.label }, 'redis not reachable at start; retrying until it is');
    return target;
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/**
 * What the processes of a `serve` group share, started once by its primary (cli/serve-group.ts):
 * the private redis-server and the private clamd, when the config asks for them. `env` is what
 * each child process is given so that it uses these (as if REDIS_URL and CLAMD_ADDRESS were set)
 * instead of starting its own.
 */
export interface SharedDependencies {
  redisTarget: RedisTarget;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startSharedDependencies(
  config: Config,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<SharedDependencies> {
  const embedded = await resolveRedis(config, logger);
  const target = await checkedRedisTarget(config, logger, embedded);
  const clamd = await resolveClamd(config, logger, signal).catch(async (error: unknown) => {
    await embedded?.stop();
    throw error;
  });
  const env: Record<string, string> = {};
  if (embedded) env.REDIS_URL = embedded.url;
  if (clamd.embedded) env.CLAMD_ADDRESS = clamd.embedded.address;
  return {
    redisTarget: target,
    env,
    async stop() {
      await clamd.embedded?.stop();
      await embedded?.stop();
    },
  };
}

/**
 * With none of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES, Arbiter runs its own private
 * redis-server (the embedded default).
 */
async function resolveRedis(config: Config, logger: Logger): Promise<EmbeddedRedis | undefined> {
  if (redisConfigured(config)) return undefined;
  const embedded = await startEmbeddedRedis({ dataDir: config.dataDir });
  logger.info(
    { socket: embedded.url, dir: path.join(config.dataDir, 'redis') },
    'started a private redis-server (no REDIS_URL set)',
  );
  return embedded;
}

interface ClamdResolution {
  choice: EngineChoice;
  embedded?: EmbeddedClamd;
  absence?: ClamdAbsence;
}

/**
 * With neither ARBITER_ENGINES nor CLAMD_ADDRESS set, Arbiter runs its own private clamd when
 * clamd is installed and a ClamAV database is there: the official databases in
 * `clamavDatabaseDir(config)` first, else the operator's ARBITER_SIGNATURES_DIR. Otherwise the
 * built-in engine runs alone and the caller warns. Every role that scans does this: `api`
 * too, since its synchronous scans (the verdict API) must use the same engines as the workers.
 */
async function resolveClamd(
  config: Config,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<ClamdResolution> {
  const configured: EngineChoice = { engines: config.engines, clamdAddress: config.clamd.address };
  const embedded = config.clamd.embedded;
  if (!embedded) return { choice: configured };
  const binary = await findClamdBinary(embedded.binary);
  if (!binary)
    return { choice: configured, absence: { reason: 'not-installed', binary: embedded.binary } };
  const folders = [clamavDatabaseDir(config), config.signaturesDir].filter(
    (folder): folder is string => folder !== undefined,
  );
  let databaseDir: string | undefined;
  for (const folder of folders) {
    if (await holdsClamdDatabase(folder)) {
      databaseDir = folder;
      break;
    }
  }
  if (!databaseDir) return { choice: configured, absence: { reason: 'no-database', folders } };
  const dir = await ownClamdFolder(config, logger);
  const user = await clamdUser(databaseDir, dir);
  logger.info(
    { binary, databaseDir, user: user ?? 'this process’s' },
    'starting a private clamd (no ARBITER_ENGINES or CLAMD_ADDRESS set)',
  );
  const clamd = await startEmbeddedClamd({
    binary,
    databaseDir,
    dir,
    settings: clamdSettings(config, user),
    startTimeoutMs: embedded.startTimeoutMs,
    logger,
    signal,
  });
  return {
    choice: {
      engines: ['builtin', 'clamd'],
      clamdAddress: clamd.address,
      clamdDatabaseDir: databaseDir,
    },
    embedded: clamd,
  };
}

/**
 * This process's folder for its clamd: `$ARBITER_DATA_DIR/clamd/<pid>`, so that an `api` and a
 * `worker` sharing a data folder each have their own. Folders of processes that are gone are
 * removed, after stopping a clamd such a process left running (killed before it could stop it).
 */
async function ownClamdFolder(config: Config, logger: Logger): Promise<string> {
  const parent = path.join(config.dataDir, 'clamd');
  await mkdir(parent, { recursive: true });
  // Others may pass through (a clamd that dropped root to `clamav` must reach its own folder,
  // which is mode 700) but not list it.
  await chmod(parent, 0o711);
  for (const name of await readdir(parent)) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || (pid !== process.pid && processAlive(pid))) continue;
    const folder = path.join(parent, name);
    await stopLeftoverClamd(folder, logger);
    await rm(folder, { recursive: true, force: true });
  }
  return path.join(parent, String(process.pid));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the operator named a Redis (one server, Sentinels or a Cluster), so none is started. */
export const redisConfigured = (config: Config): boolean =>
  config.redis.url !== undefined ||
  config.redis.sentinel !== undefined ||
  config.redis.clusterNodes !== undefined;

/** For one-shot CLI commands: reuse a running `serve`'s private Redis if there is one. */
export async function runningEmbeddedRedis(config: Config): Promise<string | undefined> {
  const socket = path.join(config.dataDir, 'redis', 'redis.sock');
  if (!existsSync(socket)) return undefined;
  const probe = new IORedis({
    path: socket,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return `unix://${socket}`;
  } catch {
    return undefined; // a socket file left behind by a process that is gone
  } finally {
    // See waitForPing in core/embedded-redis.ts: disconnecting an ended client delays exit by 2 s.
    if (probe.status !== 'end') probe.disconnect();
  }
}

/**
 * The upload store ARBITER_UPLOAD_STORE names. The bucket's S3 client (one per process) takes
 * credentials and region from the AWS SDK's own environment; an S3-compatible endpoint is
 * addressed path-style (MinIO, s3rver), with checksums only where S3 requires them, as the
 * registered buckets' clients do (s3/clients.ts). Small uploads go through Redis, unless
 * ARBITER_UPLOAD_STORE_REDIS_MAX is 0.
 */
function createUploadStore(
  config: Config,
  spool: Spool,
  logger: Logger,
  { redis, keys }: { redis: Redis; keys: RedisKeys },
): { store: UploadStore; s3?: S3UploadStore; s3Client?: S3Client } {
  const choice = config.uploadStore;
  if (choice.kind === 'local') return { store: new LocalUploadStore(spool) };
  const s3Client = new S3Client({
    ...(choice.endpoint ? { endpoint: choice.endpoint, forcePathStyle: true } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const small =
    choice.redisMaxBytes > 0
      ? {
          redis,
          key: keys.stagedUpload,
          maxBytes: choice.redisMaxBytes,
          ttlSeconds: config.resultTtlSeconds,
        }
      : undefined;
  const s3 = new S3UploadStore(s3Client, choice.location, logger, small);
  return { store: s3, s3, s3Client };
}

/**
 * Where sanitized copies are kept: beside the uploads, in the same kind of store (the spool
 * folder, or the upload store's bucket through its client), so that wherever a worker can leave
 * an upload for another process, it can leave a copy too.
 */
function createSanitizedStore(
  config: Config,
  spool: Spool,
  s3Client: S3Client | undefined,
): SanitizedStore {
  const choice = config.uploadStore;
  if (choice.kind === 'local' || !s3Client) return new LocalSanitizedStore(spool);
  return new S3SanitizedStore(s3Client, choice.location);
}

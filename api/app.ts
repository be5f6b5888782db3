import cookieParser from 'cookie-parser';
import cors from 'cors';
import express, { Router, type Express } from 'express';
import type { Config } from '../core/config.js';
import type { TenantLimiter } from '../core/limits.js';
import type { TenantSettingsStore } from '../core/tenant-settings.js';
import type { KeySettingsStore } from '../core/key-settings.js';
import type { TenantDeletion } from '../core/tenant-deletion.js';
import type { ErrorLog } from '../core/error-log.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Queues } from '../core/queues.js';
import type { ScanStore } from '../scans/store.js';
import type { ConsoleSessionStore } from '../core/console-sessions.js';
import type { ConsoleSigninLimiter } from '../core/console-signin-limiter.js';
import type { StatsStore } from '../scans/stats.js';
import type { SanitizedStore } from '../core/sanitized-store.js';
import type { Spool } from '../core/spool.js';
import type { TenantStore } from '../core/tenants.js';
import type { TokenStore } from '../core/tokens.js';
import type { S3Protection } from '../s3/protection.js';
import type { RescanService } from '../rescans/index.js';
import type { RetroService } from '../s3/retro/index.js';
import type { Redeliveries } from '../webhooks/redelivery.js';
import type { ScanService } from '../scans/service.js';
import type { SanitizeChoice } from '../scans/sanitize-choice.js';
import type { EngineSet } from '../scanning/engines.js';
import type { TenantRuleBook } from '../scanning/analysis/custom-rules/rule-book.js';
import { authenticate } from './auth.js';
import { consoleSecurityHeaders, consoleStatic, defaultConsoleDir } from './console-static.js';
import { closeConnectionOnEarlyAnswer } from './early-answers.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { httpMetrics, metricsRouter } from './metrics.js';
import { API_VERSION, MOUNTS, buildOpenApiDocument, createRouteMatcher } from './openapi.js';
import { OPERATIONS } from './operations.js';
import { rateLimit } from './rate-limit.js';
import { requestContext } from './request-context.js';
import { accountRouter } from './routes/account.js';
import { adminRouter } from './routes/admin.js';
import { consoleRouter } from './routes/console.js';
import { bucketsRouter } from './routes/buckets.js';
import { docsRouter } from './routes/docs.js';
import { filesRouter } from './routes/files.js';
import { healthRouter, type ReadinessCheck } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';
import { rescansRouter } from './routes/rescans.js';
import { rulesRouter } from './routes/rules.js';
import { scansRouter } from './routes/scans.js';
import { statsRouter } from './routes/stats.js';
import { eventsRouter } from './routes/events.js';
import { operatorRouter } from './routes/operator.js';
import type { LiveEvents } from './live-events.js';
import type { WorkerHeartbeats } from '../core/worker-heartbeats.js';
import { schedulesRouter } from './routes/schedules.js';
import { tokenListRouter, tokensRouter } from './routes/tokens.js';
import { verdictRouter } from './routes/verdict.js';
import { webhooksRouter } from './routes/webhooks.js';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  tenants: TenantStore;
  tokens: TokenStore;
  scans: ScanStore;
  /** The tenants' hourly counters (`GET /v1/stats`). */
  stats: StatsStore;
  queues: Queues;
  spool: Spool;
  /** Where sanitized copies wait for their download (core/sanitized-store.ts). */
  sanitized: SanitizedStore;
  /** Accepts and runs scans (scans/service.ts). */
  scanning: ScanService;
  engines: EngineSet;
  redeliveries: Redeliveries;
  s3: S3Protection;
  /** Retro jobs and schedules (s3/retro/). */
  retro: RetroService;
  /** Rescans by database version (rescans/). */
  rescans: RescanService;
  /** Per-tenant rate limits and daily byte quotas (core/limits.ts). */
  limits: TenantLimiter;
  /** Per-tenant scanning preferences (core/tenant-settings.ts). */
  settings: TenantSettingsStore;
  /** Tenants' own YARA rule files (`/v1/rules`). */
  tenantRules: TenantRuleBook;
  /** Per-key detection categories (core/key-settings.ts). */
  keySettings: KeySettingsStore;
  /** Whether an upload or fetch gets a sanitized copy (scans/sanitize-choice.ts). */
  sanitizeChoice: SanitizeChoice;
  /** `DELETE /admin/tenants/{id}` (core/tenant-deletion.ts). */
  tenantDeletion: TenantDeletion;
  checkReadiness: ReadinessCheck;
  /** What the engines do not detect (clamd missing): shown by `/readyz` and `/account.json`. */
  scanningWarnings?: string[];
  /** Recent errors for operators (`GET /admin/errors`), written where they are logged. */
  errors: ErrorLog;
  /** Worker processes' heartbeats (`GET /admin/workers`). */
  heartbeats: WorkerHeartbeats;
  /** The process's server-sent event streams (built and closed by cli/serve.ts). */
  liveEvents: LiveEvents;
  /** The process's Prometheus metrics (created by the composition root). */
  metrics: Metrics;
  /** Browser console sessions, accepted by the API's authentication beside its credentials. */
  consoleSessions: ConsoleSessionStore;
  /** Failed console sign-ins per client address and per key. */
  consoleSignins: ConsoleSigninLimiter;
}

/** Scanii clients send these; browsers (auth-token uploads) need them allowed cross-origin. */
const scaniiCors = cors({
  origin: '*',
  methods: ['GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE'],
  allowedHeaders: ['Authorization', 'User-Agent', 'Content-Type'],
  exposedHeaders: [
    'Location',
    'X-Scanii-Request-Id',
    'X-Scanii-Host-Id',
    'X-Runtime',
    'Retry-After',
    'X-RateLimit-Limit',
    'X-RateLimit-Remaining',
    'X-Arbiter-Scan-Ids',
  ],
  maxAge: 300,
  optionsSuccessStatus: 200,
});

export function createApp(deps: ApiDeps): Express {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.use(closeConnectionOnEarlyAnswer());
  app.use(httpMetrics(deps.metrics, createRouteMatcher(OPERATIONS)));
  app.use(requestContext(config.hostId, deps.logger));
  // Only the console's session cookie is read (api/console-auth.ts); the API ignores the rest.
  app.use(cookieParser());
  app.use(
    healthRouter({ checkReadiness: deps.checkReadiness, warnings: deps.scanningWarnings ?? [] }),
  );
  app.use(metricsRouter(deps.metrics, config.metrics.token));
  // Every route is an entry of OPERATIONS (api/operations.ts), checked by test/api/openapi.test.ts.
  app.use(
    docsRouter({
      document: buildOpenApiDocument(OPERATIONS, {
        version: API_VERSION,
        serverUrl: config.publicUrl,
      }),
    }),
  );

  // One router serves the current protocol version and its predecessor.
  const scanii = Router();
  scanii.use(scaniiCors);
  scanii.use(authenticate(deps.tenants, deps.tokens, 'scanii', deps.consoleSessions));
  scanii.use(rateLimit(deps.limits));
  scanii.use(
    accountRouter({
      tenants: deps.tenants,
      settings: deps.settings,
      keySettings: deps.keySettings,
      scanning: { engines: deps.engines, warnings: deps.scanningWarnings ?? [] },
    }),
  );
  scanii.use(tokensRouter({ tokens: deps.tokens }));
  scanii.use(
    filesRouter({
      scanning: deps.scanning,
      scans: deps.scans,
      queues: deps.queues,
      spool: deps.spool,
      uploads: deps.scanning.pipeline.uploads,
      sanitized: deps.sanitized,
      sanitizeChoice: deps.sanitizeChoice,
      publicUrl: config.publicUrl,
      maxFileSize: config.maxFileSize,
      logger: deps.logger,
      limiter: deps.limits,
    }),
  );
  for (const prefix of MOUNTS.scanii) app.use(prefix, scanii);

  // The verdict API of "Antivirus for Amazon S3" clients: a token, then a scan with the verdict.
  app.use(
    '/api',
    scaniiCors,
    verdictRouter({
      tenants: deps.tenants,
      tokens: deps.tokens,
      scanning: deps.scanning,
      sanitizeChoice: deps.sanitizeChoice,
      spool: deps.spool,
      limiter: deps.limits,
      maxFileSize: config.maxFileSize,
      logger: deps.logger,
      scanExistingObject: (tenantId, bucket, key, versionId, submitter) =>
        deps.s3.objectScans.scanExistingObject(tenantId, bucket, key, versionId, submitter),
    }),
  );

  // Arbiter's own tenant API (same Basic credentials), beside the Scanii protocol.
  const tenantApi = Router();
  tenantApi.use(authenticate(deps.tenants, deps.tokens, 'tenant', deps.consoleSessions));
  tenantApi.use(
    webhooksRouter({
      tenants: deps.tenants,
      redeliveries: deps.redeliveries,
      signingSecretGraceSeconds: config.signingSecretGraceSeconds,
    }),
  );
  tenantApi.use(
    bucketsRouter({ buckets: deps.s3.buckets, intake: deps.s3.intake, status: deps.s3.status }),
  );
  tenantApi.use(tokenListRouter({ tokens: deps.tokens }));
  tenantApi.use(jobsRouter({ retro: deps.retro }));
  tenantApi.use(schedulesRouter({ retro: deps.retro }));
  tenantApi.use(rescansRouter({ rescans: deps.rescans }));
  tenantApi.use(rulesRouter({ rules: deps.tenantRules }));
  tenantApi.use(scansRouter({ scans: deps.scans }));
  tenantApi.use(statsRouter({ stats: deps.stats }));
  tenantApi.use(eventsRouter({ live: deps.liveEvents }));
  app.use('/v1', tenantApi);
  app.use(
    '/admin',
    adminRouter({
      tenants: deps.tenants,
      adminToken: config.adminToken,
      engines: deps.engines,
      limiter: deps.limits,
      settings: deps.settings,
      keySettings: deps.keySettings,
      tenantDeletion: deps.tenantDeletion,
      consoleSessions: deps.consoleSessions,
    }),
    operatorRouter({
      adminToken: config.adminToken,
      console: { sessions: deps.consoleSessions, tenants: deps.tenants },
      queues: [deps.queues.scan, deps.queues.callback, deps.queues.retro, deps.queues.rescan],
      heartbeats: deps.heartbeats,
      errors: deps.errors,
      live: deps.liveEvents,
    }),
  );

  // The browser console: its session API, then its built files (api/console-static.ts).
  app.use('/console', consoleSecurityHeaders);
  for (const prefix of MOUNTS.console)
    app.use(
      prefix,
      consoleRouter({
        tenants: deps.tenants,
        sessions: deps.consoleSessions,
        signins: deps.consoleSignins,
        adminToken: config.adminToken,
        publicUrl: config.publicUrl,
      }),
    );
  app.use('/console', consoleStatic(config.console.dir ?? defaultConsoleDir()));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, { maxFileSize: config.maxFileSize }, deps.errors));
  return app;
}

import cors from 'cors';
import express, { Router, type Express } from 'express';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { Queues } from '../core/queues.js';
import type { ScanStore } from '../core/scan-store.js';
import type { Spool } from '../core/spool.js';
import type { TenantStore } from '../core/tenants.js';
import type { TokenStore } from '../core/tokens.js';
import type { PipelineDeps } from '../worker/scan-pipeline.js';
import { authenticate } from './auth.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { requestContext } from './request-context.js';
import { accountRouter } from './routes/account.js';
import { adminRouter } from './routes/admin.js';
import { filesRouter } from './routes/files.js';
import { healthRouter, type ReadinessCheck } from './routes/health.js';
import { tokensRouter } from './routes/tokens.js';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  tenants: TenantStore;
  tokens: TokenStore;
  scans: ScanStore;
  queues: Queues;
  spool: Spool;
  pipeline: PipelineDeps;
  checkReadiness: ReadinessCheck;
}

/** Scanii clients send these; browsers (auth-token uploads) need them allowed cross-origin. */
const scaniiCors = cors({
  origin: '*',
  methods: ['GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE'],
  allowedHeaders: ['Authorization', 'User-Agent', 'Content-Type'],
  exposedHeaders: ['Location', 'X-Scanii-Request-Id', 'X-Scanii-Host-Id', 'X-Runtime', 'Retry-After'],
  maxAge: 300,
  optionsSuccessStatus: 200,
});

export function createApp(deps: ApiDeps): Express {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.use(requestContext(config.hostId, deps.logger));
  app.use(healthRouter(deps.checkReadiness));

  // One router serves the current protocol version and its predecessor.
  const scanii = Router();
  scanii.use(scaniiCors);
  scanii.use(authenticate(deps.tenants, deps.tokens));
  scanii.use(accountRouter(deps.tenants));
  scanii.use(tokensRouter(deps.tokens));
  scanii.use(
    filesRouter({
      scans: deps.scans,
      queues: deps.queues,
      spool: deps.spool,
      pipeline: deps.pipeline,
      publicUrl: config.publicUrl,
      maxFileSize: config.maxFileSize,
      logger: deps.logger,
    }),
  );
  app.use('/v2.2', scanii);
  app.use('/v2.1', scanii);
  app.use('/admin', adminRouter(deps.tenants, config.adminToken));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, { maxFileSize: config.maxFileSize }));
  return app;
}

import { Router } from 'express';
import { z } from 'zod';
import type { ConsoleSessionStore } from '../../core/console-sessions.js';
import type { ErrorLog } from '../../core/error-log.js';
import type { TenantStore } from '../../core/tenants.js';
import { ERROR_LOG_KEPT } from '../../core/error-log.js';
import { queueDepths, type WatchedQueue } from '../../core/queue-depth.js';
import type { WorkerHeartbeats } from '../../core/worker-heartbeats.js';
import type { LiveEvents } from '../live-events.js';
import { authenticateAdmin } from '../auth.js';
import { sendJson } from '../http.js';
import { wholeNumber } from '../schemas.js';

export interface OperatorRouterDeps {
  adminToken: string | undefined;
  /** Operator sessions of the browser console, accepted beside the admin token. */
  console?: { sessions: ConsoleSessionStore; tenants: TenantStore };
  queues: WatchedQueue[];
  heartbeats: Pick<WorkerHeartbeats, 'list'>;
  errors: Pick<ErrorLog, 'recent'>;
  live: LiveEvents;
}

const limitMessage = `limit must be a whole number from 1 to ${ERROR_LOG_KEPT}`;

/** `GET /errors?limit=`: exported for the OpenAPI document (api/operations.ts). */
export const ErrorsQuerySchema = z.object({
  limit: wholeNumber({
    min: 1,
    max: ERROR_LOG_KEPT,
    text: true,
    fallback: 100,
    notWhole: limitMessage,
    outOfRange: limitMessage,
  }),
});

/**
 * What an operator watches (`/admin`, the admin token):
 *
 * - `GET /queues` → `{"queues": [...]}`: per queue, jobs waiting, active, delayed, failed and
 *   completed, and how long the next one has waited (core/queue-depth.ts).
 * - `GET /workers` → `{"workers": [...]}`: worker processes by their heartbeats, `alive` or
 *   `stale` (core/worker-heartbeats.ts).
 * - `GET /errors[?limit=100]` → `{"errors": [...]}`: recent errors, newest first
 *   (core/error-log.ts). 400 for a limit outside 1–500.
 * - `GET /events`: server-sent `queues` and `workers` events (api/live-events.ts).
 */
export function operatorRouter(deps: OperatorRouterDeps): Router {
  const router = Router();
  router.use(authenticateAdmin(deps.adminToken, deps.console));

  router.get('/queues', async (_req, res) => {
    sendJson(res, 200, { queues: await queueDepths(deps.queues) });
  });

  router.get('/workers', async (_req, res) => {
    sendJson(res, 200, { workers: await deps.heartbeats.list() });
  });

  router.get('/errors', async (req, res) => {
    const limit = Array.isArray(req.query.limit) ? req.query.limit[0] : req.query.limit;
    const query = ErrorsQuerySchema.parse({ limit });
    sendJson(res, 200, { errors: await deps.errors.recent(query.limit) });
  });

  router.get('/events', (req, res) => {
    deps.live.openOperator(req, res);
  });

  return router;
}

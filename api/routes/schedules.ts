import express, { Router, type Request } from 'express';
import { notFound } from '../../core/errors.js';
import type { RetroService } from '../../s3/retro/index.js';
import { principalOf } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';

export interface SchedulesRouterDeps {
  retro: RetroService;
}

/**
 * Retro schedules (`/v1`, behind the tenant's Basic auth, API keys only): a retro job started
 * by cron (BullMQ job schedulers, see s3/retro/schedules.ts).
 *
 * - `POST /schedules {"cron","buckets":[{"name","prefix"?}],"window":"all"|"since-last-run",
 *   "timezone"?}` → 201 `{id, cron, timezone, buckets, window, next_run, last_run, …}`; 400 for
 *   a bad cron expression or time zone, a cron that would run more often than
 *   ARBITER_SCHEDULE_MIN_INTERVAL, an unknown bucket, an unknown field.
 * - `GET /schedules` → `{"schedules": [...]}`, newest first; `GET /schedules/{id}`.
 * - `GET /schedules/preview?cron=&timezone=` → `{cron, timezone, next_runs}` (the next five), or
 *   the 400 that `POST /schedules` would give the same cron and zone.
 * - `DELETE /schedules/{id}` → 204 (another tenant's is a 404). Jobs it started are kept.
 */
export function schedulesRouter(deps: SchedulesRouterDeps): Router {
  const router = Router();
  const json = [requireParsedBody('application/json'), express.json({ limit: '64kb' })];

  router.post('/schedules', ...json, async (req, res) => {
    const schedule = await deps.retro.schedules.create(principalOf(res).tenantId, req.body);
    res.setHeader('Location', `${req.baseUrl}/schedules/${schedule.id}`);
    sendJson(res, 201, schedule);
  });

  router.get('/schedules', async (_req, res) => {
    sendJson(res, 200, { schedules: await deps.retro.schedules.list(principalOf(res).tenantId) });
  });

  router.get('/schedules/preview', (req, res) => {
    const query = { cron: single(req.query.cron), timezone: single(req.query.timezone) };
    sendJson(res, 200, deps.retro.schedules.preview(query));
  });

  router.get('/schedules/:id', async (req, res) => {
    const schedule = await deps.retro.schedules.view(principalOf(res).tenantId, scheduleId(req));
    if (!schedule) throw notFound(noSuchSchedule(req));
    sendJson(res, 200, schedule);
  });

  router.delete('/schedules/:id', async (req, res) => {
    if (!(await deps.retro.schedules.delete(principalOf(res).tenantId, scheduleId(req)))) {
      throw notFound(noSuchSchedule(req));
    }
    res.status(204).end();
  });

  return router;
}

const scheduleId = (req: Request): string => String(req.params.id);
const noSuchSchedule = (req: Request) =>
  `There is no schedule with id "${scheduleId(req).slice(0, 64)}".`;
const single = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);

import express, { Router, type Request } from 'express';
import type { RescanService } from '../../rescans/index.js';
import { rescanView } from '../../rescans/store.js';
import { principalOf } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import { ListQuerySchema } from './jobs.js';

export interface RescansRouterDeps {
  rescans: RescanService;
}

/**
 * Rescans by database version (`/v1`, behind the tenant's Basic auth, API keys only): scan again
 * the tenant's stored results that an older signature database looked at (see rescans/).
 *
 * - `POST /rescans {"older_than", "findings"?, "from"?, "to"?}` → 201 with the rescan (state
 *   `listing`). 400 for a bad body (unknown field, malformed version, from after to); 409 while
 *   another rescan of the tenant is running.
 * - `GET /rescans[?limit=100]` → `{"rescans": [...]}`, newest first.
 * - `GET /rescans/{id}` → the rescan with its counters; another tenant's is a 404.
 * - `POST /rescans/{id}/cancel` → 200 with the rescan, state `cancelled`: scans still in flight
 *   are dropped, no stored result changes after it. 409 if it has ended.
 */
export function rescansRouter(deps: RescansRouterDeps): Router {
  const router = Router();
  const json = [requireParsedBody('application/json'), express.json({ limit: '16kb' })];

  router.post('/rescans', ...json, async (req, res) => {
    const rescan = await deps.rescans.create(principalOf(res).tenantId, req.body);
    res.setHeader('Location', `${req.baseUrl}/rescans/${rescan.id}`);
    sendJson(res, 201, rescanView(rescan));
  });

  router.get('/rescans', async (req, res) => {
    const { limit } = ListQuerySchema.parse({ limit: single(req.query.limit) });
    const rescans = await deps.rescans.rescans.list(principalOf(res).tenantId, limit);
    sendJson(res, 200, { rescans: rescans.map(rescanView) });
  });

  router.get('/rescans/:id', async (req, res) => {
    sendJson(
      res,
      200,
      rescanView(await deps.rescans.get(principalOf(res).tenantId, rescanId(req))),
    );
  });

  router.post('/rescans/:id/cancel', async (req, res) => {
    sendJson(
      res,
      200,
      rescanView(await deps.rescans.cancel(principalOf(res).tenantId, rescanId(req))),
    );
  });

  return router;
}

const rescanId = (req: Request): string => String(req.params.id);
const single = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);

import { Router } from 'express';
import type { LiveEvents } from '../live-events.js';
import { principalOf } from '../auth.js';

/**
 * `GET /events` (`/v1`, the tenant's Basic auth): server-sent events of the tenant, `scan` and
 * `job` (api/live-events.ts). 429 when the tenant has 10 streams open on this API process.
 */
export function eventsRouter(deps: { live: LiveEvents }): Router {
  const router = Router();
  router.get('/events', async (req, res) => {
    await deps.live.openTenant(principalOf(res).tenantId, req, res);
  });
  return router;
}

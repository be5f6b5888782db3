import { Router } from 'express';
import { z } from 'zod';
import { STATS_MAX_HOURS, type StatsStore } from '../../scans/stats.js';
import { principalOf } from '../auth.js';
import { sendJson } from '../http.js';
import { wholeNumber } from '../schemas.js';

export interface StatsRouterDeps {
  stats: StatsStore;
}

const hoursMessage = `hours must be a whole number from 1 to ${STATS_MAX_HOURS}`;

/** `GET /stats` query: exported for the OpenAPI document (api/operations.ts). */
export const StatsQuerySchema = z.object({
  hours: wholeNumber({
    min: 1,
    max: STATS_MAX_HOURS,
    text: true,
    fallback: 24,
    notWhole: hoursMessage,
    outOfRange: hoursMessage,
  }).describe('How many UTC hours, ending with the current one.'),
});

/**
 * `GET /stats[?hours=24]` (`/v1`, the tenant's Basic auth) → `{"hours": [...], "totals": {...}}`:
 * the tenant's activity per UTC hour, oldest first, every hour present (zeros included), and the
 * same over the window (scans/stats.ts). 400 for hours outside 1–168.
 */
export function statsRouter(deps: StatsRouterDeps): Router {
  const router = Router();
  router.get('/stats', async (req, res) => {
    const hours = Array.isArray(req.query.hours) ? req.query.hours[0] : req.query.hours;
    const query = StatsQuerySchema.parse({ hours });
    sendJson(res, 200, await deps.stats.window(principalOf(res).tenantId, query.hours));
  });
  return router;
}

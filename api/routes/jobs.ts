import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { notFound } from '../../core/errors.js';
import type { RetroService } from '../../s3/retro/index.js';
import { jobView } from '../../s3/retro/jobs.js';
import { principalOf } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import { wholeNumber } from '../schemas.js';

export interface JobsRouterDeps {
  retro: RetroService;
}

/** `GET /jobs?limit=`: exported for the OpenAPI document (api/operations.ts). */
export const ListQuerySchema = z.object({
  limit: wholeNumber({
    min: 1,
    max: 1000,
    text: true,
    fallback: 100,
    notWhole: 'limit must be a whole number from 1 to 1000',
    outOfRange: 'limit must be a whole number from 1 to 1000',
  }),
});

/**
 * Retro jobs (`/v1`, behind the tenant's Basic auth, API keys only): scans of the objects
 * already in registered buckets, filtered by LastModified (see s3/retro/).
 *
 * - `POST /jobs {"buckets":[{"name","prefix"?}], "from"?, "to"?}` → 201 with the job (state
 *   `crawling`). 400 for a bad body: no/unknown bucket (one not registered by this tenant),
 *   malformed dates, from after to.
 * - `GET /jobs[?limit=100]` → `{"jobs": [...]}`, newest first.
 * - `GET /jobs/{id}` → the job; another tenant's is a 404.
 * - `POST /jobs/{id}/cancel` → 200 with the job, state `cancelled`: no more pages are listed or
 *   submitted; scans already queued still run and are still counted. 409 if it has ended.
 */
export function jobsRouter(deps: JobsRouterDeps): Router {
  const router = Router();
  const json = [requireParsedBody('application/json'), express.json({ limit: '64kb' })];

  router.post('/jobs', ...json, async (req, res) => {
    const job = await deps.retro.createJob(principalOf(res).tenantId, req.body);
    res.setHeader('Location', `${req.baseUrl}/jobs/${job.id}`);
    sendJson(res, 201, jobView(job));
  });

  router.get('/jobs', async (req, res) => {
    const { limit } = ListQuerySchema.parse({ limit: single(req.query.limit) });
    const jobs = await deps.retro.jobs.list(principalOf(res).tenantId, limit);
    sendJson(res, 200, { jobs: jobs.map(jobView) });
  });

  router.get('/jobs/:id', async (req, res) => {
    const job = await deps.retro.jobs.get(principalOf(res).tenantId, jobId(req));
    if (!job) throw notFound(`There is no retro job with id "${jobId(req).slice(0, 64)}".`);
    sendJson(res, 200, jobView(job));
  });

  router.post('/jobs/:id/cancel', async (req, res) => {
    const job = await deps.retro.cancelJob(principalOf(res).tenantId, jobId(req));
    sendJson(res, 200, jobView(job));
  });

  return router;
}

const jobId = (req: Request): string => String(req.params.id);
const single = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);

import express, { Router, type Request } from 'express';
import { notFound } from '../../core/errors.js';
import { bucketView } from '../../s3/bucket-schema.js';
import type { BucketStatusStore } from '../../s3/bucket-status.js';
import type { BucketStore } from '../../s3/bucket-store.js';
import type { EventIntake } from '../../s3/event-intake.js';
import { principalOf } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';

export interface BucketsRouterDeps {
  buckets: BucketStore;
  intake: EventIntake;
  status: Pick<BucketStatusStore, 'view'>;
}

/** Largest S3 notification accepted by `POST /v1/events/s3` (a batch of records). */
const EVENT_BODY_LIMIT = '1mb';

/**
 * Tenant extension API (`/v1`, behind the tenant's Basic auth):
 *
 * - `PUT /buckets/{name}` registers (201) or replaces (200) a bucket; `GET /buckets/{name}`,
 *   `GET /buckets`, `DELETE /buckets/{name}` (204). Credentials are never shown: the view has
 *   their type and a masked key id. Another tenant's bucket is a 404. API keys only (not tokens).
 * - `GET /buckets/{name}/status`: whether its SQS queue is polled, its last event, and its
 *   object scans by outcome (s3/bucket-status.ts).
 * - `POST /events/s3` takes an S3 notification (any shape events.ts reads) for a store that
 *   POSTs its notifications: 202 with the scans queued, duplicates and skipped records; 400 for
 *   a body that is not one; 404 when it names a bucket this tenant has not registered.
 */
export function bucketsRouter(deps: BucketsRouterDeps): Router {
  const router = Router();
  const json = [requireParsedBody('application/json'), express.json({ limit: '64kb' })];
  // SNS HTTP(S) subscriptions post JSON as text/plain: take both, parse it ourselves.
  const eventBody = [
    requireParsedBody('application/json', 'text/plain'),
    express.text({ type: ['application/json', 'text/plain'], limit: EVENT_BODY_LIMIT }),
  ];

  router.get('/buckets', async (_req, res) => {
    const records = await deps.buckets.list(principalOf(res).tenantId);
    sendJson(res, 200, { buckets: records.map(bucketView) });
  });

  router.put('/buckets/:name', ...json, async (req, res) => {
    const { record, created } = await deps.buckets.put(
      principalOf(res).tenantId,
      bucketName(req),
      req.body,
    );
    sendJson(res, created ? 201 : 200, bucketView(record));
  });

  router.get('/buckets/:name', async (req, res) => {
    sendJson(
      res,
      200,
      bucketView(await deps.buckets.require(principalOf(res).tenantId, bucketName(req))),
    );
  });

  router.get('/buckets/:name/status', async (req, res) => {
    const tenantId = principalOf(res).tenantId;
    const record = await deps.buckets.require(tenantId, bucketName(req));
    sendJson(res, 200, await deps.status.view(tenantId, record.name, record.queue !== undefined));
  });

  router.delete('/buckets/:name', async (req, res) => {
    const name = bucketName(req);
    if (!(await deps.buckets.delete(principalOf(res).tenantId, name))) {
      throw notFound(`There is no registered bucket named "${name.slice(0, 70)}".`);
    }
    res.status(204).end();
  });

  router.post('/events/s3', ...eventBody, async (req, res) => {
    const body: unknown = req.body;
    const report = await deps.intake.accept(
      principalOf(res).tenantId,
      typeof body === 'string' ? body : '',
    );
    sendJson(res, 202, report);
  });

  return router;
}

const bucketName = (req: Request): string => String(req.params.name);

import { createHash, timingSafeEqual } from 'node:crypto';
import express, {
  Router,
  type Express,
  type NextFunction,
  type Request,
  type Response,
} from 'express';
import type { Metrics } from '../core/metrics.js';
import { sendJson } from './http.js';

/**
 * Counts and times every answer by method, route template and status. The template comes from
 * the operation registry (`match`), so a path carrying an id is labelled `/v2.2/files/:id` and
 * a path that is no route at all `unmatched`: labels stay a small, fixed set.
 */
export function httpMetrics(
  metrics: Pick<Metrics, 'httpRequest'>,
  match: (method: string, path: string) => string,
) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const path = req.originalUrl.split('?')[0] ?? '';
      const route = path.startsWith('/docs/assets/') ? '/docs/assets/*' : match(req.method, path);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequest({ method: req.method, route, status: res.statusCode }, seconds);
    });
    next();
  };
}

/**
 * `GET /metrics` in the Prometheus text format. With a token, only `Authorization: Bearer
 * <token>` gets them (401 otherwise); without, anyone who can reach the port.
 */
export function metricsRouter(
  metrics: Pick<Metrics, 'registry'>,
  token: string | undefined,
): Router {
  const router = Router();
  const expected = token ? digest(token) : undefined;
  router.get('/metrics', async (req, res) => {
    if (expected) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="Arbiter metrics"');
        sendJson(res, 401, { error: 'Send the metrics token as "Authorization: Bearer <token>".' });
        return;
      }
    }
    const body = await metrics.registry.metrics();
    res.status(200).setHeader('Content-Type', metrics.registry.contentType);
    res.end(body);
  });
  return router;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * What a process running workers without the API serves (`ARBITER_WORKER_METRICS_PORT`):
 * `/healthz` and `/metrics`, nothing else.
 */
export function createMonitorApp(metrics: Metrics, token: string | undefined): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  app.use(metricsRouter(metrics, token));
  app.use((_req, res) => sendJson(res, 404, { error: 'There is no such resource.' }));
  return app;
}

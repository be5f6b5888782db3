import { Router } from 'express';
import { sendJson } from '../http.js';

export type ReadinessCheck = () => Promise<Record<string, string>>;

export interface HealthRouterDeps {
  checkReadiness: ReadinessCheck;
  /** What the engines do not detect (clamd missing), shown by `/readyz`. */
  warnings?: string[];
}

/**
 * `/healthz`: the process is alive. `/readyz`: Redis and every configured engine answer. When
 * the default engines run without clamd, `/readyz` still answers 200 (the process is ready, it
 * scans) and its `warnings` say what its scans do not detect.
 */
export function healthRouter({ checkReadiness, warnings = [] }: HealthRouterDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  router.get('/readyz', async (_req, res) => {
    const checks = await checkReadiness();
    const ready = Object.values(checks).every((state) => state === 'ok');
    sendJson(res, ready ? 200 : 503, {
      status: ready ? 'ready' : 'not ready',
      checks,
      ...(warnings.length > 0 ? { warnings } : {}),
    });
  });
  return router;
}

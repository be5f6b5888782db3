import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import onHeaders from 'on-headers';
import type { Logger } from '../core/logger.js';

/**
 * Headers every answer carries, errors included: a request id for support, the host id to tell
 * replicas apart, and the processing time as `X-Runtime: 12ms`. One log line per request.
 */
export function requestContext(hostId: string, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Scanii-Request-Id', requestId);
    res.setHeader('X-Scanii-Host-Id', hostId);
    onHeaders(res, () => {
      const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
      res.setHeader('X-Runtime', `${ms}ms`);
    });
    res.on('finish', () => {
      const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
      const level = res.statusCode >= 500 ? 'error' : 'info';
      logger[level](
        {
          requestId,
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status: res.statusCode,
          ms,
          // Always present (null before authentication), so every request line can be filtered by it.
          tenantId: (res.locals.auth as { tenantId?: string } | undefined)?.tenantId ?? null,
        },
        'request',
      );
    });
    next();
  };
}

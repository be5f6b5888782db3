import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../core/errors.js';
import type { QuotaCheck, TenantLimiter } from '../core/limits.js';
import type { Logger } from '../core/logger.js';
import { principalOf } from './auth.js';

/**
 * Per-tenant limits at the HTTP edge (after authentication, which names the tenant). Every
 * answer to a limited tenant carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; a refusal
 * is a 429 with `Retry-After` in whole seconds.
 */
export function rateLimit(limiter: TenantLimiter) {
  return async (_req: Request, res: Response, next: NextFunction): Promise<void> => {
    await admitRequest(limiter, principalOf(res).tenantId, res);
    next();
  };
}

/** Counts one request of `tenantId`, setting the headers; throws the 429 when over the limit. */
export async function admitRequest(
  limiter: TenantLimiter,
  tenantId: string,
  res: Response,
): Promise<void> {
  const admission = await limiter.admitRequest(tenantId);
  if (!admission) return;
  res.setHeader('X-RateLimit-Limit', String(admission.limit));
  res.setHeader('X-RateLimit-Remaining', String(admission.remaining));
  if (!admission.allowed) {
    throw new DomainError(
      'rate_limited',
      `Too many requests: this account may make ${admission.limit} requests per second. Retry after ${admission.retryAfterSeconds} s.`,
      admission.retryAfterSeconds,
    );
  }
}

/** Before a body that adds to the byte quota is read: refuses at once when today's is used up. */
export function quotaPrecheck(limiter: TenantLimiter) {
  return async (_req: Request, res: Response, next: NextFunction): Promise<void> => {
    const check = await limiter.checkQuota(principalOf(res).tenantId);
    if (!check.allowed) throw quotaExceeded(check, 0);
    next();
  };
}

/**
 * After multer stored the upload(s): counts their bytes against today's quota, or, when that
 * would go over it, removes them and answers 429 (their bytes are not counted).
 */
export function chargeUploads(
  limiter: TenantLimiter,
  discard: (file: Express.Multer.File) => Promise<void>,
  logger: Logger,
) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const files = uploadedFiles(req);
    const bytes = files.reduce((sum, file) => sum + file.size, 0);
    if (bytes === 0) {
      next();
      return;
    }
    const tenantId = principalOf(res).tenantId;
    const chargedAt = new Date();
    let check: QuotaCheck;
    try {
      check = await limiter.chargeUpload(tenantId, bytes, chargedAt);
    } catch (error) {
      await Promise.all(files.map(discard));
      throw error;
    }
    if (!check.allowed) {
      await Promise.all(files.map(discard));
      throw quotaExceeded(check, bytes);
    }
    // Only accepted uploads count: a request answered with an error (invalid fields, say) gets
    // its bytes back.
    res.once('finish', () => {
      if (res.statusCode < 400) return;
      limiter.refundUpload(tenantId, bytes, chargedAt).catch((error: unknown) => {
        logger.warn({ err: error, tenantId }, 'could not give back the bytes of a refused upload');
      });
    });
    next();
  };
}

export function uploadedFiles(req: Request): Express.Multer.File[] {
  if (Array.isArray(req.files)) return req.files;
  if (req.files) return Object.values(req.files).flat();
  return req.file ? [req.file] : [];
}

function quotaExceeded(check: QuotaCheck, bytes: number): DomainError {
  const used = `${check.used} of ${check.limit} bytes used today (UTC)`;
  const message =
    bytes > 0
      ? `Daily quota exceeded: this upload of ${bytes} bytes would go over it (${used}). Retry after ${check.retryAfterSeconds} s, when the quota resets.`
      : `Daily quota exceeded: ${used}. Retry after ${check.retryAfterSeconds} s, when the quota resets.`;
  return new DomainError('rate_limited', message, check.retryAfterSeconds);
}

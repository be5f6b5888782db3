import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';
import { badRequest, DomainError, payloadTooLarge } from '../../core/errors.js';
import type { TenantLimiter } from '../../core/limits.js';
import type { Logger } from '../../core/logger.js';
import type { ScanRequest } from '../../scans/results.js';
import { uploadRequest } from '../../scans/request.js';
import type { SanitizeChoice } from '../../scans/sanitize-choice.js';
import type { ScanService } from '../../scans/service.js';
import { describeOutcome, unfinished, verdictOf, type ScannedFile } from '../../scans/verdict.js';
import type { Spool } from '../../core/spool.js';
import type { TenantStore } from '../../core/tenants.js';
import type { TokenStore } from '../../core/tokens.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { contentName } from '../../scanning/engines.js';
import type { ExistingObjectScan } from '../../s3/object-scans.js';
import { authenticateBearerOrBasic, authenticateKey, principalOf } from '../auth.js';
import {
  FORM_LIMITS,
  MULTIPART_CHARSETS,
  refuseBodyOver,
  requireParsedBody,
  uploadedPart,
} from '../body-parsers.js';
import { sendJson } from '../http.js';
import {
  admitRequest,
  chargeUploads,
  quotaPrecheck,
  rateLimit,
  uploadedFiles,
} from '../rate-limit.js';
import { ExistingObjectScanSchema, VerdictTokenSchema } from '../schemas.js';

/**
 * The verdict API in the style of "Antivirus for Amazon S3" (mounted at `/api`): a token from
 * key and secret, then one call that uploads one or more files and answers with a verdict
 * (worded by scans/verdict.ts).
 * Every file is an ordinary scan (same pipeline and engines, stored result and trace), so it can
 * be looked up through the Scanii API by the ids in `X-Arbiter-Scan-Ids`.
 */

export interface VerdictDeps {
  tenants: TenantStore;
  tokens: TokenStore;
  /** Runs every file's scan now (scans/service.ts). */
  scanning: ScanService;
  /**
   * Whether the uploads get sanitized copies: the key's setting, else the tenant's (this API
   * has no parameter for it). The verdict is the same; the stored results carry `sanitized`.
   */
  sanitizeChoice: SanitizeChoice;
  spool: Spool;
  limiter: TenantLimiter;
  maxFileSize: number;
  logger: Logger;
  /** Scans an object of a registered bucket (s3/object-scans.ts); absent: Existing is a 404. */
  scanExistingObject?: (
    tenantId: string,
    bucket: string,
    key: string,
    versionId: string | undefined,
    submitter: { keyId: string },
  ) => Promise<ExistingObjectScan>;
}

/** Access tokens live for an hour, as the clients of this API expect (`expiresIn`). */
export const ACCESS_TOKEN_SECONDS = 3600;
/** Files one `POST /api/Scan` may carry. */
export const MAX_FILES_PER_SCAN = 32;
/** Files of one request scanned at once. */
const SCAN_PARALLELISM = 4;

export function verdictRouter(deps: VerdictDeps): Router {
  const router = Router();
  const auth = authenticateBearerOrBasic(deps.tenants, deps.tokens);
  const limit = rateLimit(deps.limiter);

  router.post(
    '/Token',
    requireParsedBody('application/json', 'application/x-www-form-urlencoded'),
    refuseBodyOver(16 * 1024),
    // Not strict: a client may send the JSON document as a JSON string (encoded twice).
    express.json({ limit: '16kb', strict: false }),
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }),
    (req, res) => issueToken(deps, req, res),
  );
  router.post(
    '/Scan/Existing',
    auth,
    limit,
    requireParsedBody('application/json'),
    express.json({ limit: '16kb' }),
    (req, res) => scanExisting(deps, req, res),
  );
  router.post(
    '/Scan',
    auth,
    limit,
    requireParsedBody('multipart/form-data'),
    quotaPrecheck(deps.limiter),
    uploadAny(deps.spool.incomingDir, deps.maxFileSize),
    chargeUploads(deps.limiter, (file) => deps.spool.remove(file.path), deps.logger),
    (req, res) => scanUploads(deps, req, res),
  );
  return router;
}

/** `POST /api/Token`: `{"username": key, "password": secret}` → a Bearer access token. */
async function issueToken(deps: VerdictDeps, req: Request, res: Response): Promise<void> {
  const { username, password } = VerdictTokenSchema.parse(tokenBody(req.body));
  const principal = await authenticateKey(deps.tenants, username, password);
  await admitRequest(deps.limiter, principal.tenantId, res);
  const token = await deps.tokens.create(
    principal.tenantId,
    username,
    ACCESS_TOKEN_SECONDS,
    'verdict',
  );
  sendJson(res, 200, {
    accessToken: token.id,
    tokenType: 'Bearer',
    expiresIn: ACCESS_TOKEN_SECONDS,
  });
}

function tokenBody(body: unknown): unknown {
  if (typeof body !== 'string') return body ?? {};
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw badRequest(
      'The request body must be a JSON object {"username": "<API key>", "password": "<API secret>"}.',
    );
  }
}

/** Multipart with file parts under any field name; text fields (`composite`, …) are ignored. */
function uploadAny(incomingDir: string, maxFileSize: number) {
  const upload = multer({
    // File names come back in the verdict: read them as the UTF-8 that clients send.
    ...MULTIPART_CHARSETS,
    storage: multer.diskStorage({
      destination: incomingDir,
      filename: (_req, _file, cb) => cb(null, randomBytes(16).toString('hex')),
    }),
    limits: {
      fileSize: maxFileSize,
      files: MAX_FILES_PER_SCAN,
      fields: FORM_LIMITS.fields,
      fieldSize: FORM_LIMITS.fieldSize,
      parts: FORM_LIMITS.fields + MAX_FILES_PER_SCAN,
    },
  }).any();
  return (req: Request, res: Response, next: NextFunction) =>
    upload(req, res, (error?: unknown) => {
      // Multer removes the files it had stored before calling back with an error.
      if (error instanceof multer.MulterError && error.code === 'LIMIT_FILE_COUNT') {
        next(
          payloadTooLarge(
            `Too many files: send at most ${MAX_FILES_PER_SCAN} files in one request.`,
          ),
        );
        return;
      }
      next(error);
    });
}

interface FileOutcome extends ScannedFile {
  request: ScanRequest;
}

/** `POST /api/Scan`: scans every uploaded file now and answers with one verdict for them all. */
async function scanUploads(deps: VerdictDeps, req: Request, res: Response): Promise<void> {
  const { tenantId, keyId } = principalOf(res);
  const files = uploadedFiles(req);
  try {
    if (files.length === 0) {
      throw badRequest(
        'Send the content to scan as a file part of a multipart/form-data body (any field name).',
      );
    }
    const empty = files.find((file) => file.size === 0);
    if (empty)
      throw badRequest(
        `The file "${empty.originalname.slice(0, 255)}" is empty: there is nothing to scan.`,
      );

    const sanitize = await deps.sanitizeChoice.wanted(tenantId, keyId, undefined);
    const outcomes = await mapLimited(
      files,
      SCAN_PARALLELISM,
      async (file): Promise<FileOutcome> => {
        const request = uploadRequest(tenantId, { sanitize }, uploadedPart(file), { keyId });
        let verdicts: EngineVerdict[] = [];
        const result = await deps.scanning.runNow(
          { request, received: 'content received for processing (verdict API)' },
          {
            uploadPath: file.path,
            onVerdicts: (reported) => {
              verdicts = reported;
            },
          },
        );
        return { request, result, verdicts };
      },
    );
    res.setHeader('X-Arbiter-Scan-Ids', outcomes.map((o) => o.request.id).join(','));
    sendJson(
      res,
      200,
      verdictOf(outcomes.map((o) => describeOutcome(o, contentName(o.request), o.request.id))),
    );
  } finally {
    // The pipeline removes each file it scanned; this catches the ones a failure left behind.
    await Promise.all(files.map((file) => deps.spool.remove(file.path)));
  }
}

/** `POST /api/Scan/Existing`: scans an object of a registered bucket now. */
async function scanExisting(deps: VerdictDeps, req: Request, res: Response): Promise<void> {
  const { bucket, key, versionId } = ExistingObjectScanSchema.parse(req.body ?? {});
  if (!deps.scanExistingObject)
    throw new DomainError('not_found', 'Bucket scanning is not available on this server.');
  const { tenantId, keyId } = principalOf(res);
  const scan = await deps.scanExistingObject(tenantId, bucket, key, versionId, { keyId });
  if (scan.scanId) res.setHeader('X-Arbiter-Scan-Ids', scan.scanId);
  const outcome = scan.result
    ? describeOutcome({ result: scan.result, verdicts: [] }, key, scan.scanId)
    : unfinished(
        key,
        scan.duplicate
          ? 'The object is already being scanned and that scan has not finished yet; retry shortly.'
          : 'The result was deleted while the object was being scanned.',
        scan.scanId,
      );
  sendJson(res, 200, verdictOf([outcome]));
}

/** `fn` over `items`, `limit` at a time; after a failure no new item starts, and it is rethrown. */
async function mapLimited<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.error;
  return results;
}

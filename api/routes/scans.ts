import { Router } from 'express';
import { z } from 'zod';
import { badRequest, notFound } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import { RESULT_OUTCOMES, type ScanResult } from '../../scans/results.js';
import { listScans } from '../../scans/scan-list.js';
import type { IndexPosition, ScanStore } from '../../scans/store.js';
import { principalOf } from '../auth.js';
import { sendJson } from '../http.js';
import { wholeNumber } from '../schemas.js';

export interface ScansRouterDeps {
  scans: ScanStore;
}

const Q_MAX_LENGTH = 256;

/** `GET /scans` query: exported for the OpenAPI document (api/operations.ts). */
export const ScanListQuerySchema = z.object({
  limit: wholeNumber({
    min: 1,
    max: 100,
    text: true,
    fallback: 25,
    notWhole: 'limit must be a whole number from 1 to 100',
    outOfRange: 'limit must be a whole number from 1 to 100',
  }),
  cursor: z
    .string({ error: 'cursor must be the next_cursor of a previous page' })
    .optional()
    .describe('The `next_cursor` of the previous page (opaque).'),
  outcome: z
    .enum(RESULT_OUTCOMES, { error: 'outcome must be one of clean, findings, error' })
    .optional()
    .describe(
      '`error`: processing failed (an `error` field); `findings`: at least one finding; `clean`: neither.',
    ),
  q: z
    .string()
    .min(1, 'q must not be empty')
    .max(Q_MAX_LENGTH, `q must be at most ${Q_MAX_LENGTH} characters`)
    .optional()
    .describe(
      'A scan matches when q equals its id or checksum, or is part of a metadata value or a finding (case-insensitive).',
    ),
});

/**
 * A tenant's scans (`/v1`, behind the tenant's Basic auth), for a console's scans page.
 *
 * - `GET /scans[?limit=25&cursor=&outcome=&q=]` → `{"scans": [...], "next_cursor"}`: stored
 *   results, newest first (by completion time), as summaries. `next_cursor` is null at the end;
 *   a search may end a page early (scans/scan-list.ts bounds the records one request reads) and
 *   still give a cursor. 400 for a limit outside 1–100, an unknown outcome, a q over 256
 *   characters or a malformed cursor.
 * - `GET /scans/{id}/callbacks` → `{"callbacks": [...]}`: the scan's callback attempts, oldest
 *   first (the newest 50 are kept); 404 for an unknown, deleted or another tenant's id.
 */
export function scansRouter(deps: ScansRouterDeps): Router {
  const router = Router();

  router.get('/scans', async (req, res) => {
    const query = ScanListQuerySchema.parse({
      limit: single(req.query.limit),
      cursor: single(req.query.cursor),
      outcome: single(req.query.outcome),
      q: single(req.query.q),
    });
    const page = await listScans(deps.scans, principalOf(res).tenantId, {
      limit: query.limit,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      outcome: query.outcome,
      q: query.q,
    });
    sendJson(res, 200, {
      scans: page.scans.map(scanSummary),
      next_cursor: page.next ? encodeCursor(page.next) : null,
    });
  });

  router.get('/scans/:id/callbacks', async (req, res) => {
    const id = String(req.params.id);
    const tenantId = principalOf(res).tenantId;
    // Not an id, another tenant's id, unknown, expired or deleted: the same 404.
    const state = isId(id) ? (await deps.scans.states(tenantId, [id]))[0] : undefined;
    if (state === undefined || state === 'deleted')
      throw notFound(`Sadly, we could not find a file by that id ${id.slice(0, 64)}.`);
    sendJson(res, 200, { callbacks: await deps.scans.callbackAttempts(tenantId, id) });
  });

  return router;
}

/** What a scan list shows of a result. */
function scanSummary(result: ScanResult) {
  return {
    id: result.id,
    checksum: result.checksum,
    content_type: result.content_type,
    content_length: result.content_length,
    findings: result.findings,
    ...(result.error === undefined ? {} : { error: result.error }),
    creation_date: result.creation_date,
    metadata: result.metadata,
  };
}

// The cursor is the last entry a page looked at, "<completion ms>.<id>" in base64url: opaque to
// clients, so its form can change.
const CURSOR = /^([0-9]{1,16})\.([0-9a-f]{32})$/;

function encodeCursor(position: IndexPosition): string {
  return Buffer.from(`${position.completedMs}.${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string): IndexPosition {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) throw badCursor();
  return { completedMs: Number(match[1]), id: match[2]! };
}

const badCursor = () => badRequest('cursor must be the next_cursor of a previous page');

const single = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);

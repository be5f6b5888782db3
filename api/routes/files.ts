import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { badRequest, notFound } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import type { TenantLimiter } from '../../core/limits.js';
import type { Logger } from '../../core/logger.js';
import type { Queues } from '../../core/queues.js';
import type { SanitizedStore } from '../../core/sanitized-store.js';
import type { Spool } from '../../core/spool.js';
import type { UploadStore } from '../../core/upload-store.js';
import { requireAllowedUrl } from '../../core/url-policy.js';
import { locationRequest, uploadRequest, type ClientFields } from '../../scans/request.js';
import type { SanitizeChoice } from '../../scans/sanitize-choice.js';
import type { SanitizedCopy, ScanRecord, ScanRequest } from '../../scans/results.js';
import { contentName } from '../../scanning/engines.js';
import type { ScanService } from '../../scans/service.js';
import type { ScanStore } from '../../scans/store.js';
import { principalOf } from '../auth.js';
import {
  formParsers,
  requireParsedBody,
  spoolStorage,
  uploadedPart,
  uploadParser,
} from '../body-parsers.js';
import { downloadName } from '../download-name.js';
import { resultUrl, sendJson } from '../http.js';
import { chargeUploads, quotaPrecheck } from '../rate-limit.js';
import { FILE_FIELDS, FetchSchema, SubmitFileSchema } from '../schemas.js';

export interface FilesDeps {
  /** Accepts and runs scans (scans/service.ts). */
  scanning: ScanService;
  /** Results and traces, for the lookups and deletes. */
  scans: ScanStore;
  /** To tell whether a deleted scan's job is being processed (see discardQueuedUpload). */
  queues: Queues;
  /** Where the synchronous scans receive their uploads (and scan them). */
  spool: Spool;
  /** Where async uploads are staged for the workers (core/upload-store.ts). */
  uploads: UploadStore;
  /** Where sanitized copies wait for their download (core/sanitized-store.ts). */
  sanitized: SanitizedStore;
  /** Whether a scan gets a sanitized copy: `sanitize`, else the key's or tenant's setting. */
  sanitizeChoice: SanitizeChoice;
  publicUrl: string | undefined;
  maxFileSize: number;
  logger: Logger;
  /** Daily byte quota: uploads are counted when accepted, fetches once downloaded. */
  limiter: TenantLimiter;
}

const RECEIVED = 'content received for processing';

const NO_CONTENT =
  'Regrettably, you did not send us any content to process: send a non-empty "file" or a "location".';

export function filesRouter(deps: FilesDeps): Router {
  const router = Router();
  const upload = uploadParser(spoolStorage(deps.spool.incomingDir), deps.maxFileSize);
  const tenantOf = (req: Request) => principalOf(req.res as Response).tenantId;
  const stage = uploadParser(deps.uploads.stagingEngine(tenantOf), deps.maxFileSize);
  const multipartOnly = requireParsedBody('multipart/form-data');
  const forms = [
    requireParsedBody(
      'multipart/form-data',
      'application/x-www-form-urlencoded',
      'application/json',
    ),
    ...formParsers(),
  ];

  const precheck = quotaPrecheck(deps.limiter);
  const charge = chargeUploads(deps.limiter, spoolDiscard(deps), deps.logger);
  const chargeStaged = chargeUploads(deps.limiter, stagedDiscard(deps), deps.logger);
  router.post('/files', multipartOnly, precheck, upload, charge, (req, res) =>
    processSync(deps, req, res),
  );
  router.post('/files/async', multipartOnly, precheck, stage, chargeStaged, (req, res) =>
    submitAsync(deps, req, res),
  );
  router.post('/files/fetch', precheck, ...forms, (req, res) => submitFetch(deps, req, res));
  router.get('/files/:id', (req, res) => getResult(deps, req, res));
  router.delete('/files/:id', (req, res) => deleteResult(deps, req, res));
  router.get('/files/:id/trace', (req, res) => getTrace(deps, req, res));
  router.get('/files/:id/sanitized', (req, res) => getSanitized(deps, req, res));
  router.delete('/files/:id/trace', (req, res) => deleteTrace(deps, req, res));
  return router;
}

/** `POST /files`: scan now and answer with the result (201). */
async function processSync(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const tenantId = principalOf(res).tenantId;
  const fields = await parseOrDiscard(spoolDiscard(deps), req, () =>
    withSanitizeChoice(deps, res, screenUrls(deps, SubmitFileSchema.parse(checkFields(req.body)))),
  );
  const file = req.file;
  if (file && fields.location) {
    await deps.spool.remove(file.path);
    throw badRequest('File and Location cannot be passed in at the same time.');
  }
  if (!file && !fields.location) throw badRequest(NO_CONTENT);
  if (file?.size === 0) {
    await deps.spool.remove(file.path);
    throw badRequest(NO_CONTENT);
  }
  // Exactly one of the two (checked above).
  const submitter = { keyId: principalOf(res).keyId };
  const request = fields.location
    ? locationRequest(tenantId, { ...fields, location: fields.location }, submitter)
    : uploadRequest(tenantId, fields, uploadedPart(file), submitter);
  const result = await deps.scanning.runNow(
    { request, received: RECEIVED },
    file ? { uploadPath: file.path } : {},
  );
  if (!result) throw notFound('The result was deleted while it was being processed.');
  if (result.error) {
    // Nothing was scanned: answering 201 would let a client read "no findings" as clean.
    const status = result.checksum === null ? 400 : 503;
    sendJson(res, status, { error: result.error, id: result.id, metadata: result.metadata });
    return;
  }
  res.setHeader('Location', resultUrl(req, deps.publicUrl, request.id));
  sendJson(res, 201, result);
}

/** `POST /files/async`: keep the upload, queue the scan, answer 202 at once. */
async function submitAsync(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const tenantId = principalOf(res).tenantId;
  const discard = stagedDiscard(deps);
  const fields = await parseOrDiscard(discard, req, () =>
    withSanitizeChoice(deps, res, screenUrls(deps, SubmitFileSchema.parse(checkFields(req.body)))),
  );
  const file = req.file;
  if (fields.location) {
    if (file) await discard(file);
    throw badRequest('/files/async takes an uploaded "file"; to scan a URL use /files/fetch.');
  }
  if (!file || file.size === 0) {
    if (file) await discard(file);
    throw badRequest(NO_CONTENT);
  }
  // Named when staged: an object store keys the upload by tenant and scan id.
  const request = uploadRequest(
    tenantId,
    fields,
    uploadedPart(file),
    { keyId: principalOf(res).keyId },
    file.filename,
  );
  await deps.scanning.submit({ request, received: RECEIVED, upload: file });
  accepted(deps, req, res, request.id);
}

/** `POST /files/fetch`: queue a download of `location` and its scan, answer 202 at once. */
async function submitFetch(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const tenantId = principalOf(res).tenantId;
  const fields = await withSanitizeChoice(
    deps,
    res,
    screenUrls(deps, FetchSchema.parse(checkFields(req.body ?? {}))),
  );
  const request = locationRequest(tenantId, fields, { keyId: principalOf(res).keyId });
  await deps.scanning.submit({ request, received: RECEIVED });
  accepted(deps, req, res, request.id);
}

/** 202 with where the result will be. */
function accepted(deps: FilesDeps, req: Request, res: Response, scanId: string): void {
  res.setHeader('Location', resultUrl(req, deps.publicUrl, scanId));
  sendJson(res, 202, { id: scanId });
}

async function getResult(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const id = fileId(req);
  const record = await deps.scans.get(principalOf(res).tenantId, id);
  if (!record || record.state === 'deleted')
    throw notFound(`Sadly, we could not find a file by that id ${id}.`);
  if (!record.result) throw notFound(`The file ${id} is still being processed; try again shortly.`);
  sendJson(res, 200, record.result);
}

async function deleteResult(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const id = fileId(req);
  const tenantId = principalOf(res).tenantId;
  const outcome = await deps.scans.deleteScan(tenantId, id);
  if (outcome === 'none') throw notFound(`Sadly, we could not find a file by that id ${id}.`);
  if (outcome === 'pending') await discardQueuedUpload(deps, tenantId, id);
  await discardSanitizedCopy(deps, tenantId, id);
  res.status(204).end();
}

/**
 * Removes a deleted scan's sanitized copy, if it has one: the delete stands even if the store
 * cannot be reached now, and the sweeper removes the copy of a deleted scan later (as it does a
 * copy a worker was still keeping as the scan was deleted).
 */
async function discardSanitizedCopy(deps: FilesDeps, tenantId: string, scanId: string) {
  await deps.sanitized.remove(tenantId, scanId).catch((error: unknown) => {
    deps.logger.warn(
      { err: error, scanId },
      'could not remove the sanitized copy of a deleted scan',
    );
  });
}

/**
 * `GET /files/{id}/sanitized`: the sanitized copy, as an attachment that no browser renders or
 * sniffs. Every reason there is none is a 404 that says which.
 */
async function getSanitized(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const id = fileId(req);
  const tenantId = principalOf(res).tenantId;
  const { request, copy } = availableCopy(await deps.scans.get(tenantId, id), id);
  const download = await deps.sanitized.open(tenantId, id);
  if (!download)
    throw notFound(`The sanitized copy of ${id} is gone (its result expired or was deleted).`);
  const name = downloadName(contentName(request), id, copy.content_type);
  res.status(200);
  res.setHeader('Content-Type', copy.content_type);
  res.setHeader('Content-Length', String(download.size));
  res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // Opened in a browser tab all the same, an HTML or SVG copy runs nothing and loads nothing.
  res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
  res.setHeader('Cache-Control', 'private, no-store');
  try {
    await pipeline(download.body, res);
  } catch (error) {
    // The client went away, or the store failed mid-stream: the answer is already under way.
    deps.logger.info({ err: error, scanId: id }, 'a sanitized copy download ended early');
  }
}

/** A result's sanitized copy, when it has one that may be downloaded; otherwise a 404 saying why. */
function availableCopy(
  record: ScanRecord | undefined,
  id: string,
): { request: ScanRequest; copy: Extract<SanitizedCopy, { available: true }> } {
  if (!record || record.state === 'deleted')
    throw notFound(`Sadly, we could not find a file by that id ${id}.`);
  const { request, result } = record;
  if (!result) throw notFound(`The file ${id} is still being processed; try again shortly.`);
  const copy = result.sanitized;
  if (!copy) {
    if (!request.sanitize)
      throw notFound(
        `No sanitized copy of ${id} was asked for: submit the content with sanitize=true.`,
      );
    throw notFound(`No sanitized copy of ${id} was made: the content was not scanned.`);
  }
  if (!copy.available) throw notFound(`No sanitized copy of ${id} is available: ${copy.reason}.`);
  // A copy made of content later found to have findings (a rescan) is never handed out.
  if (result.findings.length > 0)
    throw notFound(`No sanitized copy of ${id} is available: the content has findings.`);
  return { request, copy };
}

/**
 * Removes the spooled upload of a scan just deleted while pending, when no worker can be reading
 * it. The record is already marked deleted, and a worker reads the record only after BullMQ
 * made its job active; so if the job is not active now, any worker that takes it later sees
 * "deleted" and never opens the file: it is safe to remove. (No job at all is just as safe: only
 * scan jobs read `uploads/`; synchronous scans read their file where it was received.) An active
 * job may be reading it: that worker removes it when it ends (it always removes the upload, and
 * a retry of a deleted scan removes it without scanning). A failure here does not fail the
 * delete: the spool sweeper removes uploads of deleted scans anyway.
 */
async function discardQueuedUpload(deps: FilesDeps, tenantId: string, scanId: string) {
  try {
    if ((await deps.queues.scan.getJobState(scanId)) === 'active') return;
    await deps.uploads.remove(tenantId, scanId);
  } catch (error) {
    deps.logger.warn({ err: error, scanId }, 'could not remove the upload of a deleted scan');
  }
}

async function getTrace(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const id = fileId(req);
  const events = await deps.scans.getTrace(principalOf(res).tenantId, id);
  if (!events) throw notFound(`No trace exists for processing id ${id}.`);
  sendJson(res, 200, { id, events });
}

async function deleteTrace(deps: FilesDeps, req: Request, res: Response): Promise<void> {
  const id = fileId(req);
  if (!(await deps.scans.deleteTrace(principalOf(res).tenantId, id))) {
    throw notFound(`No trace exists for processing id ${id}.`);
  }
  res.status(204).end();
}

function fileId(req: Request): string {
  const id = String(req.params.id);
  // Anything that is not an id cannot name a result: same answer as an unknown id.
  if (!isId(id)) throw notFound(`Sadly, we could not find a file by that id ${id.slice(0, 64)}.`);
  return id;
}

/** Unknown fields are refused with their name, so a typo (`metdata[x]`) is not silently lost. */
function checkFields(body: unknown): Record<string, unknown> {
  const fields = (body ?? {}) as Record<string, unknown>;
  // Multer puts the upload in req.file; a "file" left among the fields was sent as text.
  if ('file' in fields)
    throw badRequest(
      '"file" must be a file part with a filename (curl -F file=@path), not a text field.',
    );
  const unknown = Object.keys(fields).filter((name) => !FILE_FIELDS.has(name));
  if (unknown.length > 0) {
    throw badRequest(
      `Unknown field "${unknown[0]?.slice(0, 64)}": accepted fields are file, location, callback, metadata[key] and sanitize.`,
    );
  }
  return fields;
}

/**
 * Refuses at submit time what the outbound client would certainly refuse later (a `location` or
 * `callback` whose host is a forbidden IP literal, and the like): the rule every tenant URL
 * follows (core/url-policy.ts). Names are judged by the worker, when resolved.
 */
function screenUrls<T extends { location?: string | undefined; callback?: string | undefined }>(
  deps: FilesDeps,
  fields: T,
): T {
  for (const field of ['location', 'callback'] as const) {
    const url = fields[field];
    if (url) requireAllowedUrl(field, url, deps.scanning.networkPolicy);
  }
  return fields;
}

/**
 * The fields with `sanitize` decided: the request's own where it gave one, else the submitting
 * key's setting, else its tenant's (scans/sanitize-choice.ts), stored with the scan.
 */
async function withSanitizeChoice<T extends ClientFields>(
  deps: FilesDeps,
  res: Response,
  fields: T,
): Promise<T & { sanitize: boolean }> {
  const { tenantId, keyId } = principalOf(res);
  const sanitize = await deps.sanitizeChoice.wanted(tenantId, keyId, fields.sanitize);
  return { ...fields, sanitize };
}

/**
 * Parses the fields of an upload request, removing the received file if they are invalid (or
 * the settings that complete them cannot be read).
 */
async function parseOrDiscard<T>(
  discard: (file: Express.Multer.File) => Promise<void>,
  req: Request,
  parse: () => T | Promise<T>,
): Promise<T> {
  try {
    return await parse();
  } catch (error) {
    if (req.file) await discard(req.file);
    throw error;
  }
}

/** Removes a synchronous scan's upload, refused before it was scanned. */
const spoolDiscard = (deps: FilesDeps) => (file: Express.Multer.File) =>
  deps.spool.remove(file.path);

/** Removes a staged async upload that was refused. */
const stagedDiscard = (deps: FilesDeps) => (file: Express.Multer.File) =>
  deps.uploads.discard(file);

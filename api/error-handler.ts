import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import { ZodError } from 'zod';
import { DomainError, type ErrorKind } from '../core/errors.js';
import type { ErrorLog } from '../core/error-log.js';
import type { Logger } from '../core/logger.js';
import { FORM_LIMITS } from './body-parsers.js';
import { sendJson } from './http.js';

/** The one table from domain errors to HTTP statuses. */
export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
};

/** Turns whatever a route or parser threw into a status and `{"error": "..."}`. */
export function errorHandler(
  logger: Logger,
  limits: { maxFileSize: number },
  errors?: Pick<ErrorLog, 'record'>,
) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (clientGone(req)) {
      // Aborted, or cut off at the request timeout: nobody is left to answer, nothing went wrong
      // here (multer reports it as "Request aborted").
      logger.info(
        { requestId: res.locals.requestId as string, reason: describeError(error) },
        'the client went away before its request was read',
      );
      return;
    }
    const domain = toDomainError(error, limits);
    if (domain) {
      if (domain.kind === 'unauthenticated' && !res.hasHeader('WWW-Authenticate')) {
        res.setHeader('WWW-Authenticate', 'Basic realm="Arbiter"');
      }
      if (domain.retryAfterSeconds !== undefined)
        res.setHeader('Retry-After', String(domain.retryAfterSeconds));
      sendJson(res, STATUS_BY_KIND[domain.kind], { ...domain.details, error: domain.message });
      return;
    }
    const tenantId = (res.locals.auth as { tenantId?: string } | undefined)?.tenantId ?? null;
    logger.error(
      { err: error, requestId: res.locals.requestId as string, tenantId },
      'unhandled error',
    );
    errors?.record({
      kind: 'http',
      ...(tenantId ? { tenantId } : {}),
      message: `${req.method} ${req.path} answered 500${requestNote(res)}: ${describeError(error)}`,
    });
    // Internal details stay in the log; the client gets the request id to quote.
    sendJson(res, 500, {
      error: `Internal error; quote request id ${String(res.locals.requestId)} to the operator.`,
    });
  };
}

/** The request id an operator is quoted, when the request has one. */
const requestNote = (res: Response): string =>
  typeof res.locals.requestId === 'string' ? ` (request ${res.locals.requestId})` : '';

/** The connection closed before the request had fully arrived. */
function clientGone(req: Request): boolean {
  return req.destroyed && !req.complete;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);

function toDomainError(error: unknown, limits: { maxFileSize: number }): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof ZodError)
    return new DomainError('bad_request', describeIssue(error.issues[0]));
  if (error instanceof multer.MulterError) return fromMulter(error, limits);
  if (isBodyParserError(error)) return fromBodyParser(error);
  // The router could not percent-decode a path parameter (`/files/%zz`).
  if (error instanceof URIError)
    return new DomainError('bad_request', 'The URL contains an invalid percent-encoding.');
  if (
    error instanceof Error &&
    /multipart|boundary|unexpected end of form|part header/i.test(error.message)
  ) {
    return new DomainError('bad_request', `malformed multipart body: ${error.message}`);
  }
  return undefined;
}

/**
 * One readable sentence per schema issue. Our messages already name their field ("timeout must
 * be…"), so the path is only added where the message does not say it, or to name the metadata key.
 */
function describeIssue(issue: ZodError['issues'][number] | undefined): string {
  if (!issue) return 'The request is not valid.';
  const [first, ...rest] = issue.path.map(String);
  if (first === undefined) return issue.message;
  const field = `${first}${rest.map((segment) => `[${segment.slice(0, 64)}]`).join('')}`;
  if (!issue.message.startsWith(first)) return `${field}: ${issue.message}`;
  return rest.length > 0 ? `${issue.message} (${field})` : issue.message;
}

function fromMulter(error: multer.MulterError, limits: { maxFileSize: number }): DomainError {
  // Read as a string: multer 2 has codes (nesting, array index) its type definitions lack.
  switch (error.code as string) {
    case 'LIMIT_FILE_SIZE':
      return new DomainError(
        'payload_too_large',
        `The file is larger than the ${formatBytes(limits.maxFileSize)} (${limits.maxFileSize}-byte) limit.`,
      );
    case 'LIMIT_FIELD_COUNT':
    case 'LIMIT_PART_COUNT':
      return tooManyFields();
    case 'LIMIT_FIELD_VALUE':
      return new DomainError(
        'payload_too_large',
        `The form field "${(error.field ?? '').slice(0, 64)}" is too long (at most ${formatBytes(FORM_LIMITS.fieldSize)}).`,
      );
    case 'LIMIT_FIELD_KEY':
      return new DomainError('payload_too_large', 'A form field name is too long.');
    case 'LIMIT_FIELD_NESTING':
      return new DomainError(
        'bad_request',
        `The form field "${(error.field ?? '').slice(0, 64)}" is nested too deeply: send metadata as metadata[key]=value.`,
      );
    case 'LIMIT_FIELD_ARRAY_INDEX':
      return new DomainError(
        'bad_request',
        `The form field "${(error.field ?? '').slice(0, 64)}" has a numeric key over ${FORM_LIMITS.fieldArrayIndexLimit}: use a shorter or non-numeric key.`,
      );
    case 'LIMIT_FILE_COUNT':
      return new DomainError('bad_request', 'Send exactly one file, in the "file" field.');
    case 'LIMIT_UNEXPECTED_FILE':
      return new DomainError(
        'bad_request',
        `Unexpected file field "${error.field ?? ''}": send the content in the "file" field.`,
      );
    default:
      return new DomainError('bad_request', error.message);
  }
}

interface BodyParserError {
  type: string;
  status: number;
  message: string;
  /** The byte limit, on `entity.too.large`. */
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && 'type' in error && 'status' in error;
}

function fromBodyParser(error: BodyParserError): DomainError {
  switch (error.type) {
    case 'entity.too.large':
      return new DomainError(
        'payload_too_large',
        typeof error.limit === 'number'
          ? `The request body is larger than the ${formatBytes(error.limit)} limit.`
          : 'The request body is too large.',
      );
    case 'parameters.too.many':
      return tooManyFields();
    case 'entity.parse.failed':
      return new DomainError(
        'bad_request',
        `The request body could not be parsed: ${error.message.slice(0, 200)}`,
      );
    case 'encoding.unsupported':
      return new DomainError(
        'unsupported_media_type',
        `${error.message}: send the body uncompressed.`,
      );
    case 'charset.unsupported':
      return new DomainError('unsupported_media_type', `${error.message}: send the body in UTF-8.`);
    default:
      return new DomainError(
        error.status === 413 ? 'payload_too_large' : 'bad_request',
        error.message,
      );
  }
}

const tooManyFields = () =>
  new DomainError(
    'payload_too_large',
    `The request has too many form fields (at most ${FORM_LIMITS.fields}).`,
  );

/** 1048576 → "1 MiB"; sizes that are not a whole number of units stay in bytes. */
function formatBytes(bytes: number): string {
  const units: Array<[string, number]> = [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ];
  for (const [unit, size] of units)
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  return `${bytes} bytes`;
}

export function notFoundHandler(_req: Request, res: Response): void {
  sendJson(res, 404, { error: 'There is no such resource.' });
}

import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import { ZodError } from 'zod';
import { DomainError, type ErrorKind } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { sendJson } from './http.js';

/** The one table from domain errors to HTTP statuses. */
export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
};

/** Turns whatever a route or parser threw into a status and `{"error": "..."}`. */
export function errorHandler(logger: Logger, limits: { maxFileSize: number }) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const domain = toDomainError(error, limits);
    if (domain) {
      if (domain.kind === 'unauthenticated') res.setHeader('WWW-Authenticate', 'Basic realm="Arbiter"');
      if (domain.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(domain.retryAfterSeconds));
      sendJson(res, STATUS_BY_KIND[domain.kind], { error: domain.message });
      return;
    }
    logger.error({ err: error, requestId: res.locals.requestId as string }, 'unhandled error');
    // Internal details stay in the log; the client gets the request id to quote.
    sendJson(res, 500, { error: `Internal error; quote request id ${String(res.locals.requestId)} to the operator.` });
  };
}

function toDomainError(error: unknown, limits: { maxFileSize: number }): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return new DomainError('bad_request', `${where}${issue?.message ?? 'invalid request'}`);
  }
  if (error instanceof multer.MulterError) return fromMulter(error, limits);
  if (isBodyParserError(error)) return fromBodyParser(error);
  if (error instanceof Error && /multipart|boundary|unexpected end of form|part header/i.test(error.message)) {
    return new DomainError('bad_request', `malformed multipart body: ${error.message}`);
  }
  return undefined;
}

function fromMulter(error: multer.MulterError, limits: { maxFileSize: number }): DomainError {
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return new DomainError('payload_too_large', `The file is larger than the ${limits.maxFileSize}-byte limit.`);
    case 'LIMIT_FIELD_COUNT':
    case 'LIMIT_PART_COUNT':
      return new DomainError('payload_too_large', 'The request has too many form fields.');
    case 'LIMIT_FIELD_VALUE':
      return new DomainError('payload_too_large', `The form field "${error.field ?? ''}" is too long.`);
    case 'LIMIT_FIELD_KEY':
      return new DomainError('payload_too_large', 'A form field name is too long.');
    case 'LIMIT_FILE_COUNT':
      return new DomainError('bad_request', 'Send exactly one file, in the "file" field.');
    case 'LIMIT_UNEXPECTED_FILE':
      return new DomainError('bad_request', `Unexpected file field "${error.field ?? ''}": send the content in the "file" field.`);
    default:
      return new DomainError('bad_request', error.message);
  }
}

interface BodyParserError {
  type: string;
  status: number;
  message: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && 'type' in error && 'status' in error;
}

function fromBodyParser(error: BodyParserError): DomainError {
  switch (error.type) {
    case 'entity.too.large':
      return new DomainError('payload_too_large', 'The request body is too large.');
    case 'parameters.too.many':
      return new DomainError('payload_too_large', 'The request has too many form fields.');
    case 'entity.parse.failed':
      return new DomainError('bad_request', 'The request body could not be parsed.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError('unsupported_media_type', error.message);
    default:
      return new DomainError(error.status === 413 ? 'payload_too_large' : 'bad_request', error.message);
  }
}

export function notFoundHandler(_req: Request, res: Response): void {
  sendJson(res, 404, { error: 'There is no such resource.' });
}

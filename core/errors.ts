/**
 * Domain errors. Code anywhere below the HTTP layer throws these; `api/error-handler.ts` is the
 * one place that turns them into status codes and `{"error": "..."}` bodies.
 */
export type ErrorKind =
  | 'bad_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'unavailable';

export class DomainError extends Error {
  constructor(
    public readonly kind: ErrorKind,
    message: string,
    public readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badRequest = (message: string) => new DomainError('bad_request', message);
export const notFound = (message: string) => new DomainError('not_found', message);
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const conflict = (message: string) => new DomainError('conflict', message);
export const payloadTooLarge = (message: string) => new DomainError('payload_too_large', message);
export const unsupportedMediaType = (message: string) =>
  new DomainError('unsupported_media_type', message);
/** 503; give `retryAfterSeconds` when retrying shortly is the right move (an outage). */
export const unavailable = (message: string, retryAfterSeconds?: number) =>
  new DomainError('unavailable', message, retryAfterSeconds);

/** The Scanii wording clients and their support staff already know. */
export const UNAUTHENTICATED_MESSAGE = 'Apologies but we could not authenticate this request.';
export const unauthenticated = () => new DomainError('unauthenticated', UNAUTHENTICATED_MESSAGE);

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

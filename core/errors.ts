/**
 * The error vocabulary. Every failure Arbiter raises on purpose is an `ArbiterError`, and says
 * one thing the code below the HTTP layer acts on: `retryable` — would the same work, tried
 * again later, possibly succeed? Queue processors retry a retryable failure and give up at once
 * on any other (see `isRetryable`); the underlying failure, when there is one, is the standard
 * `cause`.
 *
 * `DomainError` carries a `kind` as well, for the API: `api/error-handler.ts` is the one place
 * that turns kinds into status codes and `{"error": "..."}` bodies; nothing else branches on it.
 */
export class ArbiterError extends Error {
  /** True when trying again later may succeed (an outage, a timeout, throttling). */
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable;
  }
}

/**
 * Whether a failure is worth another attempt. Errors that are not ours (a Redis hiccup, a bug)
 * are retried: the attempt limit still ends them, and a real outage must not fail work for good.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof ArbiterError ? error.retryable : true;
}

/**
 * A request to a tenant-supplied URL (download, callback POST, S3/SQS endpoint connection) that
 * failed: retryable for timeouts, network errors and "try later" answers (408, 429, 5xx);
 * not for a refused address, an oversized body, a 4xx answer or an abandoned download.
 */
export class OutboundError extends ArbiterError {}

/**
 * The network guard (core/network-guard.ts) or the URL rule (core/url-policy.ts) refused to
 * connect: a forbidden address, scheme or socket. Never retryable: the same URL is refused again.
 */
export class NetworkRefused extends OutboundError {
  constructor(reason: string) {
    super(`refused: ${reason}`, { retryable: false });
  }
}

/** An S3 call on a tenant's bucket failed; `status` is the HTTP status S3 answered, if any. */
export class StorageError extends ArbiterError {
  readonly status?: number;

  constructor(message: string, options: { retryable: boolean; cause?: unknown; status?: number }) {
    super(message, options);
    if (options.status !== undefined) this.status = options.status;
  }
}

/** A retro crawl failed (a bucket no longer registered, a listing the store refuses). */
export class CrawlError extends ArbiterError {}

/** A scan could not finish this attempt (download, engine or S3 failure). */
export class ScanError extends ArbiterError {}

/** A callback attempt was not accepted (a non-2xx answer, a network failure). */
export class DeliveryError extends ArbiterError {}

export type ErrorKind =
  | 'bad_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable';

/** Kinds that say "later": the same request may succeed once the outage or the limit is over. */
const RETRYABLE_KINDS: ReadonlySet<ErrorKind> = new Set(['rate_limited', 'unavailable']);

/** A request the service refuses or cannot serve; `kind` is for the API's status code only. */
export class DomainError extends ArbiterError {
  constructor(
    public readonly kind: ErrorKind,
    message: string,
    public readonly retryAfterSeconds?: number,
    /** Fields the answer carries beside `error` (a rule source's compiler errors). */
    public readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message, { retryable: RETRYABLE_KINDS.has(kind) });
  }
}

export const badRequest = (message: string) => new DomainError('bad_request', message);
export const notFound = (message: string) => new DomainError('not_found', message);
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const conflict = (message: string) => new DomainError('conflict', message);
export const payloadTooLarge = (message: string) => new DomainError('payload_too_large', message);
export const unsupportedMediaType = (message: string) =>
  new DomainError('unsupported_media_type', message);
/** 422: well-formed, but past a limit or not usable as it is (a rule set too slow to run). */
export const unprocessable = (message: string, details?: Record<string, unknown>) =>
  new DomainError('unprocessable', message, undefined, details);
/** 503; give `retryAfterSeconds` when retrying shortly is the right move (an outage). */
export const unavailable = (message: string, retryAfterSeconds?: number) =>
  new DomainError('unavailable', message, retryAfterSeconds);

/** The Scanii wording clients and their support staff already know. */
export const UNAUTHENTICATED_MESSAGE = 'Apologies but we could not authenticate this request.';
export const unauthenticated = () => new DomainError('unauthenticated', UNAUTHENTICATED_MESSAGE);

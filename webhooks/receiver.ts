import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { computeSignature, decodeSigningSecret } from './signing.js';

/**
 * The receiver kit: what an application that receives Arbiter's callbacks imports to check that a
 * delivery really comes from Arbiter, is fresh and is not a replay, and to get the result typed.
 *
 *   const result = await verifyDelivery({ body: rawBody, headers: req.headers, secret });
 *
 * It depends on node:crypto only (express is used for types alone), and follows Standard Webhooks,
 * so the public `standardwebhooks` libraries verify the same deliveries.
 */

/**
 * The Scanii v2.2 result Arbiter delivers, plus the fields bucket events add. Declared here, not
 * imported, so the kit stays standalone; test/scans/result-shape.test.ts keeps it in step.
 */
export interface ArbiterResult {
  id: string;
  checksum: string | null;
  content_length: number | null;
  /** Empty when nothing was found: the content is clean, unless `error` is set. */
  findings: string[];
  creation_date: string;
  /** The true type, sniffed from the bytes. */
  content_type: string | null;
  /** The media type the content was declared as (upload part, download, object); null if none. */
  declared_content_type?: string | null;
  /** The extension of the content's name, lower case without the dot; null if it has none. */
  file_extension?: string | null;
  metadata: Record<string, string>;
  /** Processing failed (e.g. the location could not be downloaded): nothing was scanned. */
  error?: string;
  engines?: Array<{ name: string; version: string }>;
  /** Bucket events only. */
  bucket?: string;
  key?: string;
  versionId?: string | null;
  action?: string;
  /**
   * Asked for with `sanitize=true` (or the bucket's `sanitize`): the sanitized copy, downloaded
   * from `GET /v2.2/files/{id}/sanitized`, or why there is none.
   */
  sanitized?:
    | {
        available: true;
        removed: string[];
        content_type: string;
        checksum: string;
        size: number;
      }
    | { available: false; reason: string };
  /**
   * Only when the scan looked for sensitive data: `result` is `sensitive`, `none` or `error`;
   * `matches` counts the values of each type found (`{"credit_card": 12}`), `samples` shows up to
   * three redacted ones (`…1111`), never a whole value.
   */
  classification?: {
    result: 'sensitive' | 'none' | 'error';
    matches: Partial<Record<string, number>>;
    samples: Partial<Record<string, string[]>>;
  };
}

export type WebhookFailureReason =
  'missing-headers' | 'bad-signature' | 'too-old' | 'too-new' | 'replayed' | 'malformed-body';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
  constructor(
    readonly reason: WebhookFailureReason,
    message: string,
  ) {
    super(message);
  }

  /** The status a receiver should answer: 400 for a request that is not a delivery, else 401. */
  get status(): 400 | 401 {
    return this.reason === 'missing-headers' || this.reason === 'malformed-body' ? 400 : 401;
  }
}

/**
 * Remembers deliveries already accepted. `remember` returns true the first time it sees `key`
 * and false afterwards, until `ttlSeconds` have passed. Use a shared store (Redis `SET key 1 NX EX
 * ttl`, say) when several processes receive deliveries.
 */
export interface ReplayStore {
  remember(key: string, ttlSeconds: number): boolean | Promise<boolean>;
}

/** The default replay store: in this process's memory, entries kept for the tolerance window. */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  remember(key: string, ttlSeconds: number): boolean {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const expires = this.seen.get(key);
    if (expires !== undefined && expires > now) return false;
    this.seen.set(key, now + ttlSeconds * 1000);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [key, expires] of this.seen) if (expires <= now) this.seen.delete(key);
    this.nextSweep = now + 10_000;
  }
}

/** Node's `req.headers`, a Fetch `Headers`, or a plain object with any header-name case. */
export type HeaderSource =
  { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** The body exactly as received (not re-serialized JSON: one changed byte breaks the signature). */
  body: string | Buffer | Uint8Array;
  headers: HeaderSource;
  /** The tenant's signing secret (`whsec_…`). */
  secret?: string;
  /** Several secrets: any one of them may have signed (e.g. the old and new one after a rotation). */
  secrets?: readonly string[];
  /** How far the delivery's timestamp may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /**
   * Where accepted deliveries are remembered, to refuse the same signed request twice; defaults
   * to one in-memory store per process. `false` turns replay protection off.
   */
  replayStore?: ReplayStore | false;
  /** Clock, epoch ms (for tests). */
  now?: () => number;
}

export interface VerifiedDelivery {
  result: ArbiterResult;
  /** `webhook-id`: the same on every attempt and redelivery of one result (use it to de-duplicate). */
  id: string;
  /** `webhook-timestamp`, seconds. */
  timestamp: number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const defaultReplayStore = new MemoryReplayStore();

/**
 * Verifies one delivery and returns the result it carries, or throws a `WebhookVerificationError`
 * whose `reason` says why: missing-headers, too-old, too-new, bad-signature, replayed or
 * malformed-body (checked in that order; nothing is remembered for a delivery that fails).
 */
export async function verifyDelivery(options: VerifyOptions): Promise<ArbiterResult> {
  return (await verifyDeliveryDetails(options)).result;
}

/** `verifyDelivery`, also returning the webhook id and timestamp. */
export async function verifyDeliveryDetails(options: VerifyOptions): Promise<VerifiedDelivery> {
  const secrets = [...(options.secrets ?? []), ...(options.secret ? [options.secret] : [])];
  if (secrets.length === 0)
    throw new TypeError('verifyDelivery needs the signing secret (secret or secrets)');
  const keys = secrets.map(decodeSigningSecret);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now?.() ?? Date.now();

  const id = headerValue(options.headers, 'webhook-id');
  const timestampText = headerValue(options.headers, 'webhook-timestamp');
  const signatures = headerValue(options.headers, 'webhook-signature');
  if (!id || !timestampText || !signatures) {
    const missing = [
      ['webhook-id', id],
      ['webhook-timestamp', timestampText],
      ['webhook-signature', signatures],
    ].flatMap(([name, value]) => (value ? [] : [name]));
    throw new WebhookVerificationError(
      'missing-headers',
      `The delivery has no ${missing.join(', ')} header.`,
    );
  }
  if (!/^\d{1,12}$/.test(timestampText)) {
    throw new WebhookVerificationError(
      'missing-headers',
      'The webhook-timestamp header is not a number of seconds.',
    );
  }
  const timestamp = Number(timestampText);
  const age = Math.floor(now / 1000) - timestamp;
  if (age > tolerance) {
    throw new WebhookVerificationError(
      'too-old',
      `The delivery was signed ${age} s ago, more than the ${tolerance} s allowed.`,
    );
  }
  if (-age > tolerance) {
    throw new WebhookVerificationError(
      'too-new',
      `The delivery is dated ${-age} s in the future, more than the ${tolerance} s allowed.`,
    );
  }

  const body =
    typeof options.body === 'string'
      ? Buffer.from(options.body, 'utf8')
      : Buffer.from(options.body);
  const presented = signatures
    .split(' ')
    .map((entry) => entry.split(','))
    .filter(([version, value]) => version === 'v1' && value)
    .map(([, value]) => Buffer.from(value ?? '', 'base64'));
  const matches = keys.some((key) => {
    const expected = Buffer.from(computeSignature(key, id, timestamp, body), 'base64');
    return presented.some(
      (candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
    );
  });
  if (!matches) {
    throw new WebhookVerificationError(
      'bad-signature',
      'No signature on the delivery matches the signing secret.',
    );
  }

  const result = parseResult(body);
  const store = options.replayStore === undefined ? defaultReplayStore : options.replayStore;
  // A retry is a new attempt with a new timestamp (and signature), so it is accepted; only the
  // very same signed request seen twice is a replay. The timestamp check above refuses it anyway
  // once the tolerance has passed, which is why entries need to be kept only that long.
  if (store && !(await store.remember(`${id}.${timestamp}`, tolerance * 2))) {
    throw new WebhookVerificationError(
      'replayed',
      `The delivery ${id} signed at ${timestamp} was already received.`,
    );
  }
  return { result, id, timestamp };
}

function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name)?.trim() || undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || undefined;
}

function parseResult(body: Buffer): ArbiterResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('malformed-body', 'The delivery body is not JSON.');
  }
  const problem = describeShape(parsed);
  if (problem)
    throw new WebhookVerificationError(
      'malformed-body',
      `The delivery body is not an Arbiter result: ${problem}.`,
    );
  return parsed as ArbiterResult;
}

function describeShape(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'not a JSON object';
  const result = value as Record<string, unknown>;
  if (typeof result.id !== 'string' || result.id === '') return 'no id';
  if (!Array.isArray(result.findings) || !result.findings.every((f) => typeof f === 'string')) {
    return 'findings is not a list of names';
  }
  if (
    result.metadata !== undefined &&
    (typeof result.metadata !== 'object' ||
      result.metadata === null ||
      Array.isArray(result.metadata))
  ) {
    return 'metadata is not an object';
  }
  if (result.error !== undefined && typeof result.error !== 'string') return 'error is not text';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Express middleware

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `arbiterWebhook()` once the delivery is verified. */
    arbiterResult?: ArbiterResult;
    /** The verified delivery's `webhook-id` and timestamp. */
    arbiterWebhook?: { id: string; timestamp: number };
  }
}

export interface ArbiterWebhookOptions extends Omit<
  VerifyOptions,
  'body' | 'headers' | 'replayStore'
> {
  /** Defaults to an in-memory store of this middleware's own. */
  replayStore?: ReplayStore | false;
  /** Largest body read when no body parser ran before (default 1 MiB). */
  limitBytes?: number;
}

/** The request shape the middleware needs (an express Request fits). */
type WebhookRequest = IncomingMessage & {
  body?: unknown;
  arbiterResult?: ArbiterResult;
  arbiterWebhook?: { id: string; timestamp: number };
};

/**
 * Express middleware: verifies the delivery and sets `req.arbiterResult` (and `req.arbiterWebhook`),
 * or answers 400 (not a delivery) / 401 (not from Arbiter, stale or replayed) with
 * `{"error", "reason"}` and stops. It needs the raw body: mount it after `express.raw({ type:
 * 'application/json' })`, or with no body parser at all (it then reads the body itself). A body
 * already parsed into an object (express.json() ran first) cannot be verified: that is answered
 * 500 with a message saying so.
 */
export function arbiterWebhook(options: ArbiterWebhookOptions) {
  const replayStore = options.replayStore ?? new MemoryReplayStore(options.now);
  const limit = options.limitBytes ?? 1024 * 1024;
  return (req: WebhookRequest, res: ServerResponse, next: (error?: unknown) => void): void => {
    rawBody(req, limit)
      .then(async (body) => {
        if (body === undefined) {
          sendError(
            res,
            500,
            'arbiterWebhook needs the raw request body: mount express.raw({ type: "application/json" }) on this route instead of express.json().',
          );
          return;
        }
        const verified = await verifyDeliveryDetails({
          ...options,
          body,
          headers: req.headers,
          replayStore,
        });
        req.arbiterResult = verified.result;
        req.arbiterWebhook = { id: verified.id, timestamp: verified.timestamp };
        next();
      })
      .catch((error: unknown) => {
        if (error instanceof WebhookVerificationError) {
          sendError(res, error.status, error.message, error.reason);
        } else if (error instanceof BodyTooLarge) {
          sendError(res, 413, error.message);
        } else {
          next(error);
        }
      });
  };
}

class BodyTooLarge extends Error {}

async function rawBody(req: WebhookRequest, limit: number): Promise<Buffer | string | undefined> {
  if (Buffer.isBuffer(req.body) || typeof req.body === 'string') return req.body;
  // express.raw() leaves `{}` when the content type did not match; nothing was read then.
  const untouched = req.body === undefined || (isEmptyObject(req.body) && !req.readableEnded);
  if (!untouched) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge(`The delivery body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const isEmptyObject = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.keys(value).length === 0;

function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  reason?: WebhookFailureReason,
): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(reason ? { error, reason } : { error }));
}

import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Recent errors for operators (`GET /admin/errors`): one capped Redis list (`{p}:errors`, newest
 * first) that every process writes to where it already logs the error: scan jobs failed for good,
 * callbacks given up, engine failures, 5xx answers. The log keeps the details; an entry keeps a
 * short message, with URLs cut to their origin (a pre-signed URL's query is a credential) and
 * never any content. Writing is best effort: a Redis that does not answer loses the entry, never
 * the work that failed.
 */
export const ERROR_LOG_KEPT = 500;
const MESSAGE_MAX = 300;

export type ErrorKind = 'scan' | 'callback' | 'engine' | 'http' | 'retro';

export interface ErrorEntry {
  at: string;
  kind: ErrorKind;
  tenant_id?: string;
  scan_id?: string;
  message: string;
}

export class ErrorLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly onWriteError: (error: unknown) => void = () => undefined,
  ) {}

  /** Records an error; never throws, never waits (the caller has its own failure to handle). */
  record(entry: { kind: ErrorKind; tenantId?: string; scanId?: string; message: string }): void {
    const stored: ErrorEntry = {
      at: new Date().toISOString(),
      kind: entry.kind,
      ...(entry.tenantId ? { tenant_id: entry.tenantId } : {}),
      ...(entry.scanId ? { scan_id: entry.scanId } : {}),
      message: sanitize(entry.message),
    };
    this.redis
      .pipeline()
      .lpush(this.keys.errors(), JSON.stringify(stored))
      .ltrim(this.keys.errors(), 0, ERROR_LOG_KEPT - 1)
      .exec()
      .catch(this.onWriteError);
  }

  /** The newest `limit` entries, newest first. */
  async recent(limit: number): Promise<ErrorEntry[]> {
    const entries = await this.redis.lrange(this.keys.errors(), 0, limit - 1);
    return entries.map((entry) => JSON.parse(entry) as ErrorEntry);
  }
}

/** URLs cut to their origin, control characters out, at most MESSAGE_MAX characters. */
export function sanitize(message: string): string {
  const cleaned = message
    .replace(/\b(https?:\/\/[^\s/?#]+)[^\s]*/gi, '$1/…')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return cleaned.length > MESSAGE_MAX ? `${cleaned.slice(0, MESSAGE_MAX - 1)}…` : cleaned;
}

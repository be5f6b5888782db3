import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import got, { HTTPError, RequestError } from 'got';

/**
 * The one HTTP client for URLs a tenant supplied (`location`, `callback`). Every outbound request
 * to such a URL goes through here, so scheme, size, redirect and time limits live in one place.
 */

export class OutboundError extends Error {
  constructor(
    message: string,
    /** Permanent failures (4xx, too large, bad URL) are not retried; transient ones are. */
    public readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

export interface DownloadLimits {
  maxBytes: number;
  timeoutMs: number;
}

export interface Download {
  bytes: number;
  sha1: string;
}

export interface PostOutcome {
  status: number;
  latencyMs: number;
}

export interface OutboundHttp {
  /** Streams `url` into `destination`, hashing on the way; never holds the body in memory. */
  download(url: string, destination: string, limits: DownloadLimits): Promise<Download>;
  /** POSTs a body; redirects are not followed (a 3xx is an answer, not a delivery). */
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostOutcome>;
}

const MAX_REDIRECTS = 5;

export function assertHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundError(`"${truncate(raw)}" is not a valid URL`, true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundError(`only http and https URLs are accepted (got ${url.protocol.replace(':', '')})`, true);
  }
  if (url.username || url.password) {
    throw new OutboundError('URLs with embedded credentials are not accepted', true);
  }
  return url;
}

export function createOutboundHttp(options: { userAgent: string }): OutboundHttp {
  const client = got.extend({
    headers: { 'user-agent': options.userAgent },
    retry: { limit: 0 },
    maxRedirects: MAX_REDIRECTS,
  });

  return {
    async download(url, destination, limits) {
      const target = assertHttpUrl(url);
      const started = Date.now();
      const counter = new ByteCounter(limits.maxBytes);
      const request = client.stream(target, {
        timeout: { connect: 10_000, response: 30_000, request: limits.timeoutMs },
        followRedirect: true,
        decompress: false,
      });
      request.on('response', (response: { headers: Record<string, string | string[] | undefined> }) => {
        const declared = Number(response.headers['content-length']);
        // Refuse early when the server announces a body that is too large.
        if (Number.isFinite(declared) && declared > limits.maxBytes) {
          request.destroy(tooLarge(limits.maxBytes));
        }
      });
      try {
        await pipeline(request, counter, createWriteStream(destination));
      } catch (error) {
        throw toOutboundError(error, Date.now() - started);
      }
      return { bytes: counter.bytes, sha1: counter.sha1() };
    },

    async post(url, body, headers, timeoutMs) {
      const target = assertHttpUrl(url);
      const started = Date.now();
      try {
        const response = await client.post(target, {
          body,
          headers,
          followRedirect: false,
          throwHttpErrors: false,
          timeout: { request: timeoutMs },
        });
        return { status: response.statusCode, latencyMs: Date.now() - started };
      } catch (error) {
        throw toOutboundError(error, Date.now() - started);
      }
    },
  };
}

/** Counts and hashes bytes as they pass, and stops the stream once the limit is crossed. */
class ByteCounter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha1');

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(tooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  sha1(): string {
    return this.hash.digest('hex');
  }
}

function tooLarge(maxBytes: number): OutboundError {
  return new OutboundError(`content is larger than the ${maxBytes}-byte download limit`, true);
}

function toOutboundError(error: unknown, elapsedMs: number): OutboundError {
  if (error instanceof OutboundError) return error;
  if (error instanceof HTTPError) {
    const status = error.response.statusCode;
    // 408 and 429 and 5xx say "try again later"; other statuses will not change on retry.
    const transient = status === 408 || status === 429 || status >= 500;
    return new OutboundError(`the server answered HTTP ${status}`, !transient);
  }
  if (error instanceof RequestError) {
    if (error.code === 'ETIMEDOUT') return new OutboundError(`timed out after ${elapsedMs} ms`, false);
    if (error.name === 'MaxRedirectsError') {
      return new OutboundError(`more than ${MAX_REDIRECTS} redirects`, true);
    }
    if (error.code === 'ENOTFOUND') return new OutboundError('the host name does not resolve', false);
    return new OutboundError(`network error (${error.code ?? error.message})`, false);
  }
  return new OutboundError(`network error (${(error as Error).message})`, false);
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

/** Only the origin goes into traces and logs: pre-signed URLs carry credentials in the query. */
export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

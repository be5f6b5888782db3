import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import got, { HTTPError, RequestError, type Request } from 'got';
import { ByteCounter } from './byte-counter.js';
import { NetworkRefused, OutboundError } from './errors.js';
import {
  createNetworkGuard,
  NETWORK_GUARD_DEFAULTS,
  type Connector,
  type Resolver,
} from './network-guard.js';
import { parseMediaType } from './media-type.js';
import { createNetworkPolicy, type NetworkPolicy } from './network-policy.js';
import { judgeUrl } from './url-policy.js';

/**
 * The one HTTP client for URLs a tenant supplied (`location`, `callback`). Every outbound request
 * to such a URL goes through here, so the network policy (docs/architecture.md) and the scheme, size,
 * redirect and time limits live in one place.
 *
 * How a forbidden address is kept out, in order:
 * 1. the URL: http/https only, no credentials, no UNIX-socket form; a host that is an IP literal
 *    (WHATWG `new URL()` has already turned decimal, octal, hex and shortened IPv4 spellings and
 *    the trailing dot into the dotted quad) is judged by the policy before anything else;
 * 2. every connection, of every redirect hop, is opened by the network guard's agents
 *    (core/network-guard.ts): the name is resolved once, every address checked, and the socket
 *    connected to a checked address, so DNS rebinding has nothing to race;
 * 3. redirect targets are screened like the first URL before they are followed (at most 5).
 */

export interface DownloadLimits {
  maxBytes: number;
  /** Total time for the whole download, redirects included; past it the download fails for good. */
  timeoutMs: number;
  /** Longest silence on the connection (no bytes received); defaults to the client's. */
  idleTimeoutMs?: number;
  /**
   * Slowest acceptable transfer: fewer than `bytesPerSecond` on average over a `windowMs` window
   * (the first window, from the start of the request, is the grace period) fails the download for
   * good. A server that sends a byte now and then never trips the idle timeout; this ends it.
   */
  minRate?: { bytesPerSecond: number; windowMs: number };
  /** Aborting it ends the download at once (its scan was deleted). */
  signal?: AbortSignal;
}

export interface Download {
  bytes: number;
  sha1: string;
  /**
   * The `Content-Encoding` the server declared, as sent. The body is stored as it came (never
   * decoded here: the stored bytes, their checksum and length are what was sent), so whoever
   * scans it can undo the coding as a browser would.
   */
  contentEncoding?: string;
  /** The media type of the response's `Content-Type`, without parameters (core/media-type.ts). */
  contentType?: string;
}

export interface PostOutcome {
  status: number;
  latencyMs: number;
}

export interface OutboundHttp {
  /** Streams `url` into `destination`, hashing on the way; never holds the body in memory. */
  download(url: string, destination: string, limits: DownloadLimits): Promise<Download>;
  /** POSTs a body; redirects are not followed (a 3xx is an answer, not a delivery). */
  post(
    url: string,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<PostOutcome>;
  /**
   * Throws the `OutboundError` a request to `url` would certainly get, judging from the URL alone
   * (scheme, credentials, IP literal host): lets the API answer 400 at submit time. Host names are
   * not resolved here; they are judged when a connection is made.
   */
  screen(url: string): void;
  /** The network policy this client enforces: the API screens submitted URLs with it. */
  readonly policy: NetworkPolicy;
}

export interface OutboundOptions {
  userAgent: string;
  /** Which addresses may be reached; default: globally routable unicast only. */
  policy?: NetworkPolicy;
  resolve?: Resolver;
  connect?: Connector;
  /** Time to resolve the host and open the TCP connection (per hop). Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest silence on an open connection. Default 30 s. */
  idleTimeoutMs?: number;
  /** Redirects followed by `download` (never by `post`). Default 5. */
  maxRedirects?: number;
  /**
   * Keep connections alive and reuse them (a reused socket goes to the address the guard checked
   * when it opened it; only a new connection resolves the name again). Default false: every
   * request opens, resolves and checks anew.
   */
  reuseConnections?: boolean;
}

export const OUTBOUND_DEFAULTS = {
  connectTimeoutMs: NETWORK_GUARD_DEFAULTS.connectTimeoutMs,
  idleTimeoutMs: 30_000,
  maxRedirects: 5,
} as const;

/**
 * Idle connections kept per host (downloads and callbacks to one host reuse them, sparing a TCP
 * and TLS handshake each): at most `maxFreeSockets`, closed after `timeout` ms idle (sooner when
 * the server announces a shorter keep-alive). Connections in use are not bounded per host: a
 * tenant's slow downloads from a shared host must not make other tenants' requests queue.
 */
const KEEP_ALIVE = {
  keepAlive: true,
  maxFreeSockets: 8,
  timeout: 4000,
  scheduling: 'lifo',
} as const;

/** A callback receiver's answer body read to reuse its connection; past it, the connection is dropped. */
const DRAINED_BODY_BYTES = 16 * 1024;

/**
 * Everything that can be judged from the URL alone, with no network (see `OutboundHttp.screen`):
 * the same rule the API applies when a tenant submits the URL (core/url-policy.ts).
 */
export function screenUrl(raw: string, policy: NetworkPolicy): URL {
  const verdict = judgeUrl(raw, policy);
  if (!verdict.allowed) throw new NetworkRefused(verdict.reason);
  return verdict.url;
}

export function createOutboundHttp(options: OutboundOptions): OutboundHttp {
  const policy = options.policy ?? createNetworkPolicy([]);
  const idleTimeoutMs = options.idleTimeoutMs ?? OUTBOUND_DEFAULTS.idleTimeoutMs;
  const maxRedirects = options.maxRedirects ?? OUTBOUND_DEFAULTS.maxRedirects;
  const guard = createNetworkGuard({
    policy,
    resolve: options.resolve,
    connect: options.connect,
    connectTimeoutMs: options.connectTimeoutMs,
  });
  const client = got.extend({
    headers: { 'user-agent': options.userAgent },
    retry: { limit: 0 },
    maxRedirects,
    enableUnixSockets: false,
    http2: false,
    agent: {
      // Every new connection is resolved and checked by the guard; kept-alive ones were.
      http: guard.agent(false, options.reuseConnections ? KEEP_ALIVE : { keepAlive: false }),
      https: guard.agent(true, options.reuseConnections ? KEEP_ALIVE : { keepAlive: false }),
    },
    hooks: {
      // Connections are checked by the agents; this also refuses a redirect to a bad scheme,
      // to credentials or to a forbidden IP literal before a request is even built.
      beforeRedirect: [(next) => void screenUrl(String(next.url), policy)],
    },
  });

  return {
    policy,
    screen(url) {
      screenUrl(url, policy);
    },

    async download(url, destination, limits) {
      const target = screenUrl(url, policy);
      const started = Date.now();
      const counter = new ByteCounter(limits.maxBytes, () => tooLarge(limits.maxBytes));
      const idle = limits.idleTimeoutMs ?? idleTimeoutMs;
      const request = client.stream(target, {
        timeout: { socket: idle },
        // The raw Location is screened before got parses and normalises it (got would silently
        // drop same-origin credentials, and report an unsupported scheme as a network error).
        followRedirect: (response) => {
          const location = response.headers.location ?? '';
          let next: string;
          try {
            next = new URL(Buffer.from(location, 'binary').toString(), response.url).href;
          } catch {
            throw new NetworkRefused(
              `the redirect target "${truncate(location)}" is not a valid URL`,
            );
          }
          screenUrl(next, policy);
          return true;
        },
        decompress: false,
      });
      let contentEncoding: string | undefined;
      let contentType: string | undefined;
      request.on(
        'response',
        (response: { headers: Record<string, string | string[] | undefined> }) => {
          const encoding = response.headers['content-encoding'];
          contentEncoding = Array.isArray(encoding) ? encoding.join(', ') : encoding;
          // The last response's (after redirects): what the content itself was served as.
          contentType = parseMediaType(response.headers['content-type']);
          const declared = Number(response.headers['content-length']);
          // Refuse early when the server announces a body that is too large.
          if (Number.isFinite(declared) && declared > limits.maxBytes) {
            request.destroy(tooLarge(limits.maxBytes));
          }
        },
      );
      const stopTotal = totalDeadline(request, limits.timeoutMs, () =>
        downloadTimedOut(limits.timeoutMs, counter.bytes),
      );
      const stopRate = limits.minRate ? minimumRate(request, counter, limits.minRate) : noop;
      const stopCancel = cancelOnAbort(request, limits.signal);
      try {
        await pipeline(request, counter, createWriteStream(destination));
      } catch (error) {
        throw toOutboundError(error, {
          elapsedMs: Date.now() - started,
          maxRedirects,
          idleTimeoutMs: idle,
        });
      } finally {
        stopTotal();
        stopRate();
        stopCancel();
      }
      return {
        bytes: counter.bytes,
        sha1: counter.sha1(),
        ...(contentEncoding ? { contentEncoding } : {}),
        ...(contentType ? { contentType } : {}),
      };
    },

    async post(url, body, headers, timeoutMs) {
      const target = screenUrl(url, policy);
      const started = Date.now();
      const idle = Math.min(idleTimeoutMs, timeoutMs);
      // A stream, so a receiver answering with an endless body costs nothing: only the status is read.
      const request = client.stream(target, {
        method: 'POST',
        body,
        headers,
        followRedirect: false,
        throwHttpErrors: false,
        decompress: false,
        timeout: { socket: idle },
      });
      // A receiver slow today may answer on the next attempt: this one is retried.
      const stopTotal = totalDeadline(
        request,
        timeoutMs,
        () =>
          new OutboundError(`timed out: the request took longer than ${timeoutMs} ms`, {
            retryable: true,
          }),
      );
      try {
        const status = await new Promise<number>((resolve, reject) => {
          request.once('response', (response: { statusCode: number }) =>
            resolve(response.statusCode),
          );
          request.once('error', reject);
        });
        return { status, latencyMs: Date.now() - started };
      } catch (error) {
        throw toOutboundError(error, {
          elapsedMs: Date.now() - started,
          maxRedirects: 0,
          idleTimeoutMs: idle,
        });
      } finally {
        stopTotal();
        discardAnswer(request);
      }
    },
  };
}

/**
 * Drops a POST's answer body. A short body already complete (the usual empty 200) is read off, so
 * the connection returns to the agent for reuse; anything longer or slower ends the request.
 */
function discardAnswer(request: Request): void {
  request.on('error', () => undefined);
  let bytes = 0;
  const drop = () => request.destroy();
  const timer = setTimeout(drop, 100);
  request.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > DRAINED_BODY_BYTES) drop();
  });
  request.once('end', () => clearTimeout(timer));
  request.once('close', () => clearTimeout(timer));
}

/** Ends `request` with the error `timedOut` makes once `ms` have passed, whatever it is doing. */
function totalDeadline(request: Request, ms: number, timedOut: () => OutboundError): () => void {
  const timer = setTimeout(() => request.destroy(timedOut()), ms);
  return () => clearTimeout(timer);
}

/**
 * A download past its total time is not retried: the same location would most likely be as slow
 * again, and each attempt holds a scan slot for the whole limit.
 */
function downloadTimedOut(ms: number, bytes: number): OutboundError {
  return new OutboundError(
    `timed out: the download took longer than the ${seconds(ms)} limit (${bytes} bytes received)`,
    { retryable: false },
  );
}

/**
 * Checks the bytes received in each window of `windowMs` (the first one counts from the request's
 * start, connection and redirects included: that is the grace period) and ends `request` with an
 * error that is not retried when a window brought fewer than `bytesPerSecond` × its length: not
 * retried for the reason a total time-out is not (see downloadTimedOut).
 */
function minimumRate(
  request: Request,
  counter: ByteCounter,
  rate: { bytesPerSecond: number; windowMs: number },
): () => void {
  if (rate.bytesPerSecond <= 0) return noop;
  const needed = (rate.bytesPerSecond * rate.windowMs) / 1000;
  let before = 0;
  const timer = setInterval(() => {
    const received = counter.bytes - before;
    before = counter.bytes;
    if (received >= needed) return;
    request.destroy(
      new OutboundError(
        `too slow: the location sent ${received} bytes in ${seconds(rate.windowMs)}, below the minimum rate of ${rate.bytesPerSecond} bytes/s`,
        { retryable: false },
      ),
    );
  }, rate.windowMs);
  return () => clearInterval(timer);
}

/** Ends `request` as soon as `signal` aborts (the scan it downloads for was deleted). */
function cancelOnAbort(request: Request, signal: AbortSignal | undefined): () => void {
  if (!signal) return noop;
  const cancel = () =>
    request.destroy(
      new OutboundError('cancelled: the download is no longer wanted', { retryable: false }),
    );
  if (signal.aborted) {
    cancel();
    return noop;
  }
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function noop(): void {}

function tooLarge(maxBytes: number): OutboundError {
  return new OutboundError(`refused: content is larger than the ${maxBytes}-byte download limit`, {
    retryable: false,
  });
}

/** got wraps errors raised in hooks, agents and destroy() in a RequestError; find ours first. */
function ownError(error: unknown): OutboundError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof OutboundError) return current;
    current = current.cause;
  }
  return undefined;
}

function toOutboundError(
  error: unknown,
  context: { elapsedMs: number; maxRedirects: number; idleTimeoutMs: number },
): OutboundError {
  const own = ownError(error);
  if (own) return own;
  if (error instanceof HTTPError) {
    const status = error.response.statusCode;
    // 408 and 429 and 5xx say "try again later"; other statuses will not change on retry.
    const transient = status === 408 || status === 429 || status >= 500;
    return new OutboundError(`the server answered HTTP ${status}`, {
      retryable: transient,
      cause: error,
    });
  }
  if (error instanceof RequestError) {
    if (error.name === 'TimeoutError') {
      return new OutboundError(
        `timed out: no data received for ${context.idleTimeoutMs} ms (idle timeout, after ${context.elapsedMs} ms in all)`,
        { retryable: true, cause: error },
      );
    }
    if (error.name === 'MaxRedirectsError')
      return new NetworkRefused(`more than ${context.maxRedirects} redirects`);
    if (error.code === 'ENOTFOUND')
      return new OutboundError('the host name does not resolve', { retryable: true, cause: error });
    return new OutboundError(`network error (${error.code ?? error.message})`, {
      retryable: true,
      cause: error,
    });
  }
  return new OutboundError(`network error (${(error as Error).message})`, {
    retryable: true,
    cause: error,
  });
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

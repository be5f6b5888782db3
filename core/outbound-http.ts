import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';
import got, { HTTPError, RequestError, type Request } from 'got';
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
 * 2. every connection, of every redirect hop, is opened by our own agents: they resolve the name
 *    once (injectable resolver), refuse the connection if ANY resolved address is forbidden, and
 *    connect to exactly one of the checked addresses (a literal IP handed to the socket factory,
 *    which never resolves again), with SNI and the Host header still naming the host. There is no
 *    second lookup between the check and the connect, so DNS rebinding has nothing to race;
 * 3. redirect targets are screened like the first URL before they are followed (at most 5).
 */

export class OutboundError extends Error {
  constructor(
    message: string,
    /** Permanent failures (4xx, too large, bad URL, refused address) are not retried; transient ones are. */
    public readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

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

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (default: `dns.lookup` with `all: true`). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface ConnectRequest {
  /** The checked IP address: the only address this connection may target. */
  address: string;
  family: 4 | 6;
  port: number;
  /** The URL's host (brackets removed): SNI and certificate checks use it. */
  hostname: string;
  tls: boolean;
  /** Ready for `net.connect` / `tls.connect`: `host` is `address`, `servername` the host name. */
  options: net.TcpNetConnectOpts & tls.ConnectionOptions;
}

/** Opens one TCP (or TLS) connection; tests inject one that fails on any unexpected address. */
export type Connector = (request: ConnectRequest) => Duplex;

export const defaultConnector: Connector = (request) =>
  request.tls ? tls.connect(request.options) : net.connect(request.options);

export const defaultResolver: Resolver = (hostname) =>
  dnsLookup(hostname, { all: true, verbatim: true });

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
}

export const OUTBOUND_DEFAULTS = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxRedirects: 5,
} as const;

/**
 * Everything that can be judged from the URL alone, with no network (see `OutboundHttp.screen`):
 * the same rule the API applies when a tenant submits the URL (core/url-policy.ts).
 */
export function screenUrl(raw: string, policy: NetworkPolicy): URL {
  const verdict = judgeUrl(raw, policy);
  if (!verdict.allowed) throw refused(verdict.reason);
  return verdict.url;
}

export function createOutboundHttp(options: OutboundOptions): OutboundHttp {
  const policy = options.policy ?? createNetworkPolicy([]);
  const idleTimeoutMs = options.idleTimeoutMs ?? OUTBOUND_DEFAULTS.idleTimeoutMs;
  const maxRedirects = options.maxRedirects ?? OUTBOUND_DEFAULTS.maxRedirects;
  const guard: Guard = {
    policy,
    resolve: options.resolve ?? defaultResolver,
    connect: options.connect ?? defaultConnector,
    connectTimeoutMs: options.connectTimeoutMs ?? OUTBOUND_DEFAULTS.connectTimeoutMs,
  };
  const client = got.extend({
    headers: { 'user-agent': options.userAgent },
    retry: { limit: 0 },
    maxRedirects,
    enableUnixSockets: false,
    http2: false,
    agent: {
      http: guardAgent(new http.Agent({ keepAlive: false }), guard, false),
      https: guardAgent(new https.Agent({ keepAlive: false }), guard, true),
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
      const counter = new ByteCounter(limits.maxBytes);
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
            throw new OutboundError(
              `refused: the redirect target "${truncate(location)}" is not a valid URL`,
              true,
            );
          }
          screenUrl(next, policy);
          return true;
        },
        decompress: false,
      });
      request.on(
        'response',
        (response: { headers: Record<string, string | string[] | undefined> }) => {
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
      return { bytes: counter.bytes, sha1: counter.sha1() };
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
        () => new OutboundError(`timed out: the request took longer than ${timeoutMs} ms`, false),
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
        request.on('error', () => undefined);
        request.destroy();
      }
    },
  };
}

interface Guard {
  policy: NetworkPolicy;
  resolve: Resolver;
  connect: Connector;
  connectTimeoutMs: number;
}

/** An agent whose every connection goes through `openGuarded` (no keep-alive: one check per connection). */
function guardAgent<A extends http.Agent>(agent: A, guard: Guard, secure: boolean): A {
  agent.createConnection = (
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ) => {
    openGuarded(guard, secure, options).then(
      (socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  };
  return agent;
}

async function openGuarded(
  guard: Guard,
  secure: boolean,
  options: http.ClientRequestArgs,
): Promise<Duplex> {
  if (options.socketPath)
    throw new OutboundError('refused: connections to local sockets are not allowed', true);
  const hostname = unbracket(String(options.hostname ?? options.host ?? ''));
  const port = Number(options.port ?? (secure ? 443 : 80));
  const deadline = Date.now() + guard.connectTimeoutMs;
  const addresses = await withDeadline(resolveChecked(guard, hostname), deadline, () =>
    connectTimedOut(guard.connectTimeoutMs, `resolving ${hostname}`),
  );
  let lastError: unknown;
  // All addresses passed the check; try them in the resolver's order until one answers.
  for (const { address, family } of addresses) {
    const connectOptions: net.TcpNetConnectOpts & tls.ConnectionOptions = {
      ...(options as net.TcpNetConnectOpts & tls.ConnectionOptions),
      host: address,
      port,
      family,
      // Never resolve again: the address is final. A name reaching here is a bug, and fails.
      lookup: refuseLookup,
    };
    // Never a local socket path, whatever the request options carried.
    delete (connectOptions as { path?: unknown }).path;
    delete (connectOptions as { hostname?: unknown }).hostname;
    delete (connectOptions as { socketPath?: unknown }).socketPath;
    if (secure) {
      if (net.isIP(hostname) === 0) connectOptions.servername = hostname;
      else delete connectOptions.servername;
    }
    try {
      return await connectOnce(
        guard,
        { address, family, port, hostname, tls: secure, options: connectOptions },
        deadline,
      );
    } catch (error) {
      if (error instanceof OutboundError && error.permanent) throw error;
      lastError = error;
    }
  }
  if (lastError instanceof Error) throw lastError;
  throw new OutboundError(`network error (no address to connect to for ${hostname})`, false);
}

async function resolveChecked(
  guard: Guard,
  hostname: string,
): Promise<{ address: string; family: 4 | 6 }[]> {
  const literal = net.isIP(hostname);
  if (literal !== 0) {
    const verdict = guard.policy.check(hostname);
    if (!verdict.allowed) throw refused(verdict.reason);
    return [{ address: hostname, family: literal as 4 | 6 }];
  }
  if (!hostname) throw new OutboundError('refused: the URL has no host', true);
  let resolved: ResolvedAddress[];
  try {
    resolved = await guard.resolve(hostname);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new OutboundError(
      `the host name ${truncate(hostname)} does not resolve (${code})`,
      false,
    );
  }
  if (resolved.length === 0)
    throw new OutboundError(`the host name ${truncate(hostname)} does not resolve`, false);
  const checked: { address: string; family: 4 | 6 }[] = [];
  // Any forbidden address refuses the name: a name mixing public and private addresses is
  // an attack (or a misconfiguration), and a partial answer would make failures unexplainable.
  for (const { address } of resolved) {
    const family = net.isIP(address);
    if (family === 0)
      throw refused(
        `${truncate(hostname)} resolves to "${truncate(address)}", which is not an IP address`,
      );
    const verdict = guard.policy.check(address);
    if (!verdict.allowed)
      throw refused(`${truncate(hostname)} resolves to a forbidden address: ${verdict.reason}`);
    checked.push({ address, family: family as 4 | 6 });
  }
  return checked;
}

function connectOnce(guard: Guard, request: ConnectRequest, deadline: number): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const socket = guard.connect(request);
    const timer = setTimeout(
      () => {
        cleanup();
        socket.destroy();
        reject(
          connectTimedOut(
            guard.connectTimeoutMs,
            `connecting to ${request.address} port ${request.port}`,
          ),
        );
      },
      Math.max(0, deadline - Date.now()),
    );
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (error: Error) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}

function refuseLookup(hostname: string): never {
  throw new OutboundError(
    `refused: an unchecked lookup of ${truncate(hostname)} was attempted`,
    true,
  );
}

async function withDeadline<T>(
  work: Promise<T>,
  deadline: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
    true,
  );
}

/**
 * Checks the bytes received in each window of `windowMs` (the first one counts from the request's
 * start, connection and redirects included: that is the grace period) and ends `request` with a
 * permanent error when a window brought fewer than `bytesPerSecond` × its length. Permanent for
 * the reason a total time-out is (see downloadTimedOut).
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
        true,
      ),
    );
  }, rate.windowMs);
  return () => clearInterval(timer);
}

/** Ends `request` as soon as `signal` aborts (the scan it downloads for was deleted). */
function cancelOnAbort(request: Request, signal: AbortSignal | undefined): () => void {
  if (!signal) return noop;
  const cancel = () =>
    request.destroy(new OutboundError('cancelled: the download is no longer wanted', true));
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

function connectTimedOut(ms: number, what: string): OutboundError {
  return new OutboundError(`timed out ${what} (connect timeout ${ms} ms)`, false);
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

function refused(reason: string): OutboundError {
  return new OutboundError(`refused: ${reason}`, true);
}

function tooLarge(maxBytes: number): OutboundError {
  return new OutboundError(
    `refused: content is larger than the ${maxBytes}-byte download limit`,
    true,
  );
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
    return new OutboundError(`the server answered HTTP ${status}`, !transient);
  }
  if (error instanceof RequestError) {
    if (error.name === 'TimeoutError') {
      return new OutboundError(
        `timed out: no data received for ${context.idleTimeoutMs} ms (idle timeout, after ${context.elapsedMs} ms in all)`,
        false,
      );
    }
    if (error.name === 'MaxRedirectsError')
      return new OutboundError(`refused: more than ${context.maxRedirects} redirects`, true);
    if (error.code === 'ENOTFOUND')
      return new OutboundError('the host name does not resolve', false);
    return new OutboundError(`network error (${error.code ?? error.message})`, false);
  }
  return new OutboundError(`network error (${(error as Error).message})`, false);
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
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

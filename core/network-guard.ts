import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { isRetryable, NetworkRefused, OutboundError } from './errors.js';
import type { NetworkPolicy } from './network-policy.js';

/**
 * The one place a connection to a tenant-supplied host is opened: `location` and `callback`
 * downloads and POSTs (core/outbound-http.ts, through got) and a bucket's S3 endpoint and SQS
 * queue (s3/clients.ts, through the AWS SDK) all connect through an agent from `guard.agent()`.
 *
 * For every new connection the guard resolves the host name once (injectable resolver), refuses
 * it with `NetworkRefused` if ANY resolved address is forbidden by the network policy
 * (core/network-policy.ts), and connects to exactly one of the checked addresses — a literal IP
 * handed to the socket factory (injectable connector), which never resolves again — with SNI and
 * the Host header still naming the host. There is no second lookup between the check and the
 * connect, so DNS rebinding has nothing to race. An IP-literal host is checked as it is; a UNIX
 * socket path is always refused.
 */

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

export interface NetworkGuardOptions {
  /** Which addresses may be reached. */
  policy: NetworkPolicy;
  resolve?: Resolver;
  connect?: Connector;
  /** Time to resolve the host and open the TCP connection. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface NetworkGuard {
  readonly policy: NetworkPolicy;
  /**
   * Resolves, checks and connects for one request (`host`/`hostname`, `port`, TLS options as an
   * http.Agent passes them). Rejects with `NetworkRefused` for a forbidden address, with a
   * retryable `OutboundError` for a name that does not resolve or a connect timeout, and with the
   * socket's own error when every checked address refused the connection.
   */
  open(request: http.ClientRequestArgs, secure: boolean): Promise<Duplex>;
  /** An http (or, `secure`, https) agent whose every new connection goes through `open`. */
  agent(secure: false, options?: http.AgentOptions): http.Agent;
  agent(secure: true, options?: https.AgentOptions): https.Agent;
}

export const NETWORK_GUARD_DEFAULTS = { connectTimeoutMs: 10_000 } as const;

export function createNetworkGuard(options: NetworkGuardOptions): NetworkGuard {
  const settings: Settings = {
    policy: options.policy,
    resolve: options.resolve ?? defaultResolver,
    connect: options.connect ?? defaultConnector,
    connectTimeoutMs: options.connectTimeoutMs ?? NETWORK_GUARD_DEFAULTS.connectTimeoutMs,
  };
  const open = (request: http.ClientRequestArgs, secure: boolean) =>
    openGuarded(settings, secure, request);
  function agent(secure: false, agentOptions?: http.AgentOptions): http.Agent;
  function agent(secure: true, agentOptions?: https.AgentOptions): https.Agent;
  function agent(secure: boolean, agentOptions: http.AgentOptions = {}): http.Agent {
    const built = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    built.createConnection = (
      request: http.ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ) => {
      open(request, secure).then(
        (socket) => callback?.(null, socket),
        (error: Error) => callback?.(error, undefined as unknown as Duplex),
      );
      return undefined;
    };
    return built;
  }
  return { policy: options.policy, open, agent };
}

interface Settings {
  policy: NetworkPolicy;
  resolve: Resolver;
  connect: Connector;
  connectTimeoutMs: number;
}

async function openGuarded(
  guard: Settings,
  secure: boolean,
  options: http.ClientRequestArgs,
): Promise<Duplex> {
  if (options.socketPath) throw new NetworkRefused('connections to local sockets are not allowed');
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
      if (!isRetryable(error)) throw error;
      lastError = error;
    }
  }
  if (lastError instanceof Error) throw lastError;
  throw new OutboundError(`network error (no address to connect to for ${hostname})`, {
    retryable: true,
  });
}

async function resolveChecked(
  guard: Settings,
  hostname: string,
): Promise<{ address: string; family: 4 | 6 }[]> {
  const literal = net.isIP(hostname);
  if (literal !== 0) {
    const verdict = guard.policy.check(hostname);
    if (!verdict.allowed) throw new NetworkRefused(verdict.reason);
    return [{ address: hostname, family: literal as 4 | 6 }];
  }
  if (!hostname) throw new NetworkRefused('the URL has no host');
  let resolved: ResolvedAddress[];
  try {
    resolved = await guard.resolve(hostname);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new OutboundError(`the host name ${truncate(hostname)} does not resolve (${code})`, {
      retryable: true,
      cause: error,
    });
  }
  if (resolved.length === 0)
    throw new OutboundError(`the host name ${truncate(hostname)} does not resolve`, {
      retryable: true,
    });
  const checked: { address: string; family: 4 | 6 }[] = [];
  // Any forbidden address refuses the name: a name mixing public and private addresses is
  // an attack (or a misconfiguration), and a partial answer would make failures unexplainable.
  for (const { address } of resolved) {
    const family = net.isIP(address);
    if (family === 0)
      throw new NetworkRefused(
        `${truncate(hostname)} resolves to "${truncate(address)}", which is not an IP address`,
      );
    const verdict = guard.policy.check(address);
    if (!verdict.allowed)
      throw new NetworkRefused(
        `${truncate(hostname)} resolves to a forbidden address: ${verdict.reason}`,
      );
    checked.push({ address, family: family as 4 | 6 });
  }
  return checked;
}

function connectOnce(guard: Settings, request: ConnectRequest, deadline: number): Promise<Duplex> {
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
  throw new NetworkRefused(`an unchecked lookup of ${truncate(hostname)} was attempted`);
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

function connectTimedOut(ms: number, what: string): OutboundError {
  return new OutboundError(`timed out ${what} (connect timeout ${ms} ms)`, { retryable: true });
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

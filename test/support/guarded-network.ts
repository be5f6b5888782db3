import net from 'node:net';
import tls from 'node:tls';
import type {
  ConnectRequest,
  Connector,
  ResolvedAddress,
  Resolver,
} from '../../core/network-guard.js';

/**
 * A stand-in for the network under the outbound client, so tests that name private, metadata or
 * public addresses can never send a packet anywhere but this machine, even if the client had a bug:
 *
 * - the resolver knows only the names a test gives it (it never asks real DNS);
 * - the connector opens a connection only to an address the test listed as permitted, and only if
 *   that address is loopback by Node's own `net.BlockList` (independent of the code under test).
 *   Anything else is recorded as a violation and fails the connection instead of connecting.
 */

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export const isLoopback = (address: string): boolean => {
  const family = net.isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
};

/** Names the test resolver answers: fixed addresses, or a function of the call number (1-based). */
export type TestNames = Record<string, string[] | ((call: number) => string[] | Promise<string[]>)>;

export interface GuardedNetwork {
  resolve: Resolver;
  connect: Connector;
  /** Every connection the client asked for, in order. */
  attempts: ConnectRequest[];
  /** Connections the connector refused because they targeted a non-permitted address. Must stay empty. */
  violations: string[];
  /** Every name the client asked to resolve, in order. */
  lookups: string[];
  /** Addresses the client asked to connect to. */
  addresses(): string[];
}

export function guardedNetwork(options: {
  permitted: string[];
  names?: TestNames;
}): GuardedNetwork {
  const attempts: ConnectRequest[] = [];
  const violations: string[] = [];
  const lookups: string[] = [];
  const calls = new Map<string, number>();
  for (const address of options.permitted) {
    if (!isLoopback(address))
      throw new Error(`test setup: ${address} is not loopback; tests may only reach loopback`);
  }

  const resolve: Resolver = async (hostname) => {
    lookups.push(hostname);
    const call = (calls.get(hostname) ?? 0) + 1;
    calls.set(hostname, call);
    const entry = options.names?.[hostname];
    if (entry === undefined) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (test resolver)`), {
        code: 'ENOTFOUND',
      });
    }
    const addresses = typeof entry === 'function' ? await entry(call) : entry;
    return addresses.map((address): ResolvedAddress => ({ address, family: net.isIP(address) }));
  };

  const connect: Connector = (request) => {
    attempts.push(request);
    const { address, port } = request;
    const target = request.options.host;
    if (target !== address || !options.permitted.includes(address) || !isLoopback(address)) {
      violations.push(`${address} (options.host ${String(target)})`);
      throw new Error(
        `test connector: refusing to connect to ${address}; permitted: ${options.permitted.join(', ')}`,
      );
    }
    // Options built here, not taken from the client: the connection can only go where checked.
    return request.tls
      ? tls.connect({
          host: address,
          port,
          servername: request.options.servername,
          rejectUnauthorized: true,
        })
      : net.connect({ host: address, port });
  };

  return {
    resolve,
    connect,
    attempts,
    violations,
    lookups,
    addresses: () => attempts.map((a) => a.address),
  };
}

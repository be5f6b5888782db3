import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { NetworkPolicy } from '../core/network-policy.js';

/**
 * HTTP agents for the AWS SDK clients that talk to a tenant's S3 endpoint and SQS queue. Both
 * are URLs a tenant supplied, so every connection is held to the same network policy as
 * `location` and `callback` URLs (docs/architecture.md): a host name is resolved once per connection and
 * every address it resolves to is checked before connecting (no DNS rebinding between check and
 * connect); an IP literal is checked as it is. Loopback, private, link-local (cloud metadata)
 * and the like are refused unless listed in ARBITER_ALLOWED_NETWORKS.
 *
 * Connections are kept alive (S3 traffic is many small requests); each new connection is checked.
 */
/** A connection the policy forbids; final (the SDK does not retry it, nor does the pipeline). */
export class NetworkRefused extends Error {
  override name = 'NetworkRefused';
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

function guardedLookup(policy: NetworkPolicy) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: LookupCallback,
  ): void => {
    dnsLookup(
      hostname,
      { all: true, family: typeof options.family === 'number' ? options.family : 0 },
      (error, addresses) => {
        if (error) {
          callback(error, '', 0);
          return;
        }
        for (const { address } of addresses) {
          const verdict = policy.check(address);
          if (!verdict.allowed) {
            callback(
              new NetworkRefused(
                `refused: ${hostname} resolves to a forbidden address: ${verdict.reason}`,
              ),
              '',
              0,
            );
            return;
          }
        }
        const first = addresses[0];
        if (!first)
          callback(
            Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }),
            '',
            0,
          );
        else if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
    );
  };
}

/** Refuses an IP-literal host the policy forbids (names are checked by the lookup). */
function checkLiteral(policy: NetworkPolicy, options: http.ClientRequestArgs): Error | undefined {
  if (options.socketPath)
    return new NetworkRefused('refused: connections to local sockets are not allowed');
  const host = String(options.host ?? options.hostname ?? '').replace(/^\[|\]$/g, '');
  if (net.isIP(host) === 0) return undefined;
  const verdict = policy.check(host);
  return verdict.allowed ? undefined : new NetworkRefused(`refused: ${verdict.reason}`);
}

function failedSocket(error: Error): Duplex {
  const socket = new net.Socket();
  process.nextTick(() => socket.destroy(error));
  return socket;
}

export function guardedAgents(policy: NetworkPolicy): {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
} {
  const lookup = guardedLookup(policy) as unknown as net.LookupFunction;
  const options = { keepAlive: true, maxSockets: 50, lookup };

  class GuardedHttpAgent extends http.Agent {
    override createConnection(
      args: http.ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ) {
      const refused = checkLiteral(policy, args);
      if (refused) return failedSocket(refused);
      return super.createConnection({ ...args, lookup }, callback);
    }
  }
  class GuardedHttpsAgent extends https.Agent {
    override createConnection(
      args: http.ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ) {
      const refused = checkLiteral(policy, args);
      if (refused) return failedSocket(refused);
      return super.createConnection({ ...args, lookup }, callback);
    }
  }
  return { httpAgent: new GuardedHttpAgent(options), httpsAgent: new GuardedHttpsAgent(options) };
}

import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkRefused, OutboundError } from '../../core/errors.js';
import {
  createNetworkGuard,
  type ConnectRequest,
  type Connector,
} from '../../core/network-guard.js';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { guardedNetwork, type TestNames } from '../support/guarded-network.js';

/**
 * The guard on its own (core/network-guard.ts), as the S3 clients and the outbound client use it:
 * what it refuses before any lookup, what it tells the caller when a name does not resolve, what
 * it hands the socket factory. Connections go through the test connector of
 * test/support/guarded-network.ts, or through a stand-in socket that never touches the network.
 */

/** A socket stand-in that "connects" at once (or never) and carries no bytes. */
function fakeSocket(connects: boolean): Duplex {
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  if (connects) process.nextTick(() => socket.emit('connect'));
  return socket;
}

/** A connector that records every request and answers with a stand-in socket. */
function recordingConnector(connects = true): { connect: Connector; requests: ConnectRequest[] } {
  const requests: ConnectRequest[] = [];
  return {
    requests,
    connect: (request) => {
      requests.push(request);
      return fakeSocket(connects);
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the connection to be refused').toBeInstanceOf(Error);
  return error as Error;
}

function guardWith(names: TestNames, allowed: string[] = ['127.0.0.0/8', '::1/128']) {
  const net = guardedNetwork({ permitted: ['127.0.0.1'], names });
  const guard = createNetworkGuard({
    policy: createNetworkPolicy(allowed),
    resolve: net.resolve,
    connect: net.connect,
  });
  return { guard, net };
}

describe('the network guard', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Greets each connection only after a while: longer than the connect timeouts used below.
    server = createServer((socket) => {
      sockets.add(socket);
      const timer = setTimeout(() => socket.end('hello'), 300);
      socket.on('close', () => clearTimeout(timer));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses a local socket path and a missing host before any lookup', async () => {
    const { guard, net } = guardWith({});
    const socketPath = await failure(
      guard.open({ socketPath: '/var/run/docker.sock', host: 'files.test' }, false),
    );
    expect(socketPath).toBeInstanceOf(NetworkRefused);
    expect(socketPath.message).toBe('refused: connections to local sockets are not allowed');
    for (const request of [{ host: '', port: 80 }, { port: 80 }]) {
      const noHost = await failure(guard.open(request, false));
      expect(noHost).toBeInstanceOf(NetworkRefused);
      expect(noHost.message).toBe('refused: the URL has no host');
    }
    expect(net.lookups).toEqual([]);
    expect(net.attempts).toEqual([]);
  });

  it('says when a name does not resolve, or resolves to nothing, and lets it be retried', async () => {
    const { guard } = guardWith({ 'empty.test': [] });
    const unknown = await failure(guard.open({ host: 'nowhere.test', port: 80 }, false));
    expect(unknown).toBeInstanceOf(OutboundError);
    expect(unknown).not.toBeInstanceOf(NetworkRefused);
    expect(unknown.message).toBe('the host name nowhere.test does not resolve (ENOTFOUND)');
    expect((unknown as OutboundError).retryable).toBe(true);
    const empty = await failure(guard.open({ host: 'empty.test', port: 80 }, false));
    expect(empty.message).toBe('the host name empty.test does not resolve');
    expect((empty as OutboundError).retryable).toBe(true);
    // A resolver failing without a code is named by its message.
    const codeless = createNetworkGuard({
      policy: createNetworkPolicy([]),
      resolve: () => Promise.reject(new Error('resolver down')),
    });
    expect((await failure(codeless.open({ host: 'a.test', port: 80 }, false))).message).toBe(
      'the host name a.test does not resolve (resolver down)',
    );
  });

  it('quotes a long host name shortened to 80 characters', async () => {
    const { guard } = guardWith({});
    const exactly80 = `${'a'.repeat(75)}.test`;
    expect((await failure(guard.open({ host: exactly80, port: 80 }, false))).message).toBe(
      `the host name ${exactly80} does not resolve (ENOTFOUND)`,
    );
    const longer = `${'b'.repeat(76)}.test`;
    expect((await failure(guard.open({ host: longer, port: 80 }, false))).message).toBe(
      `the host name ${longer.slice(0, 77)}... does not resolve (ENOTFOUND)`,
    );
  });

  it('refuses a name that resolves to something that is not an IP address', async () => {
    const { guard, net } = guardWith({ 'odd.test': ['localhost'] });
    const error = await failure(guard.open({ host: 'odd.test', port: 80 }, false));
    expect(error).toBeInstanceOf(NetworkRefused);
    expect(error.message).toBe(
      'refused: odd.test resolves to "localhost", which is not an IP address',
    );
    expect(net.attempts).toEqual([]);
  });

  it('judges a bracketed IPv6 literal as the address it is, and anything else as a name', async () => {
    const { guard, net } = guardWith({}, []);
    const literal = await failure(guard.open({ host: '[::1]', port: 80 }, false));
    expect(literal).toBeInstanceOf(NetworkRefused);
    expect(literal.message).toBe(
      'refused: ::1 is a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    for (const host of ['x]', '[x']) {
      const name = await failure(guard.open({ host, port: 80 }, false));
      expect(name.message).toBe(`the host name ${host} does not resolve (ENOTFOUND)`);
    }
    expect(net.lookups).toEqual(['x]', '[x']);
  });

  it('hands the socket factory the checked address, SNI only for a TLS host name, and no way to resolve', async () => {
    const { connect, requests } = recordingConnector();
    const guard = createNetworkGuard({
      policy: createNetworkPolicy(['127.0.0.0/8']),
      resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      connect,
    });
    (await guard.open({ host: 'secure.test', port: 443 }, true)).destroy();
    // An https agent passes the SNI it would use; for an IP literal the guard drops it.
    const fromAgent = Object.assign({ host: '127.0.0.1', port: 443 }, { servername: 'x' });
    (await guard.open(fromAgent, true)).destroy();
    (await guard.open({ host: 'plain.test', port: 80 }, false)).destroy();
    (await guard.open({ host: 'default-port.test' }, true)).destroy();
    expect(requests.map((r) => [r.options.host, r.port, r.options.servername])).toEqual([
      ['127.0.0.1', 443, 'secure.test'],
      // RFC 6066: an IP address is never sent as SNI.
      ['127.0.0.1', 443, undefined],
      ['127.0.0.1', 80, undefined],
      ['127.0.0.1', 443, 'default-port.test'],
    ]);
    const lookup = requests[0]?.options.lookup as unknown as (host: string) => void;
    expect(() => lookup('evil.test')).toThrow(NetworkRefused);
    expect(() => lookup('evil.test')).toThrow('an unchecked lookup of evil.test was attempted');
  });

  it('stops at a refusal from the socket factory instead of trying the next address', async () => {
    const requests: string[] = [];
    const guard = createNetworkGuard({
      policy: createNetworkPolicy(['127.0.0.0/8']),
      resolve: () =>
        Promise.resolve([
          { address: '127.0.0.2', family: 4 },
          { address: '127.0.0.3', family: 4 },
        ]),
      connect: (request) => {
        requests.push(request.address);
        const socket = fakeSocket(false);
        process.nextTick(() => socket.emit('error', new NetworkRefused('not this one')));
        return socket;
      },
    });
    const error = await failure(guard.open({ host: 'two.test', port: 80 }, false));
    expect(error.message).toBe('refused: not this one');
    expect(requests).toEqual(['127.0.0.2']);
  });

  it('times out a connection that never opens, naming the address and port', async () => {
    const { connect } = recordingConnector(false);
    const guard = createNetworkGuard({
      policy: createNetworkPolicy(['127.0.0.0/8']),
      connect,
      connectTimeoutMs: 100,
    });
    const error = await failure(guard.open({ host: '127.0.0.1', port: 9 }, false));
    expect(error.message).toBe('timed out connecting to 127.0.0.1 port 9 (connect timeout 100 ms)');
    expect((error as OutboundError).retryable).toBe(true);
  });

  it('bounds only the connecting: a slow answer and an open connection outlive the connect timeout', async () => {
    const net = guardedNetwork({
      permitted: ['127.0.0.1'],
      // The name takes a moment to resolve, as real DNS does.
      names: {
        'slow.test': () => new Promise((resolve) => setTimeout(() => resolve(['127.0.0.1']), 30)),
      },
    });
    const guard = createNetworkGuard({
      policy: createNetworkPolicy(['127.0.0.1/32']),
      resolve: net.resolve,
      connect: net.connect,
      connectTimeoutMs: 100,
    });
    const socket = await guard.open({ host: 'slow.test', port }, false);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server greets after 300 ms, three connect timeouts later: the socket must still be open.
    await once(socket, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    socket.destroy();
    expect(net.violations).toEqual([]);
  });
});

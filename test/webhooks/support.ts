import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'vitest';
import { fileForm, randomContent } from '../support/content.js';
import type { Delivery, TestHttpServer } from '../support/http-servers.js';
import type { TestService, TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/** Helpers shared by the webhook tests; all traffic stays on 127.0.0.1. */

export function tenantApi(service: TestService, tenant: TestTenant) {
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: { authorization: tenant.auth, ...(init.headers ?? {}) },
    });

  return {
    call,
    /** Submits an async scan of `content` (1 KiB of random bytes by default); returns its id. */
    async submit(
      callback: string | undefined,
      content: Buffer = randomContent(1024),
      metadata: Record<string, string> = {},
    ) {
      const fields: Record<string, string> = { ...metadata };
      if (callback) fields.callback = callback;
      const response = await call('/v2.2/files/async', {
        method: 'POST',
        body: fileForm(content, fields),
      });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    },
    async trace(id: string): Promise<string[]> {
      const response = await call(`/v2.2/files/${id}/trace`);
      if (response.status !== 200) return [];
      return ((await response.json()) as { events: Array<{ message: string }> }).events.map(
        (e) => e.message,
      );
    },
    async waitForResult(id: string) {
      return waitFor(async () => (await call(`/v2.2/files/${id}`)).status === 200, {
        what: `the result of ${id}`,
      });
    },
    redeliver: (id: string) => call(`/v1/files/${id}/redeliver`, { method: 'POST' }),
  };
}

/** Flattens Node's incoming headers to the string record verifiers take. */
export function headerRecord(headers: IncomingMessage['headers']): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
    ),
  );
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RecordingServer extends TestHttpServer {
  deliveries: Delivery[];
}

/**
 * A receiver on a given port (or any), recording each delivery, answering with `answer` (200 by
 * default) after `delayMs`, or, when `answer` returns 'hold', never answering until the server
 * closes. `inFlight` counts requests not yet answered, `maxInFlight` the most at once.
 */
export async function startRecordingReceiver(
  options: {
    port?: number;
    delayMs?: number;
    answer?: (delivery: Delivery, count: number) => number | 'hold';
  } = {},
): Promise<RecordingServer & { inFlight: number; maxInFlight: number }> {
  const deliveries: Delivery[] = [];
  const sockets = new Set<Socket>();
  const state = { inFlight: 0, maxInFlight: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    res.on('close', () => {
      state.inFlight -= 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // kept as text
      }
      const delivery: Delivery = { path: req.url ?? '/', headers: req.headers, body, json };
      deliveries.push(delivery);
      const answer = options.answer?.(delivery, deliveries.length) ?? 200;
      if (answer === 'hold') return;
      if (options.delayMs) setTimeout(() => res.writeHead(answer).end(), options.delayMs);
      else res.writeHead(answer).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    server,
    hits: new Map<string, number>(),
    deliveries,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

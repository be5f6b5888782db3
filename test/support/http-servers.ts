import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { waitFor } from './wait.js';

/** Real HTTP servers on 127.0.0.1 standing in for a tenant's storage and webhook receiver. */

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface TestHttpServer {
  url: string;
  server: Server;
  /** Requests seen so far, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export async function startHttpServer(
  routes: Record<string, Handler | Buffer | string>,
): Promise<TestHttpServer> {
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    hits.set(pathname, (hits.get(pathname) ?? 0) + 1);
    const route = routes[pathname];
    if (route === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    if (typeof route === 'function') {
      // A request aborted by its client (a process killed mid-request, or the server closing
      // under it) rejects the handler's body read: that is the client's doing, not a test error.
      Promise.resolve(route(req, res)).catch(() => res.destroy());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(route);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    hits,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface Delivery {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown>;
}

export interface CallbackReceiver extends TestHttpServer {
  deliveries: Delivery[];
  /** Status to answer with, per attempt number (1-based); default 200. */
  respondWith: (attempt: number, delivery: Delivery) => number;
  waitForDeliveries(count: number, timeoutMs?: number): Promise<Delivery[]>;
}

export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const deliveries: Delivery[] = [];
  const receiver = {} as CallbackReceiver;
  receiver.respondWith = () => 200;
  const handler: Handler = async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body) as Record<string, unknown>;
    } catch {
      // recorded as-is; tests assert on it
    }
    const delivery: Delivery = { path: req.url ?? '/', headers: req.headers, body, json };
    deliveries.push(delivery);
    res.writeHead(receiver.respondWith(deliveries.length, delivery)).end();
  };
  const server = await startHttpServer({ '/callback': handler, '/other-callback': handler });
  return Object.assign(receiver, server, {
    deliveries,
    waitForDeliveries: (count: number, timeoutMs = 15_000) =>
      waitFor(() => (deliveries.length >= count ? deliveries : undefined), {
        timeoutMs,
        what: `${count} callback deliveries`,
      }),
  });
}

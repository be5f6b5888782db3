import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The callback receiver of bench/webhooks.ts, in its own process so that its work does not share
 * an event loop with the senders being measured. It reads each body, answers 204, and counts;
 * the parent asks for counts over IPC. Exits when the parent goes away.
 */

export type ReceiverRequest = { type: 'stats' } | { type: 'reset' } | { type: 'stop' };
export interface ReceiverStats {
  type: 'stats';
  count: number;
  /** Deliveries that carried a webhook-signature header. */
  signed: number;
  /** Epoch ms (sub-ms precision) of the first and last delivery since the last reset. */
  firstAt: number;
  lastAt: number;
  /** The last delivery, for the parent to verify its signature. */
  sample?: { body: string; headers: Record<string, string> };
}

const now = () => performance.timeOrigin + performance.now();
let stats: ReceiverStats = { type: 'stats', count: 0, signed: 0, firstAt: 0, lastAt: 0 };

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = now();
    if (stats.count === 0) stats.firstAt = at;
    stats.lastAt = at;
    stats.count += 1;
    const signature = req.headers['webhook-signature'];
    if (signature) {
      stats.signed += 1;
      if (stats.signed % 64 === 1) {
        const headers: Record<string, string> = {};
        for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'])
          headers[name] = String(req.headers[name] ?? '');
        stats.sample = { body: Buffer.concat(chunks).toString('utf8'), headers };
      }
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1');
await once(server, 'listening');

process.on('message', (message: ReceiverRequest) => {
  if (message.type === 'stats') process.send?.(stats);
  if (message.type === 'reset') {
    stats = { type: 'stats', count: 0, signed: 0, firstAt: 0, lastAt: 0 };
    process.send?.(stats);
  }
  if (message.type === 'stop') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({
  type: 'ready',
  url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
});

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import express from 'express';
import { got } from 'got';
import { baselineFormParser } from './support.js';

/**
 * The floor of fetch mode: the smallest pipeline built from the libraries Arbiter uses, with
 * none of Arbiter's own work (no auth, tenants, results, traces, scanning, limits, fairness).
 * An express 5 route answers `POST /v2.2/files/fetch` (urlencoded `location` and `callback`) by
 * adding a BullMQ job and answering 202 {"id"}; a BullMQ worker downloads the location with got,
 * hashes it with SHA-1 and POSTs {"id","checksum","findings":[]} to the callback with got.
 * Run by bench/target-process.ts (mode `minimal`) inside bench/fetch-throughput.ts, beside
 * Arbiter on the same files, concurrency and kind of Redis.
 */

export interface MinimalPipeline {
  url: string;
  concurrency: number;
  stop(): Promise<void>;
}

interface FetchJob {
  id: string;
  location: string;
  callback: string;
}

const QUEUE = 'fetch';

/** ioredis options for `redis://host:port` or `unix:///path` (what the benchmarks' Redis uses). */
function connectionFrom(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  const base = { maxRetriesPerRequest: null };
  return url.protocol === 'unix:'
    ? { ...base, path: url.pathname }
    : { ...base, host: url.hostname, port: Number(url.port || 6379) };
}

async function fetchAndCallBack(job: FetchJob): Promise<void> {
  const hash = createHash('sha1');
  for await (const chunk of got.stream(job.location)) hash.update(chunk as Buffer);
  await got.post(job.callback, {
    json: { id: job.id, checksum: hash.digest('hex'), findings: [] },
    retry: { limit: 0 },
  });
}

export async function startMinimalPipeline(options: {
  redisUrl: string;
  concurrency: number;
}): Promise<MinimalPipeline> {
  const connection = connectionFrom(options.redisUrl);
  const queue = new Queue<FetchJob>(QUEUE, { connection });
  const worker = new Worker<FetchJob>(QUEUE, (job) => fetchAndCallBack(job.data), {
    connection,
    concurrency: options.concurrency,
  });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/v2.2/files/fetch', baselineFormParser(express), (req, res, next) => {
    const body = req.body as { location?: string; callback?: string };
    const id = randomBytes(16).toString('hex');
    queue
      .add(
        QUEUE,
        { id, location: String(body.location), callback: String(body.callback) },
        { removeOnComplete: true, removeOnFail: true },
      )
      .then(() => res.status(202).json({ id }), next);
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    concurrency: options.concurrency,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker.close();
      await queue.close();
    },
  };
}

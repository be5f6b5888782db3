import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  baselineFormParser,
  type ChildMessage,
  type ParentMessage,
  type TargetOptions,
} from './support.js';

/**
 * The server under test, in its own process (started by `startTarget` in support.ts):
 *
 *   bare  a bare express 5 app answering POST /v2.2/files/fetch with 202 {"id"} after the same
 *         urlencoded body parsing Arbiter uses, and nothing else (no auth, no Redis);
 *   api   Arbiter's API role only (no workers), as `arbiter serve --api`;
 *   full  Arbiter's API and workers in one process, as `arbiter serve`;
 *   minimal  the floor of fetch mode: express + BullMQ + got + SHA-1, nothing of Arbiter's
 *         (bench/minimal-pipeline.ts), on `REDIS_URL` with `ARBITER_SCAN_CONCURRENCY` jobs at once.
 *
 * It reports "ready" with its URL, answers "stats" with its CPU time and queue counts, and exits
 * on "stop" or when the parent goes away.
 */

const send = (message: ChildMessage) => process.send?.(message);
const options = JSON.parse(process.argv[2] ?? '{}') as TargetOptions;

interface Running {
  url: string;
  auth: string;
  scanConcurrency?: number;
  scanJobs?: () => Promise<Record<string, number>>;
  stop(): Promise<void>;
}

async function startBare(): Promise<Running> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/v2.2/files/fetch', baselineFormParser(express), (_req, res) => {
    res.status(202).json({ id: randomBytes(16).toString('hex') });
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    auth: 'Basic none',
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function startArbiter(workers: boolean): Promise<Running> {
  const { startService } = await import('../cli/serve.js');
  const { loadConfig } = await import('../core/config.js');
  const { createLogger } = await import('../core/logger.js');
  // Benchmarks drive one tenant far past the default per-tenant rate limit: the limiter still
  // runs on every request, but may not refuse (a benchmark's own env can still override this).
  // They measure the built-in engine unless they name others: unset, ARBITER_ENGINES would
  // start a private clamd on any ClamAV database found.
  const config = loadConfig({
    ARBITER_RATE_LIMIT_RPS: '1000000',
    ARBITER_ENGINES: 'builtin',
    ...(options.env ?? {}),
  });
  const service = await startService(config, createLogger(config.logLevel), { api: true, workers });
  const { credentials } = await service.runtime.tenants.createTenant('bench');
  const auth = `Basic ${Buffer.from(`${credentials.key}:${credentials.secret}`).toString('base64')}`;
  return {
    url: service.url ?? '',
    auth,
    scanConcurrency: config.scanConcurrency,
    scanJobs: async () => {
      const counts = await service.runtime.queues.scan.getJobCounts();
      return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
    },
    async stop() {
      service.server?.closeAllConnections();
      await service.stop();
    },
  };
}

async function startMinimal(): Promise<Running> {
  const { startMinimalPipeline } = await import('./minimal-pipeline.js');
  const pipeline = await startMinimalPipeline({
    redisUrl: options.env?.REDIS_URL ?? '',
    concurrency: Number(options.env?.ARBITER_SCAN_CONCURRENCY ?? 4),
  });
  return {
    url: pipeline.url,
    auth: 'Basic none',
    scanConcurrency: pipeline.concurrency,
    stop: () => pipeline.stop(),
  };
}

function start(): Promise<Running> {
  if (options.mode === 'bare') return startBare();
  if (options.mode === 'minimal') return startMinimal();
  return startArbiter(options.mode === 'full');
}

async function main(): Promise<void> {
  const running = await start();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop().catch(() => undefined);
    send({ type: 'stopped' });
    process.exit(0);
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stop') void stop();
    if (message.type === 'stats') {
      void (async () => {
        const cpu = process.cpuUsage();
        const scanJobs = running.scanJobs ? await running.scanJobs() : undefined;
        send({
          type: 'stats',
          cpu: { user: cpu.user, system: cpu.system },
          ...(scanJobs ? { scanJobs } : {}),
        });
      })().catch((error: unknown) => send({ type: 'error', message: String(error) }));
    }
  });
  // The parent died or cut the channel: never outlive it.
  process.on('disconnect', () => void stop());
  send({
    type: 'ready',
    url: running.url,
    auth: running.auth,
    ...(running.scanConcurrency ? { scanConcurrency: running.scanConcurrency } : {}),
  });
}

main().catch((error: unknown) => {
  send({
    type: 'error',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
});

import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Express } from 'express';
import { createApp } from '../api/app.js';
import { LiveEvents } from '../api/live-events.js';
import { createMonitorApp } from '../api/metrics.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { startRetroWorker, type RetroWorker } from '../worker/retro-processor.js';
import { startRescanWorker, type RescanWorker } from '../worker/rescan-processor.js';
import type { QueuePollers } from '../s3/sqs-poller.js';
import { startHousekeeping, type Chore, type Housekeeping } from '../worker/chores/housekeeping.js';
import { SignatureUpdates } from '../worker/chores/signature-updates.js';
import { startWorkers, type Workers } from '../worker/workers.js';
import type { FreshclamSettings } from '../scanning/signatures/freshclam.js';
import type { TenantStore } from '../core/tenants.js';
import { buildRuntime, type Runtime } from './runtime.js';

export interface ServeRoles {
  api: boolean;
  workers: boolean;
  /** Create (or re-key) a "demo" tenant and print a ready-to-paste curl. */
  demo: boolean;
}

export interface RunningService {
  runtime: Runtime;
  server?: Server;
  workers?: Workers;
  /** SQS pollers feeding S3 events to the scan queue (worker role). */
  pollers?: QueuePollers;
  /** Retro job crawls and schedule firings (worker role). */
  retroWorker?: RetroWorker;
  /** Rescans by database version (worker role). */
  rescanWorker?: RescanWorker;
  /** The spool sweeper (every role) and the pending reaper (worker role), run periodically. */
  housekeeping: Housekeeping;
  /** The address the API listens on, e.g. http://127.0.0.1:8080 */
  url?: string;
  /** The API's express app (the route check of test/api/openapi.test.ts walks it). */
  app?: Express;
  /**
   * Workers without the API: where their `/metrics` and `/healthz` are served
   * (ARBITER_WORKER_METRICS_PORT), e.g. http://127.0.0.1:9091
   */
  monitorUrl?: string;
  stop(): Promise<void>;
}

/** Starts the roles asked for on one runtime; used by the CLI and by the test harness. */
/** What a test may replace when it starts a service (see test/scanning/signature-update.test.ts). */
export interface ServiceSeams {
  /** freshclam settings of the scheduled signature updates (default: from the config). */
  freshclam?: FreshclamSettings;
}

export async function startService(
  config: Config,
  logger: Logger,
  roles: Omit<ServeRoles, 'demo'>,
  /**
   * `signal`: aborted, a start-up still under way (the private clamd loading) gives up. `seams`:
   * parts of the service a test replaces.
   */
  options: { signal?: AbortSignal; seams?: ServiceSeams } = {},
): Promise<RunningService> {
  const runtime = await buildRuntime(config, logger, { signal: options.signal });
  const workers = roles.workers
    ? startWorkers(
        config,
        runtime.workerConnection,
        runtime.queuePrefix,
        runtime.pipeline,
        runtime.delivery,
        runtime.scanSlots,
      )
    : undefined;
  const pollers = roles.workers ? runtime.s3.createPollers() : undefined;
  const retroWorker = roles.workers
    ? startRetroWorker(
        config,
        runtime.workerConnection,
        runtime.queuePrefix,
        runtime.retro,
        runtime.errors,
      )
    : undefined;
  const rescanWorker = roles.workers
    ? startRescanWorker(
        config,
        runtime.workerConnection,
        runtime.queuePrefix,
        runtime.rescans.runner,
      )
    : undefined;
  pollers?.start();
  const stopHeartbeat = workers
    ? runtime.heartbeats.start(
        () => ({
          jobs_in_progress: workers.inProgress(),
          concurrency: config.scanConcurrency,
          engines: runtime.engines.engines.map((engine) => {
            const { name, version, signatures } = engine.describe?.() ?? {
              name: engine.name,
              version: 'unknown',
            };
            return { name, version, ...(signatures === undefined ? {} : { signatures }) };
          }),
        }),
        (error) => logger.warn({ err: error }, 'could not write the worker heartbeat'),
      )
    : undefined;
  const housekeeping = startHousekeeping(
    chores(config, runtime, roles, options.seams ?? {}),
    logger,
  );
  let server: Server | undefined;
  let url: string | undefined;
  let app: Express | undefined;
  let monitor: Server | undefined;
  let liveEvents: LiveEvents | undefined;
  let monitorUrl: string | undefined;
  if (roles.api) {
    liveEvents = new LiveEvents({
      scans: runtime.scans,
      retroJobs: runtime.retro.jobs,
      queues: [
        runtime.queues.scan,
        runtime.queues.callback,
        runtime.queues.retro,
        runtime.queues.rescan,
      ],
      heartbeats: runtime.heartbeats,
      logger,
    });
    app = createApp({
      ...runtime,
      liveEvents,
      checkReadiness: () => runtime.checkReadiness(),
    });
    server = createApiServer(app, config).listen(config.port, config.listenHost);
    url = await listening(server, config.listenHost);
  } else if (roles.workers) {
    // A worker process has no API, but Prometheus must still see its scans and callbacks.
    monitor = createMonitorApp(runtime.metrics, config.metrics.token).listen(
      config.metrics.workerPort,
      config.listenHost,
    );
    monitorUrl = await listening(monitor, config.listenHost);
  }
  return {
    runtime,
    server,
    workers,
    pollers,
    retroWorker,
    rescanWorker,
    housekeeping,
    url,
    app,
    monitorUrl,
    async stop() {
      // No new scan or callback job from here on: the steps before the workers' close (chores,
      // pollers, crawls) can take a while, and a job taken meanwhile would delay the exit.
      await workers?.stopTaking();
      await housekeeping.stop();
      // Stop taking work first, then let jobs in flight finish, then drop connections.
      const closing = server
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      server?.closeIdleConnections();
      // Event streams never end by themselves: ended here, or the close above would wait on them.
      liveEvents?.close();
      // SQS: no new receives; messages being handled are queued (and deleted) or left first.
      await pollers?.stop();
      // Crawls stop after their current page and go back to the queue (resumed by any worker).
      await retroWorker?.close();
      await rescanWorker?.close();
      await workers?.close();
      // Gone from /admin/workers at once, not when the key expires (best effort: it expires).
      await stopHeartbeat?.().catch(() => undefined);
      await closing;
      if (monitor) {
        const stopped = new Promise<void>((resolve) => monitor.close(() => resolve()));
        monitor.closeAllConnections();
        await stopped;
      }
      await runtime.close();
    },
  };
}

/**
 * How often Node looks for requests past their deadline: a trickling client is cut off at most
 * this much after its timeout.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 5_000;

/**
 * The API's HTTP server, with the configured bounds on how long a request may take to arrive
 * instead of Node's defaults (5 minutes for a whole request, 1 for its headers), so that an
 * operator can fit them to the largest upload and the slowest link they serve.
 */
function createApiServer(app: Express, config: Config): Server {
  return createServer(
    {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: config.http.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(
        TIMEOUT_CHECK_INTERVAL_MS,
        config.http.headersTimeoutMs,
      ),
    },
    app,
  );
}

/**
 * Every role writes to the spool (the API receives uploads into it, workers download into it),
 * so every role sweeps it; every role also makes sanitized copies (the API for synchronous
 * scans), so every role sweeps those of results that are gone. The pending reaper queues scans again or stores their error results,
 * and the retro stall audit queues crawls and reconcile passes, which is workers' work: they run
 * where the workers do.
 */
function chores(
  config: Config,
  runtime: Runtime,
  roles: Omit<ServeRoles, 'demo'>,
  seams: ServiceSeams,
): Chore[] {
  const list: Chore[] = [
    {
      name: 'spool sweeper',
      intervalMs: config.spoolSweep.intervalMs,
      run: async (signal) => {
        await runtime.sweeper.sweep(signal);
      },
    },
    {
      name: 'sanitized copy sweeper',
      intervalMs: config.spoolSweep.intervalMs,
      run: async (signal) => {
        await runtime.sanitizedSweeper.sweep(signal);
      },
    },
  ];
  if (roles.workers)
    list.push({
      name: 'pending reaper',
      intervalMs: config.pendingReap.intervalMs,
      run: async (signal) => {
        await runtime.reaper.reap(signal);
      },
    });
  if (roles.workers)
    list.push({
      name: 'retro stall audit',
      intervalMs: retroAuditIntervalMs(config.retro.stallMs),
      jitter: 0.1,
      run: async (signal) => {
        await runtime.retroAudit.run(signal);
      },
    });
  // ClamAV's database, in a folder Arbiter keeps: one update per host at a time (a lock), then
  // every process reloads its engines when the folder changed.
  if (roles.workers && config.clamav.updateIntervalMs > 0) {
    const updates = new SignatureUpdates({
      config,
      engines: runtime.engines,
      metrics: runtime.metrics,
      logger: runtime.logger,
      freshclam: seams.freshclam,
    });
    list.push({
      name: 'signature updates',
      intervalMs: config.clamav.updateIntervalMs,
      jitter: SIGNATURE_UPDATE_JITTER,
      run: (signal) => updates.run(signal),
    });
  }
  return list;
}

/** ±10 %: a fleet started together spreads its visits to the mirror. */
const SIGNATURE_UPDATE_JITTER = 0.1;

/** Waits for the server to listen and returns its URL (loopback for a wildcard address). */
async function listening(server: Server, listenHost: string): Promise<string> {
  await once(server, 'listening');
  const address = server.address();
  return reachableUrl(listenHost, typeof address === 'object' && address ? address.port : 0);
}

/** The API's URL for a listen address: loopback for a wildcard address. */
export function reachableUrl(listenHost: string, port: number): string {
  const host = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
  return `http://${host}:${port}`;
}

export async function runServe(config: Config, logger: Logger, roles: ServeRoles): Promise<number> {
  // Listening from the start: a SIGTERM while the private clamd loads its database (which can
  // take a minute) must stop it, not end this process with the clamd left running.
  const shutdown = new AbortController();
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'shutting down: no new work, finishing jobs in flight');
    // Jobs still running at the deadline are handed back: their locks lapse and another worker
    // picks them up, so a forced exit loses nothing. (It also bounds a start-up that hangs.)
    const deadline = setTimeout(() => {
      logger.warn('shutdown deadline reached; exiting with jobs handed back to the queue');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    shutdown.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let service: RunningService;
  try {
    service = await startService(config, logger, roles, { signal: shutdown.signal });
  } catch (error) {
    if (!shutdown.signal.aborted) throw error;
    logger.info('stopped during start-up');
    return 0;
  }
  // The signal came as the last step of the start-up finished (a clamd that loads in
  // milliseconds): stop at once rather than announce a service that is already stopping.
  if (shutdown.signal.aborted) {
    await service.stop();
    logger.info('stopped during start-up');
    return 0;
  }
  if (service.url) logger.info({ url: service.url }, 'API listening');
  if (service.monitorUrl)
    logger.info({ url: `${service.monitorUrl}/metrics` }, 'worker metrics listening');
  if (roles.workers) logger.info({ scanConcurrency: config.scanConcurrency }, 'workers started');
  if (roles.demo && service.url) await printDemoTenant(service.runtime.tenants, service.url);

  // SIGHUP re-reads the signature databases; scans in flight keep the one they started with.
  const onHangup = () => {
    const { engines } = service.runtime;
    engines.reload().then(
      () =>
        logger.info(
          { engines: engines.engines.map((e) => e.describe?.() ?? { name: e.name }) },
          'signatures reloaded',
        ),
      (error: Error) =>
        logger.error(
          { err: error.message },
          'reloading the signatures failed; the previous ones stay in use',
        ),
    );
  };
  process.on('SIGHUP', onHangup);
  if (!shutdown.signal.aborted)
    await new Promise<void>((resolve) =>
      shutdown.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  process.off('SIGHUP', onHangup);
  await service.stop();
  logger.info('stopped');
  return 0;
}

/** Creates (or re-keys) the "demo" tenant and prints a ready-to-paste curl against `url`. */
export async function printDemoTenant(tenants: TenantStore, url: string): Promise<void> {
  const existing = (await tenants.listTenants()).find((t) => t.name === 'demo');
  const credentials = existing
    ? await tenants.addKey(existing.id)
    : (await tenants.createTenant('demo')).credentials;
  const lines = [
    '',
    'Arbiter is running. Demo tenant credentials (new key each start):',
    `  key:    ${credentials.key}`,
    `  secret: ${credentials.secret}`,
    '',
    'Try it:',
    `  curl -s -u ${credentials.key}:${credentials.secret} ${url}/v2.2/ping`,
    `  printf 'hello' > hello.txt && curl -s -u ${credentials.key}:${credentials.secret} -F file=@hello.txt ${url}/v2.2/files`,
    '',
    `Or open the console, ${url}/console, and sign in with that key and secret.`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A quarter of the stall period, at most a minute: a stalled job waits at most 25 % longer. */
export const retroAuditIntervalMs = (stallMs: number): number =>
  Math.max(250, Math.min(60_000, Math.round(stallMs / 4)));

import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../core/config.js';
import { RedisKeys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import { createRedis, redisReady, type RedisTarget } from '../core/redis.js';
import { TenantStore } from '../core/tenants.js';
import { startSharedDependencies, type SharedDependencies } from './runtime.js';
import { printDemoTenant, reachableUrl } from './serve.js';

/**
 * `arbiter serve` on every core (ARBITER_PROCESSES > 1). The primary process serves nothing
 * itself: it starts what the group shares once (the private redis-server and the private clamd,
 * when the config asks for them), then forks the processes that each run the API and the workers
 * as a single `serve` would. node:cluster hands every process's listen() on the API port to one
 * socket, so clients see one port. A process that dies unexpectedly is started again, after a
 * delay that grows while it keeps dying.
 */

/** Restart delay of a process that died: doubles per quick death, from `FIRST` up to `MAX`. */
const RESTART_DELAY_FIRST_MS = 500;
const RESTART_DELAY_MAX_MS = 30_000;
/** A process that ran this long before dying was healthy: its next restart is quick again. */
const HEALTHY_RUN_MS = 60_000;
/** How much longer than a process's own shutdown deadline the primary waits before killing it. */
const SHUTDOWN_MARGIN_MS = 5_000;

interface Slot {
  index: number;
  worker?: Worker;
  startedAt: number;
  quickDeaths: number;
  restart?: NodeJS.Timeout;
}

export async function runServeGroup(
  config: Config,
  logger: Logger,
  options: { demo: boolean },
): Promise<number> {
  const shutdown = new AbortController();
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'shutting down: stopping every process of the group');
    shutdown.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let shared: SharedDependencies;
  try {
    shared = await startSharedDependencies(config, logger, shutdown.signal);
  } catch (error) {
    if (!shutdown.signal.aborted) throw error;
    logger.info('stopped during start-up');
    return 0;
  }
  if (shutdown.signal.aborted) {
    await shared.stop();
    logger.info('stopped');
    return 0;
  }

  // Children run a plain single-process `serve` (never `--demo`: the banner is printed here,
  // once) on the shared Redis and clamd.
  cluster.setupPrimary({ args: ['serve'] });
  const childEnv = { ...shared.env, ARBITER_PROCESSES: '1' };
  const slots: Slot[] = [];
  const fork = (slot: Slot) => {
    slot.restart = undefined;
    slot.startedAt = Date.now();
    slot.worker = cluster.fork(childEnv);
    logger.info(
      { process: slot.index, childPid: slot.worker.process.pid },
      'started a serve process',
    );
  };
  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.find((candidate) => candidate.worker === worker);
    if (!slot || shutdown.signal.aborted) return;
    slot.worker = undefined;
    const ranMs = Date.now() - slot.startedAt;
    slot.quickDeaths = ranMs >= HEALTHY_RUN_MS ? 0 : slot.quickDeaths + 1;
    const delayMs = Math.min(
      RESTART_DELAY_FIRST_MS * 2 ** Math.max(0, slot.quickDeaths - 1),
      RESTART_DELAY_MAX_MS,
    );
    logger.error(
      { process: slot.index, childPid: worker.process.pid, code, signal, restartInMs: delayMs },
      'a serve process exited unexpectedly; restarting it',
    );
    slot.restart = setTimeout(() => fork(slot), delayMs);
  });
  for (let index = 0; index < config.processes; index += 1) {
    const slot: Slot = { index, startedAt: 0, quickDeaths: 0 };
    slots.push(slot);
    fork(slot);
  }
  logger.info({ processes: config.processes, primaryPid: process.pid }, 'serve group started');
  if (options.demo) void printDemoOnceListening(config, shared.redisTarget, logger);

  // SIGHUP re-reads the signature databases: every process reloads its engines.
  const onHangup = () => {
    for (const slot of slots) slot.worker?.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    if (shutdown.signal.aborted) resolve();
    else shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  process.off('SIGHUP', onHangup);
  await stopProcesses(slots, config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS, logger);
  await shared.stop();
  logger.info('stopped');
  return 0;
}

/**
 * Each process drains as a single `serve` does on SIGTERM (no new work, jobs in flight finish,
 * its own deadline hands the rest back); one still running past that deadline is killed.
 */
async function stopProcesses(slots: Slot[], deadlineMs: number, logger: Logger): Promise<void> {
  const running: Worker[] = [];
  for (const slot of slots) {
    clearTimeout(slot.restart);
    if (slot.worker && !slot.worker.isDead()) running.push(slot.worker);
  }
  const exits = running.map(
    (worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())),
  );
  for (const worker of running) worker.process.kill('SIGTERM');
  const deadline = setTimeout(() => {
    logger.warn('serve processes still running past the shutdown deadline; killing them');
    for (const worker of running) if (!worker.isDead()) worker.process.kill('SIGKILL');
  }, deadlineMs);
  await Promise.all(exits);
  clearTimeout(deadline);
}

/** The demo banner, once, when the first process listens (the primary has no API itself). */
async function printDemoOnceListening(
  config: Config,
  target: RedisTarget,
  logger: Logger,
): Promise<void> {
  const port = await new Promise<number>((resolve) =>
    cluster.once('listening', (_worker, address) => resolve(address.port)),
  );
  const redis = createRedis(target, 'command', (error) =>
    logger.warn({ err: error.message }, 'redis connection problem'),
  );
  try {
    await redisReady(redis);
    const keys = new RedisKeys(config.redisPrefix, { hashTags: target.mode === 'cluster' });
    const tenants = new TenantStore(redis, keys);
    await printDemoTenant(tenants, reachableUrl(config.listenHost, port));
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'creating the demo tenant failed');
  } finally {
    redis.disconnect();
  }
}

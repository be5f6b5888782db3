import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type express from 'express';
import { Redis } from 'ioredis';

/**
 * Shared pieces of the benchmark suite: settings from the environment, the child process that
 * hosts a server under test, CPU accounting and number formatting. Everything talks to
 * 127.0.0.1 or a unix socket; every wait has a deadline.
 */

/** A whole number from the environment (so CI can shorten runs), with a default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return value;
}

/** The BENCH_* variables set for this run, to print beside the command in the report. */
export function benchEnvOverrides(): string[] {
  return Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value}`)
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry: the global deadline in run.ts runs these so nothing outlives the run.

const cleanups = new Set<() => Promise<void> | void>();

export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function runCleanups(): Promise<void> {
  const pending = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(pending.map(async (fn) => fn()));
}

/** Rejects when `promise` has not settled after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The server under test runs in its own Node process (one event loop, like production), so the
// load generator in this process does not share its thread.

export type TargetMode = 'bare' | 'api' | 'full' | 'minimal';

export interface TargetOptions {
  mode: TargetMode;
  /** Arbiter configuration (env form), unused for `bare`. */
  env?: Record<string, string>;
}

export interface ReadyMessage {
  type: 'ready';
  url: string;
  /** `Authorization` header for a freshly created tenant (a placeholder for `bare`). */
  auth: string;
  /** Default scan concurrency of the loaded config (modes `api` and `full`). */
  scanConcurrency?: number;
}

export interface StatsMessage {
  type: 'stats';
  /** process.cpuUsage() of the server process, microseconds. */
  cpu: { user: number; system: number };
  /** BullMQ scan queue counts (modes `api` and `full`). */
  scanJobs?: Record<string, number>;
}

export type ParentMessage = { type: 'stats' } | { type: 'stop' };
export type ChildMessage =
  ReadyMessage | StatsMessage | { type: 'stopped' } | { type: 'error'; message: string };

export interface TargetProcess {
  ready: ReadyMessage;
  pid: number;
  stats(): Promise<StatsMessage>;
  stop(): Promise<void>;
}

const TARGET_SCRIPT = fileURLToPath(new URL('./target-process.ts', import.meta.url));

export async function startTarget(options: TargetOptions): Promise<TargetProcess> {
  // BENCH_PROFILE_DIR=/some/dir writes a V8 CPU profile of each target process there (for
  // finding where the time goes; profiling slows the target, so do not publish those figures).
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const profile = profileDir
    ? ['--cpu-prof', '--cpu-prof-dir', path.join(profileDir, `${options.mode}-${Date.now()}`)]
    : [];
  const child: ChildProcess = fork(TARGET_SCRIPT, [JSON.stringify(options)], {
    execArgv: ['--import', import.meta.resolve('tsx'), ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unregister = onCleanup(kill);

  const next = <T extends ChildMessage['type']>(type: T, ms: number) =>
    withTimeout(
      new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
        const onMessage = (message: ChildMessage) => {
          if (message.type === 'error') {
            cleanup();
            reject(new Error(`target process (${options.mode}): ${message.message}`));
          } else if (message.type === type) {
            cleanup();
            resolve(message as Extract<ChildMessage, { type: T }>);
          }
        };
        const onExit = (code: number | null) => {
          cleanup();
          reject(
            new Error(`target process (${options.mode}) exited with ${code} before "${type}"`),
          );
        };
        const cleanup = () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
      }),
      ms,
      `"${type}" from the ${options.mode} target process`,
    );

  let ready: ReadyMessage;
  try {
    ready = await next('ready', 30_000);
  } catch (error) {
    kill();
    unregister();
    throw error;
  }
  return {
    ready,
    pid: child.pid ?? -1,
    async stats() {
      const reply = next('stats', 10_000);
      child.send({ type: 'stats' } satisfies ParentMessage);
      return reply;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'stop' } satisfies ParentMessage);
      try {
        await withTimeout(exited, 20_000, `the ${options.mode} target process to exit`);
      } catch {
        kill();
        await exited;
      } finally {
        unregister();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: what each process (server, Redis, this one) spent during a measured window.

export interface CpuSnapshot {
  server: number;
  redis: number;
  self: number;
  /** Busy CPU seconds of the whole machine (all processes, ours or not). */
  machine: number;
  at: number;
}

export interface CoresBusy {
  server: number;
  redis: number;
  self: number;
  /** Everything else running on the machine meanwhile (other processes, the kernel). */
  other: number;
  /** The whole machine. */
  machine: number;
}

/** Busy CPU seconds of the machine since boot, all cores (user + nice + sys + irq). */
export function machineCpuSeconds(): number {
  return cpus().reduce(
    (sum, cpu) => sum + (cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq) / 1000,
    0,
  );
}

export async function redisCpuSeconds(socket: string): Promise<number> {
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('cpu');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
    return field('used_cpu_user') + field('used_cpu_sys');
  } finally {
    client.disconnect();
  }
}

/** Calls per Redis command since the server started (`INFO commandstats`), lower-case names. */
export async function redisCommandCalls(socket: string): Promise<Map<string, number>> {
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('commandstats');
    const calls = new Map<string, number>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      calls.set((match[1] ?? '').toLowerCase(), Number(match[2]));
    }
    return calls;
  } finally {
    client.disconnect();
  }
}

/**
 * Redis commands per unit of work between two `redisCommandCalls` snapshots, busiest first,
 * e.g. "10.0 (multi 2.0, exec 2.0, …)". `info` itself (the snapshots) is left out.
 */
export function commandsPer(
  before: Map<string, number>,
  after: Map<string, number>,
  units: number,
): string {
  const deltas = [...after]
    .filter(([name]) => name !== 'info')
    .map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / units] as const)
    .filter(([, per]) => per >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  const total = deltas.reduce((sum, [, per]) => sum + per, 0);
  return `${total.toFixed(1)} (${deltas.map(([name, per]) => `${name} ${per.toFixed(1)}`).join(', ')})`;
}

export async function cpuSnapshot(
  target: TargetProcess,
  redisSocket: string,
): Promise<CpuSnapshot> {
  const [stats, redis] = await Promise.all([target.stats(), redisCpuSeconds(redisSocket)]);
  const self = process.cpuUsage();
  return {
    server: (stats.cpu.user + stats.cpu.system) / 1e6,
    redis,
    self: (self.user + self.system) / 1e6,
    machine: machineCpuSeconds(),
    at: performance.now(),
  };
}

/** Average cores busy per process between two snapshots (1.00 = one core fully used). */
export function coresBusy(before: CpuSnapshot, after: CpuSnapshot): CoresBusy {
  const seconds = (after.at - before.at) / 1000;
  const per = (key: 'server' | 'redis' | 'self' | 'machine') =>
    (after[key] - before[key]) / seconds;
  const [server, redis, self, machine] = [per('server'), per('redis'), per('self'), per('machine')];
  return { server, redis, self, machine, other: Math.max(0, machine - server - redis - self) };
}

/** "0.98 / 0.14 / 0.18 / 0.40 of 2": server / redis / benchmark / other, of the machine's cores. */
export function formatCores(c: CoresBusy): string {
  return `${c.server.toFixed(2)} / ${c.redis.toFixed(2)} / ${c.self.toFixed(2)} / ${c.other.toFixed(2)} of ${cpus().length}`;
}

/**
 * What limited a measured window, from where the CPU went: the server process itself (one event
 * loop: about one core), the machine as a whole (every core busy, whoever used them), or neither.
 */
export function limitedBy(c: CoresBusy, server: string): string {
  const cores = cpus().length;
  if (c.server >= 0.9) {
    return `${server} was CPU-bound (${c.server.toFixed(2)} cores busy: about the one core a single event loop can use)`;
  }
  if (c.machine >= 0.9 * cores) {
    return (
      `the machine was CPU-bound (${c.machine.toFixed(2)} of ${cores} cores busy: ${server} ${c.server.toFixed(2)}, ` +
      `redis-server ${c.redis.toFixed(2)}, the benchmark process ${c.self.toFixed(2)}, other processes ` +
      `${c.other.toFixed(2)}), so ${server} was short of CPU rather than waiting`
    );
  }
  return (
    `neither ${server} (${c.server.toFixed(2)} cores) nor the machine (${c.machine.toFixed(2)} of ${cores}) was ` +
    'saturated, so waiting (round trips to Redis and over loopback HTTP) limited the rate'
  );
}

// ---------------------------------------------------------------------------------------------
// Formatting

export const fmt = {
  /** 1234.5 → "1,235" */
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  /** Fixed decimals, thousands separated. */
  num: (n: number, digits = 1) =>
    n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }),
  ms: (n: number, digits = 1) => `${fmt.num(n, digits)} ms`,
  pct: (ratio: number) => `${fmt.num(ratio * 100, 0)} %`,
  cores: (n: number) => n.toFixed(2),
};

/** Percentile (0–100) of a list of numbers, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  const lane = async () => {
    while (nextIndex < items.length) {
      const index = nextIndex++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * The urlencoded parser of the baselines (the bare route and the minimal pipeline), one setting
 * for both, with limits like api/body-parsers.ts: the floor includes reading the same body.
 */
export function baselineFormParser(framework: typeof express) {
  return framework.urlencoded({
    extended: true,
    limit: 1024 * 1024,
    parameterLimit: 500,
    depth: 1,
  } as Parameters<typeof framework.urlencoded>[0]);
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/clamd.js';
import { startCallbackReceiver, startHttpServer } from '../test/support/http-servers.js';
import { startTestRedis, type TestRedis } from '../test/support/redis-server.js';
import { waitFor } from '../test/support/wait.js';
import {
  fetchSubmitter,
  fetchThroughputSettings,
  warmUpFetch,
  type FetchThroughputSettings,
} from './fetch-throughput.js';
import type { BenchSection } from './report.js';
import {
  commandsPer,
  fmt,
  log,
  mapPool,
  onCleanup,
  percentile,
  redisCommandCalls,
  redisCpuSeconds,
} from './support.js';

/**
 * `arbiter serve` as an operator runs it (a real `node cli/main.ts serve` process), with
 * ARBITER_PROCESSES=1 and then 2: fetch-mode files per second end to end on the same files,
 * submit concurrency and rounds as the fetch-throughput benchmark (its BENCH_FILES,
 * BENCH_FILE_BYTES, BENCH_ROUNDS, BENCH_SUBMIT_CONCURRENCY, BENCH_E2E_WARMUP_FILES), each on a
 * fresh redis-server (REDIS_URL), built-in engine only. The one-process run is the baseline.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

interface GroupRun {
  processes: number;
  filesPerSecond: number[];
  latencies: number[];
  /** CPU milliseconds per file: every process of the serve group, and redis-server. */
  cpuMsPerFile: { service: number; redis: number };
  redisPerFile: string;
  problems: string[];
}

export async function runServeProcesses(
  settings = fetchThroughputSettings(),
): Promise<BenchSection> {
  const contents = Array.from({ length: settings.files }, () => randomBytes(settings.fileBytes));
  const runs: GroupRun[] = [];
  for (const processes of [1, 2]) runs.push(await measure(processes, contents, settings));
  return section(runs, settings);
}

/** CPU seconds of `pid` and its child processes (the serve group), from /proc. */
export function treeCpuSeconds(pid: number): number {
  const ticks = (id: number) => {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // gone
  }
  return [pid, ...children].reduce((sum, id) => sum + ticks(id), 0) / CLOCK_TICKS;
}

function childCount(pid: number): number {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).length;
  } catch {
    return 0;
  }
}

async function startServe(
  processes: number,
  redis: TestRedis,
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; auth: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      ARBITER_LISTEN_HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      ARBITER_DATA_DIR: dataDir,
      ARBITER_PROCESSES: String(processes),
      ARBITER_ENGINES: 'builtin',
      ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
      ARBITER_SCAN_TENANT_CONCURRENCY: '1000',
      ARBITER_RATE_LIMIT_RPS: '1000000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}`;
  // Every process forked (a group) and the API answering.
  await waitFor(
    async () =>
      (processes === 1 || childCount(child.pid ?? 0) >= processes) &&
      (await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      )),
    { timeoutMs: 60_000, intervalMs: 100, what: `arbiter serve (${processes}) ready` },
  );
  const response = await fetch(`${url}/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench' }),
  });
  const tenant = (await response.json()) as { key: string; secret: string };
  return {
    child,
    url,
    auth: `Basic ${Buffer.from(`${tenant.key}:${tenant.secret}`).toString('base64')}`,
  };
}

async function measure(
  processes: number,
  contents: Buffer[],
  settings: FetchThroughputSettings,
): Promise<GroupRun> {
  const routes: Record<string, Buffer> = {};
  contents.forEach((content, i) => (routes[`/files/${i}.bin`] = content));
  const sha1s = contents.map((c) => createHash('sha1').update(c).digest('hex'));
  const content = await startHttpServer(routes);
  const receiver = await startCallbackReceiver();
  const redis = await startTestRedis();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-serve-'));
  const callbackAt = new Map<string, number>();
  receiver.respondWith = (_attempt, delivery) => {
    if (delivery.path.startsWith('/callback'))
      callbackAt.set(String(delivery.json.id), performance.now());
    return 200;
  };
  log(`serve-processes: ARBITER_PROCESSES=${processes}: starting`);
  const serve = await startServe(processes, redis, dataDir);
  try {
    const submit = fetchSubmitter(serve.url, serve.auth);
    await warmUpFetch(submit, settings, {
      contentUrl: content.url,
      files: contents.length,
      receiver,
    });

    const pid = serve.child.pid ?? 0;
    const cpuBefore = { service: treeCpuSeconds(pid), redis: await redisCpuSeconds(redis.socket) };
    const callsBefore = await redisCommandCalls(redis.socket);
    const filesPerSecond: number[] = [];
    const latencies: number[] = [];
    const indexOf = new Map<string, number>();
    for (let round = 1; round <= settings.rounds; round++) {
      const submittedAt = new Map<string, number>();
      const expected = callbackAt.size + contents.length;
      const started = performance.now();
      await mapPool(contents, settings.submitConcurrency, async (_c, i) => {
        const id = await submit(
          `${content.url}/files/${i}.bin`,
          `${receiver.url}/callback?round=${round}`,
        );
        submittedAt.set(id, performance.now());
        indexOf.set(id, i);
      });
      await waitFor(() => callbackAt.size >= expected, {
        timeoutMs: settings.timeoutSeconds * 1000,
        intervalMs: 10,
        what: `${contents.length} callbacks (round ${round})`,
      });
      const backs = [...submittedAt].map(([id, at]) => ({ at, back: callbackAt.get(id) ?? 0 }));
      const seconds = (Math.max(...backs.map((b) => b.back)) - started) / 1000;
      filesPerSecond.push(contents.length / seconds);
      latencies.push(...backs.map((b) => b.back - b.at));
      log(
        `serve-processes: ARBITER_PROCESSES=${processes}, round ${round}: ${fmt.num(contents.length / seconds)} files/s`,
      );
    }
    const files = contents.length * settings.rounds;
    const callsAfter = await redisCommandCalls(redis.socket);
    const cpuAfter = { service: treeCpuSeconds(pid), redis: await redisCpuSeconds(redis.socket) };
    const problems: string[] = [];
    const timed = receiver.deliveries.filter((d) => d.path.startsWith('/callback'));
    if (timed.length !== files) problems.push(`${timed.length} callbacks for ${files} files`);
    for (const delivery of timed) {
      const index = indexOf.get(String(delivery.json.id));
      if (index === undefined || delivery.json.checksum !== sha1s[index] || delivery.json.error)
        problems.push(`${String(delivery.json.id)}: wrong or failed result`);
    }
    return {
      processes,
      filesPerSecond,
      latencies,
      cpuMsPerFile: {
        service: ((cpuAfter.service - cpuBefore.service) * 1000) / files,
        redis: ((cpuAfter.redis - cpuBefore.redis) * 1000) / files,
      },
      redisPerFile: commandsPer(callsBefore, callsAfter, files),
      problems,
    };
  } finally {
    if (serve.child.exitCode === null && serve.child.signalCode === null) {
      const exited = once(serve.child, 'exit');
      serve.child.kill('SIGTERM');
      await exited;
    }
    await redis.stop();
    await content.close();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function section(runs: GroupRun[], settings: FetchThroughputSettings): BenchSection {
  const median = (values: number[]) => percentile(values, 50);
  const [one, two] = runs;
  const rows = runs.map((run) => [
    run.processes === 1
      ? '`arbiter serve`, ARBITER_PROCESSES=1 (baseline)'
      : `**\`arbiter serve\`, ARBITER_PROCESSES=${run.processes}**`,
    `**${fmt.num(median(run.filesPerSecond))}**`,
    `${fmt.num(Math.min(...run.filesPerSecond))}–${fmt.num(Math.max(...run.filesPerSecond))}`,
    fmt.ms(percentile(run.latencies, 50), 0),
    fmt.ms(percentile(run.latencies, 99), 0),
    `${fmt.ms(run.cpuMsPerFile.service, 2)} / ${fmt.ms(run.cpuMsPerFile.redis, 2)}`,
    run.redisPerFile.split(' ')[0] ?? '',
    run.problems.length,
  ]);
  const reading =
    one && two
      ? [
          `Two processes did ${fmt.num(median(two.filesPerSecond))} files/s against ` +
            `${fmt.num(median(one.filesPerSecond))} for one (×${fmt.num(median(two.filesPerSecond) / median(one.filesPerSecond), 2)}) ` +
            `on this ${cpus().length}-core machine, where the benchmark process, redis-server and the ` +
            'content and callback servers share the same cores.',
        ]
      : [];
  return {
    title: '`arbiter serve` with one and two processes (ARBITER_PROCESSES)',
    measured:
      `Fetch-mode files per second end to end (submit → download → scan → result → callback) for ` +
      `${fmt.int(settings.files)} files of ${fmt.int(settings.fileBytes / 1024)} KiB per round, against a real ` +
      '`arbiter serve` process (the command an operator runs) with ARBITER_PROCESSES=2: a primary and two ' +
      'processes each running the API and the workers on one port.',
    baseline:
      'The same `arbiter serve` with ARBITER_PROCESSES=1 (one process), same files and load.',
    tables: [
      {
        columns: [
          'Run',
          'Files/s (median)',
          'Range',
          'Latency p50',
          'Latency p99',
          'CPU per file: service (all processes) / redis',
          'Redis commands per file',
          'Bad callbacks',
        ],
        rows,
      },
    ],
    reading,
    notes: [
      `Same settings as the fetch-mode benchmark: ${settings.rounds} rounds (BENCH_ROUNDS), ` +
        `${settings.submitConcurrency} submits in flight (BENCH_SUBMIT_CONCURRENCY), a warm-up batch of ` +
        `${fmt.int(settings.warmupFiles)} files (BENCH_E2E_WARMUP_FILES); median of the rounds with their range.`,
      'Each run: `node --import tsx cli/main.ts serve` with `LOG_LEVEL=warn`, the built-in engine alone ' +
        '(ARBITER_ENGINES=builtin), a fresh redis-server given as REDIS_URL, default scan concurrency per process, ' +
        'one tenant allowed every slot (ARBITER_SCAN_TENANT_CONCURRENCY=1000) and no rate limit.',
      'CPU per file: CPU time of the serve process and its child processes (from /proc) and of redis-server ' +
        'over the timed rounds, divided by the files; Redis commands per file from `INFO commandstats`.',
    ],
  };
}

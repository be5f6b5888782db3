import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../test/support/clamd.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
} from '../test/support/http-servers.js';
import { startTestRedis, type TestRedis } from '../test/support/redis-server.js';
import { REGION, S3RVER_CREDENTIALS } from '../test/support/s3.js';
import { seededRng } from '../test/support/signature-gen.js';
import { waitFor } from '../test/support/wait.js';
import { fetchSubmitter } from './fetch-throughput.js';
import { buildRealisticCorpus, type CorpusKind } from './realistic-corpus.js';
import type { BenchSection, BenchTable } from './report.js';
import { startS3rverProcess, type S3rverProcess } from './s3-retro.js';
import { treeCpuSeconds } from './serve-processes.js';
import {
  commandsPer,
  envInt,
  fmt,
  log,
  machineCpuSeconds,
  mapPool,
  onCleanup,
  percentile,
  redisCommandCalls,
  redisCpuSeconds,
  withTimeout,
} from './support.js';

/**
 * Scale-out: `arbiter api` and `arbiter worker` as separate processes (the multi-node topology
 * of docs/deployment.md, on one machine) around one redis-server, with 1 and then 2 worker
 * processes: async uploads (`POST /v2.2/files/async`) through the local spool, through an object
 * store (s3rver, in its own process) with small uploads in Redis as configured by default, and
 * through the object store alone (ARBITER_UPLOAD_STORE_REDIS_MAX=0); and fetch mode
 * (`POST /v2.2/files/fetch` from a loopback HTTP server). Each batch is timed from its first
 * submit to its last callback (sent once the result is stored). The files are realistic and
 * small: the files of bench/realistic-corpus.ts up to BENCH_SCALE_MAX_FILE_BYTES, shuffled.
 *
 * Settings (environment): BENCH_SCALE_FILES (files per round), BENCH_SCALE_ROUNDS,
 * BENCH_SCALE_SUBMIT_CONCURRENCY, BENCH_SCALE_WARMUP_FILES, BENCH_SCALE_MAX_FILE_BYTES,
 * BENCH_SCALE_TIMEOUT (seconds one round may take).
 */

export interface ScaleOutSettings {
  files: number;
  rounds: number;
  submitConcurrency: number;
  warmupFiles: number;
  maxFileBytes: number;
  timeoutSeconds: number;
}

export function scaleOutSettings(): ScaleOutSettings {
  return {
    files: envInt('BENCH_SCALE_FILES', 300),
    rounds: envInt('BENCH_SCALE_ROUNDS', 5),
    submitConcurrency: envInt('BENCH_SCALE_SUBMIT_CONCURRENCY', 16),
    warmupFiles: envInt('BENCH_SCALE_WARMUP_FILES', 100),
    maxFileBytes: envInt('BENCH_SCALE_MAX_FILE_BYTES', 1024 * 1024),
    timeoutSeconds: envInt('BENCH_SCALE_TIMEOUT', 180),
  };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
/** The default ARBITER_UPLOAD_STORE_REDIS_MAX (core/config.ts): uploads up to it go to Redis. */
const REDIS_MAX_DEFAULT = 64 * 1024;
const WORKER_COUNTS = [1, 2] as const;

/** How the files reach the workers. */
type Workload = 'upload-local' | 'upload-s3' | 'upload-s3-bucket' | 'fetch';
const WORKLOADS: Workload[] = ['upload-local', 'upload-s3', 'upload-s3-bucket', 'fetch'];

const WORKLOAD_LABELS: Record<Workload, string> = {
  'upload-local': 'async uploads, local spool (ARBITER_UPLOAD_STORE=local)',
  'upload-s3': 'async uploads, object store (s3://…; ≤ 64 KiB in Redis, the default)',
  'upload-s3-bucket': 'async uploads, object store, every upload in the bucket (REDIS_MAX=0)',
  fetch: 'fetch mode (/v2.2/files/fetch)',
};

/** How the reading names each workload, at the start of a sentence. */
const WORKLOAD_SUBJECTS: Record<Workload, string> = {
  'upload-local': 'Async uploads through the local spool',
  'upload-s3': 'Async uploads through the object store (small ones in Redis)',
  'upload-s3-bucket': 'Async uploads through the bucket alone',
  fetch: 'Fetch mode',
};

const STORE_LABELS: Record<Workload, string> = {
  'upload-local': 'local spool (baseline)',
  'upload-s3': 'object store, ≤ 64 KiB in Redis (default)',
  'upload-s3-bucket': 'object store, every upload in the bucket',
  fetch: '',
};

export interface CorpusEntry {
  name: string;
  kind: CorpusKind;
  content: Buffer;
  sha1: string;
}

/** CPU seconds of every role of one run, read at one moment. */
interface CpuReading {
  api: number;
  workers: number;
  redis: number;
  s3rver: number;
  self: number;
  machine: number;
  at: number;
}

/** Cores busy per role over the timed rounds (1.00 = one core fully used). */
export interface RoleCores {
  api: number;
  workers: number;
  redis: number;
  s3rver: number;
  self: number;
  other: number;
  machine: number;
}

export interface ScaleRun {
  workload: Workload;
  workers: number;
  filesPerSecond: number[];
  latencies: number[];
  /** CPU milliseconds per file by role over the timed rounds. */
  cpuMsPerFile: { api: number; workers: number; redis: number; s3rver: number };
  cores: RoleCores;
  redisPerFile: string;
  problems: string[];
}

export async function runScaleOut(settings = scaleOutSettings()): Promise<BenchSection> {
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-scale-'));
  const unregisterWork = onCleanup(() => rm(work, { recursive: true, force: true }));
  const s3rver = await startS3rverProcess();
  try {
    const corpus = await smallCorpus(path.join(work, 'corpus'), settings.maxFileBytes);
    log(
      `scale-out: ${corpus.length} files up to ${fmt.int(settings.maxFileBytes / 1024)} KiB, ` +
        `${fmt.num(sumBytes(corpus) / 1024 ** 2)} MiB`,
    );
    const runs: ScaleRun[] = [];
    for (const workload of WORKLOADS) {
      for (const workers of WORKER_COUNTS) {
        runs.push(await measure({ workload, workers, corpus, settings, s3rver, work }));
      }
    }
    return scaleOutSection(runs, describeCorpus(corpus), settings);
  } finally {
    await s3rver.stop();
    await rm(work, { recursive: true, force: true });
    unregisterWork();
  }
}

/** The corpus's files up to `maxBytes`, in memory, in a seeded order that mixes the kinds. */
async function smallCorpus(dir: string, maxBytes: number): Promise<CorpusEntry[]> {
  const { files } = await buildRealisticCorpus(dir, { percent: 100 });
  const entries: CorpusEntry[] = [];
  for (const file of files.filter((f) => f.size <= maxBytes)) {
    const content = await readFile(file.path);
    const sha1 = createHash('sha1').update(content).digest('hex');
    entries.push({ name: file.name, kind: file.kind, content, sha1 });
  }
  if (entries.length === 0) throw new Error(`no corpus file is ${maxBytes} bytes or smaller`);
  const rng = seededRng(0x5ca1_e007);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return entries;
}

const sumBytes = (entries: readonly { content: Buffer }[]) =>
  entries.reduce((sum, entry) => sum + entry.content.length, 0);

export interface CorpusSummary {
  files: number;
  bytes: number;
  medianBytes: number;
  /** Files at or under the default ARBITER_UPLOAD_STORE_REDIS_MAX. */
  inRedisByDefault: number;
  byKind: Partial<Record<CorpusKind, number>>;
}

export function describeCorpus(
  entries: readonly { kind: CorpusKind; content: Buffer }[],
): CorpusSummary {
  const byKind: Partial<Record<CorpusKind, number>> = {};
  for (const entry of entries) byKind[entry.kind] = (byKind[entry.kind] ?? 0) + 1;
  return {
    files: entries.length,
    bytes: sumBytes(entries),
    medianBytes: percentile(
      entries.map((e) => e.content.length),
      50,
    ),
    inRedisByDefault: entries.filter((e) => e.content.length <= REDIS_MAX_DEFAULT).length,
    byKind,
  };
}

// ---------------------------------------------------------------------------------------------
// The processes under test

interface Role {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** `node --import tsx cli/main.ts <role>` with exactly `env` (plus PATH and HOME). */
function spawnRole(role: 'api' | 'worker', env: Record<string, string>): Role {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', role], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const unregister = onCleanup(() => {
    if (running()) child.kill('SIGKILL');
  });
  return {
    child,
    pid: child.pid ?? -1,
    async stop() {
      if (running()) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await withTimeout(exited, 20_000, `arbiter ${role} to exit`).catch(async () => {
          child.kill('SIGKILL');
          await exited;
        });
      }
      unregister();
    },
  };
}

/** Resolves once `url` answers 200; fails early if the process behind it exits. */
async function answering(url: string, role: Role, what: string): Promise<void> {
  await waitFor(
    async () => {
      if (role.child.exitCode !== null) throw new Error(`${what} exited (${role.child.exitCode})`);
      return fetch(url).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    { timeoutMs: 60_000, intervalMs: 100, what },
  );
}

interface Deployment {
  apiUrl: string;
  auth: string;
  api: Role;
  workers: Role[];
  stop(): Promise<void>;
}

async function deploy(
  workload: Workload,
  workerCount: number,
  redis: TestRedis,
  s3rver: S3rverProcess,
  work: string,
): Promise<Deployment> {
  const folder = (name: string) => mkdtemp(path.join(work, `${name}-`));
  const env: Record<string, string> = {
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_ENGINES: 'builtin',
    ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    // The content server and callback receiver are on loopback, refused unless listed.
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    // One tenant alone may use every scan slot of the fleet (docs/deployment.md).
    ARBITER_SCAN_TENANT_CONCURRENCY: '1000',
    ARBITER_RATE_LIMIT_RPS: '1000000',
    LOG_LEVEL: 'warn',
  };
  if (workload === 'upload-s3' || workload === 'upload-s3-bucket') {
    // A bucket per configuration: nothing one run staged is listed by the next one's sweepers.
    const bucket = `scale-${workload}-${workerCount}`;
    const s3 = new S3Client({
      region: REGION,
      endpoint: s3rver.endpoint,
      forcePathStyle: true,
      credentials: { ...S3RVER_CREDENTIALS },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    Object.assign(env, {
      ARBITER_UPLOAD_STORE: `s3://${bucket}/staging/`,
      AWS_ENDPOINT_URL_S3: s3rver.endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    });
    if (workload === 'upload-s3-bucket') env.ARBITER_UPLOAD_STORE_REDIS_MAX = '0';
  }
  // The local spool must be shared by the api and the workers; with a bucket each process
  // keeps its own, as on separate machines.
  const shared = workload === 'upload-local' || workload === 'fetch' ? await folder('data') : '';
  const dataDir = async () => shared || (await folder('data'));

  const port = await freePort();
  const api = spawnRole('api', { ...env, PORT: String(port), ARBITER_DATA_DIR: await dataDir() });
  const apiUrl = `http://127.0.0.1:${port}`;
  const workers: Role[] = [];
  const stop = async () => {
    await Promise.all([api, ...workers].map((role) => role.stop()));
  };
  try {
    for (let i = 0; i < workerCount; i++) {
      const metricsPort = await freePort();
      const worker = spawnRole('worker', {
        ...env,
        ARBITER_WORKER_METRICS_PORT: String(metricsPort),
        ARBITER_DATA_DIR: await dataDir(),
      });
      workers.push(worker);
      // Its monitor listens once its workers have started (cli/serve.ts).
      await answering(`http://127.0.0.1:${metricsPort}/healthz`, worker, `arbiter worker ${i + 1}`);
    }
    await answering(`${apiUrl}/readyz`, api, 'arbiter api');
    const response = await fetch(`${apiUrl}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' }),
    });
    const tenant = (await response.json()) as { key: string; secret: string };
    const auth = `Basic ${Buffer.from(`${tenant.key}:${tenant.secret}`).toString('base64')}`;
    return { apiUrl, auth, api, workers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Submits one async upload (`POST /v2.2/files/async`) and returns its id; anything but 202 throws. */
function uploadSubmitter(
  url: string,
  auth: string,
): (entry: CorpusEntry, callback: string) => Promise<string> {
  return async (entry, callback) => {
    const form = new FormData();
    form.append('file', new Blob([entry.content]), entry.name);
    form.append('callback', callback);
    const response = await fetch(`${url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: auth },
      body: form,
    });
    const text = await response.text();
    if (response.status !== 202) throw new Error(`upload answered ${response.status}: ${text}`);
    return (JSON.parse(text) as { id: string }).id;
  };
}

// ---------------------------------------------------------------------------------------------
// One measured configuration

async function cpuReading(
  deployment: Deployment,
  redis: TestRedis,
  s3rver: S3rverProcess,
): Promise<CpuReading> {
  const [redisSeconds, s3rverSeconds] = await Promise.all([
    redisCpuSeconds(redis.socket),
    s3rver.cpuSeconds(),
  ]);
  const self = process.cpuUsage();
  return {
    api: treeCpuSeconds(deployment.api.pid),
    workers: deployment.workers.reduce((sum, worker) => sum + treeCpuSeconds(worker.pid), 0),
    redis: redisSeconds,
    s3rver: s3rverSeconds,
    self: (self.user + self.system) / 1e6,
    machine: machineCpuSeconds(),
    at: performance.now(),
  };
}

export function roleCores(before: CpuReading, after: CpuReading): RoleCores {
  const seconds = (after.at - before.at) / 1000;
  const per = (key: Exclude<keyof CpuReading, 'at'>) => (after[key] - before[key]) / seconds;
  const cores = {
    api: per('api'),
    workers: per('workers'),
    redis: per('redis'),
    s3rver: per('s3rver'),
    self: per('self'),
    machine: per('machine'),
  };
  const ours = cores.api + cores.workers + cores.redis + cores.s3rver + cores.self;
  return { ...cores, other: Math.max(0, cores.machine - ours) };
}

interface MeasureInput {
  workload: Workload;
  workers: number;
  corpus: CorpusEntry[];
  settings: ScaleOutSettings;
  s3rver: S3rverProcess;
  work: string;
}

async function measure(input: MeasureInput): Promise<ScaleRun> {
  const { workload, workers, corpus, settings, s3rver, work } = input;
  const label = `scale-out: ${workload}, ${workers} worker process${workers > 1 ? 'es' : ''}`;
  const routes: Record<string, Buffer> = {};
  corpus.forEach((entry, i) => (routes[`/files/${i}`] = entry.content));
  const content = await startHttpServer(routes);
  const receiver = await startCallbackReceiver();
  const redis = await startTestRedis();
  const callbackAt = new Map<string, number>();
  receiver.respondWith = (_attempt, delivery) => {
    if (delivery.path.startsWith('/callback'))
      callbackAt.set(String(delivery.json.id), performance.now());
    return 200;
  };
  const unregister = onCleanup(async () => {
    await redis.kill();
    await content.close();
    await receiver.close();
  });
  log(`${label}: starting`);
  const deployment = await deploy(workload, workers, redis, s3rver, work);
  try {
    const submitOne = submitterFor(workload, deployment, content.url, corpus);
    await warmUp(submitOne, settings, corpus.length, receiver);

    const before = await cpuReading(deployment, redis, s3rver);
    const callsBefore = await redisCommandCalls(redis.socket);
    const indexOf = new Map<string, number>();
    const filesPerSecond: number[] = [];
    const latencies: number[] = [];
    const batch = Array.from({ length: settings.files }, (_v, i) => i % corpus.length);
    for (let round = 1; round <= settings.rounds; round++) {
      const submittedAt = new Map<string, number>();
      const expected = callbackAt.size + batch.length;
      const started = performance.now();
      await mapPool(batch, settings.submitConcurrency, async (index) => {
        const id = await submitOne(index, `${receiver.url}/callback?round=${round}`);
        submittedAt.set(id, performance.now());
        indexOf.set(id, index);
      });
      await waitFor(() => callbackAt.size >= expected, {
        timeoutMs: settings.timeoutSeconds * 1000,
        intervalMs: 10,
        what: `${batch.length} callbacks (${label}, round ${round})`,
      });
      const arrivals = [...submittedAt].map(([id, at]) => ({ at, back: callbackAt.get(id) ?? 0 }));
      const seconds = (Math.max(...arrivals.map((a) => a.back)) - started) / 1000;
      filesPerSecond.push(batch.length / seconds);
      latencies.push(...arrivals.map((a) => a.back - a.at));
      log(`${label}, round ${round}: ${fmt.num(batch.length / seconds)} files/s`);
    }
    const callsAfter = await redisCommandCalls(redis.socket);
    const after = await cpuReading(deployment, redis, s3rver);
    const files = batch.length * settings.rounds;
    const msPerFile = (key: 'api' | 'workers' | 'redis' | 's3rver') =>
      ((after[key] - before[key]) * 1000) / files;
    return {
      workload,
      workers,
      filesPerSecond,
      latencies,
      cpuMsPerFile: {
        api: msPerFile('api'),
        workers: msPerFile('workers'),
        redis: msPerFile('redis'),
        s3rver: msPerFile('s3rver'),
      },
      cores: roleCores(before, after),
      redisPerFile: commandsPer(callsBefore, callsAfter, files),
      problems: checkCallbacks(receiver, indexOf, corpus, files),
    };
  } finally {
    await deployment.stop();
    await redis.stop();
    await content.close();
    await receiver.close();
    unregister();
  }
}

/** Submits corpus file `index` the way `workload` sends files; returns the scan id. */
function submitterFor(
  workload: Workload,
  deployment: Deployment,
  contentUrl: string,
  corpus: CorpusEntry[],
): (index: number, callback: string) => Promise<string> {
  if (workload === 'fetch') {
    const submit = fetchSubmitter(deployment.apiUrl, deployment.auth);
    return (index, callback) => submit(`${contentUrl}/files/${index}`, callback);
  }
  const upload = uploadSubmitter(deployment.apiUrl, deployment.auth);
  return (index, callback) => upload(corpus[index]!, callback);
}

/** An untimed batch first (connections, JIT in every process); its callbacks are not counted. */
async function warmUp(
  submitOne: (index: number, callback: string) => Promise<string>,
  settings: ScaleOutSettings,
  corpusSize: number,
  receiver: CallbackReceiver,
): Promise<void> {
  const warmup = Array.from({ length: settings.warmupFiles }, (_v, i) => i % corpusSize);
  await mapPool(warmup, settings.submitConcurrency, (index) =>
    submitOne(index, `${receiver.url}/other-callback`),
  );
  await receiver.waitForDeliveries(warmup.length, settings.timeoutSeconds * 1000);
}

/** Every timed callback must carry the right result, or the figure means nothing. */
function checkCallbacks(
  receiver: CallbackReceiver,
  indexOf: Map<string, number>,
  corpus: CorpusEntry[],
  files: number,
): string[] {
  const problems: string[] = [];
  const timed = receiver.deliveries.filter((d) => d.path.startsWith('/callback'));
  if (timed.length !== files) problems.push(`${timed.length} callbacks for ${files} files`);
  for (const delivery of timed) {
    const id = String(delivery.json.id);
    const index = indexOf.get(id);
    if (index === undefined) problems.push(`callback for an unknown id ${id}`);
    else if (delivery.json.error)
      problems.push(`${id}: error ${JSON.stringify(delivery.json.error)}`);
    else if (delivery.json.checksum !== corpus[index]?.sha1) problems.push(`${id}: wrong checksum`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The report section (pure: from the measured runs)

const median = (values: number[]) => percentile(values, 50);
const plural = (n: number) => `${n} worker process${n === 1 ? '' : 'es'}`;

function findRun(runs: ScaleRun[], workload: Workload, workers: number): ScaleRun | undefined {
  return runs.find((run) => run.workload === workload && run.workers === workers);
}

const ratio = (value: number, baseline: number) => `×${fmt.num(value / baseline, 2)}`;
/** The same ratio in a table cell, figure first so the column is aligned as figures. */
const ratioCell = (value: number, baseline: number) => `${fmt.num(value / baseline, 2)}×`;

function workersTable(runs: ScaleRun[]): BenchTable {
  const rows = runs.map((run) => {
    const one = findRun(runs, run.workload, 1);
    const isBaseline = run.workers === 1;
    return [
      WORKLOAD_LABELS[run.workload],
      isBaseline ? '1 (baseline)' : `**${run.workers}**`,
      `**${fmt.num(median(run.filesPerSecond))}**`,
      `${fmt.num(Math.min(...run.filesPerSecond))}–${fmt.num(Math.max(...run.filesPerSecond))}`,
      isBaseline || !one ? '—' : ratioCell(median(run.filesPerSecond), median(one.filesPerSecond)),
      fmt.ms(percentile(run.latencies, 50), 0),
      fmt.ms(percentile(run.latencies, 99), 0),
      run.problems.length,
    ];
  });
  return {
    caption: 'Files per second with 1 and 2 `arbiter worker` processes (one `arbiter api`)',
    columns: [
      'Workload',
      'Worker processes',
      'Files/s (median)',
      'Range',
      'vs 1 worker',
      'Latency p50',
      'Latency p99',
      'Bad results',
    ],
    rows,
  };
}

function storeTable(runs: ScaleRun[]): BenchTable {
  const uploads = runs.filter((run) => run.workload !== 'fetch');
  const rows = [...uploads]
    .sort((a, b) => a.workers - b.workers)
    .map((run) => {
      const local = findRun(runs, 'upload-local', run.workers);
      const isBaseline = run.workload === 'upload-local';
      const c = run.cpuMsPerFile;
      return [
        String(run.workers),
        isBaseline ? STORE_LABELS[run.workload] : `**${STORE_LABELS[run.workload]}**`,
        `**${fmt.num(median(run.filesPerSecond))}**`,
        isBaseline || !local
          ? '—'
          : ratioCell(median(run.filesPerSecond), median(local.filesPerSecond)),
        `${fmt.num(c.api, 2)} / ${fmt.num(c.workers, 2)} / ${fmt.num(c.redis, 2)} / ${fmt.num(c.s3rver, 2)}`,
        fmt.num(c.api + c.workers + c.redis + c.s3rver, 2),
        run.redisPerFile.split(' ')[0] ?? '',
      ];
    });
  return {
    caption:
      'Async uploads: the object store beside the local spool, same files, same worker count',
    columns: [
      'Worker processes',
      'Upload store',
      'Files/s (median)',
      'vs local spool',
      'CPU ms per upload: api / workers / redis / s3rver',
      'CPU ms per upload, all',
      'Redis commands per upload',
    ],
    rows,
  };
}

function coresTable(runs: ScaleRun[]): BenchTable {
  return {
    caption: `Where the CPU went during the timed rounds (CPU per file; cores busy, of ${cpus().length})`,
    columns: [
      'Workload',
      'Worker processes',
      'CPU ms per file: api / workers',
      'api',
      'workers (all)',
      'redis-server',
      's3rver',
      'benchmark',
      'other',
      'machine',
    ],
    rows: runs.map((run) => [
      WORKLOAD_LABELS[run.workload],
      String(run.workers),
      `${fmt.num(run.cpuMsPerFile.api, 2)} / ${fmt.num(run.cpuMsPerFile.workers, 2)}`,
      fmt.cores(run.cores.api),
      fmt.cores(run.cores.workers),
      fmt.cores(run.cores.redis),
      fmt.cores(run.cores.s3rver),
      fmt.cores(run.cores.self),
      fmt.cores(run.cores.other),
      fmt.cores(run.cores.machine),
    ]),
  };
}

/** What 1 → 2 worker processes did for one workload, and what limited the single worker. */
function workersReading(runs: ScaleRun[], workload: Workload, cores: number): string | undefined {
  const one = findRun(runs, workload, 1);
  const two = findRun(runs, workload, 2);
  if (!one || !two) return undefined;
  const [a, b] = [median(one.filesPerSecond), median(two.filesPerSecond)];
  const limit =
    one.cores.workers >= 0.85
      ? `the single worker process was busy ${fmt.cores(one.cores.workers)} cores, about all one event loop uses`
      : one.cores.machine >= 0.9 * cores
        ? `the machine was already busy (${fmt.cores(one.cores.machine)} of ${cores} cores) with one worker process`
        : `neither the single worker process (${fmt.cores(one.cores.workers)} cores) nor the machine (${fmt.cores(one.cores.machine)} of ${cores}) was saturated with one worker process`;
  return (
    `${WORKLOAD_SUBJECTS[workload]}: ${fmt.num(b)} files/s with 2 worker processes against ` +
    `${fmt.num(a)} with 1 (${ratio(b, a)}); ${limit}, and with two the machine was busy ` +
    `${fmt.cores(two.cores.machine)} of ${cores} cores.`
  );
}

const lowerFirst = (text: string) => `${text.charAt(0).toLowerCase()}${text.slice(1)}`;

/** The api's CPU per file against the workers', with one worker process: how to split cores. */
function rolesReading(runs: ScaleRun[]): string | undefined {
  const single = runs.filter((run) => run.workers === 1 && run.cpuMsPerFile.workers > 0);
  if (single.length === 0) return undefined;
  const shares = single.map((run) => run.cpuMsPerFile.api / run.cpuMsPerFile.workers);
  const describe = (run: ScaleRun) =>
    `${lowerFirst(WORKLOAD_SUBJECTS[run.workload])} ${fmt.num(run.cpuMsPerFile.api, 2)} ms ` +
    `against ${fmt.num(run.cpuMsPerFile.workers, 2)}`;
  return (
    `Per file, the api spent a fraction of the workers' CPU (with one worker process: ` +
    `${single.map(describe).join('; ')}), between ${fmt.num(Math.min(...shares), 2)} and ` +
    `${fmt.num(Math.max(...shares), 2)} of it: for these files, one api core accepts what ` +
    `${fmt.num(1 / Math.max(...shares), 1)} to ${fmt.num(1 / Math.min(...shares), 1)} worker cores scan.`
  );
}

function storeReading(runs: ScaleRun[], workers: number): string | undefined {
  const local = findRun(runs, 'upload-local', workers);
  const s3 = findRun(runs, 'upload-s3', workers);
  const bucket = findRun(runs, 'upload-s3-bucket', workers);
  if (!local || !s3 || !bucket) return undefined;
  const total = (run: ScaleRun) =>
    run.cpuMsPerFile.api +
    run.cpuMsPerFile.workers +
    run.cpuMsPerFile.redis +
    run.cpuMsPerFile.s3rver;
  const rate = (run: ScaleRun) => median(run.filesPerSecond);
  return (
    `With ${plural(workers)}, the object store did ${fmt.num(rate(s3))} uploads/s with small ` +
    `uploads in Redis (${ratio(rate(s3), rate(local))} the local spool's ${fmt.num(rate(local))}) and ` +
    `${fmt.num(rate(bucket))} with every upload in the bucket (${ratio(rate(bucket), rate(local))}); ` +
    `all processes together spent ${fmt.num(total(local), 2)} ms of CPU per upload with the spool, ` +
    `${fmt.num(total(s3), 2)} ms with the default object store and ${fmt.num(total(bucket), 2)} ms with ` +
    `the bucket alone (s3rver's share: ${fmt.num(s3.cpuMsPerFile.s3rver, 2)} and ` +
    `${fmt.num(bucket.cpuMsPerFile.s3rver, 2)} ms).`
  );
}

export function scaleOutSection(
  runs: ScaleRun[],
  corpus: CorpusSummary,
  settings: ScaleOutSettings,
  cores = cpus().length,
): BenchSection {
  const kinds = Object.entries(corpus.byKind)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
  const reading = [
    ...WORKLOADS.map((workload) => workersReading(runs, workload, cores)),
    rolesReading(runs),
    ...WORKER_COUNTS.map((workers) => storeReading(runs, workers)),
    `What ${cores} cores can show: the api, the worker processes, redis-server, s3rver, the ` +
      'load generator, the content server and the callback receiver all share them, so a second ' +
      'worker process can only use the CPU the others leave. It shows whether one worker ' +
      "process's event loop was the limit and what a second process costs (Redis commands, " +
      'contention); it cannot show how throughput grows with worker machines, which needs ' +
      'cores the rest of the system is not using. On separate machines, expect each worker ' +
      'process to add about what the single worker process did here when it had a core of its own.',
  ].filter((line): line is string => line !== undefined);
  return {
    title: 'Scale-out: `arbiter api` and 1 or 2 `arbiter worker` processes; spool or object store',
    measured:
      `Files per second end to end (submit → scan → result stored → callback) with \`arbiter api\` ` +
      'and `arbiter worker` as separate processes on one redis-server, as docs/deployment.md deploys ' +
      `them across machines: ${fmt.int(settings.files)} files per round sent as async uploads ` +
      '(`POST /v2.2/files/async`) or in fetch mode (`POST /v2.2/files/fetch`, from a loopback HTTP ' +
      'server), with 1 and 2 worker processes; async uploads through the local spool (shared by ' +
      'the api and the workers), through an object store (s3rver in its own process; separate ' +
      'data folders, as on separate machines) with uploads up to 64 KiB in Redis (the default ' +
      'ARBITER_UPLOAD_STORE_REDIS_MAX), and through the bucket alone (ARBITER_UPLOAD_STORE_REDIS_MAX=0). ' +
      `The files: the ${fmt.int(corpus.files)} files of bench/realistic-corpus.ts up to ` +
      `${fmt.int(settings.maxFileBytes / 1024)} KiB (${kinds}; median ${fmt.num(corpus.medianBytes / 1024)} KiB, ` +
      `${fmt.num(corpus.bytes / 1024 ** 2)} MiB in all; ${corpus.inRedisByDefault} of them ≤ 64 KiB), in a ` +
      'seeded order, the batch cycling through them.',
    baseline:
      'From the same run, same files and load: for 2 worker processes, the same workload with 1 ' +
      'worker process; for the object store, the local spool with the same number of worker processes.',
    tables: [workersTable(runs), storeTable(runs), coresTable(runs)],
    reading,
    notes: [
      `${settings.rounds} rounds per configuration (BENCH_SCALE_ROUNDS; median and range), ` +
        `${fmt.int(settings.files)} files per round (BENCH_SCALE_FILES), ${settings.submitConcurrency} ` +
        `submits in flight (BENCH_SCALE_SUBMIT_CONCURRENCY), an untimed warm-up of ` +
        `${fmt.int(settings.warmupFiles)} files (BENCH_SCALE_WARMUP_FILES); files up to ` +
        'BENCH_SCALE_MAX_FILE_BYTES. Latency: from a file’s submit answer to its callback.',
      'Each configuration: a fresh redis-server (unix socket, no persistence), `node --import tsx ' +
        'cli/main.ts api` and `… worker` processes with `LOG_LEVEL=warn`, the built-in engine alone ' +
        '(ARBITER_ENGINES=builtin, empty signature folder), the default ARBITER_SCAN_CONCURRENCY (4) per ' +
        'worker process, one tenant allowed every slot (ARBITER_SCAN_TENANT_CONCURRENCY=1000) and no ' +
        'rate limit. One s3rver process serves every object-store run (a bucket per run).',
      'CPU per upload and cores busy: CPU time of each process from /proc (api, workers), ' +
        "`INFO cpu` (redis-server) and s3rver's own process.cpuUsage(), over the timed rounds; " +
        'Redis commands per upload from `INFO commandstats`. "other": processes outside the benchmark ' +
        '(the machine is not reserved for it) and the kernel. s3rver stands for the object store: a ' +
        "real one's CPU is not on this machine, but its round trips are longer than loopback's.",
      'Every callback is checked: the SHA-1 of the file sent, no error. "Bad results" counts the ' +
        'callbacks that were missing, wrong or failed.',
    ],
  };
}

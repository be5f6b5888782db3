import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config.js';
import { RedisKeys } from '../core/keys.js';
import { createRedis } from '../core/redis.js';
import { TenantStore } from '../core/tenants.js';
import { overlappingZip } from '../test/support/archives.js';
import { startHttpServer, type TestHttpServer } from '../test/support/http-servers.js';
import { pacedLoad, tally } from '../test/support/load.js';
import { startTestRedis, type TestRedis } from '../test/support/redis-server.js';
import { waitFor } from '../test/support/wait.js';
import type { BenchSection, BenchTable } from './report.js';
import {
  coresBusy,
  cpuSnapshot,
  envInt,
  fmt,
  formatCores,
  log,
  onCleanup,
  percentile,
  startTarget,
  type CoresBusy,
  type TargetProcess,
} from './support.js';

/**
 * Benchmark 8: one tenant's hostile traffic against another tenant's latency. A neighbour tenant
 * scans small files one at a time (async upload, then polling until the result is readable),
 * first alone and then while an attacker tenant sends a bounded mix of hostile requests (locations
 * that trickle a byte every 200 ms, overlapping-zip bombs, uploads deleted at once, fetches
 * deleted mid-download, oversized uploads, unauthenticated chunked bodies trickled after their
 * 401, malformed requests). Run twice in the same run, each on a fresh Arbiter (api + workers in
 * one child process) and redis-server: with the hardened defaults, and without the per-tenant scan
 * bound and the minimum download rate (the baseline: what the bounds buy). After each attack:
 * what is left in the spool and in Redis, and how the attacker's requests and scans ended.
 */

export interface HostileNeighbourSettings {
  /** Neighbour scans timed with the attacker idle. */
  quietSamples: number;
  /** Hostile requests per configuration (a multiple of the eight kinds, rounded down). */
  attackRequests: number;
  /** Cap on the neighbour scans timed under attack (the loop otherwise ends with the attack). */
  maxAttackSamples: number;
  /** Size of each neighbour file. */
  fileBytes: number;
  /** How often the neighbour polls for its result. */
  pollMs: number;
  /** ARBITER_FETCH_RATE_WINDOW_MS for both configurations (shortened so the run stays short). */
  rateWindowMs: number;
  /** ARBITER_FETCH_TIMEOUT_MS for both configurations (shortened likewise). */
  fetchTimeoutMs: number;
  /** Longest wait for one phase (an attack and its scans, the spool emptying). */
  timeoutSeconds: number;
}

export function hostileNeighbourSettings(): HostileNeighbourSettings {
  return {
    quietSamples: envInt('BENCH_HN_QUIET_SAMPLES', 50),
    attackRequests: envInt('BENCH_HN_ATTACK_REQUESTS', 96),
    maxAttackSamples: envInt('BENCH_HN_MAX_SAMPLES', 600),
    fileBytes: envInt('BENCH_HN_FILE_BYTES', 8 * 1024),
    pollMs: envInt('BENCH_HN_POLL_MS', 10),
    rateWindowMs: envInt('BENCH_HN_RATE_WINDOW_MS', 2000),
    fetchTimeoutMs: envInt('BENCH_HN_FETCH_TIMEOUT_MS', 10_000),
    timeoutSeconds: envInt('BENCH_HN_TIMEOUT', 90),
  };
}

// Short, so that what the sweeper removes is gone within seconds of the attack's end.
const SPOOL_SWEEP_INTERVAL_MS = 1000;
const SPOOL_GRACE_MS = 3000;
// Small, so that oversized uploads are refused after 1 MB rather than 200 MB.
const MAX_FILE_SIZE = '1MB';
const OVERSIZED_BYTES = 2 * 1024 * 1024;
const ATTACK_PACE = { perTick: 4, tickMs: 150, maxInFlight: 24 };
const TRICKLE_EVERY_MS = 200;

const KINDS = [
  'slow fetch',
  'overlapping zip',
  'upload deleted at once',
  'oversized upload',
  'control character in a metadata key',
  'unauthenticated chunked body trickled',
  'fetch deleted mid-download',
  'hex token timeout',
] as const;
type Kind = (typeof KINDS)[number];

interface Configuration {
  label: string;
  short: string;
  env: Record<string, string>;
  baseline: boolean;
}

interface Phase {
  latencies: number[];
  cores: CoresBusy;
  seconds: number;
}

interface SpoolState {
  files: number;
  bytes: number;
}

interface RedisState {
  dbsize: number;
  usedMemory: number;
  /** Keys and MEMORY USAGE bytes per class of key. */
  classes: Record<KeyClass, { keys: number; bytes: number }>;
  /** Names of the "other" keys with ids and days replaced, to say which ones were added. */
  otherNames: string[];
}

const KEY_CLASSES = ['results and traces', 'BullMQ', 'rate-limit and quota', 'other'] as const;
type KeyClass = (typeof KEY_CLASSES)[number];

interface ConfigurationResult {
  config: Configuration;
  quiet: Phase;
  attack: Phase;
  /** From the first hostile request until its last scan had ended. */
  attackSeconds: number;
  answers: Record<Kind, Record<string, number>>;
  failedRequests: string[];
  outcomes: Record<string, number>;
  accepted: number;
  /** The most files and bytes the spool held at once during the attack (sampled). */
  spoolPeak: SpoolState;
  spoolAtEnd: SpoolState;
  spoolAfterSweep: SpoolState;
  redisBefore: RedisState;
  redisAfter: RedisState;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runHostileNeighbour(
  settings = hostileNeighbourSettings(),
): Promise<BenchSection> {
  const defaults = loadConfig({ ARBITER_DATA_DIR: tmpdir(), LOG_LEVEL: 'silent' });
  const locations = await startHttpServer({
    '/slow': trickle,
    '/small': randomBytes(4096),
  });
  const unregister = onCleanup(() => locations.close());
  const shortened = {
    ARBITER_FETCH_RATE_WINDOW_MS: String(settings.rateWindowMs),
    ARBITER_FETCH_TIMEOUT_MS: String(settings.fetchTimeoutMs),
  };
  const configurations: Configuration[] = [
    {
      label:
        `hardened defaults (ARBITER_SCAN_TENANT_CONCURRENCY ${defaults.scanTenantConcurrency} of ` +
        `${defaults.scanConcurrency} slots, ARBITER_FETCH_MIN_RATE ${fmt.int(defaults.fetchMinRate.bytesPerSecond)} B/s)`,
      short: 'hardened defaults',
      env: shortened,
      baseline: false,
    },
    {
      label:
        `without the bounds (ARBITER_SCAN_TENANT_CONCURRENCY=${defaults.scanConcurrency}, ` +
        'ARBITER_FETCH_MIN_RATE=0; baseline)',
      short: 'without the bounds',
      env: {
        ...shortened,
        ARBITER_SCAN_TENANT_CONCURRENCY: String(defaults.scanConcurrency),
        ARBITER_FETCH_MIN_RATE: '0',
      },
      baseline: true,
    },
  ];
  try {
    const results: ConfigurationResult[] = [];
    for (const config of configurations)
      results.push(await runConfiguration(config, locations, settings));
    return section(results, settings, defaults);
  } finally {
    await locations.close();
    unregister();
  }
}

/** A location that sends one byte every 200 ms for as long as the client stays. */
function trickle(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const timer = setInterval(() => res.write('x'), TRICKLE_EVERY_MS);
  res.on('close', () => clearInterval(timer));
}

interface Client {
  url: string;
  auth: string;
}

function request(client: Client, requestPath: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${client.url}/v2.2${requestPath}`, {
    ...init,
    headers: { authorization: client.auth, ...(init.headers ?? {}) },
  });
}

function fileForm(content: Buffer, fields: Record<string, string> = {}, name = 'sample.bin') {
  const form = new FormData();
  form.append('file', new Blob([content]), name);
  for (const [field, value] of Object.entries(fields)) form.append(field, value);
  return form;
}

/** The neighbour's latency: an async upload, from submit until its (clean) result can be read. */
async function timedScan(client: Client, settings: HostileNeighbourSettings): Promise<number> {
  const started = performance.now();
  const submitted = await request(client, '/files/async', {
    method: 'POST',
    body: fileForm(randomBytes(settings.fileBytes)),
  });
  const text = await submitted.text();
  if (submitted.status !== 202) throw new Error(`neighbour upload answered ${submitted.status}`);
  const { id } = JSON.parse(text) as { id: string };
  const deadline = started + settings.timeoutSeconds * 1000;
  while (performance.now() < deadline) {
    const response = await request(client, `/files/${id}`);
    if (response.status === 200) {
      const result = (await response.json()) as { findings?: string[]; error?: string };
      if (result.error || (result.findings ?? []).length > 0)
        throw new Error(`neighbour scan ${id} ended with ${JSON.stringify(result)}`);
      return performance.now() - started;
    }
    await response.arrayBuffer();
    await sleep(settings.pollMs);
  }
  throw new Error(`neighbour scan ${id} had no result after ${settings.timeoutSeconds} s`);
}

/** No scan job waiting, running or turned away for a slot (those wait in the delayed set). */
async function scansIdle(target: TargetProcess): Promise<boolean> {
  const counts = (await target.stats()).scanJobs ?? {};
  return ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused'].every(
    (state) => (counts[state] ?? 0) === 0,
  );
}

async function runConfiguration(
  config: Configuration,
  locations: TestHttpServer,
  settings: HostileNeighbourSettings,
): Promise<ConfigurationResult> {
  const redis = await startTestRedis();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-hostile-'));
  const spoolDir = path.join(dataDir, 'spool');
  const unregister = onCleanup(async () => {
    await redis.kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  const env: Record<string, string> = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    ARBITER_MAX_FILE_SIZE: MAX_FILE_SIZE,
    ARBITER_SPOOL_SWEEP_INTERVAL_MS: String(SPOOL_SWEEP_INTERVAL_MS),
    ARBITER_SPOOL_GRACE_MS: String(SPOOL_GRACE_MS),
    ...config.env,
  };
  log(`hostile-neighbour: ${config.short}: starting`);
  const target = await startTarget({ mode: 'full', env });
  try {
    const neighbour: Client = { url: target.ready.url, auth: target.ready.auth };
    const attacker: Client = { url: target.ready.url, auth: await createTenant(redis, 'attacker') };

    // Warm-up (untimed): both tenants have uploaded and fetched once, and JIT is warm.
    for (const client of [attacker, neighbour]) {
      await timedScan(client, settings);
      const fetched = await request(client, '/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({ location: `${locations.url}/small` }),
      });
      if (fetched.status !== 202) throw new Error(`warm-up fetch answered ${fetched.status}`);
    }
    for (let i = 0; i < 10; i++) await timedScan(neighbour, settings);
    await waitFor(() => scansIdle(target), {
      timeoutMs: settings.timeoutSeconds * 1000,
      what: 'the warm-up scans',
    });
    const redisBefore = await redisState(redis);

    const quiet = await timedPhase(target, redis, async () => {
      const latencies: number[] = [];
      for (let i = 0; i < settings.quietSamples; i++)
        latencies.push(await timedScan(neighbour, settings));
      return latencies;
    });
    log(
      `hostile-neighbour: ${config.short}: quiet p50 ${fmt.ms(percentile(quiet.latencies, 50))}, ` +
        `p99 ${fmt.ms(percentile(quiet.latencies, 99))}`,
    );

    const attackerIds: string[] = [];
    const bomb = overlappingZip(1000, 1024 ** 2);
    const count = Math.max(KINDS.length, settings.attackRequests - (settings.attackRequests % 8));
    let attackDone = false;
    let answered: Awaited<ReturnType<typeof pacedLoad<string>>> = [];
    const attackStarted = performance.now();
    let attackEnded = attackStarted;
    const spoolWatch = watchSpool(spoolDir);
    const attack = await timedPhase(target, redis, async () => {
      const load = pacedLoad({ count, ...ATTACK_PACE }, (i) =>
        hostileRequest(i % KINDS.length, attacker, locations, bomb, attackerIds),
      ).finally(() => (attackDone = true));
      // The neighbour scans one file at a time until every hostile request is answered and every
      // scan it queued has ended (between two of its own scans the neighbour has nothing queued).
      const latencies: number[] = [];
      const deadline = attackStarted + settings.timeoutSeconds * 1000;
      while (latencies.length < settings.maxAttackSamples && performance.now() < deadline) {
        if (attackDone && (await scansIdle(target))) break;
        latencies.push(await timedScan(neighbour, settings));
      }
      answered = await load;
      await waitFor(() => scansIdle(target), {
        timeoutMs: settings.timeoutSeconds * 1000,
        what: "the attacker's scans to end",
      });
      attackEnded = performance.now();
      return latencies;
    }).finally(() => spoolWatch.stop());
    const attackSeconds = (attackEnded - attackStarted) / 1000;
    log(
      `hostile-neighbour: ${config.short}: under attack p50 ${fmt.ms(percentile(attack.latencies, 50))}, ` +
        `p99 ${fmt.ms(percentile(attack.latencies, 99))} (${attack.latencies.length} samples, ` +
        `attack over after ${fmt.num(attackSeconds)} s)`,
    );

    const answers = Object.fromEntries(KINDS.map((kind) => [kind, {}])) as Record<
      Kind,
      Record<string, number>
    >;
    const failedRequests: string[] = [];
    answered.forEach((settled, i) => {
      const kind = KINDS[i % KINDS.length] as Kind;
      if (settled.ok) answers[kind][settled.value] = (answers[kind][settled.value] ?? 0) + 1;
      else failedRequests.push(`${kind}: ${String(settled.error)}`);
    });
    const outcomes = tally(await Promise.all(attackerIds.map((id) => outcomeOf(attacker, id))));

    // What the attack left: the spool at once, then after the sweeper's grace and interval.
    const spoolAtEnd = await spoolState(spoolDir);
    // A file nobody writes to is the sweeper's after its grace, at its next pass: wait both out.
    await sleep(SPOOL_GRACE_MS + 2 * SPOOL_SWEEP_INTERVAL_MS);
    const spoolAfterSweep = await spoolState(spoolDir);
    const redisAfter = await redisState(redis);

    return {
      config,
      quiet,
      attack,
      attackSeconds,
      answers,
      failedRequests,
      outcomes,
      accepted: attackerIds.length,
      spoolPeak: spoolWatch.peak,
      spoolAtEnd,
      spoolAfterSweep,
      redisBefore,
      redisAfter,
    };
  } finally {
    await target.stop();
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
    unregister();
  }
}

/** A second tenant, created in Redis beside the one the target process made for itself. */
async function createTenant(redis: TestRedis, name: string): Promise<string> {
  const client = createRedis(redis.url, 'command', () => undefined);
  try {
    const { credentials } = await new TenantStore(client, new RedisKeys('arbiter')).createTenant(
      name,
    );
    return `Basic ${Buffer.from(`${credentials.key}:${credentials.secret}`).toString('base64')}`;
  } finally {
    client.disconnect();
  }
}

async function timedPhase(
  target: TargetProcess,
  redis: TestRedis,
  work: () => Promise<number[]>,
): Promise<Phase> {
  const before = await cpuSnapshot(target, redis.socket);
  const latencies = await work();
  const after = await cpuSnapshot(target, redis.socket);
  return { latencies, cores: coresBusy(before, after), seconds: (after.at - before.at) / 1000 };
}

/** How one accepted hostile scan ended, as its tenant reads it. */
async function outcomeOf(attacker: Client, id: string): Promise<string> {
  const response = await request(attacker, `/files/${id}`);
  if (response.status === 404) {
    await response.arrayBuffer();
    return 'deleted (404)';
  }
  const result = (await response.json()) as { findings?: string[]; error?: string };
  if (result.error) {
    if (/too slow/.test(result.error)) return 'error: below the minimum rate';
    if (/took longer/.test(result.error)) return 'error: download deadline';
    return `error: ${result.error.slice(0, 60)}`;
  }
  const findings = result.findings ?? [];
  return findings.length > 0 ? `finding ${findings.join(', ')}` : 'clean';
}

/** One hostile request of kind `kind`; says what the service answered. */
async function hostileRequest(
  kind: number,
  attacker: Client,
  locations: TestHttpServer,
  bomb: Buffer,
  ids: string[],
): Promise<string> {
  const idOf = async (response: Response) => {
    const text = await response.text();
    if (response.status !== 202) return undefined;
    const { id } = JSON.parse(text) as { id: string };
    ids.push(id);
    return id;
  };
  const deleteAtOnce = async (response: Response) => {
    const id = await idOf(response);
    if (!id) return `${response.status}`;
    const deleted = await request(attacker, `/files/${id}`, { method: 'DELETE' });
    await deleted.arrayBuffer();
    return `${response.status} then DELETE ${deleted.status}`;
  };
  const slowFetch = () =>
    request(attacker, '/files/fetch', {
      method: 'POST',
      body: new URLSearchParams({ location: `${locations.url}/slow` }),
    });
  switch (KINDS[kind]) {
    case 'slow fetch': {
      const response = await slowFetch();
      await idOf(response);
      return `${response.status}`;
    }
    case 'overlapping zip': {
      const response = await request(attacker, '/files/async', {
        method: 'POST',
        body: fileForm(bomb, {}, 'bomb.zip'),
      });
      await idOf(response);
      return `${response.status}`;
    }
    case 'upload deleted at once':
      return deleteAtOnce(
        await request(attacker, '/files/async', {
          method: 'POST',
          body: fileForm(randomBytes(256 * 1024)),
        }),
      );
    case 'oversized upload': {
      const response = await request(attacker, '/files/async', {
        method: 'POST',
        body: fileForm(randomBytes(OVERSIZED_BYTES)),
      });
      await response.arrayBuffer();
      return `${response.status}`;
    }
    case 'control character in a metadata key': {
      const response = await request(attacker, '/files', {
        method: 'POST',
        body: fileForm(randomBytes(1024), { 'metadata[\u0085key]': 'x' }),
      });
      await response.arrayBuffer();
      return `${response.status}`;
    }
    case 'unauthenticated chunked body trickled':
      return trickleUnauthenticated(attacker.url);
    case 'fetch deleted mid-download':
      return deleteAtOnce(await slowFetch());
    default: {
      const response = await request(attacker, '/auth/tokens', {
        method: 'POST',
        body: new URLSearchParams({ timeout: '0x10' }),
      });
      await response.arrayBuffer();
      return `${response.status}`;
    }
  }
}

/**
 * Sends the headers of a chunked upload without credentials, then a chunk every 100 ms. Says
 * which status the server answered and whether it closed the connection within 20 s (it should
 * not wait for a body it has already refused).
 */
function trickleUnauthenticated(url: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    let kept = false;
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write('1\r\na\r\n');
    }, 100);
    const giveUp = setTimeout(() => {
      kept = true;
      socket.destroy();
    }, 20_000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'no answer';
      resolve(`${status}, ${kept ? 'connection kept open 20 s' : 'connection closed'}`);
    });
    socket.write(
      'POST /v2.2/files HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n' +
        'Content-Type: multipart/form-data; boundary=x\r\n\r\n',
    );
  });
}

async function spoolState(dir: string): Promise<SpoolState> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const info = await stat(path.join(entry.parentPath, entry.name)).catch(() => undefined);
    if (!info) continue;
    files += 1;
    bytes += info.size;
  }
  return { files, bytes };
}

/** Samples the spool every 200 ms until stopped, keeping the most files and bytes seen. */
function watchSpool(dir: string): { peak: SpoolState; stop(): void } {
  const peak: SpoolState = { files: 0, bytes: 0 };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void spoolState(dir)
      .then((now) => {
        peak.files = Math.max(peak.files, now.files);
        peak.bytes = Math.max(peak.bytes, now.bytes);
      })
      .finally(() => (busy = false));
  }, 200);
  return { peak, stop: () => clearInterval(timer) };
}

function keyClass(key: string): KeyClass {
  if (/^arbiter:(scan|trace):/.test(key)) return 'results and traces';
  if (key.startsWith('arbiter:q:')) return 'BullMQ';
  if (/^arbiter:(ratelimit|ratelimit-burst|quota):/.test(key)) return 'rate-limit and quota';
  return 'other';
}

/** DBSIZE, used_memory, and every key's class and MEMORY USAGE (a private Redis: KEYS is fine). */
async function redisState(redis: TestRedis): Promise<RedisState> {
  const client = new Redis({ path: redis.socket, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    const dbsize = await client.dbsize();
    const info = await client.info('memory');
    const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
    const keys = await client.keys('*');
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.call('memory', 'usage', key);
    const usages = (await pipeline.exec()) ?? [];
    const classes = Object.fromEntries(
      KEY_CLASSES.map((c) => [c, { keys: 0, bytes: 0 }]),
    ) as RedisState['classes'];
    const otherNames: string[] = [];
    keys.forEach((key, i) => {
      const c = keyClass(key);
      classes[c].keys += 1;
      classes[c].bytes += Number(usages[i]?.[1] ?? 0);
      if (c === 'other')
        otherNames.push(
          key.replace(/[0-9a-f]{32}/g, '{id}').replace(/\d{4}-\d{2}-\d{2}/g, '{day}'),
        );
    });
    return { dbsize, usedMemory, classes, otherNames: otherNames.sort() };
  } finally {
    client.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------

const kib = (bytes: number) => `${fmt.num(bytes / 1024, 1)} KiB`;
/** KiB below a MiB, MiB above. */
const size = (bytes: number) =>
  bytes < 1024 ** 2 ? kib(bytes) : `${fmt.num(bytes / 1024 ** 2, 2)} MiB`;
/** Neighbour scans that took a second or more: the ones that waited for a scan slot. */
const slow = (latencies: number[]) => latencies.filter((ms) => ms >= 1000).length;
const p = (values: number[], q: number) => percentile(values, q);

/** Keys of `after` not in `before` (as multisets), e.g. a per-tenant key the attack added. */
function addedNames(before: string[], after: string[]): string[] {
  const left = [...before];
  const added: string[] = [];
  for (const name of after) {
    const i = left.indexOf(name);
    if (i >= 0) left.splice(i, 1);
    else added.push(name);
  }
  return added;
}

function section(
  results: ConfigurationResult[],
  settings: HostileNeighbourSettings,
  bounds: { scanConcurrency: number; scanTenantConcurrency: number },
): BenchSection {
  const { scanConcurrency } = bounds;
  const hardened = results.find((r) => !r.config.baseline);
  const baseline = results.find((r) => r.config.baseline);

  const latencyRows = results.flatMap((r) =>
    (
      [
        ['quiet (the neighbour alone)', r.quiet],
        ['under attack', r.attack],
      ] as const
    ).map(([phase, data]) => {
      return [
        r.config.baseline ? r.config.label : `**${r.config.label}**`,
        phase,
        data.latencies.length,
        fmt.ms(p(data.latencies, 50)),
        fmt.ms(p(data.latencies, 90)),
        phase === 'under attack'
          ? `**${fmt.ms(p(data.latencies, 99))}**`
          : fmt.ms(p(data.latencies, 99)),
        fmt.ms(Math.max(...data.latencies)),
        slow(data.latencies),
        phase === 'under attack'
          ? `${fmt.num(p(data.latencies, 99) / p(r.quiet.latencies, 99), 1)}×`
          : '—',
        formatCores(data.cores),
      ];
    }),
  );

  const leftRows = results.map((r) => {
    const other = (s: RedisState) => s.classes.other;
    return [
      r.config.short,
      `${fmt.num(r.attackSeconds)} s`,
      `${r.spoolPeak.files} / ${size(r.spoolPeak.bytes)}`,
      `${r.spoolAtEnd.files} / ${size(r.spoolAtEnd.bytes)}`,
      `${r.spoolAfterSweep.files} / ${size(r.spoolAfterSweep.bytes)}`,
      `${fmt.int(r.redisBefore.dbsize)} → ${fmt.int(r.redisAfter.dbsize)}`,
      `${size(r.redisBefore.usedMemory)} → ${size(r.redisAfter.usedMemory)}`,
      `${fmt.int(other(r.redisBefore).keys)} → ${fmt.int(other(r.redisAfter).keys)} ` +
        `(${kib(other(r.redisBefore).bytes)} → ${kib(other(r.redisAfter).bytes)})`,
    ];
  });

  const classRows = results.flatMap((r) =>
    KEY_CLASSES.map((c) => [
      r.config.short,
      c,
      `${fmt.int(r.redisBefore.classes[c].keys)} → ${fmt.int(r.redisAfter.classes[c].keys)}`,
      `${size(r.redisBefore.classes[c].bytes)} → ${size(r.redisAfter.classes[c].bytes)}`,
    ]),
  );

  const answerRows = KINDS.map((kind) => [
    kind,
    ...results.map((r) =>
      Object.entries(r.answers[kind])
        .map(([answer, n]) => `${answer} ×${n}`)
        .join('; '),
    ),
  ]);
  const outcomeNames = [...new Set(results.flatMap((r) => Object.keys(r.outcomes)))].sort();
  const outcomeRows = [
    ...outcomeNames.map((name) => [name, ...results.map((r) => r.outcomes[name] ?? 0)]),
    ['accepted in all', ...results.map((r) => r.accepted)],
  ];

  const reading: string[] = [];
  if (hardened && baseline) {
    const q = (r: ConfigurationResult, pct: number) => p(r.quiet.latencies, pct);
    const a = (r: ConfigurationResult, pct: number) => p(r.attack.latencies, pct);
    const waitedSeconds = (r: ConfigurationResult) =>
      r.attack.latencies.filter((ms) => ms >= 1000).reduce((sum, ms) => sum + ms, 0) / 1000;
    const waited = (r: ConfigurationResult) => {
      const long = r.attack.latencies.filter((ms) => ms >= 1000);
      return (
        `${long.length} of its ${r.attack.latencies.length} scans took a second or more ` +
        `(the longest ${fmt.ms(Math.max(...r.attack.latencies))}` +
        (long.length > 0
          ? `; together ${fmt.num(waitedSeconds(r))} s of the ${fmt.num(r.attack.seconds)} s it scanned under attack`
          : '') +
        ')'
      );
    };
    const ended = (r: ConfigurationResult, outcome: string) => r.outcomes[outcome] ?? 0;
    reading.push(
      `With the hardened defaults the neighbour's scans took ${fmt.ms(a(hardened, 50))} at the median and ` +
        `${fmt.ms(a(hardened, 99))} at p99 under attack, against ${fmt.ms(q(hardened, 50))} and ${fmt.ms(q(hardened, 99))} ` +
        `alone (p99 ${fmt.num(a(hardened, 99) / q(hardened, 99), 1)}× its quiet figure); ${waited(hardened)}. ` +
        `The attacker's scans may hold ${bounds.scanTenantConcurrency} of the ${scanConcurrency} scan slots, so one ` +
        `stays free for the neighbour, and its trickling locations ended after one rate window ` +
        `(${ended(hardened, 'error: below the minimum rate')} below the minimum rate). What the attack still costs ` +
        `the neighbour is CPU, shared with it on this 2-core machine (cores busy under attack: ` +
        `${formatCores(hardened.attack.cores)}, against ${formatCores(hardened.quiet.cores)} alone).`,
      `Without the bounds the same attack took the neighbour to ${fmt.ms(a(baseline, 50))} at the median and ` +
        `${fmt.ms(a(baseline, 99))} at p99 (${fmt.num(a(baseline, 99) / q(baseline, 99), 1)}× its quiet ${fmt.ms(q(baseline, 99))}); ` +
        `${waited(baseline)}. With every slot open to the attacker, its trickling downloads (` +
        `${ended(baseline, 'error: download deadline')} ended by the ${fmt.num(settings.fetchTimeoutMs / 1000, 0)} s ` +
        `download deadline) held all ${scanConcurrency} slots at times, and a neighbour scan queued then waited for one ` +
        'to end. Its median hardly moved because a closed loop takes few samples while it waits: between those ' +
        "stretches slots free up often, and the scan queue's per-tenant ordering starts the neighbour's job before the " +
        "attacker's backlog; counted in time rather than in scans, the neighbour spent " +
        `${fmt.pct(waitedSeconds(baseline) / baseline.attack.seconds)} of the attack waiting in those scans. ` +
        `The bounds took the neighbour's p99 under attack from ${fmt.ms(a(baseline, 99))} to ${fmt.ms(a(hardened, 99))}, ` +
        `and the attacker's work from ${fmt.num(baseline.attackSeconds)} s to ${fmt.num(hardened.attackSeconds)} s ` +
        `(${baseline.attack.latencies.length} and ${hardened.attack.latencies.length} neighbour scans fitted into them).`,
    );
    const leftovers = results.map((r) => {
      const added = addedNames(r.redisBefore.otherNames, r.redisAfter.otherNames);
      const removed = addedNames(r.redisAfter.otherNames, r.redisBefore.otherNames);
      return (
        `${r.config.short}: the spool held ${r.spoolAtEnd.files} files when the attacker's last scan ended and ` +
        `${r.spoolAfterSweep.files} after the sweeper's grace and next pass (at most ${r.spoolPeak.files} files, ` +
        `${size(r.spoolPeak.bytes)}, during the attack), ` +
        `and Arbiter's own keys other than results, traces, queues and rate-limit counters went from ` +
        `${r.redisBefore.classes.other.keys} to ${r.redisAfter.classes.other.keys}` +
        (added.length + removed.length === 0
          ? ' (the same keys)'
          : ` (added: ${added.join(', ') || 'none'}; gone: ${removed.join(', ') || 'none'})`)
      );
    });
    reading.push(
      `After each attack: ${leftovers.join('; ')}. What grew is what is kept by design: a result and a trace per scan ` +
        "(for ARBITER_RESULT_TTL, 30 days by default) and BullMQ's record of finished jobs; their growth is in the " +
        'key-class table.',
    );
  }

  const problems = results.flatMap((r) => r.failedRequests.map((f) => `${r.config.short}: ${f}`));
  const tables: BenchTable[] = [
    {
      columns: [
        'Configuration',
        'Neighbour',
        'Samples',
        'p50',
        'p90',
        'p99',
        'max',
        '≥ 1 s',
        'p99 vs quiet',
        'Cores busy: arbiter / redis / bench / other',
      ],
      rows: latencyRows,
    },
    {
      caption: 'What the attack left, after its last scan ended and the spool sweeper had run',
      columns: [
        'Configuration',
        "Attacker's work lasted",
        'Spool at its fullest (files / size)',
        'Spool at its end',
        'Spool after the sweeper',
        'Redis DBSIZE',
        'Redis used_memory',
        'Other Arbiter keys (MEMORY USAGE)',
      ],
      rows: leftRows,
    },
    {
      caption:
        'Redis keys by class, before the quiet phase → after the attack (MEMORY USAGE summed)',
      columns: ['Configuration', 'Keys', 'Count', 'Size'],
      rows: classRows,
    },
    {
      caption: "The attacker's requests and their answers",
      columns: ['Request', ...results.map((r) => r.config.short)],
      rows: answerRows,
    },
    {
      caption: "How the attacker's accepted scans ended (read back as the attacker)",
      columns: ['Outcome', ...results.map((r) => r.config.short)],
      rows: outcomeRows,
    },
  ];

  return {
    title: "One tenant's hostile traffic against another tenant's latency",
    measured:
      `The latency a neighbour tenant sees for an async scan of a ${kib(settings.fileBytes)} file (\`POST /v2.2/files/async\`, ` +
      `then \`GET /v2.2/files/{id}\` every ${settings.pollMs} ms until the result is readable), one scan at a time, ` +
      `${settings.quietSamples} times alone and then for as long as an attacker tenant's bounded mix of hostile traffic ` +
      'lasts (until every hostile request is answered and every scan it queued has ended): trickling fetch locations, ' +
      'overlapping-zip bombs, uploads and fetches deleted at once, oversized uploads, unauthenticated chunked bodies ' +
      'trickled after their 401, malformed requests. Then what the attack left in the spool and in Redis, and how the ' +
      "attacker's requests and scans ended.",
    baseline:
      `The same run against Arbiter without the per-tenant scan bound and the minimum download rate ` +
      `(ARBITER_SCAN_TENANT_CONCURRENCY=ARBITER_SCAN_CONCURRENCY=${scanConcurrency}, ARBITER_FETCH_MIN_RATE=0), on a fresh ` +
      "process and redis-server, in the same benchmark run; and in each configuration the neighbour's own quiet latency.",
    tables,
    reading,
    notes: [
      'Arbiter runs as one child process with the api and worker roles (`LOG_LEVEL=silent`, the built-in engine with ' +
        `the signature folder empty), against a fresh redis-server per configuration, with default settings except: ` +
        `ARBITER_FETCH_RATE_WINDOW_MS=${settings.rateWindowMs} and ARBITER_FETCH_TIMEOUT_MS=${settings.fetchTimeoutMs} ` +
        '(30 s and 300 s by default; shortened in both configurations so the run stays short: a trickling location ' +
        'ends after one window with the minimum rate, after the download deadline without it; BENCH_HN_RATE_WINDOW_MS, ' +
        `BENCH_HN_FETCH_TIMEOUT_MS), ARBITER_MAX_FILE_SIZE=${MAX_FILE_SIZE} (so an oversized upload is ${kib(OVERSIZED_BYTES)}, ` +
        `not 200 MB), ARBITER_SPOOL_SWEEP_INTERVAL_MS=${SPOOL_SWEEP_INTERVAL_MS} and ARBITER_SPOOL_GRACE_MS=${SPOOL_GRACE_MS} ` +
        '(10 min and 1 h by default: so that what the sweeper removes is gone within seconds), and ' +
        'ARBITER_RATE_LIMIT_RPS=1000000 (the per-tenant limiter runs but never refuses: the attack is what the ' +
        'other bounds must absorb).',
      `The attack: ${results[0] ? Object.values(results[0].answers).reduce((n, a) => n + Object.values(a).reduce((s, v) => s + v, 0), 0) : '?'} ` +
        `requests per configuration (BENCH_HN_ATTACK_REQUESTS, the eight kinds in turn), ${ATTACK_PACE.perTick} started ` +
        `every ${ATTACK_PACE.tickMs} ms with at most ${ATTACK_PACE.maxInFlight} in flight, from the benchmark process. ` +
        `Trickling locations send one byte every ${TRICKLE_EVERY_MS} ms; the bomb is a zip of 1,000 entries sharing ` +
        'one deflated MiB of zeros; deleted uploads are 256 KiB; the fetches deleted mid-download ask for the ' +
        'trickling location and are deleted right after their 202 (queued or already downloading); malformed ' +
        'requests are a metadata key with a C1 control character and a hex token timeout.',
      "The attacker's work lasted from its first request until the last scan it queued had ended (no scan job " +
        'waiting, running or turned away for a slot); the spool was sampled every 200 ms meanwhile, and read again ' +
        `when it ended and ${fmt.num((SPOOL_GRACE_MS + 2 * SPOOL_SWEEP_INTERVAL_MS) / 1000, 0)} s later (the ` +
        "sweeper's grace and two of its intervals).",
      'Neighbour latency: from sending the upload to reading a clean result, polled every ' +
        `${settings.pollMs} ms (BENCH_HN_POLL_MS), so figures are ${settings.pollMs} ms coarse; random content per ` +
        'scan, every result checked clean. Under attack, samples are taken until the attack is over, so their count ' +
        `differs between configurations (capped at ${settings.maxAttackSamples}, BENCH_HN_MAX_SAMPLES); with few ` +
        'samples p99 is close to the maximum. Ten untimed neighbour scans and one upload and one fetch per tenant come first.',
      'Redis: "before" is taken after the warm-up, "after" once the spool sweeper had run. Results and traces are kept ' +
        'for ARBITER_RESULT_TTL (30 days, left at its default) and BullMQ keeps finished jobs, so those are counted ' +
        'apart rather than waited out; rate-limit windows and the daily quota counter expire by themselves. The figure ' +
        'to read for leaks is "other Arbiter keys": tenants, keys, pending scans, backlogs, slots, leases.',
      '"Cores busy" as in the other sections: CPU seconds per wall second during the phase for the Arbiter process, ' +
        'redis-server, the benchmark process (neighbour, attacker, trickling locations) and the rest of the machine.',
      ...(problems.length > 0
        ? [`Hostile requests that failed on the client side: ${problems.slice(0, 5).join('; ')}.`]
        : []),
    ],
  };
}

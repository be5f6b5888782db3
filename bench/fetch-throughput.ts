import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { createEngineSet } from '../scanning/engines.js';
import { startCallbackReceiver, startHttpServer } from '../test/support/http-servers.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { waitFor } from '../test/support/wait.js';
import type { BenchSection } from './report.js';
import {
  commandsPer,
  coresBusy,
  cpuSnapshot,
  formatCores,
  limitedBy,
  envInt,
  fmt,
  log,
  mapPool,
  onCleanup,
  percentile,
  redisCommandCalls,
  startTarget,
  type CoresBusy,
} from './support.js';

/**
 * Benchmark 2: end-to-end fetch mode. N random files are served by a loopback HTTP server, all
 * submitted through `POST /v2.2/files/fetch` with a callback to a loopback receiver, and timed
 * from the first submit to the last callback, against Arbiter with api and workers in one process
 * (default scan concurrency). Beside it: the same files scanned directly by the built-in engine
 * (createEngineSet(...).scan on files on disk), sequentially and with the same concurrency.
 *
 * Both are run twice: with the signature folder empty (what a fresh install ships) and with a
 * generated hash database loaded, since with no hash signatures the engine never reads the file.
 *
 * And the floor of the whole pipeline: the same files, submit concurrency and scan concurrency
 * through the minimal pipeline of bench/minimal-pipeline.ts (express + BullMQ + got + SHA-1 and a
 * callback, nothing of Arbiter's), with its CPU per file and Redis commands per file beside
 * Arbiter's.
 */

export interface FetchThroughputSettings {
  files: number;
  fileBytes: number;
  /** Batches of `files` timed one after the other on the same service; the median is reported. */
  rounds: number;
  submitConcurrency: number;
  warmupFiles: number;
  timeoutSeconds: number;
  /** Generated signatures per hash algorithm (MD5, SHA-1, SHA-256) for the "with a database" run. */
  signaturesPerAlgorithm: number;
  /** A further run with this ARBITER_SCAN_CONCURRENCY (and the database), to see what concurrency buys; 0: none. */
  extraScanConcurrency: number;
}

export function fetchThroughputSettings(): FetchThroughputSettings {
  return {
    files: envInt('BENCH_FILES', 500),
    fileBytes: envInt('BENCH_FILE_BYTES', 64 * 1024),
    rounds: envInt('BENCH_ROUNDS', 5),
    submitConcurrency: envInt('BENCH_SUBMIT_CONCURRENCY', 20),
    warmupFiles: envInt('BENCH_E2E_WARMUP_FILES', 500),
    timeoutSeconds: envInt('BENCH_E2E_TIMEOUT', 120),
    signaturesPerAlgorithm: envInt('BENCH_SIGNATURES', 1000),
    extraScanConcurrency:
      process.env.BENCH_EXTRA_SCAN_CONCURRENCY === '0'
        ? 0
        : envInt('BENCH_EXTRA_SCAN_CONCURRENCY', 16),
  };
}

interface Variant {
  label: string;
  /** Signature folder for both the service and the engine, or undefined for none. */
  signaturesDir: string | undefined;
  /** ARBITER_SCAN_CONCURRENCY, when not the default. */
  scanConcurrency?: number;
}

interface Round {
  seconds: number;
  filesPerSecond: number;
  submitSeconds: number;
  latencies: number[];
}

interface EndToEnd {
  rounds: Round[];
  scanConcurrency: number;
  problems: string[];
  cores: CoresBusy;
  /** CPU milliseconds per file in the service process and in redis-server. */
  cpuMsPerFile: { server: number; redis: number };
  redisPerFile: string;
}

interface EngineRun {
  concurrency: number;
  /** Seconds for all files, one value per round. */
  seconds: number[];
}

/**
 * The last full run before the hot-path rework, kept for comparison (docs/benchmarks.md of
 * 2026-12-04T23:12Z, empty signature folder, scan concurrency 4). Not measured in this run.
 */
const EARLIER = {
  when: 'run of 2026-12-04 23:12 UTC',
  filesPerSecond: '222.9',
  cpuMsPerFile: '5.04',
  redisCommandsPerFile: '179.7',
};

/** Submits one fetch-mode scan (`POST /v2.2/files/fetch`) and returns its id; anything but 202 throws. */
export function fetchSubmitter(
  url: string,
  auth: string,
): (location: string, callback: string) => Promise<string> {
  return async (location, callback) => {
    const response = await fetch(`${url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location, callback }).toString(),
    });
    const text = await response.text();
    if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${text}`);
    return (JSON.parse(text) as { id: string }).id;
  };
}

/**
 * The untimed warm-up batch before the rounds (connections, JIT in every process, the workers'
 * first jobs); its callbacks go to a path the timed rounds do not count.
 */
export async function warmUpFetch(
  submit: (location: string, callback: string) => Promise<string>,
  settings: Pick<FetchThroughputSettings, 'warmupFiles' | 'submitConcurrency' | 'timeoutSeconds'>,
  target: {
    contentUrl: string;
    files: number;
    receiver: {
      url: string;
      waitForDeliveries(count: number, timeoutMs: number): Promise<unknown>;
    };
  },
): Promise<void> {
  const warmup = Array.from({ length: settings.warmupFiles }, (_v, i) => i % target.files);
  await mapPool(warmup, settings.submitConcurrency, (i) =>
    submit(`${target.contentUrl}/files/${i}.bin`, `${target.receiver.url}/other-callback`),
  );
  await target.receiver.waitForDeliveries(warmup.length, settings.timeoutSeconds * 1000);
}

/** How a configuration is served: Arbiter (api and workers) or the minimal pipeline. */
type Pipeline = 'full' | 'minimal';

interface VariantResult {
  variant: Variant;
  e2e: EndToEnd;
  engine: EngineRun[];
  /** What the engine set reports as its version(s), database fingerprint included. */
  engineVersion: string;
}

const median = (values: number[]) => percentile(values, 50);

export async function runFetchThroughput(
  settings = fetchThroughputSettings(),
): Promise<BenchSection> {
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-throughput-'));
  const unregisterWork = onCleanup(() => rm(work, { recursive: true, force: true }));
  try {
    // The content: random bytes (so nothing matches a signature), hashed to check each result.
    const contents = Array.from({ length: settings.files }, () => randomBytes(settings.fileBytes));
    const sha1s = contents.map((c) => createHash('sha1').update(c).digest('hex'));
    const filesDir = path.join(work, 'files');
    await mkdir(filesDir);
    const filePaths = await Promise.all(
      contents.map(async (content, i) => {
        const file = path.join(filesDir, `${i}.bin`);
        await writeFile(file, content);
        return file;
      }),
    );
    const signaturesDir = path.join(work, 'signatures');
    await mkdir(signaturesDir);
    await writeFile(path.join(signaturesDir, 'bench.hsb'), generatedSignatures(settings));

    const variants: Variant[] = [
      {
        label: 'empty signature folder (as shipped)',
        signaturesDir: undefined,
      },
      {
        label: `${fmt.int(3 * settings.signaturesPerAlgorithm)} hash signatures (MD5, SHA-1, SHA-256)`,
        signaturesDir,
      },
    ];
    if (settings.extraScanConcurrency > 0) {
      variants.push({ ...variants[1]!, scanConcurrency: settings.extraScanConcurrency });
    }
    const results: VariantResult[] = [];
    for (const variant of variants) {
      const e2e = await endToEnd(variant, contents, sha1s, work, settings, 'full');
      const { runs: engine, version: engineVersion } = await engineAlone(
        variant,
        filePaths,
        settings,
        e2e.scanConcurrency,
      );
      results.push({ variant, e2e, engine, engineVersion });
    }
    // The floor, at the scan concurrency of the default Arbiter run (the first).
    const floor = await endToEnd(
      {
        label: 'minimal pipeline: express + BullMQ + got + SHA-1, no scanning',
        signaturesDir: undefined,
        scanConcurrency: results[0]?.e2e.scanConcurrency ?? 4,
      },
      contents,
      sha1s,
      work,
      settings,
      'minimal',
    );
    return section(results, floor, settings);
  } finally {
    await rm(work, { recursive: true, force: true });
    unregisterWork();
  }
}

/** `.hsb` lines that match nothing: random digests of every algorithm, sized like the files. */
function generatedSignatures(settings: FetchThroughputSettings): string {
  const lines = ['# generated by bench/fetch-throughput.ts: random digests, match nothing'];
  for (const bytes of [16, 20, 32]) {
    for (let i = 0; i < settings.signaturesPerAlgorithm; i++) {
      lines.push(
        `${randomBytes(bytes).toString('hex')}:${settings.fileBytes}:Bench.Generated-${bytes}-${i}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

async function endToEnd(
  variant: Variant,
  contents: Buffer[],
  sha1s: string[],
  work: string,
  settings: FetchThroughputSettings,
  pipeline: Pipeline,
): Promise<EndToEnd> {
  const routes: Record<string, Buffer> = {};
  contents.forEach((content, i) => (routes[`/files/${i}.bin`] = content));
  const content = await startHttpServer(routes);
  const receiver = await startCallbackReceiver();
  const redis = await startTestRedis();
  const dataDir = await mkdtemp(path.join(work, 'data-'));
  // When each callback arrived, by scan id (timed rounds only: they call back on /callback).
  const callbackAt = new Map<string, number>();
  receiver.respondWith = (_attempt, delivery) => {
    if (delivery.path.startsWith('/callback'))
      callbackAt.set(String(delivery.json.id), performance.now());
    return 200;
  };
  const env: Record<string, string> = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    // The content server and receiver are on loopback, which the outbound policy refuses unless listed.
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    // One tenant alone, set up as docs/deployment.md advises for a single-tenant install: it may
    // use every scan slot (the per-tenant bound would otherwise hold it to all but one).
    ARBITER_SCAN_TENANT_CONCURRENCY: '1000',
    // The built-in engine alone: unset, a private clamd would start on the generated database.
    ARBITER_ENGINES: 'builtin',
  };
  if (variant.signaturesDir) env.ARBITER_SIGNATURES_DIR = variant.signaturesDir;
  if (variant.scanConcurrency) env.ARBITER_SCAN_CONCURRENCY = String(variant.scanConcurrency);
  const unregister = onCleanup(async () => {
    await redis.kill();
    await content.close();
    await receiver.close();
  });

  log(`fetch-throughput: end to end, ${variant.label}: starting`);
  const target = await startTarget({ mode: pipeline, env });
  try {
    const submit = fetchSubmitter(target.ready.url, target.ready.auth);
    await warmUpFetch(submit, settings, {
      contentUrl: content.url,
      files: contents.length,
      receiver,
    });

    const before = await cpuSnapshot(target, redis.socket);
    const callsBefore = await redisCommandCalls(redis.socket);
    const indexOf = new Map<string, number>();
    const rounds: Round[] = [];
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
      const submitted = performance.now();
      await waitFor(() => callbackAt.size >= expected, {
        timeoutMs: settings.timeoutSeconds * 1000,
        intervalMs: 10,
        what: `${contents.length} callbacks (round ${round})`,
      });
      const arrivals = [...submittedAt].map(([id, at]) => ({
        at,
        back: callbackAt.get(id) ?? Number.NaN,
      }));
      const last = Math.max(...arrivals.map((a) => a.back));
      const seconds = (last - started) / 1000;
      rounds.push({
        seconds,
        filesPerSecond: contents.length / seconds,
        submitSeconds: (submitted - started) / 1000,
        latencies: arrivals.map((a) => a.back - a.at),
      });
      log(
        `fetch-throughput: end to end, ${variant.label}, round ${round}: ${fmt.num(contents.length / seconds)} files/s`,
      );
    }
    const callsAfter = await redisCommandCalls(redis.socket);
    const after = await cpuSnapshot(target, redis.socket);

    // Every callback must carry the right, clean result, or the figure means nothing.
    const problems: string[] = [];
    const timed = receiver.deliveries.filter((d) => d.path.startsWith('/callback'));
    if (timed.length !== contents.length * settings.rounds) {
      problems.push(`${timed.length} callbacks for ${contents.length * settings.rounds} files`);
    }
    for (const delivery of timed) {
      const id = String(delivery.json.id);
      const index = indexOf.get(id);
      if (index === undefined) problems.push(`callback for an unknown id ${id}`);
      else if (delivery.json.error)
        problems.push(`${id}: error ${JSON.stringify(delivery.json.error)}`);
      else if (delivery.json.checksum !== sha1s[index]) problems.push(`${id}: wrong checksum`);
      else if (!Array.isArray(delivery.json.findings) || delivery.json.findings.length > 0) {
        problems.push(`${id}: unexpected findings ${JSON.stringify(delivery.json.findings)}`);
      }
    }
    return {
      rounds,
      scanConcurrency: target.ready.scanConcurrency ?? 0,
      problems,
      cores: coresBusy(before, after),
      cpuMsPerFile: {
        server: ((after.server - before.server) * 1000) / (contents.length * settings.rounds),
        redis: ((after.redis - before.redis) * 1000) / (contents.length * settings.rounds),
      },
      redisPerFile: commandsPer(callsBefore, callsAfter, contents.length * settings.rounds),
    };
  } finally {
    await target.stop();
    await redis.stop();
    await content.close();
    await receiver.close();
    unregister();
  }
}

async function engineAlone(
  variant: Variant,
  filePaths: string[],
  settings: FetchThroughputSettings,
  concurrency: number,
): Promise<{ runs: EngineRun[]; version: string }> {
  const config = loadConfig({
    ARBITER_DATA_DIR: path.dirname(filePaths[0] ?? '.'),
    LOG_LEVEL: 'silent',
    ...(variant.signaturesDir ? { ARBITER_SIGNATURES_DIR: variant.signaturesDir } : {}),
  });
  const engines = await createEngineSet(config, createLogger('silent'));
  try {
    let version = '';
    const scan = async (file: string) => {
      const { findings, verdicts } = await engines.scan({ path: file, size: settings.fileBytes });
      if (findings.length > 0)
        throw new Error(`unexpected findings on ${file}: ${findings.join(', ')}`);
      version = verdicts.map((v) => v.version).join(', ');
    };
    // Untimed pass over a few files: JIT warm, like the service after its warm-up batch.
    for (const file of filePaths.slice(0, settings.warmupFiles)) await scan(file);

    const runs: EngineRun[] = [];
    // The sequential figure does not depend on the service's concurrency: measured once per engine setup.
    for (const lanes of variant.scanConcurrency ? [concurrency] : [1, concurrency]) {
      const seconds: number[] = [];
      for (let round = 0; round < settings.rounds; round++) {
        const started = performance.now();
        await mapPool(filePaths, lanes, scan);
        seconds.push((performance.now() - started) / 1000);
      }
      runs.push({ concurrency: lanes, seconds });
      log(
        `fetch-throughput: engine alone, ${variant.label}, concurrency ${lanes}: ` +
          `${fmt.int(filePaths.length / median(seconds))} files/s`,
      );
    }
    return { runs, version };
  } finally {
    await engines.close();
  }
}

function section(
  results: VariantResult[],
  floor: EndToEnd,
  settings: FetchThroughputSettings,
): BenchSection {
  const kib = settings.fileBytes / 1024;
  const n = settings.files;
  const perSecond = (v: number) => (v >= 1000 ? fmt.int(v) : fmt.num(v));
  const range = (values: number[]) =>
    `${perSecond(Math.min(...values))}–${perSecond(Math.max(...values))}`;
  const rate = (e2e: EndToEnd) => median(e2e.rounds.map((r) => r.filesPerSecond));
  const engineRate = (run: EngineRun | undefined) => (run ? n / median(run.seconds) : Number.NaN);
  const sameConcurrency = ({ e2e, engine }: VariantResult) =>
    engine.find((r) => r.concurrency === e2e.scanConcurrency);
  const setup = ({ variant, e2e }: VariantResult) =>
    `${variant.label}, scan concurrency ${e2e.scanConcurrency}`;

  const rows: (string | number)[][] = [];
  for (const result of results) {
    const { variant, e2e, engine } = result;
    rows.push([
      `**Arbiter end to end** (api + workers, scan concurrency ${e2e.scanConcurrency}` +
        `${variant.scanConcurrency ? `: ARBITER_SCAN_CONCURRENCY=${variant.scanConcurrency}` : ', the default'})`,
      variant.label,
      `**${perSecond(rate(e2e))}**`,
      range(e2e.rounds.map((r) => r.filesPerSecond)),
      fmt.ms(median(e2e.rounds.map((r) => r.seconds)) * 1000, 0),
      formatCores(e2e.cores),
    ]);
    for (const run of engine) {
      rows.push([
        `engine alone, ${run.concurrency === 1 ? 'sequential' : `${run.concurrency} at a time`} (baseline)`,
        variant.label,
        perSecond(engineRate(run)),
        range(run.seconds.map((s) => n / s)),
        fmt.ms(median(run.seconds) * 1000, 1),
        '—',
      ]);
    }
  }
  rows.push([
    `minimal pipeline (floor): express + BullMQ + got + SHA-1 + callback, concurrency ${floor.scanConcurrency}`,
    'no scanning',
    perSecond(rate(floor)),
    range(floor.rounds.map((r) => r.filesPerSecond)),
    fmt.ms(median(floor.rounds.map((r) => r.seconds)) * 1000, 0),
    formatCores(floor.cores),
  ]);
  const floorSetup = `minimal pipeline (floor), concurrency ${floor.scanConcurrency}`;
  const details = [
    ...results.map((result) => ({ name: setup(result), e2e: result.e2e })),
    { name: floorSetup, e2e: floor },
  ].map(({ name, e2e }) => {
    const latencies = e2e.rounds.flatMap((r) => r.latencies);
    const submit = median(e2e.rounds.map((r) => r.submitSeconds));
    return [
      name,
      fmt.ms(submit * 1000, 0),
      fmt.int(n / submit),
      fmt.ms(percentile(latencies, 50), 0),
      fmt.ms(percentile(latencies, 99), 0),
      `${fmt.ms(e2e.cpuMsPerFile.server, 2)} / ${fmt.ms(e2e.cpuMsPerFile.redis, 2)}`,
      e2e.redisPerFile.split(' ')[0] ?? '',
      e2e.problems.length,
    ];
  });

  const reading: string[] = [];
  for (const result of results) {
    const r = rate(result.e2e);
    const engine = engineRate(sameConcurrency(result));
    const share = r / engine;
    reading.push(
      `With ${setup(result)}: ${perSecond(r)} files/s end to end against ${perSecond(engine)} files/s for the ` +
        `engine alone at the same concurrency, so scanning is ${share < 0.01 ? 'under 1 %' : `about ${fmt.pct(share)}`} ` +
        `of the time per file and the service around it about ${fmt.ms(1000 / r - 1000 / engine, 2)} per file; ` +
        `${limitedBy(result.e2e.cores, 'the service process')}.`,
    );
  }
  reading.push(
    '"The service around it" is everything but the engine: accepting the request, queueing, the download ' +
      '(streamed to disk with SHA-1), type sniffing, the result written to Redis with the trace events the ' +
      "run buffered, the first callback POSTed by the scan worker's process (the callback queue only takes " +
      'retries), the per-tenant scan and delivery slots, and BullMQ moving the scan job through its states.',
  );
  reading.push(
    `Before the hot path was reworked (one scan service, the callback sent from the scan worker, trace ` +
      `events written with the result), the same benchmark on this machine measured, with the signature ` +
      `folder empty: ${EARLIER.filesPerSecond} files/s, ${EARLIER.cpuMsPerFile} ms of service CPU and ` +
      `${EARLIER.redisCommandsPerFile} Redis commands per file (${EARLIER.when}; an earlier run, not this one).`,
  );
  const shipped = results[0];
  if (shipped) {
    const commands = (e2e: EndToEnd) => e2e.redisPerFile.split(' ')[0] ?? '?';
    reading.push(
      `Against the floor (the minimal pipeline of the same libraries, concurrency ${floor.scanConcurrency}): ` +
        `${perSecond(rate(floor))} files/s, against ${perSecond(rate(shipped.e2e))} for Arbiter with ` +
        `${setup(shipped)} (${fmt.pct(rate(shipped.e2e) / rate(floor))} of the floor); service CPU per file ` +
        `${fmt.ms(floor.cpuMsPerFile.server, 2)} against ${fmt.ms(shipped.e2e.cpuMsPerFile.server, 2)}, Redis ` +
        `commands per file ${commands(floor)} against ${commands(shipped.e2e)}; ` +
        `${limitedBy(floor.cores, 'the minimal pipeline')}.`,
    );
  }
  const base = results.find((r) => r.variant.signaturesDir && !r.variant.scanConcurrency);
  const extra = results.find((r) => r.variant.scanConcurrency);
  if (base && extra) {
    reading.push(
      `Raising ARBITER_SCAN_CONCURRENCY from ${base.e2e.scanConcurrency} to ${extra.e2e.scanConcurrency} (same ` +
        `database) took the median from ${perSecond(rate(base.e2e))} to ${perSecond(rate(extra.e2e))} files/s; the ` +
        `service's CPU per file went from ${fmt.ms(base.e2e.cpuMsPerFile.server, 2)} to ` +
        `${fmt.ms(extra.e2e.cpuMsPerFile.server, 2)} and Redis commands per file from ` +
        `${base.e2e.redisPerFile.split(' ')[0]} to ${extra.e2e.redisPerFile.split(' ')[0]}.`,
    );
  }
  const first = results[0]?.e2e;
  const notes = [
    `${fmt.int(n)} files of ${fmt.int(kib)} KiB random bytes (BENCH_FILES, BENCH_FILE_BYTES), served from memory ` +
      'by a loopback HTTP server in the benchmark process; callbacks go to a loopback receiver in the same process ' +
      'that answers 200.',
    `Each round submits all ${fmt.int(n)} files with \`POST /v2.2/files/fetch\` (urlencoded \`location\` and ` +
      `\`callback\`), ${settings.submitConcurrency} requests in flight at a time (BENCH_SUBMIT_CONCURRENCY), and ends ` +
      `when the last callback arrives; ${settings.rounds} rounds per configuration (BENCH_ROUNDS), median reported ` +
      `with the range of the rounds. Before them a warm-up batch of ${fmt.int(settings.warmupFiles)} files ` +
      '(BENCH_E2E_WARMUP_FILES) goes through untimed. Rounds vary noticeably on this shared 2-core machine: ' +
      'differences smaller than the ranges are noise.',
    'Arbiter runs as one child process with the api and worker roles and default settings (scan concurrency ' +
      `${first?.scanConcurrency ?? '?'}, callback concurrency 16) unless stated, \`LOG_LEVEL=silent\`, against a ` +
      'fresh redis-server per configuration.',
    'The floor (bench/minimal-pipeline.ts, in its own process like Arbiter, on a fresh redis-server ' +
      'started the same way): an express 5 route parses the same urlencoded body and adds a BullMQ job ' +
      '(removed on completion); a BullMQ worker with the same concurrency as the Arbiter run downloads the ' +
      'location with got from the same content server, hashes it with SHA-1 and POSTs ' +
      '`{"id","checksum","findings":[]}` to the same receiver with got. No auth, tenant, result, trace, scan, ' +
      'limit or second queue: what any service built on these libraries pays per file.',
    "Every timed callback was checked: known id, no error, SHA-1 equal to the served file's, no findings." +
      ([...results.map((r) => r.e2e), floor].every((e2e) => e2e.problems.length === 0)
        ? ' All passed.'
        : [...results.map((r) => ({ name: setup(r), e2e: r.e2e })), { name: 'floor', e2e: floor }]
            .filter(({ e2e }) => e2e.problems.length > 0)
            .map(
              ({ name, e2e }) =>
                ` ${name}: ${e2e.problems.length} problems, e.g. ${e2e.problems[0]}.`,
            )
            .join('')),
    'Latency is per file, from its 202 to its callback; with a whole round submitted at once it is mostly time ' +
      'spent waiting in the queue behind the other files of the round.',
    '"Cores busy" as in the first table: CPU seconds per wall second over the timed rounds for the service ' +
      'process, redis-server, the benchmark process (submitter, content server, callback receiver) and the rest ' +
      'of the machine. CPU per file: CPU time of the service process and of redis-server over all timed rounds, divided by the ' +
      'files. Redis commands per file: every command redis-server executed in that time (`INFO commandstats`: ' +
      "commands run inside BullMQ's Lua scripts and the workers' polling included) divided by the files; " +
      `busiest, for ${results[0] ? setup(results[0]) : '?'}: ${results[0]?.e2e.redisPerFile ?? '?'}.`,
    'The engine-alone baseline calls `createEngineSet(config, logger).scan({ path, size })` on the same files ' +
      'written to local disk (in the page cache), with the same engine configuration, one at a time and as many ' +
      `at a time as the service's scan concurrency, ${settings.rounds} rounds each, after an untimed pass.`,
    'The generated database holds ' +
      `${fmt.int(settings.signaturesPerAlgorithm)} random digests per algorithm (MD5, SHA-1, SHA-256; BENCH_SIGNATURES) ` +
      'in one `.hsb` file, sized like the files and matching nothing, so that the hash lookups of a real ClamAV ' +
      'database are exercised; the empty folder is what a fresh install ships. Engine versions as reported: ' +
      results
        .map(({ variant, engineVersion }) => `${variant.label}: \`${engineVersion}\``)
        .filter((v, i, all) => all.indexOf(v) === i)
        .join('; ') +
      '.',
  ];
  return {
    title: 'Fetch mode end to end, in files per second',
    measured:
      `Files per second for ${fmt.int(n)} files of ${fmt.int(kib)} KiB going through fetch mode end to end: ` +
      'submitted with `POST /v2.2/files/fetch`, downloaded by the workers from a loopback server, scanned, ' +
      'stored, and reported to a loopback callback receiver; the clock runs from the first submit to the last ' +
      'callback received. Run with the signature folder empty (as shipped), with a generated hash database, ' +
      (extra
        ? `and with that database at ARBITER_SCAN_CONCURRENCY=${extra.e2e.scanConcurrency}.`
        : '.'),
    baseline:
      'The built-in engine alone on the same files on local disk, called directly through ' +
      "`createEngineSet(...).scan`, sequentially and with the service's scan concurrency: what scanning itself " +
      'costs, without HTTP, Redis or queues. And the floor of the pipeline around it: a minimal ' +
      'express + BullMQ + got + SHA-1 pipeline on the same files, concurrency and kind of Redis, with its ' +
      'CPU and Redis commands per file.',
    tables: [
      {
        columns: [
          'Run',
          'Engine configuration',
          'Files/s (median)',
          'Range',
          `Time for ${fmt.int(n)} files`,
          'Cores busy: service / redis / bench / other',
        ],
        rows,
      },
      {
        caption: 'End-to-end details (all timed rounds)',
        columns: [
          'Configuration',
          'All submitted after',
          'Submit rate (req/s)',
          'Latency p50 (202 → callback)',
          'Latency p99',
          'CPU per file: service / redis',
          'Redis commands per file',
          'Bad callbacks',
        ],
        rows: details,
      },
    ],
    reading,
    notes,
  };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startTestRedis } from '../test/support/redis-server.js';
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
  onCleanup,
  redisCommandCalls,
  startTarget,
  withTimeout,
  type CoresBusy,
  type TargetMode,
} from './support.js';

/**
 * Benchmark 1: how fast the API accepts `POST /v2.2/files/fetch` (auth, validation, the pending
 * record and trace in Redis, the BullMQ enqueue, the 202), with no worker in the process, beside a
 * bare express 5 route that answers the same request with 202 {"id"} and touches nothing.
 */

export interface FetchAcceptSettings {
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
}

export function fetchAcceptSettings(): FetchAcceptSettings {
  return {
    connections: envInt('BENCH_ACCEPT_CONNECTIONS', 20),
    durationSeconds: envInt('BENCH_ACCEPT_DURATION', 10),
    warmupSeconds: envInt('BENCH_ACCEPT_WARMUP', 2),
  };
}

interface Measured {
  label: string;
  mode: TargetMode;
  rate: number;
  /** Standard deviation of the per-second request counts autocannon sampled. */
  rateStddev: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok: number;
  non2xx: number;
  errors: number;
  cores: CoresBusy;
  /** Redis commands per 202 during the measured window (Arbiter only). */
  redisPerRequest?: string;
  /** For Arbiter: scan jobs waiting in the queue at the end vs 202 answers sent. */
  queued?: { jobs: number; accepted: number };
}

export async function runFetchAccept(settings = fetchAcceptSettings()): Promise<BenchSection> {
  const redis = await startTestRedis();
  const unregisterRedis = onCleanup(() => redis.kill());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-accept-'));
  // Loopback URLs: well-formed and local, never fetched (no worker runs in this benchmark).
  const body = new URLSearchParams({
    location: 'http://127.0.0.1:9/bench/sample.bin',
    callback: 'http://127.0.0.1:9/bench/callback',
    'metadata[bench]': 'fetch-accept',
  }).toString();
  const env = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    // The content server and receiver are on loopback, which the outbound policy refuses unless listed.
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
  };

  const results: Measured[] = [];
  try {
    for (const [label, mode] of [
      ['bare express 5 route (baseline)', 'bare'],
      ['Arbiter API, api role only', 'api'],
    ] as const) {
      results.push(await measure(label, mode, env, body, redis.socket, settings));
    }
  } finally {
    await redis.stop();
    unregisterRedis();
    await rm(dataDir, { recursive: true, force: true });
  }
  return section(results, settings);
}

async function measure(
  label: string,
  mode: TargetMode,
  env: Record<string, string>,
  body: string,
  redisSocket: string,
  settings: FetchAcceptSettings,
): Promise<Measured> {
  log(`fetch-accept: ${label}: starting`);
  const target = await startTarget({ mode, env });
  try {
    const url = `${target.ready.url}/v2.2/files/fetch`;
    const headers = {
      authorization: target.ready.auth,
      'content-type': 'application/x-www-form-urlencoded',
    };
    // One request by hand first: the benchmark is meaningless if it is not a 202.
    const probe = await fetch(url, { method: 'POST', headers, body });
    const probeBody = await probe.text();
    if (probe.status !== 202)
      throw new Error(`${label}: expected 202, got ${probe.status}: ${probeBody}`);

    const cannon = (seconds: number) =>
      withTimeout(
        autocannon({
          url,
          method: 'POST',
          headers,
          body,
          connections: settings.connections,
          duration: seconds,
        }),
        (seconds + 30) * 1000,
        `autocannon against ${label}`,
      );
    const warm = await cannon(settings.warmupSeconds);
    const before = await cpuSnapshot(target, redisSocket);
    const callsBefore = await redisCommandCalls(redisSocket);
    const result = await cannon(settings.durationSeconds);
    const callsAfter = await redisCommandCalls(redisSocket);
    const after = await cpuSnapshot(target, redisSocket);
    const cores = coresBusy(before, after);
    const rate = result['2xx'] / result.duration;
    log(
      `fetch-accept: ${label}: ${fmt.int(rate)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
    );

    let queued: Measured['queued'];
    if (mode !== 'bare') {
      const stats = await target.stats();
      const jobs = (stats.scanJobs?.waiting ?? 0) + (stats.scanJobs?.prioritized ?? 0);
      queued = { jobs, accepted: 1 + warm['2xx'] + result['2xx'] };
    }
    return {
      label,
      mode,
      rate,
      rateStddev: result.requests.stddev,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      cores,
      ...(mode === 'bare'
        ? {}
        : { redisPerRequest: commandsPer(callsBefore, callsAfter, result['2xx']) }),
      ...(queued ? { queued } : {}),
    };
  } finally {
    await target.stop();
  }
}

const latency = (ms: number) => fmt.ms(ms, Number.isInteger(ms) ? 0 : 1);

function section(results: Measured[], settings: FetchAcceptSettings): BenchSection {
  const bare = results.find((r) => r.mode === 'bare');
  const api = results.find((r) => r.mode === 'api');
  const reading: string[] = [];
  if (bare && api) {
    const perRequestUs = (1 / api.rate - 1 / bare.rate) * 1e6;
    reading.push(
      `Arbiter accepted ${fmt.int(api.rate)} fetch requests/s, ${fmt.pct(api.rate / bare.rate)} of the ` +
        `${fmt.int(bare.rate)} req/s the bare route answered for the same request, with a median latency ` +
        `of ${latency(api.p50)} against ${latency(bare.p50)} (p99 ${latency(api.p99)} against ${latency(bare.p99)}).`,
      `The gap, about ${fmt.int(perRequestUs)} µs more per request, is what accepting costs over the framework ` +
        'floor: the middleware stack (request id and timing headers, CORS), Basic auth (HGETALL and a SHA-256), ' +
        "the tenant's rate limit (counted in Redis), zod validation, the pending record with its first trace " +
        'event (one MULTI…EXEC, while the fairness rank is taken in the same round trip) and the BullMQ ' +
        'enqueue (one EVALSHA): four round trips to Redis awaited one after the other; Redis executed ' +
        `${api.redisPerRequest?.split(' ')[0] ?? '?'} commands per request, counting those inside BullMQ's script.`,
      `During the Arbiter run ${limitedBy(api.cores, 'the API process')}; during the bare run ` +
        `${limitedBy(bare.cores, 'the bare server')}.`,
    );
  }
  const notes = [
    `autocannon 9, ${settings.connections} connections, no pipelining, ${settings.warmupSeconds} s warm-up ` +
      `(not counted) then ${settings.durationSeconds} s measured per target ` +
      '(BENCH_ACCEPT_CONNECTIONS, BENCH_ACCEPT_WARMUP, BENCH_ACCEPT_DURATION).',
    'Request: `POST /v2.2/files/fetch`, `application/x-www-form-urlencoded` body with a loopback `location`, ' +
      'a loopback `callback` and one `metadata[bench]` field, valid Basic auth for a tenant created at start ' +
      '(the bare route ignores the header). The URLs are never fetched: no worker runs.',
    'Both targets run in a child Node process started the same way (`node --import tsx`); Arbiter with ' +
      '`LOG_LEVEL=silent` and default settings otherwise.',
    'Accepted = 2xx answers / measured seconds; "±" is the standard deviation of the per-second counts. ' +
      '"Cores busy" = CPU seconds per wall second during the measured window (1.00 = one core), from ' +
      'process.cpuUsage() for the server and the benchmark process (autocannon), `INFO cpu` for redis-server, ' +
      'and "other" = the whole machine (os.cpus()) minus those three.',
  ];
  for (const r of results) {
    if (r.non2xx > 0 || r.errors > 0)
      notes.push(`${r.label}: ${r.non2xx} non-2xx answers, ${r.errors} connection errors.`);
    if (r.redisPerRequest) {
      notes.push(
        `Redis commands per accepted request (\`INFO commandstats\`, measured window): ${r.redisPerRequest}.`,
      );
    }
    if (r.queued) {
      const extra = r.queued.jobs - r.queued.accepted;
      notes.push(
        `Sanity check: ${fmt.int(r.queued.accepted)} answers of 202 were received in total (probe, warm-up, ` +
          `measured) and ${fmt.int(r.queued.jobs)} scan jobs were waiting in the queue afterwards` +
          (extra >= 0 && extra <= 2 * settings.connections
            ? `; the ${extra} extra are requests still in flight when autocannon stopped counting.`
            : ': MISMATCH, investigate.'),
      );
    }
  }
  return {
    title: 'Accepting `POST /v2.2/files/fetch`',
    measured:
      'Requests per second answered 202, and response latency, for `POST /v2.2/files/fetch` under ' +
      `autocannon (${settings.connections} connections, ${settings.durationSeconds} s), against Arbiter ` +
      'running the API role alone (no workers in the process, so this is only accepting: authenticate, ' +
      'validate, write the pending record and trace, enqueue the scan, answer 202).',
    baseline:
      'A bare express 5 app in the same kind of process answering the same request on the same path ' +
      'with 202 `{"id": "<32 hex>"}` after the same urlencoded body parsing, with no auth and no Redis: ' +
      'the framework floor.',
    tables: [
      {
        columns: [
          'Target',
          'Accepted (req/s)',
          '±',
          'p50',
          'p90',
          'p99',
          'max',
          '202s',
          'Errors',
          'Cores busy: server / redis / load gen / other',
        ],
        rows: results.map((r) => [
          r.label,
          fmt.int(r.rate),
          fmt.int(r.rateStddev),
          latency(r.p50),
          latency(r.p90),
          latency(r.p99),
          latency(r.max),
          fmt.int(r.ok),
          r.non2xx + r.errors,
          formatCores(r.cores),
        ]),
      },
    ],
    reading,
    notes,
  };
}

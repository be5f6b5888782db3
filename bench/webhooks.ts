import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { RedisKeys } from '../core/keys.js';
import { newId } from '../core/ids.js';
import { createNetworkPolicy } from '../core/network-policy.js';
import { createOutboundHttp, type OutboundHttp } from '../core/outbound-http.js';
import {
  CALLBACK_JOB_OPTIONS,
  callbackJobId,
  createQueues,
  type CallbackJob,
} from '../core/queues.js';
import { createRedis, queueConnectionOptions } from '../core/redis.js';
import type { ScanRequest, ScanResult } from '../scans/results.js';
import { ScanStore } from '../scans/store.js';
import { TenantStore } from '../core/tenants.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { waitFor } from '../test/support/wait.js';
import { verifyDelivery } from '../webhooks/receiver.js';
import { signWebhook, webhookIdFor } from '../webhooks/signing.js';
import type { BenchSection } from './report.js';
import type { ReceiverRequest, ReceiverStats } from './webhook-receiver.js';
import {
  commandsPer,
  coresBusy,
  cpuSnapshot,
  envInt,
  fmt,
  formatCores,
  limitedBy,
  log,
  mapPool,
  onCleanup,
  percentile,
  redisCommandCalls,
  startTarget,
  withTimeout,
  type CoresBusy,
} from './support.js';

/**
 * Benchmark 3: callback deliveries. How many deliveries per second reach a loopback receiver
 * (its own process, answering 204), signed per Standard Webhooks, beside the same POST unsigned
 * through the same outbound client in the same run; what signing one delivery costs in CPU; and
 * what Arbiter's whole delivery path (BullMQ job, result and secrets read from Redis, signing, the
 * per-tenant lease, the trace event) sustains, with deliveries spread over many tenants and all
 * from one tenant (bounded by ARBITER_CALLBACK_TENANT_CONCURRENCY).
 */

export interface WebhookBenchSettings {
  deliveries: number;
  rounds: number;
  concurrency: number;
  warmup: number;
  signOps: number;
  tenants: number;
  timeoutSeconds: number;
}

export function webhookBenchSettings(): WebhookBenchSettings {
  return {
    deliveries: envInt('BENCH_WEBHOOK_DELIVERIES', 2000),
    rounds: envInt('BENCH_WEBHOOK_ROUNDS', 5),
    concurrency: envInt('BENCH_WEBHOOK_CONCURRENCY', 16),
    warmup: envInt('BENCH_WEBHOOK_WARMUP', 500),
    signOps: envInt('BENCH_WEBHOOK_SIGN_OPS', 100_000),
    tenants: envInt('BENCH_WEBHOOK_TENANTS', 16),
    timeoutSeconds: envInt('BENCH_WEBHOOK_TIMEOUT', 120),
  };
}

const median = (values: number[]) => percentile(values, 50);
const overlap = (a: number[], b: number[]) =>
  Math.min(...a) <= Math.max(...b) && Math.min(...b) <= Math.max(...a);
/** "60.3 (hmget 4.0, xadd 4.0, …)" cut to its ten busiest commands. */
const busiest = (commands: string | undefined, count = 10) => {
  const match = /^(\S+) \((.*)\)$/.exec(commands ?? '');
  if (!match) return commands ?? '?';
  const parts = (match[2] ?? '').split(', ');
  return `${match[1]} (${parts.slice(0, count).join(', ')}${parts.length > count ? ', …' : ''})`;
};

interface PathRun {
  label: string;
  rates: number[];
  latencies: number[];
  /** CPU ms per delivery: the sending process (and redis-server for Arbiter). */
  cpuMs: { sender: number; redis?: number };
  cores?: CoresBusy;
  redisPerDelivery?: string;
  signedSeen: number;
  total: number;
  baseline?: boolean;
}

interface MicroRun {
  label: string;
  microseconds: number[];
}

// ---------------------------------------------------------------------------------------------

const RECEIVER_SCRIPT = fileURLToPath(new URL('./webhook-receiver.ts', import.meta.url));

interface Receiver {
  url: string;
  ask(type: ReceiverRequest['type']): Promise<ReceiverStats>;
  stop(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const child: ChildProcess = fork(RECEIVER_SCRIPT, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unregister = onCleanup(kill);
  const next = <T>(ms: number) =>
    withTimeout(
      new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T))),
      ms,
      'the receiver process',
    );
  const ready = await next<{ url: string }>(30_000);
  return {
    url: ready.url,
    async ask(type) {
      const reply = next<ReceiverStats>(10_000);
      child.send({ type } satisfies ReceiverRequest);
      return reply;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'stop' } satisfies ReceiverRequest);
      await withTimeout(exited, 10_000, 'the receiver to exit').catch(kill);
      unregister();
    },
  };
}

/** A result as Arbiter stores and delivers it (≈ 400 bytes of JSON). */
function sampleResult(id: string): ScanResult {
  return {
    id,
    checksum: createHash('sha1').update(id).digest('hex'),
    content_length: 65_536,
    findings: [],
    creation_date: new Date().toISOString(),
    content_type: 'application/pdf',
    metadata: { upload_id: `upload-${id.slice(0, 8)}`, tenant_ref: 'cms-production' },
    engines: [{ name: 'builtin', version: 'arbiter-builtin/0.1.0 db:3f0c8e6a1b2d (3,000 hashes)' }],
  };
}

// ---------------------------------------------------------------------------------------------

export async function runWebhooks(settings = webhookBenchSettings()): Promise<BenchSection> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const secondSecret = `whsec_${randomBytes(32).toString('base64')}`;
  const result = sampleResult(newId());
  const body = JSON.stringify(result);

  log('webhooks: signing micro-benchmark');
  const micro = await microBenchmarks(settings, body, result.id, secret, secondSecret);

  const receiver = await startReceiver();
  try {
    log('webhooks: POSTs through the outbound client');
    const client = await clientPaths(settings, receiver, body, result.id, secret, secondSecret);
    log("webhooks: Arbiter's delivery path");
    const arbiter = await arbiterPaths(settings, receiver);
    return section(settings, micro, [...client, ...arbiter], body.length);
  } finally {
    await receiver.stop();
  }
}

async function microBenchmarks(
  settings: WebhookBenchSettings,
  body: string,
  scanId: string,
  secret: string,
  secondSecret: string,
): Promise<MicroRun[]> {
  const id = webhookIdFor(scanId);
  const signedHeaders = signWebhook({ id, body, secrets: [secret] });
  const wh = new Webhook(secret);
  const cases: Array<{ label: string; run: () => unknown }> = [
    {
      label: 'JSON.stringify of the result (for scale)',
      run: () => JSON.stringify(JSON.parse(body)),
    },
    {
      label: 'signWebhook, 1 secret (the three headers)',
      run: () => signWebhook({ id, body, secrets: [secret] }),
    },
    {
      label: 'signWebhook, 2 secrets (during a rotation)',
      run: () => signWebhook({ id, body, secrets: [secret, secondSecret] }),
    },
    {
      label: 'verifyDelivery (receiver kit, replay store off)',
      run: () =>
        verifyDelivery({
          body,
          headers: signedHeaders as unknown as Record<string, string>,
          secret,
          replayStore: false,
        }),
    },
    {
      label: '`standardwebhooks` Webhook.verify (for comparison)',
      run: () => wh.verify(body, signedHeaders),
    },
  ];
  const runs: MicroRun[] = [];
  for (const c of cases) {
    const ops = settings.signOps;
    for (let i = 0; i < Math.min(ops, 5000); i++) await c.run(); // warm-up
    const microseconds: number[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      const started = performance.now();
      for (let i = 0; i < ops; i++) await c.run();
      microseconds.push(((performance.now() - started) * 1000) / ops);
    }
    runs.push({ label: c.label, microseconds });
    log(`webhooks: ${c.label}: ${fmt.num(median(microseconds), 2)} µs`);
  }
  return runs;
}

/** The same body POSTed by the outbound client: unsigned, signed with one and with two secrets, rounds interleaved. */
async function clientPaths(
  settings: WebhookBenchSettings,
  receiver: Receiver,
  body: string,
  scanId: string,
  secret: string,
  secondSecret: string,
): Promise<PathRun[]> {
  const http = createOutboundHttp({
    userAgent: 'arbiter-bench',
    policy: createNetworkPolicy(['127.0.0.0/8']),
  });
  const url = `${receiver.url}/callback`;
  const id = webhookIdFor(scanId);
  const base = { 'content-type': 'application/json', 'user-agent': 'arbiter-bench' };
  const variants: Array<{
    label: string;
    baseline?: boolean;
    headers: () => Record<string, string>;
  }> = [
    { label: 'unsigned POST (baseline)', baseline: true, headers: () => base },
    {
      label: 'signed POST, 1 secret',
      headers: () => ({ ...base, ...signWebhook({ id, body, secrets: [secret] }) }),
    },
    {
      label: 'signed POST, 2 secrets',
      headers: () => ({ ...base, ...signWebhook({ id, body, secrets: [secret, secondSecret] }) }),
    },
  ];
  for (const variant of variants)
    await postLoop(http, url, body, settings.warmup, settings.concurrency, variant.headers);

  const runs: PathRun[] = variants.map((v) => ({
    label: v.label,
    baseline: v.baseline,
    rates: [],
    latencies: [],
    cpuMs: { sender: 0 },
    signedSeen: 0,
    total: 0,
  }));
  for (let round = 0; round < settings.rounds; round++) {
    // The order rotates from round to round, so that no sender always goes first.
    for (let k = 0; k < variants.length; k++) {
      const i = (k + round) % variants.length;
      const variant = variants[i] as (typeof variants)[number];
      const run = runs[i] as PathRun;
      await receiver.ask('reset');
      const cpu = process.cpuUsage();
      const measured = await postLoop(
        http,
        url,
        body,
        settings.deliveries,
        settings.concurrency,
        variant.headers,
      );
      const used = process.cpuUsage(cpu);
      const stats = await receiver.ask('stats');
      run.rates.push(settings.deliveries / measured.seconds);
      run.latencies.push(...measured.latencies);
      run.cpuMs.sender +=
        (used.user + used.system) / 1000 / (settings.deliveries * settings.rounds);
      run.signedSeen += stats.signed;
      run.total += stats.count;
      if (!variant.baseline && stats.sample) {
        new Webhook(secret).verify(stats.sample.body, stats.sample.headers); // throws if the wire form is wrong
      }
      log(
        `webhooks: ${variant.label}, round ${round + 1}: ${fmt.int(settings.deliveries / measured.seconds)} deliveries/s`,
      );
    }
  }
  return runs;
}

async function postLoop(
  http: OutboundHttp,
  url: string,
  body: string,
  count: number,
  concurrency: number,
  headers: () => Record<string, string>,
): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  await mapPool(Array.from({ length: count }), concurrency, async () => {
    const t0 = performance.now();
    const outcome = await http.post(url, body, headers(), 10_000);
    if (outcome.status !== 204) throw new Error(`receiver answered ${outcome.status}`);
    latencies.push(performance.now() - t0);
  });
  return { seconds: (performance.now() - started) / 1000, latencies };
}

/** Real delivery jobs worked by Arbiter's workers (a `full` target process), many tenants and one. */
async function arbiterPaths(
  settings: WebhookBenchSettings,
  receiver: Receiver,
): Promise<PathRun[]> {
  const redis = await startTestRedis();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-webhooks-'));
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
  };
  const client = createRedis(redis.url, 'command', () => undefined);
  const keys = new RedisKeys('arbiter');
  const tenantStore = new TenantStore(client, keys);
  const scans = new ScanStore(client, keys, 3600);
  const queues = createQueues(queueConnectionOptions(redis.url, 'command'), keys.queuePrefix);
  const target = await startTarget({ mode: 'full', env });
  try {
    const tenants = await Promise.all(
      Array.from({ length: settings.tenants }, async (_v, i) => {
        const created = await tenantStore.createTenant(`bench-${i}`);
        return { id: created.tenant.id, secret: created.signingSecret };
      }),
    );
    const secretOf = new Map(tenants.map((t) => [t.id, t.secret]));
    const tenantOfScan = new Map<string, string>();

    /** Stores `count` finished scans with a callback, queues their deliveries paused, then times them. */
    const round = async (count: number, tenantIds: string[]) => {
      const jobs: CallbackJob[] = [];
      await mapPool(Array.from({ length: count }), 32, async (_v, i) => {
        const tenantId = tenantIds[i % tenantIds.length] as string;
        const request: ScanRequest = {
          id: newId(),
          tenantId,
          source: 'location',
          location: 'http://127.0.0.1/never-fetched',
          callback: `${receiver.url}/callback`,
          metadata: { upload_id: String(i) },
          creationDate: new Date().toISOString(),
        };
        await scans.createPending(request);
        await scans.complete(tenantId, sampleResult(request.id));
        tenantOfScan.set(request.id, tenantId);
        jobs.push({ tenantId, scanId: request.id });
      });
      await queues.callback.pause();
      await queues.callback.addBulk(
        jobs.map((data) => ({
          name: 'deliver',
          data,
          opts: { ...CALLBACK_JOB_OPTIONS, jobId: callbackJobId(data) },
        })),
      );
      await receiver.ask('reset');
      const started = performance.now();
      await queues.callback.resume();
      const stats = await waitFor(
        async () => {
          const s = await receiver.ask('stats');
          return s.count >= count ? s : undefined;
        },
        { timeoutMs: settings.timeoutSeconds * 1000, intervalMs: 5, what: `${count} deliveries` },
      );
      const seconds = (performance.now() - started) / 1000;
      if (stats.sample) {
        const scanId = JSON.parse(stats.sample.body) as { id: string };
        new Webhook(secretOf.get(tenantOfScan.get(scanId.id) ?? '') ?? '').verify(
          stats.sample.body,
          stats.sample.headers,
        );
      }
      return { seconds, stats };
    };

    await round(
      settings.warmup,
      tenants.map((t) => t.id),
    );
    const configs = [
      {
        label: `Arbiter workers, deliveries spread over ${settings.tenants} tenants`,
        tenantIds: tenants.map((t) => t.id),
      },
      {
        label: 'Arbiter workers, all deliveries from one tenant',
        tenantIds: [tenants[0]?.id ?? ''],
      },
    ];
    const runs: PathRun[] = [];
    for (const config of configs) {
      const run: PathRun = {
        label: config.label,
        rates: [],
        latencies: [],
        cpuMs: { sender: 0 },
        signedSeen: 0,
        total: 0,
      };
      const before = await cpuSnapshot(target, redis.socket);
      const callsBefore = await redisCommandCalls(redis.socket);
      for (let r = 0; r < settings.rounds; r++) {
        const { seconds, stats } = await round(settings.deliveries, config.tenantIds);
        run.rates.push(settings.deliveries / seconds);
        run.signedSeen += stats.signed;
        run.total += stats.count;
        log(
          `webhooks: ${config.label}, round ${r + 1}: ${fmt.int(settings.deliveries / seconds)} deliveries/s`,
        );
      }
      const after = await cpuSnapshot(target, redis.socket);
      const callsAfter = await redisCommandCalls(redis.socket);
      const n = settings.deliveries * settings.rounds;
      // The stores and the enqueueing happen between timed windows but inside the CPU window; their
      // Redis commands are counted (they are part of a delivery's life), their bench-process CPU is not reported.
      run.cpuMs = {
        sender: ((after.server - before.server) * 1000) / n,
        redis: ((after.redis - before.redis) * 1000) / n,
      };
      run.cores = coresBusy(before, after);
      run.redisPerDelivery = commandsPer(callsBefore, callsAfter, n);
      runs.push(run);
    }
    return runs;
  } finally {
    await target.stop();
    await queues.close();
    client.disconnect();
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
    unregister();
  }
}

// ---------------------------------------------------------------------------------------------

function section(
  settings: WebhookBenchSettings,
  micro: MicroRun[],
  runs: PathRun[],
  bodyBytes: number,
): BenchSection {
  const rate = (run: PathRun) => median(run.rates);
  const us = (label: string) =>
    median(micro.find((m) => m.label.startsWith(label))?.microseconds ?? []);
  const baseline = runs.find((r) => r.baseline);
  const signed1 = runs.find((r) => r.label === 'signed POST, 1 secret');
  const signed2 = runs.find((r) => r.label === 'signed POST, 2 secrets');
  const many = runs.find((r) => r.label.includes('spread over'));
  const one = runs.find((r) => r.label.includes('one tenant'));

  const rows = runs.map((run) => [
    run.baseline ? run.label : run === many || run === one ? `**${run.label}**` : run.label,
    run.baseline || run === many || run === one ? `**${fmt.int(rate(run))}**` : fmt.int(rate(run)),
    `${fmt.int(Math.min(...run.rates))}–${fmt.int(Math.max(...run.rates))}`,
    baseline && !run.baseline ? fmt.pct(rate(run) / rate(baseline)) : '—',
    run.latencies.length ? fmt.ms(percentile(run.latencies, 50), 2) : '—',
    run.latencies.length ? fmt.ms(percentile(run.latencies, 99), 2) : '—',
    run.cpuMs.redis === undefined
      ? fmt.ms(run.cpuMs.sender, 3)
      : `${fmt.ms(run.cpuMs.sender, 3)} / ${fmt.ms(run.cpuMs.redis, 3)}`,
    `${fmt.int(run.signedSeen)} of ${fmt.int(run.total)}`,
  ]);
  const microRows = micro.map((m) => [
    m.label,
    fmt.num(median(m.microseconds), 2),
    `${fmt.num(Math.min(...m.microseconds), 2)}–${fmt.num(Math.max(...m.microseconds), 2)}`,
    fmt.int(1e6 / median(m.microseconds)),
  ]);

  const reading: string[] = [];
  if (baseline && signed1 && signed2) {
    const perDelivery = (run: PathRun) => 1000 / rate(run); // ms of wall time per delivery at this concurrency
    reading.push(
      `Signing one delivery costs ${fmt.num(us('signWebhook, 1 secret'), 1)} µs of CPU (${fmt.num(us('signWebhook, 2 secrets'), 1)} µs with ` +
        `two secrets during a rotation), against ${fmt.ms(baseline.cpuMs.sender, 3)} of CPU for the unsigned POST itself in the ` +
        `sending process: ${fmt.pct(us('signWebhook, 1 secret') / 1000 / baseline.cpuMs.sender)} more.`,
      `End to end, ${settings.concurrency} at a time, signed POSTs ran at ${fmt.int(rate(signed1))} deliveries/s (${fmt.int(rate(signed2))} ` +
        `with two secrets) against ${fmt.int(rate(baseline))} unsigned, ${fmt.pct(rate(signed1) / rate(baseline))} of the baseline; ` +
        `the ranges of the rounds ${overlap(signed1.rates, baseline.rates) ? 'overlap, so the difference is within the noise of this machine' : 'do not overlap'} ` +
        `(${fmt.num((perDelivery(signed1) - perDelivery(baseline)) * 1000, 0)} µs more wall time per delivery at the medians).`,
    );
  }
  if (many && one && baseline) {
    reading.push(
      `Arbiter's whole delivery path sustained ${fmt.int(rate(many))} deliveries/s with the deliveries spread over ${settings.tenants} tenants ` +
        `(${fmt.pct(rate(many) / rate(baseline))} of the bare POST rate): each delivery is also a BullMQ job moved through its states, ` +
        `the stored result and the signing secrets read from Redis, a per-tenant lease taken and released, and a trace event written — ` +
        `${many.redisPerDelivery?.split(' ')[0] ?? '?'} Redis commands and ${fmt.ms(many.cpuMs.sender, 3)} of worker CPU per delivery; ` +
        `${many.cores ? limitedBy(many.cores, 'the worker process') : ''}.`,
      `With every delivery from one tenant, the per-tenant bound (ARBITER_CALLBACK_TENANT_CONCURRENCY, 4 by default) holds it to ` +
        `${fmt.int(rate(one))} deliveries/s (${fmt.pct(rate(one) / rate(many))} of the spread-out figure): the price of the fairness ` +
        'guarantee when one tenant has the queue to itself. Its jobs beyond the bound are turned away, parked, and woken one by one as ' +
        `slots free, which costs Redis commands (${one.redisPerDelivery?.split(' ')[0] ?? '?'} per delivery against ` +
        `${many.redisPerDelivery?.split(' ')[0] ?? '?'}) and worker CPU (${fmt.ms(one.cpuMs.sender, 3)} against ${fmt.ms(many.cpuMs.sender, 3)}).`,
    );
  }

  return {
    title: 'Callback deliveries, signed, beside unsigned POSTs',
    measured:
      `Deliveries per second of a ${fmt.int(bodyBytes)}-byte result JSON to a loopback receiver (its own Node process, answering 204), ` +
      `${settings.concurrency} in flight (ARBITER_CALLBACK_CONCURRENCY's default): POSTed by Arbiter's outbound client signed per ` +
      "Standard Webhooks (one secret, and two as during a rotation), and delivered by Arbiter's workers from real callback jobs; " +
      'plus the CPU time of signing one delivery, measured alone.',
    baseline:
      'The same body POSTed by the same outbound client to the same receiver with no webhook headers, in the same run, ' +
      'rounds interleaved with the signed ones.',
    tables: [
      {
        columns: [
          'Sender',
          'Deliveries/s (median)',
          'Range',
          'vs baseline',
          'Latency p50',
          'p99',
          'CPU per delivery: sender (/ redis)',
          'Signed, as seen by the receiver',
        ],
        rows,
      },
      {
        caption: `Signing and verifying one delivery (${fmt.int(bodyBytes)}-byte body), one core, ${fmt.int(settings.signOps)} calls per round`,
        columns: ['Operation', 'µs per call (median)', 'Range', 'Calls/s'],
        rows: microRows,
      },
    ],
    reading,
    notes: [
      `${fmt.int(settings.deliveries)} deliveries per round, ${settings.rounds} rounds per sender, median reported with the range ` +
        `(BENCH_WEBHOOK_DELIVERIES, BENCH_WEBHOOK_ROUNDS, BENCH_WEBHOOK_CONCURRENCY); ${fmt.int(settings.warmup)} untimed deliveries ` +
        'per sender first (BENCH_WEBHOOK_WARMUP).',
      'Outbound-client rows: `createOutboundHttp().post` (the guarded client every callback goes through, loopback allowed) in ' +
        'the benchmark process; signing happens inside the timed loop, per request, with a fresh timestamp. Latency is per POST, ' +
        "headers built to answer received. CPU per delivery is the benchmark process's (the receiver runs elsewhere).",
      'Arbiter rows: Arbiter (api + workers, default settings, `LOG_LEVEL=silent`) in a child process on a private redis-server; ' +
        'the benchmark stores finished scans with a callback URL and adds their delivery jobs to the paused callback queue, then ' +
        'resumes it and times until the receiver has every delivery. CPU per delivery: the Arbiter process / redis-server over the ' +
        `timed rounds and the stores between them. Redis commands per delivery (\`INFO commandstats\`, the benchmark's own stores ` +
        `and enqueueing included, ten busiest), spread over ${settings.tenants} tenants: ${busiest(many?.redisPerDelivery)}; one tenant: ` +
        `${busiest(one?.redisPerDelivery)}.`,
      'Every signed sender was checked: the receiver counted a `webhook-signature` header on each delivery, and sampled deliveries ' +
        'verified with the public `standardwebhooks` package.',
      `Micro-benchmark: ${fmt.int(settings.signOps)} sequential calls per round (BENCH_WEBHOOK_SIGN_OPS) after 5,000 untimed; ` +
        'signWebhook decodes the secret, computes HMAC-SHA256 over "id.timestamp.body" with node:crypto and formats the headers.',
      ...(many?.cores
        ? [
            `Cores busy during the spread-over-tenants rounds: ${formatCores(many.cores)} (worker / redis / bench / other).`,
          ]
        : []),
    ],
  };
}

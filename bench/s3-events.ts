import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startCallbackReceiver } from '../test/support/http-servers.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { S3RVER_CREDENTIALS, startS3Harness, type S3Harness } from '../test/support/s3.js';
import { waitFor } from '../test/support/wait.js';
import type { BenchSection } from './report.js';
import {
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
  startTarget,
  type CoresBusy,
} from './support.js';

/**
 * Benchmark: S3 event → tagged latency. Objects are put into s3rver; the harness forwards each
 * object event into an SQS queue (fauxqs) the way S3 does; Arbiter (api + workers + SQS pollers
 * in their own process, default settings: 20 s long polls, scan concurrency 4) receives it,
 * reads the object with GetObject, scans it, merges its tags and calls back.
 *
 * - Paced: objects put one at a time (the next once the previous is tagged, at most BENCH_S3_RATE
 *   per second); each object's latency runs from the moment s3rver emitted its event to the moment
 *   GetObjectTagging first shows scan-result (polled every BENCH_S3_POLL_MS).
 * - Burst: all objects put at once (8 uploads in flight); time from the first event to the last
 *   callback, and event → callback latency per object (the callback follows the tagging).
 * - Baseline, same s3rver, same run: GetObject of the same-size objects, one at a time and 8 at a
 *   time: what reading the objects alone costs on this store.
 */

export interface S3EventsSettings {
  objects: number;
  objectBytes: number;
  rate: number;
  pollMs: number;
  warmup: number;
  getConcurrency: number;
  timeoutSeconds: number;
}

export function s3EventsSettings(): S3EventsSettings {
  return {
    objects: envInt('BENCH_S3_OBJECTS', 300),
    objectBytes: envInt('BENCH_S3_OBJECT_BYTES', 64 * 1024),
    rate: envInt('BENCH_S3_RATE', 20),
    pollMs: envInt('BENCH_S3_POLL_MS', 5),
    warmup: envInt('BENCH_S3_WARMUP', 50),
    getConcurrency: envInt('BENCH_S3_GET_CONCURRENCY', 8),
    timeoutSeconds: envInt('BENCH_S3_TIMEOUT', 180),
  };
}

interface Latencies {
  values: number[];
  seconds: number;
}

interface Results {
  paced: Latencies;
  burst: Latencies & { cores: CoresBusy };
  get: { sequential: Latencies; concurrent: Latencies };
  problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runS3Events(settings = s3EventsSettings()): Promise<BenchSection> {
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-s3-'));
  const redis = await startTestRedis();
  const harness = await startS3Harness();
  const receiver = await startCallbackReceiver();
  const unregister = onCleanup(async () => {
    await redis.kill();
    await receiver.close();
    await harness.stop();
  });
  const env: Record<string, string> = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: work,
    LOG_LEVEL: 'silent',
    ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    ARBITER_SECRET_KEY: randomBytes(32).toString('base64'),
    ARBITER_SQS_REFRESH_MS: '200',
  };
  log('s3-events: starting');
  const target = await startTarget({ mode: 'full', env });
  try {
    await harness.createBucket('baseline');
    await harness.createBucket('watched');
    const queue = await harness.createQueue('q-watched');
    const response = await fetch(`${target.ready.url}/v1/buckets/watched`, {
      method: 'PUT',
      headers: { authorization: target.ready.auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        endpoint: harness.s3Endpoint,
        credentials: { type: 'static', ...S3RVER_CREDENTIALS },
        callback: `${receiver.url}/callback`,
        queue: {
          url: queue.url,
          endpoint: harness.sqsEndpoint,
          credentials: { type: 'static', accessKeyId: 'bench', secretAccessKey: 'bench' },
        },
      }),
    });
    if (response.status !== 201)
      throw new Error(`bucket registration answered ${response.status}: ${await response.text()}`);
    harness.bridge('watched', { mode: 'direct', queueUrl: queue.url });
    const results = await measure(harness, target, redis.socket, receiver, settings);
    return section(results, settings);
  } finally {
    await target.stop();
    await redis.stop();
    await receiver.close();
    await harness.stop();
    unregister();
    await rm(work, { recursive: true, force: true });
  }
}

async function measure(
  harness: S3Harness,
  target: Awaited<ReturnType<typeof startTarget>>,
  redisSocket: string,
  receiver: Awaited<ReturnType<typeof startCallbackReceiver>>,
  settings: S3EventsSettings,
): Promise<Results> {
  const timeoutMs = settings.timeoutSeconds * 1000;
  const body = () => randomBytes(settings.objectBytes);
  const eventAt = new Map<string, number>();
  harness.onEvent((event, at) => {
    for (const record of event.Records)
      eventAt.set(`${record.s3.bucket.name}/${record.s3.object.key}`, at);
  });
  const callbackAt = new Map<string, number>();
  receiver.respondWith = (_attempt, delivery) => {
    callbackAt.set(
      `${String(delivery.json.bucket)}/${String(delivery.json.key)}`,
      performance.now(),
    );
    return 200;
  };
  const put = (bucket: string, key: string) =>
    harness.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body() }));
  const tagged = async (key: string) => {
    const output = await harness.s3.send(
      new GetObjectTaggingCommand({ Bucket: 'watched', Key: key }),
    );
    return (output.TagSet ?? []).find((tag) => tag.Key === 'scan-result')?.Value;
  };
  const problems: string[] = [];

  // Baseline: GetObject on the same s3rver (objects of the same size, read to the end).
  const baselineKeys = Array.from(
    { length: settings.objects },
    (_v, i) => `baseline/object-${i}.bin`,
  );
  await mapPool(baselineKeys, 8, (key) => put('baseline', key));
  const get = async (key: string) => {
    const output = await harness.s3.send(new GetObjectCommand({ Bucket: 'baseline', Key: key }));
    const bytes = await output.Body!.transformToByteArray();
    if (bytes.length !== settings.objectBytes)
      throw new Error(`GetObject ${key}: ${bytes.length} bytes`);
  };
  for (const key of baselineKeys.slice(0, settings.warmup)) await get(key);
  const timedGets = async (concurrency: number): Promise<Latencies> => {
    const values: number[] = [];
    const started = performance.now();
    await mapPool(baselineKeys, concurrency, async (key) => {
      const at = performance.now();
      await get(key);
      values.push(performance.now() - at);
    });
    return { values, seconds: (performance.now() - started) / 1000 };
  };
  const sequential = await timedGets(1);
  const concurrent = await timedGets(settings.getConcurrency);
  log(
    `s3-events: GetObject ${fmt.int(settings.objects / sequential.seconds)}/s sequential, ${fmt.int(settings.objects / concurrent.seconds)}/s at ${settings.getConcurrency}`,
  );

  // Warm-up (not timed): the poller, the workers, every connection.
  const warmKeys = Array.from({ length: settings.warmup }, (_v, i) => `warmup/object-${i}.bin`);
  await mapPool(warmKeys, 8, (key) => put('watched', key));
  await waitFor(() => warmKeys.every((key) => callbackAt.has(`watched/${key}`)), {
    timeoutMs,
    intervalMs: 10,
    what: 'the warm-up objects',
  });

  // Paced: one object at a time (the next is put once the previous is tagged, and no sooner
  // than 1/rate after it), polling only that object's tags until scan-result appears.
  const pacedKeys = Array.from(
    { length: settings.objects },
    (_v, i) => `paced/dir ${i % 10}/object ${i}.bin`,
  );
  const pacedLatency: number[] = [];
  const pacedStarted = performance.now();
  for (const key of pacedKeys) {
    const slot = performance.now() + 1000 / settings.rate;
    await put('watched', key);
    const deadline = performance.now() + timeoutMs;
    let value: string | undefined;
    while ((value = await tagged(key)) === undefined && performance.now() < deadline) {
      await sleep(settings.pollMs);
    }
    const at = performance.now();
    if (value === undefined)
      problems.push(`${key}: not tagged within ${settings.timeoutSeconds} s`);
    else {
      if (value !== 'clean') problems.push(`${key}: scan-result=${value}`);
      pacedLatency.push(at - (eventAt.get(`watched/${key}`) ?? Number.NaN));
    }
    await sleep(Math.max(0, slot - performance.now()));
  }
  const paced = { values: pacedLatency, seconds: (performance.now() - pacedStarted) / 1000 };
  log(
    `s3-events: paced p50 ${fmt.ms(percentile(pacedLatency, 50))}, p99 ${fmt.ms(percentile(pacedLatency, 99))}`,
  );

  // Burst: every object at once; time to the last callback.
  const burstKeys = Array.from(
    { length: settings.objects },
    (_v, i) => `burst/object ${i}+${i % 7}.bin`,
  );
  const before = await cpuSnapshot(target, redisSocket);
  const burstStarted = performance.now();
  await mapPool(burstKeys, 8, (key) => put('watched', key));
  await waitFor(() => burstKeys.every((key) => callbackAt.has(`watched/${key}`)), {
    timeoutMs,
    intervalMs: 5,
    what: 'the burst callbacks',
  });
  const after = await cpuSnapshot(target, redisSocket);
  const firstEvent = Math.min(
    ...burstKeys.map((key) => eventAt.get(`watched/${key}`) ?? Number.NaN),
  );
  const lastCallback = Math.max(
    ...burstKeys.map((key) => callbackAt.get(`watched/${key}`) ?? Number.NaN),
  );
  const burst = {
    values: burstKeys.map(
      (key) =>
        (callbackAt.get(`watched/${key}`) ?? Number.NaN) -
        (eventAt.get(`watched/${key}`) ?? Number.NaN),
    ),
    seconds: (lastCallback - Math.min(firstEvent, burstStarted)) / 1000,
    cores: coresBusy(before, after),
  };
  log(`s3-events: burst ${fmt.num(settings.objects / burst.seconds)} objects/s`);
  for (const key of burstKeys) {
    const value = await tagged(key);
    if (value !== 'clean') problems.push(`${key}: scan-result=${String(value)} after the burst`);
  }
  const results = receiver.deliveries.filter(
    (d) => String(d.json.key).startsWith('burst/') || String(d.json.key).startsWith('paced/'),
  );
  if (results.length !== 2 * settings.objects)
    problems.push(`${results.length} callbacks for ${2 * settings.objects} objects`);
  for (const delivery of results) {
    if (
      delivery.json.error ||
      delivery.json.outcome !== 'clean' ||
      delivery.json.content_length !== settings.objectBytes
    ) {
      problems.push(
        `${String(delivery.json.key)}: unexpected result ${delivery.body.slice(0, 200)}`,
      );
    }
  }
  return { paced, burst, get: { sequential, concurrent }, problems };
}

function section(results: Results, settings: S3EventsSettings): BenchSection {
  const { paced, burst, get } = results;
  const kib = settings.objectBytes / 1024;
  const n = settings.objects;
  const p = (values: number[], q: number) => fmt.ms(percentile(values, q), 1);
  const rows: (string | number)[][] = [
    [
      `**event → tagged**, one object at a time (at most ${settings.rate}/s)`,
      `**${p(paced.values, 50)}**`,
      `**${p(paced.values, 99)}**`,
      fmt.ms(Math.max(...paced.values), 1),
      '—',
    ],
    [
      `event → callback, burst of ${n} (8 uploads in flight)`,
      p(burst.values, 50),
      p(burst.values, 99),
      fmt.ms(Math.max(...burst.values), 1),
      `**${fmt.num(n / burst.seconds)} objects/s**`,
    ],
    [
      'GetObject alone, one at a time (baseline)',
      p(get.sequential.values, 50),
      p(get.sequential.values, 99),
      fmt.ms(Math.max(...get.sequential.values), 1),
      `${fmt.int(n / get.sequential.seconds)} GETs/s`,
    ],
    [
      `GetObject alone, ${settings.getConcurrency} at a time (baseline)`,
      p(get.concurrent.values, 50),
      p(get.concurrent.values, 99),
      fmt.ms(Math.max(...get.concurrent.values), 1),
      `${fmt.int(n / get.concurrent.seconds)} GETs/s`,
    ],
  ];
  const getP50 = percentile(get.sequential.values, 50);
  const pacedP50 = percentile(paced.values, 50);
  return {
    title: 'S3 events: event → tagged latency',
    measured:
      `${n} objects of ${fmt.num(kib, 0)} KiB put into s3rver 3.7.1 (in the benchmark process), each object event ` +
      'forwarded by the test harness into an SQS queue on fauxqs 1.9.2 as S3 would send it, and handled by Arbiter ' +
      '(api + workers + SQS pollers in one separate process, default settings: 20 s long polls, batches of 10, scan ' +
      'concurrency 4): receive, parse, queue the scan job, delete the message; the worker reads the object with ' +
      'GetObject into the spool, scans it with the built-in engine, checks the key still holds what it read ' +
      '(HeadObject: the objects are unversioned), merges the scan tags (GetObjectTagging + PutObjectTagging) ' +
      'and calls back. Paced: one object at a time (the next once the previous is tagged, at most ' +
      `${settings.rate}/s), latency from the moment s3rver emitted the event to the first GetObjectTagging (polled every ` +
      `${settings.pollMs} ms) that shows scan-result. Burst: all ${n} objects uploaded at once, latency to each callback ` +
      '(sent just after the tags are written) and the rate from the first event to the last callback.',
    baseline:
      `GetObject of ${n} objects of the same size from the same s3rver in the same run, read to the end, one at a time ` +
      `and ${settings.getConcurrency} at a time: what reading the objects costs on this store before anything else.`,
    tables: [
      {
        columns: ['what', 'p50', 'p99', 'max', 'rate'],
        rows,
      },
      {
        caption:
          'CPU during the burst (cores busy: Arbiter / redis-server / benchmark process incl. s3rver and fauxqs / other)',
        columns: ['window', 'cores busy'],
        rows: [[`burst of ${n}`, formatCores(burst.cores)]],
      },
    ],
    reading: [
      `An object is tagged ${fmt.ms(pacedP50, 1)} (p50) after its event, about ${fmt.num(pacedP50 / getP50, 0)} times a ` +
        `bare GetObject of the same object on the same store (${fmt.ms(getP50, 1)}): the rest is the SQS hop, the ` +
        'scan job through Redis, the scan, and three more S3 calls for the tags.',
      `Under a burst the pipeline moved ${fmt.num(n / burst.seconds)} objects/s, against ${fmt.int(n / get.concurrent.seconds)} bare ` +
        `GETs/s at ${settings.getConcurrency} in flight; ${limitedBy(burst.cores, 'Arbiter')}.`,
    ],
    notes: [
      'The latency includes the harness forwarding the event to fauxqs (one SendMessage over loopback), as S3 itself would deliver it; s3rver and fauxqs share the benchmark process, which also polls the tags.',
      'Tag polling adds up to the poll interval plus one GetObjectTagging round trip to each paced figure.',
      `Settings: BENCH_S3_OBJECTS=${n}, BENCH_S3_OBJECT_BYTES=${settings.objectBytes}, BENCH_S3_RATE=${settings.rate}, ` +
        `BENCH_S3_POLL_MS=${settings.pollMs}, BENCH_S3_WARMUP=${settings.warmup} (untimed warm-up objects), ` +
        `BENCH_S3_GET_CONCURRENCY=${settings.getConcurrency}, BENCH_S3_TIMEOUT=${settings.timeoutSeconds}.`,
      results.problems.length === 0
        ? `Checked: every timed object ended tagged scan-result=clean with a clean callback of the right size (${2 * n} callbacks).`
        : `PROBLEMS (the figures are not trustworthy): ${results.problems.slice(0, 5).join('; ')}${results.problems.length > 5 ? ` and ${results.problems.length - 5} more` : ''}.`,
    ],
  };
}

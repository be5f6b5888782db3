import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import yazl from 'yazl';
import { createLogger } from '../core/logger.js';
import { BuiltinEngine } from '../scanning/builtin-engine.js';
import { ImageAnalyzer } from '../scanning/analysis/images/image-analyzer.js';
import { YaraRunner } from '../scanning/analysis/yara/yara-runner.js';
import { defaultPlan } from '../scanning/plan.js';
import { SIGNATURES_DIR } from '../test/support/corpus.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { MIB, median } from './engine-measure.js';
import type { BenchSection } from './report.js';
import { envInt, fmt, log, onCleanup, percentile, startTarget } from './support.js';

/**
 * Benchmark: what the detection categories beyond malware cost.
 *
 * - Images classified per second on one classifier thread (one core), beside sharp decoding and
 *   resizing the same images alone on one thread: what the model adds to the decode.
 * - The latency of sync `POST /v2.2/files` for each category switched on for the calling key
 *   (and for a tenant with a 1,000-rule YARA pack), beside malware alone on the same files, one
 *   request at a time.
 * - YARA MB/s for a tenant's 1,000-rule pack on one thread, beside the built-in engine's scan of
 *   the same files.
 */

export interface CategoriesBenchSettings {
  images: number;
  requests: number;
  warmup: number;
  rounds: number;
}

export function categoriesBenchSettings(): CategoriesBenchSettings {
  return {
    images: envInt('BENCH_CATEGORIES_IMAGES', 60),
    requests: envInt('BENCH_CATEGORIES_REQUESTS', 100),
    warmup: envInt('BENCH_CATEGORIES_WARMUP', 10),
    rounds: envInt('BENCH_CATEGORIES_ROUNDS', 3),
  };
}

const ADMIN_TOKEN = randomBytes(24).toString('hex');

/** Words for clean English-like text: the language rules must not fire on it. */
const WORDS = (
  'the service reads every file it is given and answers with a verdict that names what it ' +
  'found inside archives mail and documents so that an application can hold an upload until ' +
  'it is judged and a bucket can keep its objects apart until they are known to be clean'
).split(' ');

function prose(bytes: number, seed: number): Buffer {
  let state = seed;
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const word = WORDS[state % WORDS.length] ?? 'the';
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' ').slice(0, bytes));
}

/** A 640×480 photo-like JPEG: smooth colour fields with noise, different for each seed. */
async function photo(seed: number): Promise<Buffer> {
  const width = 640;
  const height = 480;
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const at = (y * width + x) * 3;
      pixels[at] = (x * 255) / width + (state % 16);
      pixels[at + 1] = (y * 255) / height + ((state >> 8) % 16);
      pixels[at + 2] = ((seed * 37) % 200) + ((state >> 16) % 32);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** A tenant's pack of `count` rules: words, hex strings with jumps and a regex, none matching. */
function rulePack(count: number): string {
  const rules: string[] = [];
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(6).toString('hex').match(/../g)?.join(' ') ?? '00';
    if (i % 3 === 0)
      rules.push(`rule word_${i} { strings: $a = "zqx${i}vk" nocase condition: $a }`);
    else if (i % 3 === 1) rules.push(`rule hex_${i} { strings: $a = { ${hex} } condition: $a }`);
    else rules.push(`rule re_${i} { strings: $a = /qz${i}[0-9]{4}x/ condition: $a }`);
  }
  return rules.join('\n');
}

function zipOf(entries: Record<string, Buffer>): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) archive.addBuffer(data, name);
  archive.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    archive.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    archive.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    archive.outputStream.on('error', reject);
  });
}

interface ImageRates {
  classified: number;
  decoded: number;
  firstMs: number;
}

async function measureImages(settings: CategoriesBenchSettings): Promise<ImageRates> {
  const images = await Promise.all(Array.from({ length: settings.images }, (_, i) => photo(i + 1)));
  sharp.concurrency(1);
  const decodeStarted = performance.now();
  for (const image of images) {
    await sharp(image).rotate().resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  }
  const decoded = images.length / ((performance.now() - decodeStarted) / 1000);
  sharp.concurrency(0);

  const analyzer = new ImageAnalyzer({
    threads: 1,
    timeoutMs: 60_000,
    maxBytes: 32 * MIB,
    maxPixels: 64_000_000,
  });
  try {
    const check = await analyzer.prepare({
      ...defaultPlan('bench'),
      categories: ['unsafe_image'],
    });
    if (!check) throw new Error('the image analyzer did not prepare');
    const piece = (bytes: Buffer) => ({
      path: ['photo.jpg'],
      head: bytes.subarray(0, 4096),
      size: bytes.length,
      container: 'file',
      bytes,
    });
    const firstStarted = performance.now();
    await check.check(piece(images[0] ?? Buffer.alloc(0)));
    const firstMs = performance.now() - firstStarted;
    const started = performance.now();
    // All at once: the pool's one thread stays busy, the others wait their turn.
    const results = await Promise.all(images.map((image) => check.check(piece(image))));
    const classified = images.length / ((performance.now() - started) / 1000);
    if (results.some((found) => found.some((d) => d.finding.startsWith('content.unscannable'))))
      throw new Error('a benchmark image was not classified');
    return { classified, decoded, firstMs };
  } finally {
    await analyzer.close();
  }
}

interface Setup {
  label: string;
  categories: string[];
  rules: boolean;
}

const SETUPS: Setup[] = [
  { label: 'malware (baseline)', categories: ['malware'], rules: false },
  { label: '+ unsafe_language', categories: ['malware', 'unsafe_language'], rules: false },
  { label: '+ unsafe_image', categories: ['malware', 'unsafe_image'], rules: false },
  { label: '+ 1,000 tenant rules', categories: ['malware'], rules: true },
  {
    label: 'all three + 1,000 rules',
    categories: ['malware', 'unsafe_language', 'unsafe_image'],
    rules: true,
  },
];

interface LatencyRow {
  file: string;
  setup: string;
  p50: number;
  p90: number;
}

async function measureLatency(
  settings: CategoriesBenchSettings,
  files: Array<{ label: string; name: string; content: Buffer }>,
  pack: string,
): Promise<LatencyRow[]> {
  const redis = await startTestRedis();
  const unregisterRedis = onCleanup(() => redis.kill());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-categories-'));
  const target = await startTarget({
    mode: 'api',
    env: {
      PORT: '0',
      ARBITER_LISTEN_HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
    },
  });
  const rows: LatencyRow[] = [];
  try {
    const { url, auth } = target.ready;
    const key =
      Buffer.from(auth.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':')[0] ?? '';
    for (const setup of SETUPS) {
      await call(`${url}/admin/keys/${key}/settings`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ detection_categories: setup.categories }),
      });
      const rulesPath = `${url}/v1/rules/bench-pack`;
      if (setup.rules) {
        await call(rulesPath, {
          method: 'PUT',
          headers: { authorization: auth, 'content-type': 'text/plain' },
          body: pack,
        });
      } else {
        await fetch(rulesPath, { method: 'DELETE', headers: { authorization: auth } });
      }
      for (const file of files) {
        const scanOnce = async (): Promise<number> => {
          const form = new FormData();
          form.append('file', new Blob([file.content]), file.name);
          const started = performance.now();
          const response = await fetch(`${url}/v2.2/files`, {
            method: 'POST',
            headers: { authorization: auth },
            body: form,
          });
          const body = (await response.json()) as { findings?: string[]; error?: string };
          const elapsed = performance.now() - started;
          // Findings do not change what a scan costs: only a failed scan stops the benchmark.
          if (response.status !== 201 || body.error)
            throw new Error(
              `${setup.label} ${file.label}: ${response.status} ${JSON.stringify(body)}`,
            );
          return elapsed;
        };
        for (let i = 0; i < settings.warmup; i++) await scanOnce();
        const times: number[] = [];
        for (let i = 0; i < settings.requests; i++) times.push(await scanOnce());
        const row = {
          file: file.label,
          setup: setup.label,
          p50: percentile(times, 50),
          p90: percentile(times, 90),
        };
        log(`categories: ${row.file}, ${row.setup}: p50 ${fmt.ms(row.p50, 2)}`);
        rows.push(row);
      }
    }
  } finally {
    await target.stop();
    await redis.stop();
    unregisterRedis();
    await rm(dataDir, { recursive: true, force: true });
  }
  return rows;
}

async function call(url: string, init: RequestInit): Promise<void> {
  const response = await fetch(url, init);
  if (response.status >= 300)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
}

interface YaraRow {
  file: string;
  bytes: number;
  yara: number;
  builtin: number;
}

async function measureYara(
  settings: CategoriesBenchSettings,
  dir: string,
  pack: string,
): Promise<YaraRow[]> {
  const files = [
    { label: '10 MiB text', content: prose(10 * MIB, 7) },
    { label: '10 MiB random', content: randomBytes(10 * MIB) },
  ];
  const yara = new YaraRunner({ threads: 1, timeoutMs: 120_000 });
  const builtin = await BuiltinEngine.load(SIGNATURES_DIR, createLogger('silent'));
  const rows: YaraRow[] = [];
  try {
    const rules = { key: 'bench-pack', source: pack };
    // The first scan compiles the pack in the thread: not part of the rate.
    await yara.scan(rules, Buffer.from('warm up'));
    for (const file of files) {
      const filePath = path.join(dir, file.label.replace(/\W+/g, '-'));
      await writeFile(filePath, file.content);
      const yaraTimes: number[] = [];
      const builtinTimes: number[] = [];
      for (let round = 0; round < settings.rounds; round++) {
        let started = performance.now();
        const matches = await yara.scan(rules, file.content);
        yaraTimes.push(performance.now() - started);
        if (matches.length > 0) throw new Error(`the pack matched ${file.label}`);
        started = performance.now();
        await builtin.scan({ path: filePath, size: file.content.length, name: 'bench' });
        builtinTimes.push(performance.now() - started);
      }
      const rate = (ms: number) => file.content.length / MIB / (ms / 1000);
      rows.push({
        file: file.label,
        bytes: file.content.length,
        yara: rate(median(yaraTimes)),
        builtin: rate(median(builtinTimes)),
      });
    }
  } finally {
    await yara.close();
    await builtin.close();
  }
  return rows;
}

export async function runCategories(settings = categoriesBenchSettings()): Promise<BenchSection> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-categories-files-'));
  try {
    const pack = rulePack(1000);
    log('categories: images per second');
    const images = await measureImages(settings);
    log('categories: YARA and the built-in engine');
    const yara = await measureYara(settings, dir, pack);
    const jpeg = await photo(1000);
    const text = prose(64 * 1024, 3);
    const binary = randomBytes(MIB);
    const files = [
      { label: '640×480 JPEG', name: 'photo.jpg', content: jpeg },
      { label: '64 KiB text', name: 'notes.txt', content: text },
      { label: '1 MiB binary', name: 'data.bin', content: binary },
      {
        label: 'zip of the three',
        name: 'bundle.zip',
        content: await zipOf({ 'photo.jpg': jpeg, 'notes.txt': text, 'data.bin': binary }),
      },
    ];
    log('categories: sync POST /v2.2/files latency');
    const latency = await measureLatency(settings, files, pack);
    return section(settings, images, latency, yara);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function section(
  settings: CategoriesBenchSettings,
  images: ImageRates,
  latency: LatencyRow[],
  yara: YaraRow[],
): BenchSection {
  const ms = (value: number) => fmt.ms(value, 1);
  const baselineOf = (file: string) =>
    latency.find((row) => row.file === file && row.setup === SETUPS[0]?.label);
  const latencyRows = latency.map((row) => {
    const base = baselineOf(row.file);
    const added = base && row !== base ? `+${ms(row.p50 - base.p50)}` : '—';
    return [row.file, row.setup, ms(row.p50), ms(row.p90), added];
  });
  const jpegImage = latency.find((r) => r.file.includes('JPEG') && r.setup === '+ unsafe_image');
  const jpegBase = baselineOf('640×480 JPEG');
  const textLanguage = latency.find(
    (r) => r.file.includes('text') && r.setup === '+ unsafe_language',
  );
  const textBase = baselineOf('64 KiB text');
  const reading = [
    `One classifier thread scored ${fmt.num(images.classified, 1)} images/s (640×480 JPEGs); sharp ` +
      `alone decoded and resized the same images at ${fmt.num(images.decoded, 1)}/s on one thread, so ` +
      `the model is ${fmt.pct(1 - images.classified / images.decoded)} of an image's cost. The first ` +
      `image of a fresh thread took ${ms(images.firstMs)} (thread start and model load).`,
  ];
  if (jpegImage && jpegBase)
    reading.push(
      `Switching on \`unsafe_image\` added ${ms(jpegImage.p50 - jpegBase.p50)} to the median sync answer ` +
        `for a photo; files without images pay only the second walk (see the text and binary rows).`,
    );
  if (textLanguage && textBase)
    reading.push(
      `\`unsafe_language\` added ${ms(textLanguage.p50 - textBase.p50)} for 64 KiB of text.`,
    );
  for (const row of yara)
    reading.push(
      `A 1,000-rule tenant pack scanned ${row.file} at ${fmt.num(row.yara, 0)} MB/s on one thread, ` +
        `against ${fmt.num(row.builtin, 0)} MB/s for the built-in engine's whole scan of the same file.`,
    );
  return {
    title: 'Detection categories: images, language, tenant rules',
    measured:
      `Images: ${settings.images} different 640×480 JPEGs classified by the \`unsafe_image\` analyzer on ` +
      'one thread (sharp decode and resize, nsfwjs MobileNetV2 on the TensorFlow.js WebAssembly ' +
      'backend), all submitted at once, after one untimed image. Latency: sync `POST /v2.2/files` ' +
      `against the API role, ${settings.requests} requests per file and setup after ${settings.warmup} ` +
      'untimed ones, the calling key switched to each set of categories with the admin API and a ' +
      '1,000-rule YARA pack put with `PUT /v1/rules` for the rule rows; no file matches the rules. ' +
      `YARA: the same 1,000-rule pack over each file on one YARA thread, median of ${settings.rounds} rounds.`,
    baseline:
      'Images: sharp decoding and resizing the same images to the model input on one thread, without ' +
      'the model. Latency: malware alone (the built-in engine) on the same files in the same run. ' +
      "YARA: the built-in engine's `scan()` (committed test signatures, archives walked) over the " +
      'same files in the same run.',
    tables: [
      {
        caption: 'Images on one thread',
        columns: ['What', 'Images/s', 'First image of a thread'],
        rows: [
          ['classified (decode + model)', fmt.num(images.classified, 1), ms(images.firstMs)],
          ['sharp decode + resize alone (baseline)', fmt.num(images.decoded, 1), '—'],
        ],
      },
      {
        caption: 'Sync `POST /v2.2/files` latency per setup',
        columns: ['File', 'Categories', 'p50', 'p90', 'Added at p50'],
        rows: latencyRows,
      },
      {
        caption: '1,000-rule tenant pack, one thread',
        columns: ['File', 'YARA MB/s', 'Built-in engine MB/s (baseline)'],
        rows: yara.map((row) => [row.file, fmt.num(row.yara, 0), fmt.num(row.builtin, 0)]),
      },
    ],
    reading,
    notes: [
      'The categories run in a second walk of the content beside the malware engines (in parallel), ' +
        'and only for scans whose plan asks for them: the baseline rows pay nothing for them.',
      'The benchmark images are generated colour fields with noise; classifying them costs what ' +
        'classifying a real photo costs (the model runs the same operations on every 224×224 input). ' +
        'What the model says of such noise is no guide to its accuracy: some of these images score ' +
        'above the default threshold, which is why the latency rows accept findings.',
    ],
  };
}

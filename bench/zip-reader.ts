import { mkdtemp, open, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../core/logger.js';
import { crc32 } from '../scanning/archives/crc32.js';
import { BuiltinEngine } from '../scanning/builtin-engine.js';
import type { ScanTarget } from '../scanning/engine.js';
import { SIGNATURES_DIR } from '../test/support/corpus.js';
import { MIB, builtinInChild, median, mib, randomStream } from './engine-measure.js';
import type { BenchSection, BenchTable } from './report.js';
import { envInt, fmt, log, onCleanup } from './support.js';

/**
 * Benchmark: what reading zips both ways costs (issue 19). The built-in engine scans a zip of
 * many members and a zip of one member, of the same size, with the zip reader the service uses
 * (central directory and local headers: every entry's local header read, the bytes no entry
 * claims swept for further local headers, the end of the file searched for a zip behind a
 * prefix) and, beside it in the same run, with the central directory alone as yauzl lists it
 * (`zipCentralDirectoryOnly`, an engine option that exists for this baseline only). The two
 * engines take turns on the same files, round after round; the figure is the median of the
 * paired ratios. The peak memory of each reader is taken in a fresh process that scans a small
 * zip of the same shape and then the large one: what the peak gains between the two is what
 * the reader needs per byte of the file.
 *
 *   BENCH_ONLY=zip-reader npm run bench
 *   BENCH_ONLY=zip-reader BENCH_ZIP_MIB=64 BENCH_OUTPUT=/tmp/zip.md npm run bench   (quick)
 */

export interface ZipBenchSettings {
  /** Size of each large zip (the data of its members, about the size of the file). */
  bytes: number;
  /** Members of the many-member zip. */
  members: number;
  /** Size of the small zips the memory measurement scans first. */
  smallBytes: number;
  rounds: number;
}

export function zipBenchSettings(): ZipBenchSettings {
  const bytes = envInt('BENCH_ZIP_MIB', 1024) * MIB;
  return {
    bytes,
    members: envInt('BENCH_ZIP_MEMBERS', 10_000),
    smallBytes: Math.min(envInt('BENCH_ZIP_SMALL_MIB', 16) * MIB, Math.floor(bytes / 4)),
    rounds: envInt('BENCH_ZIP_ROUNDS', 3),
  };
}

// ---------------------------------------------------------------------------------------------
// The zips

/** A deflate stored block holds at most this many bytes. */
const STORED_BLOCK = 65_535;
/** Data generated at a time: a whole number of stored blocks, under randomStream's 4 MiB. */
const GENERATE = 64 * STORED_BLOCK;

interface CentralRecord {
  name: Buffer;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
}

/** The size of `bytes` of data as deflate stored blocks (5 bytes of header per block). */
function storedDeflateSize(bytes: number): number {
  return bytes + 5 * Math.max(1, Math.ceil(bytes / STORED_BLOCK));
}

/** `data` as deflate stored blocks, the last one final when `last`. */
function storedBlocks(data: Buffer, last: boolean): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / STORED_BLOCK));
  const out = Buffer.allocUnsafe(data.length + 5 * blocks);
  let at = 0;
  for (let block = 0; block < blocks; block++) {
    const piece = data.subarray(block * STORED_BLOCK, (block + 1) * STORED_BLOCK);
    out[at] = last && block === blocks - 1 ? 1 : 0;
    out.writeUInt16LE(piece.length, at + 1);
    out.writeUInt16LE(piece.length ^ 0xffff, at + 3);
    piece.copy(out, at + 5);
    at += 5 + piece.length;
  }
  return out;
}

function localHeader(record: CentralRecord): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(8, 8); // deflate
  header.writeUInt32LE(record.crc, 14);
  header.writeUInt32LE(record.compressedSize, 18);
  header.writeUInt32LE(record.size, 22);
  header.writeUInt16LE(record.name.length, 26);
  return Buffer.concat([header, record.name]);
}

function centralHeader(record: CentralRecord): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(0x031e, 4);
  header.writeUInt16LE(20, 6);
  header.writeUInt16LE(8, 10);
  header.writeUInt32LE(record.crc, 16);
  header.writeUInt32LE(record.compressedSize, 20);
  header.writeUInt32LE(record.size, 24);
  header.writeUInt16LE(record.name.length, 28);
  header.writeUInt32LE(record.offset, 42);
  return Buffer.concat([header, record.name]);
}

function endRecord(entries: number, directorySize: number, directoryOffset: number): Buffer {
  const record = Buffer.alloc(22);
  record.writeUInt32LE(0x06054b50, 0);
  record.writeUInt16LE(entries, 8);
  record.writeUInt16LE(entries, 10);
  record.writeUInt32LE(directorySize, 12);
  record.writeUInt32LE(directoryOffset, 16);
  return record;
}

/**
 * A zip of `members` deflated members holding `bytes` of random data in all, written in one
 * pass (each local header's CRC-32 patched in once its data is written). The data is random
 * (AES-CTR), so deflate keeps it in stored blocks, as zlib does with incompressible data: the
 * scan then costs what reading, inflating a stored block (a copy), the CRC-32 and the matcher
 * cost, and the share of the zip reader itself is as large as it can be.
 */
export async function writeBenchZip(
  file: string,
  bytes: number,
  members: number,
  seed: string,
): Promise<ScanTarget> {
  const next = randomStream(seed);
  const handle = await open(file, 'w');
  const records: CentralRecord[] = [];
  let position = 0;
  const write = async (data: Buffer, at = position) => {
    await handle.write(data, 0, data.length, at);
    if (at === position) position += data.length;
  };
  try {
    for (let index = 0; index < members; index++) {
      const size = Math.floor(bytes / members) + (index < bytes % members ? 1 : 0);
      const record: CentralRecord = {
        name: Buffer.from(`data/member-${String(index).padStart(6, '0')}.bin`),
        crc: 0,
        compressedSize: storedDeflateSize(size),
        size,
        offset: position,
      };
      const header = localHeader(record);
      await write(header);
      let crc = 0;
      let done = 0;
      do {
        const data = next(Math.min(GENERATE, size - done));
        crc = crc32(data, crc);
        done += data.length;
        await write(storedBlocks(data, done >= size));
      } while (done < size);
      record.crc = crc;
      await write(localHeader(record), record.offset);
      records.push(record);
    }
    const directoryOffset = position;
    const directory = Buffer.concat(records.map(centralHeader));
    await write(directory);
    await write(endRecord(records.length, directory.length, directoryOffset));
  } finally {
    await handle.close();
  }
  return { path: file, size: position, name: path.basename(file) };
}

// ---------------------------------------------------------------------------------------------
// Measurements

const READERS = ['central directory only', 'both views'] as const;
type Reader = (typeof READERS)[number];

interface Shape {
  label: string;
  members: number;
  large: ScanTarget;
  small: ScanTarget;
  smallMembers: number;
}

interface ScanTime {
  wall: number;
  cpu: number;
}

interface ShapeResult {
  shape: Shape;
  times: Record<Reader, ScanTime[]>;
  memory: Record<Reader, { loaded: number; small: number; large: number }>;
}

async function timedScan(engine: BuiltinEngine, target: ScanTarget): Promise<ScanTime> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const verdict = await engine.scan(target);
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (verdict.findings.length > 0)
    throw new Error(
      `the built-in engine reported ${verdict.findings.join(', ')} on ${target.name}`,
    );
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

async function measureShape(
  shape: Shape,
  engines: Record<Reader, BuiltinEngine>,
  settings: ZipBenchSettings,
  work: string,
): Promise<ShapeResult> {
  log(`zip-reader: ${shape.label}`);
  // Warm-up (JIT) on the small zip of the same shape.
  for (const reader of READERS) await timedScan(engines[reader], shape.small);
  const times: Record<Reader, ScanTime[]> = { 'central directory only': [], 'both views': [] };
  for (let round = 0; round < settings.rounds; round++) {
    // Each round both readers, in turns: a slow moment of the shared machine hits both.
    const order = round % 2 === 0 ? READERS : [...READERS].reverse();
    for (const reader of order) times[reader].push(await timedScan(engines[reader], shape.large));
    const [old, both] = READERS.map((r) => times[r].at(-1) as ScanTime) as [ScanTime, ScanTime];
    log(
      `  round ${round + 1}: central directory only ${fmt.num(old.wall, 2)} s, both views ${fmt.num(both.wall, 2)} s`,
    );
  }
  const memory = {} as ShapeResult['memory'];
  for (const reader of READERS) {
    const steps = await builtinInChild(
      SIGNATURES_DIR,
      path.join(work, 'scratch-child'),
      [shape.small, shape.large],
      600_000,
      { zipCentralDirectoryOnly: reader === 'central directory only' },
    );
    const hwm = (index: number) => {
      const step = steps[index];
      if (!step) throw new Error(`the engine child process reported ${steps.length} steps`);
      if (step.findings && step.findings.length > 0)
        throw new Error(`the built-in engine reported ${step.findings.join(', ')}`);
      return step.hwm;
    };
    memory[reader] = { loaded: hwm(1), small: hwm(2), large: hwm(3) };
  }
  return { shape, times, memory };
}

export async function runZipReader(settings = zipBenchSettings()): Promise<BenchSection> {
  const load = { start: loadavg()[0] ?? 0, end: 0 };
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-zip-'));
  const removeWork = onCleanup(() => rm(work, { recursive: true, force: true }));
  try {
    log('zip-reader: writing the zips');
    const shapes: Shape[] = [];
    for (const members of [settings.members, 1]) {
      const smallMembers = Math.min(members, Math.max(1, Math.floor(settings.smallBytes / 64)));
      shapes.push({
        label: members === 1 ? 'one member' : `${fmt.int(members)} members`,
        members,
        smallMembers,
        large: await writeBenchZip(
          path.join(work, `large-${members}.zip`),
          settings.bytes,
          members,
          `zip-${members}`,
        ),
        small: await writeBenchZip(
          path.join(work, `small-${members}.zip`),
          settings.smallBytes,
          smallMembers,
          `zip-small-${members}`,
        ),
      });
    }
    const logger = createLogger('silent');
    const engines = {} as Record<Reader, BuiltinEngine>;
    for (const reader of READERS) {
      engines[reader] = await BuiltinEngine.load(SIGNATURES_DIR, logger, {
        scratchDir: path.join(work, 'scratch'),
        zipCentralDirectoryOnly: reader === 'central directory only',
      });
    }
    const results: ShapeResult[] = [];
    for (const shape of shapes) results.push(await measureShape(shape, engines, settings, work));
    for (const engine of Object.values(engines)) await engine.close();
    load.end = loadavg()[0] ?? 0;
    return section(settings, results, load);
  } finally {
    removeWork();
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The report section

interface Summary {
  mbPerSecond: Record<Reader, number>;
  range: Record<Reader, [number, number]>;
  /** Median over the rounds of (both views ÷ central directory only), by wall and CPU time. */
  ratio: number;
  cpuRatio: number;
}

function summarise(result: ShapeResult): Summary {
  const bytes = result.shape.large.size;
  const rates = (reader: Reader) => result.times[reader].map((t) => bytes / 1e6 / t.wall);
  const old = result.times['central directory only'];
  const both = result.times['both views'];
  const paired = (of: (t: ScanTime) => number) =>
    median(both.map((t, i) => of(old[i] as ScanTime) / of(t)));
  const rangeOf = (reader: Reader): [number, number] => [
    Math.min(...rates(reader)),
    Math.max(...rates(reader)),
  ];
  return {
    mbPerSecond: {
      'central directory only': median(rates('central directory only')),
      'both views': median(rates('both views')),
    },
    range: {
      'central directory only': rangeOf('central directory only'),
      'both views': rangeOf('both views'),
    },
    ratio: paired((t) => t.wall),
    cpuRatio: paired((t) => t.cpu),
  };
}

function section(
  settings: ZipBenchSettings,
  results: ShapeResult[],
  load: { start: number; end: number },
): BenchSection {
  const summaries = results.map((result) => ({ result, summary: summarise(result) }));
  const rate = (s: Summary, reader: Reader) =>
    `${fmt.num(s.mbPerSecond[reader])} (${fmt.num(s.range[reader][0])}–${fmt.num(s.range[reader][1])})`;
  const throughput: BenchTable = {
    caption:
      'Throughput of the built-in engine on each zip (MB = 10^6 bytes; median of the rounds, in brackets the slowest and fastest round)',
    columns: [
      'Zip',
      'Size',
      'Central directory only: MB/s',
      'Both views: MB/s',
      'Both views ÷ central directory only (wall time)',
      '(CPU time)',
    ],
    rows: summaries.map(({ result, summary }) => [
      result.shape.label,
      mib(result.shape.large.size),
      rate(summary, 'central directory only'),
      rate(summary, 'both views'),
      `${fmt.num(summary.ratio, 2)}×`,
      `${fmt.num(summary.cpuRatio, 2)}×`,
    ]),
  };
  const smallLabel = mib(settings.smallBytes);
  const largeLabel = mib(settings.bytes);
  const memory: BenchTable = {
    caption: `Peak memory (VmHWM) of a fresh process: after loading, after scanning the ${smallLabel} zip of the same shape, after scanning the ${largeLabel} one`,
    columns: [
      'Zip',
      'Reader',
      'After loading',
      `After ${smallLabel}`,
      `After ${largeLabel}`,
      'Growth',
    ],
    rows: results.flatMap((result) =>
      READERS.map((reader) => {
        const m = result.memory[reader];
        return [
          result.shape.label,
          reader,
          mib(m.loaded),
          mib(m.small),
          mib(m.large),
          mib(m.large - m.small),
        ];
      }),
    ),
  };
  const reading: string[] = [];
  // On a machine busier than its cores, wall time measures the scheduler as much as the reader;
  // the process's own CPU time much less so.
  const busy = Math.max(load.start, load.end) > cpus().length;
  for (const { result, summary } of summaries) {
    const judged = busy ? summary.cpuRatio : summary.ratio;
    reading.push(
      `${result.shape.label[0]?.toUpperCase()}${result.shape.label.slice(1)}: the reader of both views scanned ${fmt.num(summary.mbPerSecond['both views'])} MB/s against ${fmt.num(summary.mbPerSecond['central directory only'])} for the central directory alone: ${fmt.num(summary.ratio, 2)}× its rate by wall time, ${fmt.num(summary.cpuRatio, 2)}× by CPU time (medians of the paired rounds) — ${judged >= 0.9 ? 'within' : 'outside'} the aim of 10 %${busy ? ' by CPU time' : ''}.`,
    );
  }
  const growth = Math.max(
    ...results.flatMap((r) =>
      READERS.map((reader) => r.memory[reader].large - r.memory[reader].small),
    ),
  );
  reading.push(
    `Memory does not follow the file: from the ${smallLabel} zips to the ${largeLabel} ones the peak grew by at most ${mib(growth)} for either reader and either shape. Both readers hold one 1 MiB read of the file and 64 KiB pieces of each member at a time; the sweep keeps one window of at most 1 MiB, and the layout one small record (offset, local header) per listed entry, as yauzl keeps one per entry.`,
  );
  reading.push(
    "What reading both ways adds per zip: the local header of every listed entry (one read of 1 KiB, or none where it lies in the file's last MiB, which finding the end record read and which is kept while the zip is walked; the entry's data is then opened from it without yauzl reading the header again), the stretches no entry claims (none in these zips), what follows the central directory (the end record, in the kept MiB), and the watch of each member for a zip behind a prefix (a signature search, about 0.1 s per GiB). It inflates no member data twice, so per member it costs about what the central-directory reader's own read of each local header cost, and on one large member nothing measurable.",
  );
  if (busy) {
    reading.push(
      `The machine was shared with other work (1-minute load average ${load.start.toFixed(1)} at the start and ${load.end.toFixed(1)} at the end, on ${cpus().length} cores): the absolute rates and the wall-time ratios vary between rounds; the CPU-time ratios much less.`,
    );
  }
  const notes = [
    `Zips (BENCH_ZIP_MIB, BENCH_ZIP_MEMBERS): ${fmt.int(settings.members)} members and one member, ${largeLabel} of member data each, written to a temporary folder at the start and removed at the end; deflate (method 8, what nearly every zip uses) over random bytes (AES-CTR), which deflate keeps in stored blocks as zlib does with incompressible data: inflating them is a copy, so the figure measures reading the zip, the CRC-32 checks and the matcher, where the reader's own work weighs most, rather than zlib's inflate speed.`,
    `Engines: two \`BuiltinEngine\`s in the benchmark process on the test signature folder (test/fixtures/signatures, 20 signatures: the matcher's share is small), one with the option \`zipCentralDirectoryOnly\` (the baseline: entries as yauzl lists them from the central directory, nothing swept, no zip looked for behind a prefix — the reader before issue 19; the option exists for this benchmark and is not in the configuration). Each round scans the large zip with both, in alternating order; ${settings.rounds} rounds (BENCH_ZIP_ROUNDS) after a warm-up pass. Every verdict was checked clean.`,
    "CPU time: the benchmark process's user and system time during each scan (`process.cpuUsage()`), which counts the work done, not the time spent waiting for a core on a shared machine; zlib and file reads run on libuv's threads of the same process and are counted too.",
    `Memory: for each reader and shape a fresh Node process (bench/engine-scan-process.ts) loads the engine and scans a ${smallLabel} zip of the same shape (BENCH_ZIP_SMALL_MIB; with ${fmt.int(results[0]?.shape.smallMembers ?? 0)} members for the many-member shape: the same listing, less data), then the ${largeLabel} one; VmHWM after each.`,
    'Quick run: `BENCH_ONLY=zip-reader BENCH_ZIP_MIB=64 BENCH_OUTPUT=/tmp/zip.md npm run bench` (a few seconds; the report goes to /tmp).',
  ];
  return {
    title: 'Zip reader: central directory and local headers, beside the central directory alone',
    measured: `How fast the built-in engine scans a ${largeLabel} zip of ${fmt.int(settings.members)} members and a ${largeLabel} zip of one member with the zip reader the service uses (the central directory and a sweep for local headers: issue 19) and how much memory it needs, beside the same engine reading the central directory alone.`,
    baseline:
      'The same engine, database and files with the central directory alone (`zipCentralDirectoryOnly`), in the same run, the two taking turns round after round.',
    tables: [throughput, memory],
    reading,
    notes,
  };
}

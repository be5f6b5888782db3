import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ClamdEngine } from '../scanning/clamd-engine.js';
import type { ScanTarget } from '../scanning/engine.js';
import { startTestClamd, type TestClamd } from '../test/support/clamd.js';
import type { MemoryStep } from './engine-scan-process.js';
import { fmt, log, onCleanup, withTimeout } from './support.js';

/**
 * What the engine benchmarks (engines.ts, engines-official.ts) share: seeded content, the
 * throughput rounds over each engine's real `scan()`, the built-in engine in a fresh process for
 * load time and memory, and clamd's memory and RELOAD time.
 */

export const MIB = 1024 * 1024;

/** Seeded pseudo-random bytes (AES-128-CTR), fast enough to write a GiB in a few seconds. */
export function randomStream(seed: string): (bytes: number) => Buffer {
  const key = createHash('sha256').update(`arbiter-bench:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(4 * MIB);
  return (bytes: number) =>
    cipher.update(bytes === zeros.length ? zeros : zeros.subarray(0, bytes));
}

export async function writeRandomFile(file: string, bytes: number, seed: string): Promise<void> {
  const next = randomStream(seed);
  const out = createWriteStream(file);
  let left = bytes;
  while (left > 0) {
    const chunk = next(Math.min(left, 4 * MIB));
    left -= chunk.length;
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

export function sizeLabel(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0)
    return bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0
      ? `${bytes / 1024 / MIB} GiB`
      : `${bytes / MIB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export const mib = (bytes: number): string => `${fmt.num(bytes / MIB, 0)} MiB`;

// ---------------------------------------------------------------------------------------------
// Throughput

export interface Throughput {
  label: string;
  /** Files scanned in the timed rounds (fewer than rounds × files when the time ran out). */
  scanned: number;
  scannedBytes: number;
  /** Time spent in the timed rounds. */
  seconds: number;
  /** Over all timed scans. */
  mbPerSecond: number;
  filesPerSecond: number;
  /** The median round's MB/s and files/s. */
  medianMbPerSecond: number;
  medianFilesPerSecond: number;
  /** Slowest and fastest round, MB/s (equal when there was one round). */
  range: [number, number];
}

/** The columns of a throughput table, after the ones that say what was scanned. */
export const RATE_COLUMNS = [
  'Built-in MB/s',
  'Built-in files/s',
  'clamd MB/s',
  'clamd files/s',
  'Built-in ÷ clamd',
  'Files scanned (built-in / clamd)',
];

export type Scan = (target: ScanTarget) => Promise<{ findings: string[] }>;

export interface ThroughputGroup {
  label: string;
  files: ScanTarget[];
}

export interface RoundSettings {
  rounds: number;
  /** Time one engine may spend on one group (at least one file is always scanned). */
  cellSeconds: number;
}

/**
 * Each group: an untimed pass over up to 16 MiB of its files (JIT, connections, page cache;
 * at most a quarter of `cellSeconds` once a file is done), then up to `rounds` passes over all of them, stopping once `cellSeconds` are spent (after at
 * least one file). Every verdict goes to `onVerdict`.
 */
export async function measureThroughput(
  scan: Scan,
  groups: ThroughputGroup[],
  settings: RoundSettings,
  what: string,
  onVerdict: (target: ScanTarget, verdict: { findings: string[] }) => void,
): Promise<Throughput[]> {
  const results: Throughput[] = [];
  const scanOne = async (target: ScanTarget) => onVerdict(target, await scan(target));
  for (const group of groups) {
    // The warm-up ends after 16 MiB, or after a quarter of the cell's time (a slow engine on
    // large files), but not before one file.
    let warmupBytes = 0;
    const warmupStarted = performance.now();
    for (const target of group.files) {
      if (warmupBytes + target.size > 16 * MIB) break;
      if (warmupBytes > 0 && performance.now() - warmupStarted > settings.cellSeconds * 250) break;
      warmupBytes += target.size;
      await scanOne(target);
    }
    const rounds: Array<{ files: number; bytes: number; seconds: number }> = [];
    let scanned = 0;
    const budget = settings.cellSeconds * 1000;
    const started = performance.now();
    for (let round = 0; round < settings.rounds && performance.now() - started < budget; round++) {
      const roundStarted = performance.now();
      const inRound = { files: 0, bytes: 0, seconds: 0 };
      for (const target of group.files) {
        if (scanned > 0 && performance.now() - started >= budget) break;
        await scanOne(target);
        scanned += 1;
        inRound.files += 1;
        inRound.bytes += target.size;
      }
      inRound.seconds = (performance.now() - roundStarted) / 1000;
      rounds.push(inRound);
    }
    const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
    const scannedBytes = rounds.reduce((sum, r) => sum + r.bytes, 0);
    const roundRates = rounds.map((r) => r.bytes / 1e6 / r.seconds);
    results.push({
      label: group.label,
      scanned,
      scannedBytes,
      seconds,
      mbPerSecond: scannedBytes / 1e6 / seconds,
      filesPerSecond: scanned / seconds,
      medianMbPerSecond: median(roundRates),
      medianFilesPerSecond: median(rounds.map((r) => r.files / r.seconds)),
      range: [Math.min(...roundRates), Math.max(...roundRates)],
    });
    log(
      `  ${what}: ${group.label} ${fmt.num(results.at(-1)!.mbPerSecond)} MB/s (${scanned} files)`,
    );
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Load time and memory

/** The built-in engine in a fresh process: load time and VmHWM after each step. */
export async function builtinInChild(
  signaturesDir: string,
  scratchDir: string,
  files: ScanTarget[],
  timeoutMs = 180_000,
  engine: { zipCentralDirectoryOnly?: boolean } = {},
): Promise<MemoryStep[]> {
  const script = fileURLToPath(new URL('./engine-scan-process.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      script,
      JSON.stringify({ signaturesDir, scratchDir, files, ...engine }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const unregister = onCleanup(() => {
    child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString('utf8')));
  const code = await withTimeout(
    new Promise<number | null>((resolve) => child.once('exit', resolve)),
    timeoutMs,
    'the engine child process',
  );
  unregister();
  if (code !== 0) throw new Error(`the engine child process exited with ${code}`);
  return output
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as MemoryStep);
}

/** VmHWM and VmRSS of a process, bytes. */
export async function procMemory(pid: number): Promise<{ hwm: number; rss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
}

/**
 * clamd for a benchmark, on a copy of `databaseDir`: stream and scan limits above the largest
 * file, no time limit, and its cache of clean files' MD5s off, since the rounds rescan the same
 * files and a cache hit skips the scan.
 */
export function startBenchClamd(
  databaseDir: string,
  largestFile: number,
  startTimeoutMs?: number,
): Promise<TestClamd> {
  const maxMib = Math.ceil(largestFile / MIB) + 64;
  return startTestClamd({
    databaseDir,
    streamMaxLength: `${maxMib}M`,
    maxFileSize: `${maxMib}M`,
    maxScanSize: `${2 * maxMib}M`,
    maxThreads: 2,
    extraConfig: ['DisableCache yes', 'MaxScanTime 0'],
    ...(startTimeoutMs === undefined ? {} : { startTimeoutMs }),
  });
}

/** Sends RELOAD and waits until clamd logs that the new database is in use. */
export async function timeClamdReload(clamd: TestClamd, engine: ClamdEngine): Promise<number> {
  const marker = /Database correctly reloaded/g;
  const before = ((await clamd.log()).match(marker) ?? []).length;
  const started = performance.now();
  await engine.reload();
  for (;;) {
    if (((await clamd.log()).match(marker) ?? []).length > before) break;
    if (performance.now() - started > 120_000)
      throw new Error('clamd did not finish its RELOAD in 120 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

/** The signature count clamd logged when it last loaded its database ("Loaded N signatures."). */
export async function clamdSignatureCount(clamd: TestClamd): Promise<number | undefined> {
  const counts = [...(await clamd.log()).matchAll(/Loaded (\d+) signatures\./g)];
  const last = counts.at(-1)?.[1];
  return last === undefined ? undefined : Number(last);
}

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  generateSignature,
  int,
  pick,
  seededRng,
  type Rng,
} from '../test/support/signature-gen.js';
import { randomStream } from './engine-measure.js';
import { envInt } from './support.js';

/**
 * A generated signature folder shaped like ClamAV's official database (main + daily): millions
 * of hashes — mostly whole-file hashes (`.hsb` SHA-256, `.hdb` MD5) and a share of PE section
 * hashes (`.mdb`, `size:md5:name`) — plus `.ndb` body signatures and `.ldb` logical signatures,
 * every line one clamd 1.4 loads. Deterministic (seeded) and written as a stream: no array of
 * millions of strings is ever built.
 *
 * Sizes follow the shape of real databases rather than the benchmark's files: whole-file hash
 * sizes are log-uniform from 1 KiB to 32 MiB (dense among small files, as real malware is), so
 * most files a scanner sees have a size some hash names and must be digested.
 */

export interface OfficialDatabaseSettings {
  hashes: number;
  bodies: number;
  logical: number;
}

export function officialDatabaseSettings(): OfficialDatabaseSettings {
  return {
    hashes: envInt('BENCH_OFFICIAL_HASHES', 4_000_000),
    bodies: envInt('BENCH_OFFICIAL_BODIES', 100_000),
    logical: envInt('BENCH_OFFICIAL_LOGICAL', 20_000),
  };
}

/** Database file types, in the order they are written. */
export const DATABASE_TYPES = ['hsb', 'hdb', 'mdb', 'ndb', 'ldb'] as const;
export type DatabaseType = (typeof DATABASE_TYPES)[number];

/** How the hashes are split between the hash files (whole-file SHA-256, MD5; PE sections). */
export const HASH_SPLIT: Record<'hsb' | 'hdb' | 'mdb', number> = { hsb: 0.55, hdb: 0.25, mdb: 0.2 };

/** Lines for signatures that must match the benchmark's planted files, per file type. */
export type PlantedLines = Partial<Record<DatabaseType, string[]>>;

export interface OfficialDatabase {
  dir: string;
  /** Lines written per type (generated and planted). */
  counts: Record<DatabaseType, number>;
  total: number;
  bytes: number;
}

const MIB = 1024 * 1024;

/**
 * Writes `main.<type>` (the generated lines) and `daily.<type>` (the planted ones) into `dir`.
 */
export async function writeOfficialDatabase(
  dir: string,
  settings: OfficialDatabaseSettings,
  planted: PlantedLines = {},
): Promise<OfficialDatabase> {
  await mkdir(dir, { recursive: true });
  const counts = { hsb: 0, hdb: 0, mdb: 0, ndb: 0, ldb: 0 } as Record<DatabaseType, number>;
  let bytes = 0;
  const hashesOf = (type: 'hsb' | 'hdb' | 'mdb') => Math.round(settings.hashes * HASH_SPLIT[type]);
  const writers: Record<DatabaseType, (out: LineWriter) => Promise<void>> = {
    hsb: (out) => writeFileHashes(out, hashesOf('hsb'), 'sha256', 0x0ff1_0001),
    hdb: (out) => writeFileHashes(out, hashesOf('hdb'), 'md5', 0x0ff1_0002),
    mdb: (out) => writeSectionHashes(out, hashesOf('mdb'), 0x0ff1_0003),
    ndb: (out) => writeBodySignatures(out, settings.bodies, 0x0ff1_0004),
    ldb: (out) => writeLogicalSignatures(out, settings.logical, 0x0ff1_0005),
  };
  for (const type of DATABASE_TYPES) {
    const main = new LineWriter(path.join(dir, `main.${type}`));
    await writers[type](main);
    await main.close();
    counts[type] = main.lines;
    bytes += main.bytes;
    // clamd refuses an empty database file: daily.<type> only when something is planted.
    const lines = planted[type] ?? [];
    if (lines.length === 0) continue;
    const daily = new LineWriter(path.join(dir, `daily.${type}`));
    for (const line of lines) await daily.line(line);
    await daily.close();
    counts[type] += daily.lines;
    bytes += daily.bytes;
  }
  const total = DATABASE_TYPES.reduce((sum, type) => sum + counts[type], 0);
  return { dir, counts, total, bytes };
}

/** Buffers lines and writes them in 1 MiB pieces, waiting for the stream to drain. */
class LineWriter {
  lines = 0;
  bytes = 0;
  private pending = '';
  private readonly out: WriteStream;

  constructor(file: string) {
    this.out = createWriteStream(file);
  }

  async line(text: string): Promise<void> {
    this.pending += `${text}\n`;
    this.lines += 1;
    if (this.pending.length >= MIB) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(() => resolve());
    });
  }

  private async flush(): Promise<void> {
    if (this.pending === '') return;
    this.bytes += Buffer.byteLength(this.pending);
    const drained = this.out.write(this.pending);
    this.pending = '';
    if (!drained) await new Promise<void>((resolve) => this.out.once('drain', () => resolve()));
  }
}

/** Hex digests from a seeded stream, hexed 64 KiB at a time. */
function hexDigests(seed: string): (bytes: number) => string {
  const next = randomStream(seed);
  let block = '';
  let at = 0;
  return (bytes) => {
    const chars = bytes * 2;
    if (at + chars > block.length) {
      block = next(64 * 1024).toString('hex');
      at = 0;
    }
    at += chars;
    return block.slice(at - chars, at);
  };
}

// Names shaped like the official ones: Platform.Category.Family-id-revision.
const PLATFORMS = ['Win', 'Unix', 'Doc', 'Xls', 'Pdf', 'Html', 'Js', 'Email', 'Andr', 'Osx'];
const CATEGORIES = ['Trojan', 'Malware', 'Downloader', 'Dropper', 'Exploit', 'Worm', 'Adware'];
const FAMILIES = ['Agent', 'Generic', 'Emotet', 'Zbot', 'Mirai', 'Ramnit', 'Qakbot', 'Kryptik'];

function signatureName(rng: Rng, id: number): string {
  return `${pick(rng, PLATFORMS)}.${pick(rng, CATEGORIES)}.${pick(rng, FAMILIES)}-${id}-0`;
}

/** `.hsb`/`.hdb`: `digest:size:name`, sizes log-uniform from 1 KiB to 32 MiB. */
async function writeFileHashes(
  out: LineWriter,
  count: number,
  algorithm: 'md5' | 'sha256',
  seed: number,
): Promise<void> {
  const rng = seededRng(seed);
  const digest = hexDigests(`official-${algorithm}`);
  const digestBytes = algorithm === 'md5' ? 16 : 32;
  for (let i = 0; i < count; i++) {
    const size = Math.round(1024 * Math.pow(32 * 1024, rng()));
    await out.line(`${digest(digestBytes)}:${size}:${signatureName(rng, 1_000_000 + i)}`);
  }
}

/** `.mdb`: `section size:md5:name`, sizes in 512-byte steps from 512 bytes to 2 MiB. */
async function writeSectionHashes(out: LineWriter, count: number, seed: number): Promise<void> {
  const rng = seededRng(seed);
  const digest = hexDigests('official-mdb');
  for (let i = 0; i < count; i++) {
    const size = 512 * Math.ceil(Math.pow(4096, rng()));
    await out.line(`${size}:${digest(16)}:${signatureName(rng, 5_000_000 + i)}`);
  }
}

/**
 * `.ndb` from test/support/signature-gen.ts (every wildcard form, offsets `*`, `n`, `n,m` and
 * `EOF-n`), with the target types of real databases: any file, PE, ELF, HTML, text.
 */
async function writeBodySignatures(out: LineWriter, count: number, seed: number): Promise<void> {
  const rng = seededRng(seed);
  const targets = [0, 0, 0, 0, 1, 1, 1, 6, 3, 7];
  for (let i = 0; i < count; i++) {
    const name = signatureName(rng, 7_000_000 + i);
    const { line } = generateSignature(rng, name, { runMin: 6, runMax: 24, offsets: true });
    const target = pick(rng, targets);
    await out.line(target === 0 ? line : line.replace(`${name}:0:`, `${name}:${target}:`));
  }
}

const WORDS = [
  'CreateRemoteThread',
  'VirtualAllocEx',
  'WriteProcessMemory',
  'URLDownloadToFile',
  'powershell -enc',
  'cmd.exe /c',
  'Software\\Microsoft\\Windows\\CurrentVersion\\Run',
  'AutoOpen',
  'Document_Open',
  'Shell.Application',
  'WScript.Shell',
  'eval(unescape(',
  'GetProcAddress',
  'LoadLibraryA',
  'IsDebuggerPresent',
  '/bin/sh -c',
  'wget http://',
  'chmod 777',
];

const textHex = (text: string) => Buffer.from(text, 'latin1').toString('hex');

/**
 * One `.ldb` subsignature: a string (often with `::i`, `::w` or `::wa`) or a hex body from
 * signature-gen.ts, with an offset now and then (`n`, `n,m`, `EOF-n`, and `EP+n` for PE targets).
 */
function subsignature(rng: Rng, name: string, pe: boolean): string {
  let body: string;
  if (rng() < 0.4) {
    // The number keeps the strings out of real files: `GetProcAddress` alone is in every PE.
    const text = `${pick(rng, WORDS)}${int(rng, 1000, 99999)}`;
    const modifier = pick(rng, ['', '', '', '::i', '::w', '::wa', '::iw']);
    body = `${textHex(text)}${modifier}`;
  } else {
    // Runs of six random bytes or more: shorter ones occur by chance in megabytes of real files.
    body = generateSignature(rng, name, { runMin: 6, runMax: 20, maxParts: 2 }).hex;
  }
  const draw = rng();
  if (draw < 0.7) return body;
  if (draw < 0.8) return `${int(rng, 0, 4096)}:${body}`;
  if (draw < 0.85) return `${int(rng, 0, 512)},${int(rng, 1, 256)}:${body}`;
  if (draw < 0.93 || !pe) return `EOF-${int(rng, 64, 4096)}:${body}`;
  return `EP+${int(rng, 0, 256)}:${body}`;
}

/**
 * A logical expression over subsignatures 0…n-1, each used once: groups of one to three joined
 * by `&`, a group of several being an `|` in parentheses, sometimes with a count (`>n`, `=n`,
 * `>n,m`: more than n matches of at least m different subsignatures).
 */
function expression(rng: Rng, n: number): string {
  const groups: string[] = [];
  for (let id = 0; id < n;) {
    const size = Math.min(n - id, int(rng, 1, 3));
    const ids = Array.from({ length: size }, (_, k) => id + k);
    id += size;
    if (size === 1) {
      groups.push(rng() < 0.1 ? `${ids[0]}>${int(rng, 1, 3)}` : `${ids[0]}`);
      continue;
    }
    const inner = `(${ids.join('|')})`;
    const draw = rng();
    if (draw < 0.6) groups.push(inner);
    else if (draw < 0.8) groups.push(`${inner}>${int(rng, 1, 4)}`);
    else if (draw < 0.9) groups.push(`${inner}=${int(rng, 1, 3)}`);
    else groups.push(`${inner}>${int(rng, 1, 4)},${int(rng, 1, size)}`);
  }
  return groups.join('&');
}

/**
 * `.ldb`: `Name;Engine:51-255,Target:t;expression;subsig;…`, 2–6 subsignatures each, with the
 * target types of real databases (PE most, then any file, text, HTML, OLE2), and one in ten
 * with a PCRE subsignature triggered by subsignature 0, as the official database has them.
 */
async function writeLogicalSignatures(out: LineWriter, count: number, seed: number): Promise<void> {
  const rng = seededRng(seed);
  for (let i = 0; i < count; i++) {
    const name = signatureName(rng, 9_000_000 + i);
    const target = pick(rng, LOGICAL_TARGETS);
    const pe = target === 1;
    const n = int(rng, 2, 6);
    const subsignatures = Array.from({ length: n }, () => subsignature(rng, name, pe));
    let logic = expression(rng, n);
    let engine = '51-255';
    if (rng() < 0.1) {
      const word = pick(rng, WORDS).replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`);
      subsignatures.push(`0/${word}[0-9]{2,6}[a-z_]+\\(/${pick(rng, ['', 'i', 's', 'g'])}`);
      logic = `(${logic})&${n}`;
      // ClamAV reads PCRE subsignatures from functionality level 81.
      engine = '81-255';
    }
    await out.line(`${name};Engine:${engine},Target:${target};${logic};${subsignatures.join(';')}`);
  }
}

const LOGICAL_TARGETS = [1, 1, 1, 1, 1, 1, 0, 0, 0, 7, 3, 2];

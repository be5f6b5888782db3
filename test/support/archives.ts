import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { createFormatSet, type FormatSet } from '../../scanning/archives/formats/index.js';
import { afterAll, afterEach, expect } from 'vitest';
import yazl from 'yazl';
import {
  walkContent,
  type ArchiveLimits,
  type FormatHandler,
  type Member,
  type WalkResult,
} from '../../scanning/archives/index.js';

/**
 * Archive fixtures, all built at run time (nothing antivirus-flagged is stored in the repo):
 * zips through yazl (or by hand, for bombs whose deflate data is precomputed), encrypted zips
 * through Info-ZIP's `zip -P`, tars through tar-stream and gzip through zlib.
 */

export const DEFAULT_LIMITS: ArchiveLimits = {
  maxDepth: 16,
  maxMembers: 10_000,
  maxExpandedBytes: 4 * 1024 ** 3,
  maxRatio: 200,
};

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** Deflate (default) or store. */
  compress?: boolean;
}

export function zip(entries: ZipEntry[], options: { forceZip64?: boolean } = {}): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const entry of entries) {
    if (entry.name.endsWith('/')) {
      archive.addEmptyDirectory(entry.name);
      continue;
    }
    archive.addBuffer(entry.data, entry.name, {
      compress: entry.compress ?? true,
      forceZip64Format: options.forceZip64 ?? false,
    });
  }
  archive.end({ forceZip64Format: options.forceZip64 ?? false, comment: '' });
  return collect(archive.outputStream);
}

/**
 * `depth` zips nested in one another, the innermost holding `leaf`: the walk visits the top
 * (`outer.zip`, depth 0), `inner1.zip` … `inner<depth-1>.zip`, then the leaf at `depth`.
 */
export async function nestedZips(
  depth: number,
  leaf: ZipEntry,
): Promise<{ content: Buffer; leafPath: string[] }> {
  let content = await zip([leaf]);
  const names: string[] = [];
  for (let level = depth - 1; level >= 1; level--) {
    const name = `inner${level}.zip`;
    content = await zip([{ name, data: content, compress: level % 2 === 0 }]);
    names.unshift(name);
  }
  return { content, leafPath: ['outer.zip', ...names, leaf.name] };
}

export interface TarEntry {
  name: string;
  data?: Buffer;
  type?: 'file' | 'directory' | 'symlink';
}

export async function tar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const output = collect(pack);
  for (const entry of entries) {
    if (entry.type === 'directory') pack.entry({ name: entry.name, type: 'directory' });
    else if (entry.type === 'symlink')
      pack.entry({ name: entry.name, type: 'symlink', linkname: 'target' });
    else pack.entry({ name: entry.name }, entry.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  return output;
}

export const gzip = (data: Buffer): Buffer => zlib.gzipSync(data);

/** A zip made by Info-ZIP's `zip -P` (traditional PKWARE encryption). */
export function encryptedZip(entries: ZipEntry[], password = 'infected'): Buffer {
  return infoZip(entries, ['-P', password]);
}

/** A zip made by Info-ZIP's `zip` (with `options`, e.g. `-P password`), names as given. */
export function infoZip(entries: ZipEntry[], options: string[] = []): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-infozip-'));
  try {
    for (const entry of entries) {
      mkdirSync(dirname(join(dir, entry.name)), { recursive: true });
      writeFileSync(join(dir, entry.name), entry.data);
    }
    execFileSync('zip', ['-q', ...options, 'out.zip', ...entries.map((e) => e.name)], {
      cwd: dir,
    });
    return readFileSync(join(dir, 'out.zip'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `data` piped through a Debian compressor (`zstd -q -c`, `bzip2 -c`, `xz --format=lzma -c`, …). */
export function compressWith(command: string, args: string[], data: Buffer): Buffer {
  return execFileSync(command, args, { input: data, maxBuffer: 256 * 1024 * 1024 });
}

/** `bytes` zeros piped through a shell compressor command, without holding them in memory. */
export function compressedZeros(bytes: number, command: string): Buffer {
  return execFileSync('sh', ['-c', `head -c ${bytes} /dev/zero | ${command}`], {
    maxBuffer: 256 * 1024 * 1024,
  });
}

/** A zip made by p7zip's `7z a -tzip -mm=<method>` (PPMd, BZip2, LZMA, Deflate64, …). */
export function sevenZipZip(entries: ZipEntry[], method: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-7zip-'));
  try {
    for (const entry of entries) {
      mkdirSync(dirname(join(dir, entry.name)), { recursive: true });
      writeFileSync(join(dir, entry.name), entry.data);
    }
    execFileSync(
      '7z',
      ['a', '-bd', '-tzip', `-mm=${method}`, 'out.zip', ...entries.map((e) => e.name)],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    return readFileSync(join(dir, 'out.zip'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Raw deflate data for `bytes` zeros (a multiple of 1 MiB), built without compressing them all:
 * a full flush makes every 1 MiB block compress to the same bytes, so one block is repeated.
 */
export function deflatedZeros(bytes: number): { deflated: Buffer; crc: number; size: number } {
  const block = 1 << 20;
  if (bytes % block !== 0) throw new Error('deflatedZeros wants a multiple of 1 MiB');
  const zeros = Buffer.alloc(block);
  const once = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const finish = Buffer.from([0x03, 0x00]); // an empty final fixed-Huffman block
  const deflated = Buffer.concat([...Array<Buffer>(bytes / block).fill(once), finish]);
  let crc = 0;
  for (let done = 0; done < bytes; done += block) crc = zlib.crc32(zeros, crc);
  return { deflated, crc, size: bytes };
}

/** `data` as a raw zip entry, deflated (default) or stored. */
export function rawEntry(name: string, data: Buffer, method: 0 | 8 = 8): RawZipEntry {
  const stored = method === 0 ? data : zlib.deflateRawSync(data);
  return { name, method, data: stored, crc: zlib.crc32(data), size: data.length };
}

export interface RawZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  /** The member's data exactly as stored in the zip (already compressed). */
  data: Buffer;
  crc: number;
  size: number;
}

/**
 * A zip whose member is in compression method 97 (WavPack, for audio): neither the walker nor
 * 7-Zip decodes it, so it stays `unsupported-method` (`zip:97`) whatever the engine.
 */
export function undecodableZip(name: string, data: Buffer): Buffer {
  return rawZip([{ name, method: 97, data, crc: zlib.crc32(data), size: data.length }]);
}

/** A minimal (non-zip64) zip writer for data that is already compressed, e.g. bombs. */
export function rawZip(entries: RawZipEntry[]): Buffer {
  const { bytes, offsets } = localRecords(entries);
  return craftedZip(
    bytes,
    entries.map((entry, i) => ({ ...entry, offset: offsets[i] ?? 0 })),
  );
}

/**
 * One local header followed by the entry's data; with `descriptor`, the header has flag 0x08 and
 * no sizes or CRC, and a data descriptor (with its signature) follows the data.
 */
export function localRecord(entry: RawZipEntry, options: { descriptor?: boolean } = {}): Buffer {
  if (options.descriptor) {
    const header = localRecord({ ...entry, data: Buffer.alloc(0), crc: 0, size: 0 });
    header.writeUInt16LE(0x08, 6);
    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(entry.crc >>> 0, 4);
    descriptor.writeUInt32LE(entry.data.length, 8);
    descriptor.writeUInt32LE(entry.size, 12);
    return Buffer.concat([header, entry.data, descriptor]);
  }
  const name = Buffer.from(entry.name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0, 6);
  local.writeUInt16LE(entry.method, 8);
  local.writeUInt32LE(0, 10);
  local.writeUInt32LE(entry.crc >>> 0, 14);
  local.writeUInt32LE(entry.data.length, 18);
  local.writeUInt32LE(entry.size, 22);
  local.writeUInt16LE(name.length, 26);
  local.writeUInt16LE(0, 28);
  return Buffer.concat([local, name, entry.data]);
}

/** Local records one after the other, and where each starts. */
export function localRecords(entries: RawZipEntry[]): { bytes: Buffer; offsets: number[] } {
  const records = entries.map((entry) => localRecord(entry));
  const offsets: number[] = [];
  let offset = 0;
  for (const record of records) {
    offsets.push(offset);
    offset += record.length;
  }
  return { bytes: Buffer.concat(records), offsets };
}

/** A central-directory entry pointing anywhere (a bomb may point many at the same bytes). */
export interface CentralEntry {
  name: string;
  method: number;
  crc: number;
  size: number;
  /** The stored (compressed) size; default `data.length`. */
  compressedSize?: number;
  data?: Buffer;
  /** Where its local header is. */
  offset: number;
}

/**
 * `body` (local records, or anything else) followed by a central directory listing `entries`
 * exactly as given, and the end record: zips no archiver writes, with entries that overlap or
 * that leave local headers out of the directory.
 */
export function craftedZip(body: Buffer, entries: CentralEntry[]): Buffer {
  const centrals: Buffer[] = [];
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(entry.method, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(entry.crc >>> 0, 16);
    central.writeUInt32LE(entry.compressedSize ?? entry.data?.length ?? 0, 20);
    central.writeUInt32LE(entry.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(entry.offset, 42);
    centrals.push(central, name);
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(body.length, 16);
  return Buffer.concat([body, directory, end]);
}

/**
 * The "non-recursive" zip bomb by full overlap: `count` central-directory entries all pointing
 * at one local record holding `bytes` of deflated zeros (a multiple of 1 MiB).
 */
export function overlappingZip(count: number, bytes: number): Buffer {
  const zeros = deflatedZeros(bytes);
  const shared: RawZipEntry = {
    name: 'zeros.bin',
    method: 8,
    data: zeros.deflated,
    crc: zeros.crc,
    size: zeros.size,
  };
  return craftedZip(
    localRecord(shared),
    Array.from({ length: count }, (_, i) => ({ ...shared, name: `zeros-${i}.bin`, offset: 0 })),
  );
}

/** A zip through yazl's streaming path: sizes and CRC-32 in data descriptors (flag 0x08). */
export function streamedZip(entries: ZipEntry[]): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const entry of entries) {
    archive.addReadStream(Readable.from([entry.data]), entry.name, {
      compress: entry.compress ?? true,
    });
  }
  archive.end();
  return collect(archive.outputStream);
}

/** A gzip member around already-deflated data. */
export function rawGzip(deflated: Buffer, crc: number, size: number): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  return Buffer.concat([header, deflated, trailer]);
}

export interface Visited {
  path: string;
  depth: number;
  size: number | undefined;
  /** The format of the container it was found in; `file` at depth 0. */
  container: string;
  length: number;
  sha1: string;
  /** The bytes themselves when small (≤ 64 KiB). */
  data: Buffer | undefined;
  /** Present when its container marks it as an annotation's appearance stream (a PDF's). */
  appearance?: true;
}

/** A scratch area for one test file; `files()` lists what is left in the scratch directory. */
export class Workspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'arbiter-archives-'));
  readonly scratchDir = join(this.dir, 'scratch');
  private count = 0;

  constructor() {
    mkdirSync(this.scratchDir);
  }

  write(content: Buffer): string {
    const path = join(this.dir, `input-${(this.count += 1)}`);
    writeFileSync(path, content);
    return path;
  }

  scratchFiles(): string[] {
    return readdirSync(this.scratchDir);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Walks `content` named `name`, reading every member fully. */
  async walk(
    content: Buffer,
    name: string,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    formats: readonly FormatHandler[] = [],
  ): Promise<WalkResult & { visited: Visited[] }> {
    const visited: Visited[] = [];
    const path = this.write(content);
    const result = await walkContent(
      { path, size: content.length, name },
      limits,
      async (member) => {
        visited.push(await readMember(member));
      },
      { scratchDir: this.scratchDir, formats },
    );
    rmSync(path, { force: true });
    return { ...result, visited };
  }
}

export async function readMember(member: Member): Promise<Visited> {
  const hash = createHash('sha1');
  const kept: Buffer[] = [];
  let length = 0;
  for await (const chunk of member.stream) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    length += bytes.length;
    if (length <= 64 * 1024) kept.push(bytes);
  }
  return {
    path: member.path.join('/'),
    depth: member.depth,
    size: member.size,
    container: member.container,
    length,
    sha1: hash.digest('hex'),
    data: length <= 64 * 1024 ? Buffer.concat(kept) : undefined,
    ...(member.appearance ? { appearance: true as const } : {}),
  };
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An old-style (pre-POSIX, "v7") tar: the ustar fields are blanked and checksums recomputed. */
export async function v7tar(entries: TarEntry[]): Promise<Buffer> {
  const archive = await tar(entries.map((e) => ({ ...e, type: 'file' as const })));
  let offset = 0;
  while (offset + 512 <= archive.length && archive[offset] !== 0) {
    const header = archive.subarray(offset, offset + 512);
    header.fill(0, 257, 512);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const size = parseInt(
      header.toString('latin1', 124, 136).replace(/\0.*$/, '').trim() || '0',
      8,
    );
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return archive;
}

/**
 * A test file's workspace and the walker's full format set (one 7-Zip worker), both torn down
 * after the file; every test must leave the scratch folder empty.
 */
export function formatWorkspace(): { ws: Workspace; formats: FormatSet } {
  const ws = new Workspace();
  const formats = createFormatSet({ sevenZip: { workers: 1 } });
  afterAll(async () => {
    await formats.close();
    ws.remove();
  });
  afterEach(() => expect(ws.scratchFiles()).toEqual([]));
  return { ws, formats };
}

/**
 * Runs `command` (a shell line) in a fresh folder holding `files` and returns the file `out` it
 * wrote: an archive made by the tool a user would use.
 */
export function builtWith(files: Record<string, Buffer>, command: string, out: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-built-'));
  try {
    for (const [name, data] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), data);
    }
    execFileSync('sh', ['-c', command], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(join(dir, out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

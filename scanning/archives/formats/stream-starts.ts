import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from '../crc32.js';

const CHUNK = 1024 * 1024;
/** Bytes carried from one chunk to the next, so that a signature across them is seen. */
const OVERLAP = 16;
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
/** The most zero padding looked through between two xz streams. */
const MAX_XZ_PADDING = 64 * 1024;
/** A bzip2 stream's start: `BZh`, a block size digit, then a block's or the end's magic. */
const BZIP2_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
const BZIP2_END = Buffer.from([0x17, 0x72, 0x45, 0x38, 0x50, 0x90]);

/**
 * Where each stream of a multi-stream xz or bzip2 file starts (0 first), found by reading the
 * file once. xz: a stream header (magic and flags CRC) right after a stream footer (its CRC and
 * `YZ`) and zero padding, as the xz format defines them: both CRCs must match. bzip2: a stream
 * header (`BZh1`–`BZh9`) followed by a block or end-of-stream magic (48 bits) at a later byte;
 * bzip2 streams end on a byte boundary, and a stream cut there by chance would fail to decode,
 * never hide anything.
 */
export async function streamStarts(format: 'xz' | 'bzip2', path: string): Promise<number[]> {
  const handle = await open(path, 'r');
  try {
    const starts = [0];
    const magic = format === 'xz' ? XZ_MAGIC : Buffer.from('BZh');
    for await (const { data, base } of windows(handle)) {
      for (let at = data.indexOf(magic, 1); at >= 0; at = data.indexOf(magic, at + 1)) {
        const offset = base + at;
        if (offset <= (starts.at(-1) ?? 0)) continue;
        const found =
          format === 'xz' ? await xzStreamAt(handle, offset) : await bzip2StreamAt(handle, offset);
        if (found) starts.push(offset);
      }
    }
    return starts;
  } finally {
    await handle.close();
  }
}

/**
 * The file in windows of CHUNK bytes, each starting with the last OVERLAP bytes of the one
 * before, so that a signature across two of them is seen; `base` is where `data` starts.
 */
async function* windows(handle: FileHandle): AsyncGenerator<{ data: Buffer; base: number }> {
  let carried = Buffer.alloc(0);
  let base = 0; // file offset of `carried`'s first byte
  for (;;) {
    const chunk = Buffer.alloc(CHUNK);
    const { bytesRead } = await handle.read(chunk, 0, CHUNK, base + carried.length);
    if (bytesRead === 0) return;
    const data = Buffer.concat([carried, chunk.subarray(0, bytesRead)]);
    yield { data, base };
    const keep = Math.min(OVERLAP, data.length);
    carried = data.subarray(data.length - keep);
    base += data.length - keep;
  }
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

async function xzStreamAt(handle: FileHandle, offset: number): Promise<boolean> {
  if (offset % 4 !== 0 || offset < 12) return false;
  const header = await readAt(handle, offset, 12);
  if (header.length < 12 || header.readUInt32LE(8) !== crc32(header.subarray(6, 8))) return false;
  // Stream padding: zero bytes in groups of four between the footer and the next header.
  const span = Math.min(offset, MAX_XZ_PADDING + 12);
  const before = await readAt(handle, offset - span, span);
  let end = before.length;
  while (end >= 16 && before.subarray(end - 4, end).every((byte) => byte === 0)) end -= 4;
  if (end < 12) return false;
  const footer = before.subarray(end - 12, end);
  return (
    footer[10] === 0x59 &&
    footer[11] === 0x5a &&
    footer.readUInt32LE(0) === crc32(footer.subarray(4, 10))
  );
}

async function bzip2StreamAt(handle: FileHandle, offset: number): Promise<boolean> {
  const header = await readAt(handle, offset, 10);
  if (header.length < 10) return false;
  const level = header[3] ?? 0;
  if (level < 0x31 || level > 0x39) return false;
  const magic = header.subarray(4, 10);
  return magic.equals(BZIP2_BLOCK) || magic.equals(BZIP2_END);
}

/** bzip2's end-of-stream magic (48 bits, at any bit position), then the stream's 32-bit CRC. */
const BZIP2_EOS = 0x177245385090n;
/** An xz stream footer: CRC-32, backward size, flags, `YZ`. */
const XZ_FOOTER = 12;

/**
 * Where the last stream of a bzip2 or xz file ends, when something that is no further stream
 * follows it (`bzcat` ignores such bytes with a warning; 7-Zip calls the file damaged);
 * undefined when the file ends with its last stream (the usual case, told from its last bytes
 * alone) or when no end is found (the stream is cut short: 7-Zip says so). `last` is where the
 * last stream starts (streamStarts). The end is the first one after `last`: a bzip2
 * end-of-stream magic and CRC (bit-aligned, then padded to a byte), or an xz stream footer whose
 * CRC and flags match, with the zero padding after it.
 */
export async function streamsEnd(
  format: 'xz' | 'bzip2',
  path: string,
  last: number,
  size: number,
): Promise<number | undefined> {
  const handle = await open(path, 'r');
  try {
    const end =
      format === 'xz' ? await xzEnd(handle, last, size) : await bzip2End(handle, last, size);
    return end !== undefined && end < size ? end : undefined;
  } finally {
    await handle.close();
  }
}

/** Runs `find` over the file from `from` in chunks that overlap by `overlap` bytes. */
async function searchFile(
  handle: FileHandle,
  from: number,
  size: number,
  overlap: number,
  find: (data: Buffer, base: number) => number | undefined,
): Promise<number | undefined> {
  for (let base = from; base < size; base += CHUNK) {
    const data = await readAt(handle, base, Math.min(CHUNK + overlap, size - base));
    const found = find(data, base);
    if (found !== undefined) return found;
    if (base + data.length >= size) return undefined;
  }
  return undefined;
}

async function bzip2End(
  handle: FileHandle,
  last: number,
  size: number,
): Promise<number | undefined> {
  // The usual file: the magic, its CRC and at most 7 padding bits are its last 11 bytes.
  const lastBytes = Math.max(last + 4, size - 11);
  const atEnd = bzip2EndIn(await readAt(handle, lastBytes, size - lastBytes), lastBytes);
  if (atEnd === size) return undefined;
  return searchFile(handle, last + 4, size, 11, bzip2EndIn);
}

/** The magic placed at each bit shift of a 7-byte window: the bytes and which bits count. */
const BZIP2_EOS_SHIFTS = Array.from({ length: 8 }, (_, shift) => {
  const bytes = bigBytes(BZIP2_EOS << BigInt(8 - shift));
  const mask = bigBytes(((1n << 48n) - 1n) << BigInt(8 - shift));
  const first = mask.indexOf(0xff);
  const needle = bytes.subarray(first, first + (shift === 0 ? 6 : 5));
  return { bytes, mask, first, needle, shift };
});

function bigBytes(value: bigint): Buffer {
  const out = Buffer.alloc(7);
  for (let i = 6; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** The byte after the first end-of-stream magic and CRC in `data` (file offset `base`). */
function bzip2EndIn(data: Buffer, base: number): number | undefined {
  let best: number | undefined;
  for (const { bytes, mask, first, needle, shift } of BZIP2_EOS_SHIFTS) {
    for (let at = data.indexOf(needle); at >= 0; at = data.indexOf(needle, at + 1)) {
      const start = at - first;
      // Shifted by whole bytes, the magic takes 6 of the window's 7 bytes; otherwise all 7.
      const span = shift === 0 ? 6 : 7;
      if (start < 0 || start + span > data.length) continue;
      const matches = mask.every((bits, i) => ((data[start + i] ?? 0) & bits) === (bytes[i] ?? 0));
      if (!matches) continue;
      const end = base + start + Math.ceil((shift + 48 + 32) / 8);
      if (best === undefined || end < best) best = end;
      break;
    }
  }
  return best;
}

async function xzEnd(handle: FileHandle, last: number, size: number): Promise<number | undefined> {
  const flags = (await readAt(handle, last + 6, 2)).toString('hex');
  const footerAt = (data: Buffer, at: number) =>
    at >= 0 &&
    at + XZ_FOOTER <= data.length &&
    data[at + 10] === 0x59 &&
    data[at + 11] === 0x5a &&
    data.readUInt32LE(at) === crc32(data.subarray(at + 4, at + 10)) &&
    data.toString('hex', at + 8, at + 10) === flags;
  // The usual file: its last footer, then zero padding in groups of four, ends it.
  const from = Math.max(last, size - MAX_XZ_PADDING - XZ_FOOTER);
  const tail = await readAt(handle, from, size - from);
  let end = tail.length;
  while (end >= XZ_FOOTER + 4 && tail.subarray(end - 4, end).every((byte) => byte === 0)) end -= 4;
  if (footerAt(tail, end - XZ_FOOTER)) return undefined;
  const found = await searchFile(handle, last + XZ_FOOTER, size, XZ_FOOTER, (data, base) => {
    for (let at = data.indexOf('YZ'); at >= 0; at = data.indexOf('YZ', at + 1)) {
      const start = at - 10;
      // Streams are a multiple of four bytes long.
      if ((base + start - last) % 4 === 0 && footerAt(data, start)) return base + at + 2;
    }
    return undefined;
  });
  if (found === undefined) return undefined;
  // Stream padding after the footer belongs to the file's streams.
  const after = await readAt(handle, found, Math.min(MAX_XZ_PADDING, size - found));
  let padded = 0;
  while (padded + 4 <= after.length && after.subarray(padded, padded + 4).every((b) => b === 0)) {
    padded += 4;
  }
  return found + padded;
}

/** Dictionary sizes the LZMA tools write: 2^n or 2^n + 2^(n-1), 4 KiB to 1.5 GiB. */
const LZMA_DICTIONARIES = Array.from({ length: 19 }, (_, i) => i + 12).flatMap((n) => [
  2 ** n,
  2 ** n + 2 ** (n - 1),
]);
const LZMA_DICTIONARY_BYTES = LZMA_DICTIONARIES.map((size) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(size);
  return bytes;
});
const LZMA_HEADER = 13;

/**
 * Where a further stream of a `.lzma` ("LZMA alone") file may start, 0 first: a legacy LZMA
 * header has no magic, so every place that reads as one — a properties byte below 225, a
 * dictionary size the tools write, an uncompressed size unknown (all ones) or below 2^48 — is a
 * candidate, in file order. Random data passes this about once in 2^43 bytes; a candidate that
 * is not a stream start fails to decode and is passed over by the caller.
 */
export async function lzmaStreamCandidates(path: string): Promise<number[]> {
  const handle = await open(path, 'r');
  try {
    const found = new Set<number>();
    for await (const { data, base } of windows(handle)) {
      for (const dictionary of LZMA_DICTIONARY_BYTES) {
        for (let at = data.indexOf(dictionary, 1); at >= 0; at = data.indexOf(dictionary, at + 1)) {
          const start = at - 1;
          if (base + start > 0 && lzmaHeaderAt(data, start)) found.add(base + start);
        }
      }
    }
    return [0, ...[...found].sort((a, b) => a - b)];
  } finally {
    await handle.close();
  }
}

function lzmaHeaderAt(data: Buffer, start: number): boolean {
  if (start < 0 || start + LZMA_HEADER > data.length || (data[start] ?? 255) >= 225) return false;
  const low = data.readUInt32LE(start + 5);
  const high = data.readUInt32LE(start + 9);
  return (low === 0xffffffff && high === 0xffffffff) || high < 0x10000;
}

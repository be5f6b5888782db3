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
    let carried = Buffer.alloc(0);
    let base = 0; // file offset of `carried`'s first byte
    for (;;) {
      const chunk = Buffer.alloc(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, base + carried.length);
      if (bytesRead === 0) break;
      const data = Buffer.concat([carried, chunk.subarray(0, bytesRead)]);
      const magic = format === 'xz' ? XZ_MAGIC : Buffer.from('BZh');
      for (let at = data.indexOf(magic, 1); at >= 0; at = data.indexOf(magic, at + 1)) {
        const offset = base + at;
        if (offset <= (starts.at(-1) ?? 0)) continue;
        const found =
          format === 'xz' ? await xzStreamAt(handle, offset) : await bzip2StreamAt(handle, offset);
        if (found) starts.push(offset);
      }
      const keep = Math.min(OVERLAP, data.length);
      carried = data.subarray(data.length - keep);
      base += data.length - keep;
    }
    return starts;
  } finally {
    await handle.close();
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
    let carried = Buffer.alloc(0);
    let base = 0;
    for (;;) {
      const chunk = Buffer.alloc(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, base + carried.length);
      if (bytesRead === 0) break;
      const data = Buffer.concat([carried, chunk.subarray(0, bytesRead)]);
      for (const dictionary of LZMA_DICTIONARY_BYTES) {
        for (let at = data.indexOf(dictionary, 1); at >= 0; at = data.indexOf(dictionary, at + 1)) {
          const start = at - 1;
          if (base + start > 0 && lzmaHeaderAt(data, start)) found.add(base + start);
        }
      }
      const keep = Math.min(OVERLAP, data.length);
      carried = data.subarray(data.length - keep);
      base += data.length - keep;
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

import { crc32 } from './crc32.js';

/**
 * 7z and RAR archives inside other content: behind a document's end (after a PDF's `%%EOF`, a
 * mail's epilogue), an image's (the classic JPEG with a RAR appended) or any data. 7-Zip and
 * WinRAR, asked to open such a file, search it for an archive signature and open what they find;
 * the walker does the same for content it has no format for (or a document format), so what an
 * extractor hands out is scanned. A signature alone is not enough — compressed data holds any
 * six bytes sooner or later — so each is checked against the header that must follow it, whose
 * CRC-32 covers it: the 7z start header; RAR 5's main archive header; RAR 4's main header.
 */

export type EmbeddedArchiveFormat = '7z' | 'rar';

export interface EmbeddedArchive {
  format: EmbeddedArchiveFormat;
  /** Where the signature starts in the content. */
  offset: number;
}

const SEVEN_ZIP = Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]);
/** `Rar!\x1a\x07`, then `\x00` (RAR 4) or `\x01\x00` (RAR 5). */
const RAR = Buffer.from('Rar!\x1a\x07', 'latin1');
/** The most bytes a check reads from the signature on: what a chunk's end may cut. */
const EMBEDDED_SPAN = 64;

/**
 * Watches content chunk by chunk for the first checked 7z or RAR signature after its first byte
 * (content that starts with one is that archive, opened as such). Holds the last bytes of each
 * chunk to see a header across two of them; copies nothing else.
 */
export class EmbeddedArchiveWatch {
  private carry = Buffer.alloc(0);
  private seen = 0;

  /**
   * The archive found in `chunk` (or starting in the bytes held from the chunk before), with
   * the bytes from its signature to the end of `chunk`; undefined while none is found.
   */
  search(chunk: Buffer): { archive: EmbeddedArchive; bytes: Buffer } | undefined {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const base = this.seen - this.carry.length;
    const at = archiveStartIn(data, base === 0 ? 1 : 0);
    this.seen += chunk.length;
    if (at !== undefined) {
      const format: EmbeddedArchiveFormat = data[at] === 0x37 ? '7z' : 'rar';
      return { archive: { format, offset: base + at }, bytes: Buffer.from(data.subarray(at)) };
    }
    this.carry = Buffer.from(data.subarray(Math.max(0, data.length - EMBEDDED_SPAN)));
    return undefined;
  }
}

/**
 * Where the first checked signature at or after `from` starts in `data`; one whose header runs
 * past the end of `data` is left for the next search (the caller keeps EMBEDDED_SPAN bytes).
 */
export function archiveStartIn(data: Buffer, from = 0): number | undefined {
  let best: number | undefined;
  for (const [signature, check] of [
    [SEVEN_ZIP, sevenZipHeaderAt],
    [RAR, rarHeaderAt],
  ] as const) {
    for (let at = data.indexOf(signature, from); at >= 0; at = data.indexOf(signature, at + 1)) {
      if (best !== undefined && at >= best) break;
      if (at + EMBEDDED_SPAN > data.length) break;
      if (check(data, at)) {
        best = at;
        break;
      }
    }
  }
  return best;
}

/** The 7z signature header: version 0.x, then a start header whose CRC-32 is given before it. */
function sevenZipHeaderAt(data: Buffer, at: number): boolean {
  if (data[at + 6] !== 0) return false;
  return data.readUInt32LE(at + 8) === crc32(data.subarray(at + 12, at + 32));
}

function rarHeaderAt(data: Buffer, at: number): boolean {
  if (data[at + 6] === 0x00) return rar4HeaderAt(data, at + 7);
  if (data[at + 6] === 0x01 && data[at + 7] === 0x00) return rar5HeaderAt(data, at + 8);
  return false;
}

/** RAR 4's main header (type 0x73): its CRC field holds the low 16 bits of the CRC-32 after it. */
function rar4HeaderAt(data: Buffer, at: number): boolean {
  if (data[at + 2] !== 0x73) return false;
  const size = data.readUInt16LE(at + 5);
  if (size < 7 || at + size > data.length) return false;
  return data.readUInt16LE(at) === (crc32(data.subarray(at + 2, at + size)) & 0xffff);
}

/** RAR 5's main archive header: CRC-32, then its size (a vint) and the header it covers. */
function rar5HeaderAt(data: Buffer, at: number): boolean {
  let size = 0;
  let length = 0;
  for (let shift = 0; length < 3; shift += 7) {
    const byte = data[at + 4 + length];
    if (byte === undefined) return false;
    length += 1;
    size += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
  }
  const end = at + 4 + length + size;
  if (size === 0 || end > data.length) return false;
  return data.readUInt32LE(at) === crc32(data.subarray(at + 4, end));
}

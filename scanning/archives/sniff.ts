/**
 * Recognises containers and compressed streams from their first bytes (never from names).
 * Archive formats it does not know (7z, rar, …) are scanned as data only.
 */
export type ArchiveFormat = 'zip' | 'gzip' | 'tar' | 'zstd' | CompressedStreamFormat;

/**
 * Single-stream compression formats the walker recognises but cannot decode: reported
 * `unsupported-method` (never clean) while the bytes themselves are still scanned as data.
 */
export type CompressedStreamFormat = 'bzip2' | 'xz' | 'lzma';

export const UNDECODED_FORMATS: ReadonlySet<ArchiveFormat> = new Set(['bzip2', 'xz', 'lzma']);

/** How many leading bytes `sniffArchive` wants to see (a tar header block). */
export const SNIFF_BYTES = 512;

export function sniffArchive(head: Buffer): ArchiveFormat | undefined {
  if (isZip(head)) return 'zip';
  if (isGzip(head)) return 'gzip';
  if (isTar(head)) return 'tar';
  if (isZstd(head)) return 'zstd';
  if (isXz(head)) return 'xz';
  if (isBzip2(head)) return 'bzip2';
  if (isLzmaAlone(head)) return 'lzma';
  return undefined;
}

/** A Zstandard frame, or a skippable frame (magic 0x184D2A50–5F) that usually precedes one. */
function isZstd(head: Buffer): boolean {
  if (head.length < 4) return false;
  const magic = head.readUInt32LE(0);
  return magic === 0xfd2fb528 || (magic & 0xfffffff0) === 0x184d2a50;
}

function isXz(head: Buffer): boolean {
  return head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC);
}
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** "BZh1"–"BZh9", then a block header or (an empty stream) the end-of-stream marker. */
function isBzip2(head: Buffer): boolean {
  if (head.length < 10 || head.toString('latin1', 0, 3) !== 'BZh') return false;
  const level = head[3] ?? 0;
  if (level < 0x31 || level > 0x39) return false;
  const next = head.subarray(4, 10);
  return next.equals(BZIP2_BLOCK) || next.equals(BZIP2_END);
}
const BZIP2_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
const BZIP2_END = Buffer.from([0x17, 0x72, 0x45, 0x38, 0x50, 0x90]);

/**
 * The legacy `.lzma` ("LZMA alone") header has no magic: a properties byte (lc/lp/pb below
 * 225), a dictionary size as the tools write them (2^n or 2^n + 2^(n-1), 4 KiB to 1.5 GiB) and
 * an uncompressed size that is unknown (all ones) or below 2^48. Random bytes pass this rarely.
 */
function isLzmaAlone(head: Buffer): boolean {
  if (head.length < 13 || (head[0] ?? 255) >= 225) return false;
  const dictionary = head.readUInt32LE(1);
  if (!plausibleDictionary(dictionary)) return false;
  const low = head.readUInt32LE(5);
  const high = head.readUInt32LE(9);
  return (low === 0xffffffff && high === 0xffffffff) || high < 0x10000;
}

function plausibleDictionary(size: number): boolean {
  for (let n = 12; n <= 30; n++) {
    if (size === 2 ** n || size === 2 ** n + 2 ** (n - 1)) return true;
  }
  return false;
}

function isZip(head: Buffer): boolean {
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return false;
  const kind = head.readUInt16BE(2);
  // 03 04: local file header; 05 06: end of central directory (an empty archive);
  // 07 08: spanned-archive marker; 30 30 ("PK00"): single-segment spanned marker.
  return kind === 0x0304 || kind === 0x0506 || kind === 0x0708 || kind === 0x3030;
}

/** gzip member header: magic, method 8 (deflate, the only one defined) and no reserved flags. */
function isGzip(head: Buffer): boolean {
  return (
    head.length >= 10 &&
    head[0] === 0x1f &&
    head[1] === 0x8b &&
    head[2] === 0x08 &&
    ((head[3] ?? 0) & 0xe0) === 0
  );
}

/**
 * POSIX/GNU tar ("ustar" at offset 257), or an old-style (v7) header with a valid checksum. The
 * header may follow zero blocks (an empty archive's end blocks in front of a real one, which
 * `tar --ignore-zeros` reads through), as far as the bytes seen reach.
 */
function isTar(head: Buffer): boolean {
  let at = 0;
  while (at + 512 <= head.length && zeroBlock(head, at)) at += 512;
  const block = head.subarray(at, at + 512);
  if (at > 0 && block.length < 512) return false;
  if (block.length >= 262 && block.toString('latin1', 257, 262) === 'ustar') {
    return at === 0 || tarChecksumValid(block);
  }
  return block.length >= 512 && block[0] !== 0 && tarChecksumValid(block);
}

function zeroBlock(head: Buffer, at: number): boolean {
  for (let i = at; i < at + 512; i++) if (head[i] !== 0) return false;
  return true;
}

function tarChecksumValid(block: Buffer): boolean {
  const field = block
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** The original file name stored in a gzip header (FNAME), if any, without directories. */
export function gzipStoredName(head: Buffer): string | undefined {
  const flags = head[3] ?? 0;
  if ((flags & 0x08) === 0) return undefined;
  let offset = 10;
  if (flags & 0x04) {
    if (head.length < 12) return undefined;
    offset += 2 + head.readUInt16LE(10);
  }
  const end = head.indexOf(0, offset);
  if (end <= offset) return undefined;
  const name = head.toString('latin1', offset, end).split(/[/\\]/).pop();
  return name || undefined;
}

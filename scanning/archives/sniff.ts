/**
 * Recognises the containers the walker opens from their first bytes (never from names).
 * Formats it does not open (7z, rar, bzip2, …) are not recognised here and are scanned as data.
 */
export type ArchiveFormat = 'zip' | 'gzip' | 'tar';

/** How many leading bytes `sniffArchive` wants to see (a tar header block). */
export const SNIFF_BYTES = 512;

export function sniffArchive(head: Buffer): ArchiveFormat | undefined {
  if (isZip(head)) return 'zip';
  if (isGzip(head)) return 'gzip';
  if (isTar(head)) return 'tar';
  return undefined;
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

/** POSIX/GNU tar ("ustar" at offset 257), or an old-style (v7) header with a valid checksum. */
function isTar(head: Buffer): boolean {
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') return true;
  return head.length >= 512 && head[0] !== 0 && tarChecksumValid(head);
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

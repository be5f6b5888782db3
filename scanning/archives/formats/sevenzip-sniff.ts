import { open } from 'node:fs/promises';
import { crc32 } from '../crc32.js';
import { sniffArchive } from '../sniff.js';

/** One format opened through 7-Zip: how it is recognised and what 7-Zip calls it. */
export interface SevenZipFormat {
  /** The handler's name: the members' `container`. */
  name: string;
  /** 7-Zip's type (`-t<type>`), so 7-Zip opens it as nothing else. */
  type: string;
  sniff(head: Buffer): boolean;
  sniffBytes?: number;
  /**
   * The magic is short (or, for LZMA, missing) enough to turn up in other content now and then:
   * when 7-Zip then cannot open or decode it, the content is scanned as data and only a password
   * or a limit is reported (otherwise a format that fails is `corrupt`).
   */
  weak?: boolean;
  /** A compressed stream: its one member's name, from the container's name. */
  single?: (parent: string) => string;
}

const startsWith = (head: Buffer, bytes: number[], at = 0): boolean =>
  head.length >= at + bytes.length && bytes.every((byte, i) => head[at + i] === byte);

const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];

/** `x.tar.bz2` → `x.tar`, `x.tbz2` → `x.tar`, else `(name content)`. */
function strippedName(suffix: RegExp, tarSuffix: RegExp, kind: string): (parent: string) => string {
  return (parent) => {
    if (tarSuffix.test(parent)) return parent.replace(tarSuffix, '.tar');
    const match = suffix.exec(parent);
    return match && match.index > 0 ? parent.slice(0, match.index) : `(${kind} content)`;
  };
}

/** ISO 9660 (and UDF's volume recognition sequence) start at byte 32768. */
const ISO_AT = 32769;

export const SEVEN_ZIP_FORMATS: readonly SevenZipFormat[] = [
  {
    name: '7z',
    type: '7z',
    // Signature, then format version 0.x.
    sniff: (head) => startsWith(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00]),
  },
  {
    name: 'rar',
    type: 'rar',
    sniff: (head) => startsWith(head, ascii('Rar!\x1a\x07\x00')),
  },
  {
    name: 'rar5',
    type: 'rar5',
    sniff: (head) => startsWith(head, ascii('Rar!\x1a\x07\x01\x00')),
  },
  {
    name: 'cab',
    type: 'cab',
    // "MSCF", a zero reserved field, then format version 1.3 at byte 24.
    sniff: (head) => startsWith(head, ascii('MSCF\0\0\0\0')) && head[24] === 3 && head[25] === 1,
  },
  {
    name: 'chm',
    type: 'chm',
    sniff: (head) =>
      startsWith(head, ascii('ITSF')) && head.length >= 8 && [2, 3].includes(head.readUInt32LE(4)),
  },
  {
    name: 'ole2',
    type: 'compound',
    // The compound-file signature and its little-endian byte-order mark.
    sniff: (head) =>
      startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) &&
      startsWith(head, [0xfe, 0xff], 28),
  },
  {
    name: 'arj',
    type: 'arj',
    sniff: isArj,
  },
  {
    name: 'cpio',
    type: 'cpio',
    sniff: isAsciiCpio,
  },
  {
    name: 'cpio',
    type: 'cpio',
    sniff: isBinaryCpio,
    weak: true,
  },
  {
    name: 'iso',
    type: 'iso',
    sniffBytes: ISO_AT + 5,
    sniff: (head) => startsWith(head, ascii('CD001'), ISO_AT),
  },
  {
    name: 'udf',
    type: 'udf',
    sniffBytes: ISO_AT + 5,
    sniff: (head) => startsWith(head, ascii('BEA01'), ISO_AT),
  },
  {
    name: 'szdd',
    type: 'mslz',
    sniff: (head) => startsWith(head, ascii('SZDD\x88\xf0\x27\x33A')),
    single: (parent) => (/_$/.test(parent) ? parent.slice(0, -1) : '(szdd content)'),
  },
  {
    name: 'bzip2',
    type: 'bzip2',
    sniff: (head) => sniffArchive(head) === 'bzip2',
    single: strippedName(/\.(bz2|bzip2|bz)$/i, /\.(tbz2|tbz)$/i, 'bzip2'),
  },
  {
    name: 'xz',
    type: 'xz',
    sniff: (head) => sniffArchive(head) === 'xz',
    single: strippedName(/\.xz$/i, /\.txz$/i, 'xz'),
  },
  {
    name: 'lzma',
    type: 'lzma',
    sniff: (head) => sniffArchive(head) === 'lzma',
    weak: true,
    single: strippedName(/\.lzma$/i, /\.tlz$/i, 'lzma'),
  },
  {
    name: 'compress',
    type: 'z',
    // 1F 9D, then a flags byte: 9–16 bits per code, the reserved bits clear.
    sniff: (head) =>
      startsWith(head, [0x1f, 0x9d]) &&
      ((head[2] ?? 0) & 0x60) === 0 &&
      ((head[2] ?? 0) & 0x1f) >= 9 &&
      ((head[2] ?? 0) & 0x1f) <= 16,
    weak: true,
    single: strippedName(/\.Z$/, /\.taz$/i, 'compress'),
  },
  {
    name: 'wim',
    type: 'wim',
    sniff: (head) => startsWith(head, ascii('MSWIM\0\0\0')),
  },
  {
    name: 'lzh',
    type: 'lzh',
    // Header size, checksum, then a method id such as "-lh5-"; the header level (0–2) at byte 20.
    sniff: (head) =>
      head.length >= 22 &&
      /^-(lh[0-7d]|lz[s45])-$/.test(head.toString('latin1', 2, 7)) &&
      (head[20] ?? 255) <= 2,
    weak: true,
  },
  {
    name: 'xar',
    type: 'xar',
    // "xar!", a 28-byte header, version 1.
    sniff: (head) =>
      startsWith(head, ascii('xar!')) &&
      head.length >= 8 &&
      head.readUInt16BE(4) === 28 &&
      head.readUInt16BE(6) === 1,
  },
  {
    name: 'rpm',
    type: 'rpm',
    // The lead's magic, then major version 3 or 4.
    sniff: (head) => startsWith(head, [0xed, 0xab, 0xee, 0xdb]) && [3, 4].includes(head[4] ?? 0),
  },
];

/** An ARJ main header: 60 EA, its size (at most 2600 bytes), and a CRC-32 that matches. */
function isArj(head: Buffer): boolean {
  if (!startsWith(head, [0x60, 0xea]) || head.length < 8) return false;
  const size = head.readUInt16LE(2);
  if (size < 30 || size > 2600 || head.length < 4 + size + 4) return false;
  return crc32(head.subarray(4, 4 + size)) >>> 0 === head.readUInt32LE(4 + size);
}

/** cpio's ASCII headers: "new" (070701, 070702 with CRC) and "odc" (070707), all digits. */
function isAsciiCpio(head: Buffer): boolean {
  const magic = head.toString('latin1', 0, 6);
  if (magic === '070701' || magic === '070702') {
    return /^[0-9A-Fa-f]{104}$/.test(head.toString('latin1', 6, 110));
  }
  return magic === '070707' && /^[0-7]{70}$/.test(head.toString('latin1', 6, 76));
}

/** A binary cpio header: magic 070707 in either byte order, the name NUL-terminated. */
function isBinaryCpio(head: Buffer): boolean {
  if (head.length < 28) return false;
  const little = head.readUInt16LE(0) === 0o70707;
  const big = head.readUInt16BE(0) === 0o70707;
  if (!little && !big) return false;
  const nameSize = little ? head.readUInt16LE(20) : head.readUInt16BE(20);
  if (nameSize < 2 || 26 + nameSize > head.length) return false;
  const name = head.subarray(26, 26 + nameSize);
  return name[nameSize - 1] === 0 && !name.subarray(0, nameSize - 1).includes(0);
}

/**
 * Whether an archive hides its names behind a password (7z with encrypted headers, RAR with
 * -hp): 7-Zip then stops without saying why, and this says it.
 */
export async function headerEncrypted(format: SevenZipFormat, path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    if (format.name === '7z') {
      const start = await read(0, 32);
      if (start.length < 32) return false;
      const offset = Number(start.readBigUInt64LE(12));
      const size = Math.min(Number(start.readBigUInt64LE(20)), 1 << 20);
      const header = await read(32 + offset, size);
      // An encoded header (0x17) whose coders include 7zAES (06 F1 07 01).
      return header[0] === 0x17 && header.includes(Buffer.from([0x06, 0xf1, 0x07, 0x01]));
    }
    if (format.name === 'rar5') {
      // After the signature and a header CRC: a header size (vint), then type 4, encryption.
      const start = await read(8, 16);
      let at = 4;
      while (at < start.length && (start[at] ?? 0) & 0x80) at += 1;
      return start[at + 1] === 4;
    }
    if (format.name === 'rar') {
      // The main header (type 0x73) with flag 0x0080: headers encrypted.
      const main = await read(7, 5);
      return main[2] === 0x73 && (main.readUInt16LE(3) & 0x0080) !== 0;
    }
    return false;
  } finally {
    await handle.close();
  }
}

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { UnpackError, type UnpackContext } from '../format.js';
import { safeMemberName } from './feed.js';

/**
 * InstallShield setup launchers. A launcher's payload: the overlay of the `setup.exe` InstallShield builds
 * with "compress into one file" is a table of files one after another, each a file name, its
 * path on the disk image, a version and its size in decimal — four NUL-terminated strings — then
 * the file's bytes (`data1.cab`, `setup.ini`, … and any file the author added). Each file is
 * handed over as a member by its name. The InstallShield cabinets among them (`data1.cab`, magic
 * `ISc(`) are scanned as data only: their compressed files are not extracted.
 */

/** ClamAV's bound on each string of an entry header. */
const MAX_STRING = 2048;
const HEADER_STRINGS = 4;

interface EntryHeader {
  name: string;
  size: number;
  /** Bytes of the header (the four strings and their NULs). */
  length: number;
}

/** The entry header at the start of `bytes`, or undefined when there is none. */
export function parseEntryHeader(bytes: Buffer): EntryHeader | undefined {
  const strings: string[] = [];
  let at = 0;
  for (let i = 0; i < HEADER_STRINGS; i++) {
    const end = bytes.indexOf(0, at);
    if (end < 0 || end - at > MAX_STRING) return undefined;
    strings.push(bytes.toString('latin1', at, end));
    at = end + 1;
  }
  const [name, path, version, size] = strings as [string, string, string, string];
  if (!name || !path || !/^\d{1,15}$/.test(size)) return undefined;
  // Printable names and a dotted version: an overlay that merely starts with NULs is no table.
  if (!PRINTABLE.test(name) || !PRINTABLE.test(path) || !/^[\d.]+$/.test(version)) return undefined;
  return { name, size: Number(size), length: at };
}

const PRINTABLE = /^[\x20-\x7e]+$/;

/** True when the overlay's first bytes (`window`) start a file table whose first file fits. */
export function isInstallShieldTable(window: Buffer, overlay: number, fileSize: number): boolean {
  const header = parseEntryHeader(window);
  return header !== undefined && overlay + header.length + header.size <= fileSize;
}

/** Hands over every file of the table at `overlay` in the executable at `path`. */
export async function unpackInstallShieldTable(
  path: string,
  overlay: number,
  fileSize: number,
  context: UnpackContext,
): Promise<void> {
  const handle = await open(path, 'r');
  try {
    let at = overlay;
    let count = 0;
    while (at < fileSize && !context.cancelled()) {
      const window = Buffer.alloc(Math.min(HEADER_STRINGS * (MAX_STRING + 1), fileSize - at));
      await handle.read(window, 0, window.length, at);
      const header = parseEntryHeader(window);
      if (!header) {
        if (count === 0) return; // no table after all: the executable is just an executable
        throw new UnpackError(
          'corrupt',
          `installshield: no file header at byte ${at}, ${fileSize - at} bytes before the end`,
        );
      }
      count += 1;
      const start = at + header.length;
      const name = safeMemberName(header.name, `file-${count}.bin`);
      if (start + header.size > fileSize) {
        throw new UnpackError('corrupt', `installshield: ${name} runs past the end of the file`);
      }
      const data =
        header.size === 0 ? [] : createReadStream(path, { start, end: start + header.size - 1 });
      if (!(await context.member(name, data as AsyncIterable<Buffer>, { size: header.size }))) {
        return;
      }
      at = start + header.size;
    }
  } finally {
    await handle.close();
  }
}

/**
 * An InstallShield MSI setup launcher: after the marker `InstallShield\0` in its overlay, a
 * 32-byte header (the file count, then zeros from byte 8), then per file a 312-byte block — its
 * name (NUL-padded to 260 bytes), … its compressed size (8 bytes at 268) … — and its data: zlib,
 * each byte's nibbles swapped and XORed with a key made from the file's name. Each file is
 * handed over, decoded, by its name (`clam.msi`, `Setup.ini`, …).
 */
const SETUP_MARKER = Buffer.from('InstallShield\0', 'latin1');
const SETUP_HEADER = 0x20;
const FILE_BLOCK = 0x138;
const NAME_FIELD = 0x104;
const COMPRESSED_SIZE_AT = 0x10c;
/** XORed with the file name to make the key (ClamAV's `skey`). */
const NAME_KEY = [0xec, 0xca, 0x79, 0xf8];
/** The key repeats within each 1 KiB of data. */
const KEY_WINDOW = 0x400;

/** Where the setup header starts in the overlay's first bytes (`window`, at `overlay`), if any. */
export function findInstallShieldSetup(window: Buffer, overlay: number): number | undefined {
  for (let at = window.indexOf(SETUP_MARKER); at >= 0; at = window.indexOf(SETUP_MARKER, at + 1)) {
    const header = at + SETUP_MARKER.length;
    if (header + SETUP_HEADER + FILE_BLOCK > window.length) return undefined;
    const count = window.readUInt32LE(header);
    let zeros = true;
    for (let i = 8; i < SETUP_HEADER; i += 4) zeros &&= window.readUInt32LE(header + i) === 0;
    if (count > 0 && zeros && blockName(window.subarray(header + SETUP_HEADER)) !== undefined) {
      return overlay + header;
    }
  }
  return undefined;
}

/** The file name at the start of a file block: printable, NUL-terminated in its field. */
function blockName(block: Buffer): string | undefined {
  const end = block.indexOf(0);
  if (end <= 0 || end >= NAME_FIELD) return undefined;
  const name = block.toString('latin1', 0, end);
  return PRINTABLE.test(name) ? name : undefined;
}

/** Hands over every file after the setup header at `header` in the executable at `path`. */
export async function unpackInstallShieldSetup(
  path: string,
  header: number,
  fileSize: number,
  context: UnpackContext,
): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, header);
    const count = head.readUInt32LE(0);
    let at = header + SETUP_HEADER;
    for (let index = 1; index <= count && !context.cancelled(); index++) {
      const block = Buffer.alloc(FILE_BLOCK);
      const { bytesRead } = await handle.read(block, 0, FILE_BLOCK, at);
      const name = bytesRead === FILE_BLOCK ? blockName(block) : undefined;
      if (name === undefined) {
        throw new UnpackError(
          'corrupt',
          `installshield: no file block at byte ${at} (file ${index} of ${count})`,
        );
      }
      const compressedSize = Number(block.readBigUInt64LE(COMPRESSED_SIZE_AT));
      const start = at + FILE_BLOCK;
      if (start + compressedSize > fileSize) {
        throw new UnpackError('corrupt', `installshield: ${name} runs past the end of the file`);
      }
      if (
        !(await setupFile(
          path,
          safeMemberName(name, `file-${index}.bin`),
          name,
          start,
          compressedSize,
          context,
        ))
      ) {
        return;
      }
      at = start + compressedSize;
    }
  } finally {
    await handle.close();
  }
}

/** One file of an MSI setup, de-obfuscated and inflated. False when the walk is over. */
function setupFile(
  path: string,
  member: string,
  name: string,
  start: number,
  length: number,
  context: UnpackContext,
): Promise<boolean> {
  const key = Buffer.from(name, 'latin1').map((byte, i) => byte ^ NAME_KEY[i & 3]!);
  let index = 0;
  const decode = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const out = Buffer.allocUnsafe(chunk.length);
      for (let i = 0; i < chunk.length; i++, index++) {
        const byte = chunk[i]!;
        out[i] =
          (((byte >> 4) | (byte << 4)) & 0xff) ^ key[(index & (KEY_WINDOW - 1)) % key.length]!;
      }
      callback(null, out);
    },
  });
  const raw: Readable =
    length === 0 ? Readable.from([]) : createReadStream(path, { start, end: start + length - 1 });
  const data = pipeline(raw, decode, zlib.createInflate({ chunkSize: 64 * 1024 }), () => {});
  return context.member(member, data as AsyncIterable<Buffer>, { compressed: () => index });
}

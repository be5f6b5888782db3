import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { UnpackError, type UnpackContext } from '../format.js';
import { safeMemberName } from './feed.js';

/**
 * An InstallShield setup launcher's payload: the overlay of the `setup.exe` InstallShield builds
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

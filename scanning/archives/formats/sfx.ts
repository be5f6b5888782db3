import { open } from 'node:fs/promises';
import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import {
  findInstallShieldSetup,
  isInstallShieldTable,
  unpackInstallShieldSetup,
  unpackInstallShieldTable,
} from './installshield.js';
import type { SevenZipPool } from './sevenzip-pool.js';
import { unpackWithSevenZip } from './sevenzip.js';

/**
 * Self-extracting archives and installers: a Windows executable (PE) whose overlay — the bytes
 * after its last section — is an archive (7-Zip and WinRAR SFX, zip SFX, a cabinet appended to a
 * stub), an NSIS installer's data or an InstallShield launcher's files. Only the PE headers
 * are parsed here; a plain executable (no overlay, or one that starts no archive: an Authenticode
 * signature, resources) goes no further. When it does, 7-Zip opens the executable as that archive
 * (or installer) and its members are the executable's; InstallShield's formats are read by
 * installshield.ts.
 */
export function createSfxFormat(pool: SevenZipPool): FormatHandler {
  return {
    name: 'sfx',
    input: 'file',
    // The overlay's archive is found here (7z, zip, RAR, CAB, NSIS), and what follows it too.
    reportsItsEnd: true,
    sniff: (head) => peLayout(head) !== undefined,
    unpack: (input, context) => unpackSfx(pool, input, context),
  };
}

/** Where the section table says the image ends: the overlay starts there. */
interface PeLayout {
  overlay: number;
}

/** The PE headers found in `head` (the first bytes of the file), or undefined for anything else. */
export function peLayout(head: Buffer): PeLayout | undefined {
  if (head.length < 0x40 || head[0] !== 0x4d || head[1] !== 0x5a) return undefined;
  const pe = head.readUInt32LE(0x3c);
  if (pe < 0x40 || pe + 24 > head.length || head.readUInt32BE(pe) !== 0x50450000) {
    return undefined;
  }
  const sections = head.readUInt16LE(pe + 6);
  const optionalSize = head.readUInt16LE(pe + 20);
  const table = pe + 24 + optionalSize;
  if (sections === 0 || sections > 96 || table + sections * 40 > head.length) return undefined;
  let overlay = 0;
  for (let i = 0; i < sections; i++) {
    const rawSize = head.readUInt32LE(table + i * 40 + 16);
    const rawStart = head.readUInt32LE(table + i * 40 + 20);
    if (rawSize > 0) overlay = Math.max(overlay, rawStart + rawSize);
  }
  return overlay > 0 ? { overlay } : undefined;
}

/** 7-Zip's type for what an overlay holds. */
type OverlayKind = '7z' | 'zip' | 'rar' | 'rar5' | 'cab' | 'nsis';

const ARCHIVE_MAGICS: Array<[Buffer, OverlayKind]> = [
  [Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), '7z'],
  [Buffer.from('PK\x03\x04', 'latin1'), 'zip'],
  [Buffer.from('Rar!\x1a\x07\x00', 'latin1'), 'rar'],
  [Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), 'rar5'],
  [Buffer.from('MSCF\0\0\0\0', 'latin1'), 'cab'],
];

/** NSIS's first header: flags, then DEADBEEF and "NullsoftInst". */
function isNsisHeader(bytes: Buffer, at: number): boolean {
  return (
    at + 20 <= bytes.length &&
    bytes.readUInt32LE(at + 4) === 0xdeadbeef &&
    bytes.toString('latin1', at + 8, at + 20) === 'NullsoftInst'
  );
}

/**
 * The first archive in `window` (the overlay's first bytes, which start at `start`): an archive
 * signature anywhere in it (a stub may pad its image a little), or NSIS data at a 512-byte
 * boundary of the file, where NSIS puts it.
 */
function findInWindow(
  window: Buffer,
  start: number,
): { offset: number; kind: OverlayKind } | undefined {
  let best: { offset: number; kind: OverlayKind } | undefined;
  for (const [magic, kind] of ARCHIVE_MAGICS) {
    const at = window.indexOf(magic);
    if (at >= 0 && (!best || start + at < best.offset)) best = { offset: start + at, kind };
  }
  for (
    let at = (NSIS_ALIGN - (start % NSIS_ALIGN)) % NSIS_ALIGN;
    at < window.length;
    at += NSIS_ALIGN
  ) {
    if (isNsisHeader(window, at) && (!best || start + at < best.offset)) {
      best = { offset: start + at, kind: 'nsis' };
    }
  }
  return best;
}

/** How far past the image's end an appended archive is looked for. */
const OVERLAY_WINDOW = 4096;

/** NSIS puts its data at the first 512-byte boundary at or after the image's end. */
const NSIS_ALIGN = 512;

async function unpackSfx(
  pool: SevenZipPool,
  input: UnpackInput,
  context: UnpackContext,
): Promise<void> {
  if (input.kind !== 'file') throw new Error('file input expected');
  const found = await findOverlay(input.path, input.size);
  if (!found) return;
  if (found.kind === 'installshield') {
    await unpackInstallShieldTable(input.path, found.offset, input.size, context);
    return;
  }
  if (found.kind === 'installshield-setup') {
    await unpackInstallShieldSetup(input.path, found.offset, input.size, context);
    return;
  }
  // 7-Zip opens the executable itself as that archive: it finds the archive after the stub, and
  // a zip SFX whose offsets count from the start of the executable (`zip -A`) reads right.
  // An archive signature in an overlay may be chance (a signature blob, an installer's own
  // data): when 7-Zip finds no archive there at all, the executable is just an executable.
  await unpackWithSevenZip(
    pool,
    { name: found.kind, type: found.kind, sniff: () => true, weak: true },
    input,
    context,
  );
}

async function findOverlay(
  path: string,
  size: number,
): Promise<
  { offset: number; kind: OverlayKind | 'installshield' | 'installshield-setup' } | undefined
> {
  const handle = await open(path, 'r');
  try {
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    const layout = peLayout(await read(0, 64 * 1024));
    if (!layout || layout.overlay >= size) return undefined;
    const window = await read(layout.overlay, OVERLAY_WINDOW);
    if (isInstallShieldTable(window, layout.overlay, size)) {
      return { offset: layout.overlay, kind: 'installshield' };
    }
    const setup = findInstallShieldSetup(window, layout.overlay);
    if (setup !== undefined) return { offset: setup, kind: 'installshield-setup' };
    return findInWindow(window, layout.overlay);
  } finally {
    await handle.close();
  }
}

/**
 * The layout of a PE (Windows executable) file, read from its first bytes: the DOS header, the
 * PE file header, the optional header (PE32 or PE32+) and the section table. Used by logical
 * signatures (`EP+n`, `Sx+n`, `SL+n`, `SEx` offsets; `EntryPoint` and `NumberOfSections`
 * conditions) and by PE section hashes (`.mdb`).
 *
 * The values follow ClamAV's reading of a PE (its offsets and section hashes are defined by it):
 * section offsets are rounded down and sizes rounded up to the file alignment (with its fallback
 * to 0x200 when section offsets are not aligned), a section starting past the end of the file
 * has no raw size, one running past the end is cut at it, and the entry point is mapped from its
 * RVA to a file offset through the last section holding it.
 *
 * Only the head of the file is looked at (at most PE_HEAD_BYTES): a PE whose section table ends
 * later is treated as no PE. Nothing here throws: anything malformed is "not a PE" with a reason.
 */

/** The most bytes from the start of a file the headers must fit in. */
export const PE_HEAD_BYTES = 64 * 1024;

export interface PeSection {
  /** Virtual address, rounded down to the section alignment. */
  rva: number;
  /** Virtual size, rounded up to the section alignment. */
  vsz: number;
  /** File offset of the raw data, rounded down to the file alignment. */
  raw: number;
  /** Raw size, rounded up to the file alignment and cut at the end of the file (0: none). */
  rsz: number;
}

export interface PeInfo {
  pe32plus: boolean;
  /** The entry point as a file offset. */
  entryPoint: number;
  /** The entry point as written (an RVA). */
  entryPointRva: number;
  sections: PeSection[];
  /** SizeOfHeaders rounded up to the section alignment: RVAs below it map to themselves. */
  headerSize: number;
  /** The resource data directory (the third); absent when the header declares fewer than 3. */
  resources?: { rva: number; size: number };
}

export type PeParseResult = { ok: true; pe: PeInfo } | { ok: false; reason: string };

const FILE_HEADER_SIZE = 24; // "PE\0\0" + IMAGE_FILE_HEADER
const OPTIONAL32_SIZE = 96; // without the data directories
const OPTIONAL64_SIZE = 112;
const SECTION_HEADER_SIZE = 40;
const MAX_DATA_DIRECTORIES = 16;
const PE32PLUS_MAGIC = 0x20b;

/** `o` rounded down to a multiple of `a` (a = 0: unchanged), as 32-bit unsigned arithmetic. */
function alignDown(o: number, a: number): number {
  return a === 0 ? o : Math.floor(o / a) * a;
}

/** `o` rounded up to a multiple of `a` (a = 0: unchanged), wrapping at 2^32 as ClamAV does. */
function alignUp(o: number, a: number): number {
  if (a === 0) return o;
  return ((Math.floor(o / a) + (o % a !== 0 ? 1 : 0)) * a) >>> 0;
}

/** Whether a file starts with "MZ": ClamAV then types it as an executable (the PE target). */
export function looksLikeMsExe(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a;
}

/**
 * Reads the PE headers from `head` (the first bytes of the file, up to PE_HEAD_BYTES) of a file
 * of `fileSize` bytes.
 */
export function parsePe(head: Uint8Array, fileSize: number): PeParseResult {
  try {
    return parse(head, fileSize);
  } catch (error) {
    // A bug here must not take a scan down: the file is then treated as no PE.
    return { ok: false, reason: `unreadable headers (${String(error)})` };
  }
}

function parse(head: Uint8Array, fileSize: number): PeParseResult {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const has = (offset: number, length: number) => offset >= 0 && offset + length <= head.length;
  const magic = head.length >= 2 ? view.getUint16(0, true) : 0;
  if (magic !== 0x5a4d && magic !== 0x4d5a) return { ok: false, reason: 'no MZ signature' };
  if (!has(60, 4)) return { ok: false, reason: 'truncated DOS header' };
  const lfanew = view.getUint32(60, true);
  if (lfanew === 0) return { ok: false, reason: 'e_lfanew is 0' };
  if (!has(lfanew, FILE_HEADER_SIZE)) return { ok: false, reason: 'PE header out of reach' };
  if (view.getUint32(lfanew, true) !== 0x00004550) return { ok: false, reason: 'no PE signature' };
  const nsections = view.getUint16(lfanew + 6, true);
  if (nsections === 0) return { ok: false, reason: 'no sections' };
  const optionalSize = view.getUint16(lfanew + 20, true);
  if (optionalSize < OPTIONAL32_SIZE) return { ok: false, reason: 'optional header too small' };
  const optional = lfanew + FILE_HEADER_SIZE;
  if (!has(optional, OPTIONAL32_SIZE)) return { ok: false, reason: 'optional header out of reach' };
  const pe32plus = view.getUint16(optional, true) === PE32PLUS_MAGIC;
  const storedSize = pe32plus ? OPTIONAL64_SIZE : OPTIONAL32_SIZE;
  if (pe32plus && (optionalSize < OPTIONAL64_SIZE || !has(optional, OPTIONAL64_SIZE))) {
    return { ok: false, reason: 'PE32+ optional header too small' };
  }
  const entryPointRva = view.getUint32(optional + 16, true);
  const sectionAlign = view.getUint32(optional + 32, true);
  let fileAlign = view.getUint32(optional + 36, true);
  const sizeOfHeaders = view.getUint32(optional + 60, true);
  const directories = Math.min(
    view.getUint32(optional + (pe32plus ? 108 : 92), true),
    MAX_DATA_DIRECTORIES,
  );
  if (optionalSize < storedSize + directories * 8) {
    return { ok: false, reason: 'data directories do not fit the optional header' };
  }
  const table = optional + optionalSize;
  if (!has(table, nsections * SECTION_HEADER_SIZE)) {
    return { ok: false, reason: 'section table out of reach' };
  }
  const headerSize = alignUp(sizeOfHeaders, sectionAlign);

  // ClamAV falls back to 0x200 when a section offset is not aligned to the declared alignment
  // but is to 0x200.
  for (let i = 0; fileAlign !== 0x200 && i < nsections; i += 1) {
    const at = table + i * SECTION_HEADER_SIZE;
    const rawSize = view.getUint32(at + 16, true);
    const rawOffset = view.getUint32(at + 20, true);
    if (
      fileAlign !== 0 &&
      rawSize !== 0 &&
      rawOffset % fileAlign !== 0 &&
      rawOffset % 0x200 === 0
    ) {
      fileAlign = 0x200;
    }
  }

  const sections: PeSection[] = [];
  for (let i = 0; i < nsections; i += 1) {
    const at = table + i * SECTION_HEADER_SIZE;
    const uvsz = view.getUint32(at + 8, true);
    const urva = view.getUint32(at + 12, true);
    const ursz = view.getUint32(at + 16, true);
    const uraw = view.getUint32(at + 20, true);
    const section: PeSection = {
      rva: alignDown(urva, sectionAlign),
      vsz: alignUp(uvsz, sectionAlign),
      raw: alignDown(uraw, fileAlign),
      rsz: alignUp(ursz, fileAlign),
    };
    if (section.rsz !== 0) {
      if (section.raw >= fileSize || uraw >= fileSize) section.rsz = 0;
      else if (section.raw + section.rsz > fileSize) section.rsz = fileSize - section.raw;
    }
    if (
      urva >= 2 ** 31 ||
      uvsz >= 2 ** 31 ||
      (section.rsz !== 0 && uraw >= 2 ** 31) ||
      ursz >= 2 ** 31
    ) {
      return { ok: false, reason: `section ${i} has an address or size past 2 GiB` };
    }
    sections.push(section);
  }
  const entryPoint = rawAddress(entryPointRva, sections, fileSize, headerSize);
  if (entryPoint === undefined) return { ok: false, reason: 'the entry point is in no section' };
  const pe: PeInfo = { pe32plus, entryPoint, entryPointRva, sections, headerSize };
  if (directories >= 3) {
    const at = optional + storedSize + 2 * 8;
    pe.resources = { rva: view.getUint32(at, true), size: view.getUint32(at + 4, true) };
  }
  return { ok: true, pe };
}

/** The file offset an RVA maps to, as ClamAV maps it (undefined: nowhere in the file). */
export function peFileOffset(pe: PeInfo, rva: number, fileSize: number): number | undefined {
  return rawAddress(rva >>> 0, pe.sections, fileSize, pe.headerSize);
}

/** The file offset of an RVA: inside the headers as is, else through the last section holding it. */
function rawAddress(
  rva: number,
  sections: PeSection[],
  fileSize: number,
  headerSize: number,
): number | undefined {
  if (rva < headerSize) return rva < fileSize ? rva : undefined;
  for (let i = sections.length - 1; i >= 0; i -= 1) {
    const s = sections[i]!;
    if (s.rsz !== 0 && s.rva <= rva && s.rsz > rva - s.rva) return rva - s.rva + s.raw;
  }
  return undefined;
}

/**
 * Small valid PE32 (or PE32+) files for tests: a DOS header, the PE and optional headers (16 data
 * directories, all empty), a section table, each section's raw data at a 0x200 file alignment
 * (0x1000 in memory) and optional bytes after the last section (an overlay). A section can hold
 * the resource tree (data directory 2 then points at it): its bytes are built knowing its RVA.
 */
export interface PeSectionSpec {
  name?: string;
  /** Raw data, or a function of the section's RVA giving it; padded to the file alignment. */
  data: Buffer | ((rva: number) => Buffer);
  /** Virtual size (default: the data length). */
  virtualSize?: number;
}

export interface PeSpec {
  sections: PeSectionSpec[];
  /** Entry point: section index and offset inside it. */
  entry: { section: number; offset: number };
  overlay?: Buffer;
  /** Bytes of the DOS stub area (0x40 bytes before the PE header are the DOS header). */
  stub?: Buffer;
  /** A PE32+ (64-bit) optional header instead of PE32. */
  pe32plus?: boolean;
  /** The index of the section that holds the resource directory (data directory 2). */
  resourceSection?: number;
}

export const FILE_ALIGNMENT = 0x200;
export const SECTION_ALIGNMENT = 0x1000;
const LFANEW = 0x80;
const OPTIONAL_SIZE_32 = 0xe0;
const OPTIONAL_SIZE_64 = 0xf0;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export interface BuiltPe {
  bytes: Buffer;
  /** File offset of each section's raw data and its raw (aligned) size. */
  sections: { raw: number; rawSize: number; rva: number }[];
  /** The entry point as a file offset. */
  entryPoint: number;
}

export function buildPe(spec: PeSpec): BuiltPe {
  const count = spec.sections.length;
  const plus = spec.pe32plus ?? false;
  const OPTIONAL_SIZE = plus ? OPTIONAL_SIZE_64 : OPTIONAL_SIZE_32;
  const headersEnd = LFANEW + 24 + OPTIONAL_SIZE + count * 40;
  const sizeOfHeaders = alignUp(headersEnd, FILE_ALIGNMENT);
  const layout: BuiltPe['sections'] = [];
  let raw = sizeOfHeaders;
  let rva = alignUp(sizeOfHeaders, SECTION_ALIGNMENT);
  const datas: Buffer[] = [];
  for (const section of spec.sections) {
    const data = typeof section.data === 'function' ? section.data(rva) : section.data;
    datas.push(data);
    const rawSize = alignUp(Math.max(data.length, 1), FILE_ALIGNMENT);
    layout.push({ raw, rawSize, rva });
    raw += rawSize;
    rva += alignUp(Math.max(section.virtualSize ?? data.length, 1), SECTION_ALIGNMENT);
  }
  const sizeOfImage = rva;
  const target = layout[spec.entry.section]!;
  const entryRva = target.rva + spec.entry.offset;
  const header = Buffer.alloc(sizeOfHeaders);
  header.write('MZ', 0, 'latin1');
  (spec.stub ?? Buffer.alloc(0)).copy(header, 0x40, 0, LFANEW - 0x40);
  header.writeUInt32LE(LFANEW, 0x3c);
  header.write('PE\0\0', LFANEW, 'latin1');
  const file = LFANEW + 4;
  header.writeUInt16LE(plus ? 0x8664 : 0x14c, file); // x86-64 or i386
  header.writeUInt16LE(count, file + 2);
  header.writeUInt32LE(0x5f5e100, file + 4); // timestamp
  header.writeUInt16LE(OPTIONAL_SIZE, file + 16);
  header.writeUInt16LE(plus ? 0x0022 : 0x0102, file + 18); // executable, 32-bit or large-address
  const opt = LFANEW + 24;
  header.writeUInt16LE(plus ? 0x20b : 0x10b, opt);
  header.writeUInt32LE(
    layout.reduce((sum, s) => sum + s.rawSize, 0),
    opt + 4,
  ); // SizeOfCode
  header.writeUInt32LE(entryRva, opt + 16);
  header.writeUInt32LE(layout[0]!.rva, opt + 20); // BaseOfCode
  if (plus)
    header.writeBigUInt64LE(0x140000000n, opt + 24); // ImageBase
  else header.writeUInt32LE(0x400000, opt + 28);
  header.writeUInt32LE(SECTION_ALIGNMENT, opt + 32);
  header.writeUInt32LE(FILE_ALIGNMENT, opt + 36);
  header.writeUInt16LE(4, opt + 40); // OS version
  header.writeUInt16LE(4, opt + 48); // subsystem version
  header.writeUInt32LE(sizeOfImage, opt + 56);
  header.writeUInt32LE(sizeOfHeaders, opt + 60);
  header.writeUInt16LE(2, opt + 68); // GUI
  // Stack and heap reserve/commit: 4 bytes each in PE32, 8 in PE32+.
  [0x100000, 0x1000, 0x100000, 0x1000].forEach((value, index) => {
    if (plus) header.writeBigUInt64LE(BigInt(value), opt + 72 + index * 8);
    else header.writeUInt32LE(value, opt + 72 + index * 4);
  });
  header.writeUInt32LE(16, opt + (plus ? 108 : 92));
  if (spec.resourceSection !== undefined) {
    const directory = opt + (plus ? 112 : 96) + 2 * 8;
    header.writeUInt32LE(layout[spec.resourceSection]!.rva, directory);
    header.writeUInt32LE(datas[spec.resourceSection]!.length, directory + 4);
  }
  spec.sections.forEach((section, index) => {
    const at = opt + OPTIONAL_SIZE + index * 40;
    header.write((section.name ?? `.s${index}`).slice(0, 8), at, 'latin1');
    header.writeUInt32LE(section.virtualSize ?? datas[index]!.length, at + 8);
    header.writeUInt32LE(layout[index]!.rva, at + 12);
    header.writeUInt32LE(layout[index]!.rawSize, at + 16);
    header.writeUInt32LE(layout[index]!.raw, at + 20);
    header.writeUInt32LE(0x60000020, at + 36);
  });
  const bodies = datas.map((data, index) => {
    const body = Buffer.alloc(layout[index]!.rawSize);
    data.copy(body);
    return body;
  });
  return {
    bytes: Buffer.concat([header, ...bodies, spec.overlay ?? Buffer.alloc(0)]),
    sections: layout,
    entryPoint: target.raw + spec.entry.offset,
  };
}

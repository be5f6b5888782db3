/**
 * Small valid PE32 files for tests: a DOS header, the PE and optional headers (16 data
 * directories, all empty), a section table, each section's raw data at a 0x200 file alignment
 * (0x1000 in memory) and optional bytes after the last section (an overlay).
 */
export interface PeSectionSpec {
  name?: string;
  /** Raw data; padded with zeros to the file alignment. */
  data: Buffer;
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
}

export const FILE_ALIGNMENT = 0x200;
export const SECTION_ALIGNMENT = 0x1000;
const LFANEW = 0x80;
const OPTIONAL_SIZE = 0xe0;

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
  const headersEnd = LFANEW + 24 + OPTIONAL_SIZE + count * 40;
  const sizeOfHeaders = alignUp(headersEnd, FILE_ALIGNMENT);
  const layout: BuiltPe['sections'] = [];
  let raw = sizeOfHeaders;
  let rva = alignUp(sizeOfHeaders, SECTION_ALIGNMENT);
  for (const section of spec.sections) {
    const rawSize = alignUp(Math.max(section.data.length, 1), FILE_ALIGNMENT);
    layout.push({ raw, rawSize, rva });
    raw += rawSize;
    rva += alignUp(Math.max(section.virtualSize ?? section.data.length, 1), SECTION_ALIGNMENT);
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
  header.writeUInt16LE(0x14c, file); // i386
  header.writeUInt16LE(count, file + 2);
  header.writeUInt32LE(0x5f5e100, file + 4); // timestamp
  header.writeUInt16LE(OPTIONAL_SIZE, file + 16);
  header.writeUInt16LE(0x0102, file + 18); // executable, 32-bit
  const opt = LFANEW + 24;
  header.writeUInt16LE(0x10b, opt);
  header.writeUInt32LE(
    layout.reduce((sum, s) => sum + s.rawSize, 0),
    opt + 4,
  ); // SizeOfCode
  header.writeUInt32LE(entryRva, opt + 16);
  header.writeUInt32LE(layout[0]!.rva, opt + 20); // BaseOfCode
  header.writeUInt32LE(0x400000, opt + 28); // ImageBase
  header.writeUInt32LE(SECTION_ALIGNMENT, opt + 32);
  header.writeUInt32LE(FILE_ALIGNMENT, opt + 36);
  header.writeUInt16LE(4, opt + 40); // OS version
  header.writeUInt16LE(4, opt + 48); // subsystem version
  header.writeUInt32LE(sizeOfImage, opt + 56);
  header.writeUInt32LE(sizeOfHeaders, opt + 60);
  header.writeUInt16LE(2, opt + 68); // GUI
  header.writeUInt32LE(0x100000, opt + 72);
  header.writeUInt32LE(0x1000, opt + 76);
  header.writeUInt32LE(0x100000, opt + 80);
  header.writeUInt32LE(0x1000, opt + 84);
  header.writeUInt32LE(16, opt + 92);
  spec.sections.forEach((section, index) => {
    const at = opt + OPTIONAL_SIZE + index * 40;
    header.write((section.name ?? `.s${index}`).slice(0, 8), at, 'latin1');
    header.writeUInt32LE(section.virtualSize ?? section.data.length, at + 8);
    header.writeUInt32LE(layout[index]!.rva, at + 12);
    header.writeUInt32LE(layout[index]!.rawSize, at + 16);
    header.writeUInt32LE(layout[index]!.raw, at + 20);
    header.writeUInt32LE(0x60000020, at + 36);
  });
  const bodies = spec.sections.map((section, index) => {
    const body = Buffer.alloc(layout[index]!.rawSize);
    section.data.copy(body);
    return body;
  });
  return {
    bytes: Buffer.concat([header, ...bodies, spec.overlay ?? Buffer.alloc(0)]),
    sections: layout,
    entryPoint: target.raw + spec.entry.offset,
  };
}

import { buildPe } from './pe-builder.js';

/**
 * PE version information for tests: VS_VERSIONINFO blocks (the fixed part, an optional
 * VarFileInfo, a StringFileInfo with string tables of key/value Strings) and a resource section
 * (.rsrc) holding them as RT_VERSION resources, laid out as resource compilers lay it out:
 * directories, then data entries, then the data. Used with pe-builder.ts (its `resourceSection`).
 */

export interface VersionBlockSpec {
  /** String tables, each a list of [key, value]; an empty value gives a String without one. */
  tables: [string, string][][];
  /** A VarFileInfo before the StringFileInfo (some files have it there) instead of after. */
  varFileInfoFirst?: boolean;
}

export interface BuiltVersionBlock {
  bytes: Buffer;
  /** Offsets, in the block, of the key of each String that has a value (clamd records these). */
  stringKeys: number[];
  /** The hex of each such String's key and value as sigtool prints it: a `VI:` subsignature body. */
  viBodies: string[];
}

const pad4 = (n: number) => (n + 3) & ~3;

/** A header (wLength, wValueLength, wType), the key (UTF-16LE, NUL-ended), padded to 4. */
function node(key: string, valueLength: number, type: number, rest: Buffer[]): Buffer {
  const keyBytes = Buffer.from(`${key}\0`, 'utf16le');
  const head = Buffer.alloc(pad4(6 + keyBytes.length));
  head.writeUInt16LE(valueLength, 2);
  head.writeUInt16LE(type, 4);
  keyBytes.copy(head, 6);
  const body = Buffer.concat([head, ...rest]);
  body.writeUInt16LE(body.length, 0);
  return body;
}

function varFileInfo(): Buffer {
  const translation = Buffer.from([0x09, 0x04, 0xb0, 0x04]);
  return node('VarFileInfo', 0, 1, [node('Translation', 4, 0, [translation])]);
}

export function versionBlock(spec: VersionBlockSpec): BuiltVersionBlock {
  const fixed = Buffer.alloc(0x34);
  fixed.writeUInt32LE(0xfeef04bd, 0);
  fixed.writeUInt32LE(0x00010000, 4);
  const stringsAt: { at: number; length: number }[] = [];
  const tables = spec.tables.map((strings, index) => {
    const parts = strings.map(([key, value]) => {
      const valueBytes = value === '' ? Buffer.alloc(0) : Buffer.from(`${value}\0`, 'utf16le');
      const string = node(key, value === '' ? 0 : value.length + 1, 1, [valueBytes]);
      // wLength is the String without its trailing padding; clamd rounds it up again.
      const padded = Buffer.alloc(pad4(string.length));
      string.copy(padded);
      return { padded, hasValue: value !== '' };
    });
    return { key: (0x040904b0 + index).toString(16).padStart(8, '0'), parts };
  });
  // Lay the block out first with placeholder tables, to know where each String lands.
  const stringFileInfo = node(
    'StringFileInfo',
    0,
    1,
    tables.map((table) =>
      node(
        table.key,
        0,
        1,
        table.parts.map((part) => part.padded),
      ),
    ),
  );
  const children = spec.varFileInfoFirst
    ? [varFileInfo(), stringFileInfo]
    : [stringFileInfo, varFileInfo()];
  const bytes = node('VS_VERSION_INFO', 0x34, 0, [fixed, ...children]);
  let at = 92 + (spec.varFileInfoFirst ? varFileInfo().length : 0) + 36;
  for (const table of tables) {
    at += 24;
    for (const part of table.parts) {
      if (part.hasValue) stringsAt.push({ at: at + 6, length: part.padded.length - 6 });
      at += part.padded.length;
    }
  }
  return {
    bytes,
    stringKeys: stringsAt.map((s) => s.at),
    viBodies: stringsAt.map((s) => bytes.subarray(s.at, s.at + s.length).toString('hex')),
  };
}

export interface BuiltResources {
  data: Buffer;
  /** Offset, in the section, of each version block. */
  blockOffsets: number[];
}

/**
 * A resource section at `rva` with the blocks as RT_VERSION resources (name 1, one language
 * each); `otherTypes` adds type entries (without resources) before the version type.
 */
export function resourceSection(
  rva: number,
  blocks: Buffer[],
  options: { otherTypes?: number[] } = {},
): BuiltResources {
  const otherTypes = options.otherTypes ?? [];
  const directory = (entries: [number, number][]) => {
    const bytes = Buffer.alloc(16 + entries.length * 8);
    bytes.writeUInt16LE(entries.length, 14);
    entries.forEach(([id, to], i) => {
      bytes.writeUInt32LE(id, 16 + i * 8);
      bytes.writeUInt32LE(to >>> 0, 20 + i * 8);
    });
    return bytes;
  };
  const rootSize = 16 + (otherTypes.length + 1) * 8;
  const nameAt = rootSize;
  const langAt = nameAt + 24;
  const entriesAt = langAt + 16 + blocks.length * 8;
  let dataAt = pad4(entriesAt + blocks.length * 16);
  const blockOffsets: number[] = [];
  const dataEntries = Buffer.alloc(blocks.length * 16);
  blocks.forEach((block, i) => {
    blockOffsets.push(dataAt);
    dataEntries.writeUInt32LE(rva + dataAt, i * 16);
    dataEntries.writeUInt32LE(block.length, i * 16 + 4);
    dataAt = pad4(dataAt + block.length);
  });
  const emptyDirectoryAt = dataAt;
  const root = directory([
    ...otherTypes.map((type): [number, number] => [type, 0x80000000 | emptyDirectoryAt]),
    [0x10, 0x80000000 | nameAt],
  ]);
  const names = directory([[1, 0x80000000 | langAt]]);
  const languages = directory(
    blocks.map((_, i): [number, number] => [0x409 + i, entriesAt + i * 16]),
  );
  const data = Buffer.alloc(emptyDirectoryAt + 16);
  root.copy(data, 0);
  names.copy(data, nameAt);
  languages.copy(data, langAt);
  dataEntries.copy(data, entriesAt);
  blocks.forEach((block, i) => block.copy(data, blockOffsets[i]));
  return { data, blockOffsets };
}

export interface VersionPe {
  bytes: Buffer;
  /** File offset of the resource section. */
  rsrcRaw: number;
  /** File offsets of the Strings with a value (clamd records these), per block. */
  expected: number[][];
}

/**
 * A PE32 with a .text section (`textSize` bytes of NOPs: large ones push the resources past the
 * first 64 KiB) and a .rsrc section holding the blocks.
 */
export function versionPe(
  blocks: BuiltVersionBlock[],
  options: { textSize?: number; otherTypes?: number[] } = {},
): VersionPe {
  let offsets: number[] = [];
  const built = buildPe({
    sections: [
      { name: '.text', data: Buffer.alloc(options.textSize ?? 300, 0x90) },
      {
        name: '.rsrc',
        data: (rva) => {
          const section = resourceSection(
            rva,
            blocks.map((b) => b.bytes),
            options,
          );
          offsets = section.blockOffsets;
          return section.data;
        },
      },
    ],
    entry: { section: 0, offset: 0 },
    resourceSection: 1,
  });
  const rsrcRaw = built.sections[1]!.raw;
  return {
    bytes: built.bytes,
    rsrcRaw,
    expected: blocks.map((b, i) => b.stringKeys.map((k) => rsrcRaw + offsets[i]! + k)),
  };
}

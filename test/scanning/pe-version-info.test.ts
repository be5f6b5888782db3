import { describe, expect, it } from 'vitest';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { parsePe, type PeInfo } from '../../scanning/pe.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { parseVersionBlock, versionInfoOffsets } from '../../scanning/pe-version-info.js';
import { buildPe } from '../support/pe-builder.js';
import {
  versionBlock,
  versionPe as buildVersionPe,
  type BuiltVersionBlock,
  type VersionPe,
} from '../support/pe-version-resource.js';

/**
 * The version information walk (pe-version-info.ts): which String offsets it records for `VI`
 * subsignatures, read in one pass over the file however it is cut, and its bounds on hostile
 * resource trees. That clamd records the same offsets is checked in ldb-vi-agreement.test.ts.
 */

const STRINGS: [string, string][] = [
  ['CompanyName', 'Acme Corp'],
  ['FileDescription', 'Widget tool'],
  ['Comments', ''],
  ['FileVersion', '1.2.3.4'],
  ['ProductName', 'Widget'],
];

interface ParsedVersionPe extends VersionPe {
  pe: PeInfo;
}

function versionPe(
  blocks: BuiltVersionBlock[],
  options: { textSize?: number; otherTypes?: number[] } = {},
): ParsedVersionPe {
  const file = buildVersionPe(blocks, options);
  const parsed = parsePe(file.bytes.subarray(0, 65536), file.bytes.length);
  if (!parsed.ok) throw new Error(parsed.reason);
  return { ...file, pe: parsed.pe };
}

const sorted = (set: Set<number> | null) => (set === null ? null : [...set].sort((a, b) => a - b));

/** The offsets found however the file is cut and whether its size is told up front. */
function offsetsEveryWay(file: ParsedVersionPe): (number[] | null)[] {
  return [1, 7, 512, 4096, 1 << 20].flatMap((chunkSize) =>
    [true, false].map((sizeKnown) =>
      sorted(versionInfoOffsets(file.pe, file.bytes, { chunkSize, sizeKnown })),
    ),
  );
}

describe('PE version information (VI offsets)', () => {
  it('records the key offset of every String that has a value', () => {
    const block = versionBlock({ tables: [STRINGS] });
    const file = versionPe([block]);
    expect(block.stringKeys).toHaveLength(4);
    for (const found of offsetsEveryWay(file)) expect(found).toEqual(file.expected[0]);
    // The recorded offset starts the key: "CompanyName" in UTF-16LE.
    const first = file.expected[0]![0]!;
    expect(file.bytes.subarray(first, first + 22).toString('utf16le')).toBe('CompanyName');
  });

  it('reads several string tables, a VarFileInfo before them, several languages', () => {
    const blocks = [
      versionBlock({ tables: [STRINGS.slice(0, 2), STRINGS.slice(3)] }),
      versionBlock({ tables: [[['CompanyName', 'Other Ltd']]], varFileInfoFirst: true }),
    ];
    const file = versionPe(blocks, { otherTypes: [3, 14] });
    for (const found of offsetsEveryWay(file)) {
      expect(found).toEqual(file.expected.flat().sort((a, b) => a - b));
    }
  });

  it('reads version resources past the first 64 KiB as they stream past', () => {
    const file = versionPe([versionBlock({ tables: [STRINGS] })], { textSize: 200_000 });
    expect(file.rsrcRaw).toBeGreaterThan(65536);
    for (const found of offsetsEveryWay(file)) expect(found).toEqual(file.expected[0]);
  });

  it('looks at no more than 16 version resources, as clamd', () => {
    const blocks = Array.from({ length: 18 }, (_, i) =>
      versionBlock({ tables: [[['CompanyName', `Company ${i}`]]] }),
    );
    const file = versionPe(blocks);
    expect(sorted(versionInfoOffsets(file.pe, file.bytes))).toEqual(
      file.expected.slice(0, 16).flat(),
    );
  });

  it('records nothing without a resource directory, or with a broken VS_VERSIONINFO', () => {
    const plain = buildPe({
      sections: [{ data: Buffer.alloc(100) }],
      entry: { section: 0, offset: 0 },
    });
    const parsed = parsePe(plain.bytes, plain.bytes.length);
    expect(parsed.ok && sorted(versionInfoOffsets(parsed.pe, plain.bytes))).toEqual([]);
    const block = versionBlock({ tables: [STRINGS] });
    for (const [at, value] of [
      [0x28, 0], // the fixed part's magic
      [2, 0x30], // its length
      [8, 0x41], // the key
    ] as const) {
      const broken = Buffer.from(block.bytes);
      broken.writeUInt8(value, at);
      const out = new Set<number>();
      parseVersionBlock(broken, 0, broken.length, out);
      expect(out.size).toBe(0);
    }
  });

  it('follows clamd on sizes: a String too short or past its table ends the table', () => {
    const block = versionBlock({ tables: [STRINGS] });
    const out = new Set<number>();
    // The data entry says the resource is shorter than VS_VERSIONINFO's own length: nothing.
    parseVersionBlock(block.bytes, 0, block.bytes.length - 1, out);
    expect(out.size).toBe(0);
    // The second String's length cut to 12: clamd stops reading its table there.
    const cut = Buffer.from(block.bytes);
    const second = block.stringKeys[1]! - 6;
    cut.writeUInt16LE(12, second);
    parseVersionBlock(cut, 0, cut.length, out);
    expect([...out]).toEqual([block.stringKeys[0]]);
  });

  it('needs the whole resource in the file, as clamd', () => {
    const file = versionPe([versionBlock({ tables: [STRINGS] })]);
    const end = Math.max(...file.expected[0]!) + 40;
    const cut = { ...file, bytes: file.bytes.subarray(0, end) };
    const parsedCut = parsePe(cut.bytes, cut.bytes.length);
    if (!parsedCut.ok) throw new Error(parsedCut.reason);
    expect(sorted(versionInfoOffsets(parsedCut.pe, cut.bytes))).toEqual([]);
    expect(sorted(versionInfoOffsets(file.pe, cut.bytes, { sizeKnown: false }))).toEqual([]);
  });

  it('gives up (null) on a pointer back past the head, and stays bounded on hostile trees', () => {
    const file = versionPe([versionBlock({ tables: [STRINGS] })], { textSize: 200_000 });
    const dataEntry = file.rsrcRaw + 16 + 8 + 24 + 24;
    // Point the data entry at the .text section (behind it, past the head).
    const back = Buffer.from(file.bytes);
    back.writeUInt32LE(0x1000 + 100_000, dataEntry);
    expect(versionInfoOffsets(file.pe, back)).toBeNull();
    // A name directory whose entry loops back to the root, with 65535 entries: ends, bounded.
    const loop = Buffer.from(file.bytes);
    loop.writeUInt16LE(0xffff, file.rsrcRaw + 24 + 14);
    for (let i = 0; i < 64; i += 1)
      loop.writeUInt32LE(0x80000000, file.rsrcRaw + 24 + 16 + i * 8 + 4);
    const started = performance.now();
    for (const chunkSize of [1, 4096]) {
      const found = versionInfoOffsets(file.pe, loop, { chunkSize });
      expect(found === null || found.size === 0).toBe(true);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    // Offsets past the end of the file and past 4 GiB: nothing, no throw.
    const far = Buffer.from(file.bytes);
    far.writeUInt32LE(0xfffffff0, dataEntry);
    far.writeUInt32LE(0xffffffff, dataEntry + 4);
    expect(sorted(versionInfoOffsets(file.pe, far))).toEqual([]);
  });

  it('judges no signature that depends on version strings it could not follow, either way', () => {
    const block = versionBlock({ tables: [STRINGS] });
    const file = versionPe([block], { textSize: 200_000 });
    const db = buildSignatureDatabase([
      {
        file: 'vi.ldb',
        text: [
          `VI.Found;Engine:51-255,Target:1;0;VI:${block.viBodies[0]}`,
          `VI.Absent;Engine:51-255,Target:1;0=0&1;VI:${block.viBodies[0]};909090`,
          `Plain;Engine:51-255,Target:1;0;909090`,
        ].join('\n'),
      },
    ]);
    expect(db.problems).toEqual([]);
    const scanner = new ContentScanner(db);
    const scan = (bytes: Buffer) => {
      const session = scanner.session(bytes.length);
      for (let at = 0; at < bytes.length; at += 8192) session.update(bytes.subarray(at, at + 8192));
      return session.finish().sort();
    };
    expect(scan(file.bytes)).toEqual(['Plain', 'VI.Found']);
    // The data entry moved after its data and pointing back to it, past the head: unknown.
    const back = Buffer.from(file.bytes);
    const dataEntry = file.rsrcRaw + 16 + 8 + 24 + 24;
    const entry = Buffer.from(back.subarray(dataEntry, dataEntry + 16));
    const moved = back.length - 0x20;
    entry.copy(back, moved);
    back.writeUInt32LE(moved - file.rsrcRaw, file.rsrcRaw + 16 + 8 + 24 + 16 + 4);
    expect(versionInfoOffsets(file.pe, back)).toBeNull();
    expect(scan(back)).toEqual(['Plain']);
  });
});

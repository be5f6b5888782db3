import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { parseLdbLine } from '../../scanning/signatures/ldb.js';
import { gzip, zip } from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { disagreementsOf, namesFromBoth } from '../support/agreement.js';
import { buildPe, type BuiltPe } from '../support/pe-builder.js';
import { int, pick, seededRng, type Rng } from '../support/signature-gen.js';

/**
 * Logical (`.ldb`) and PE section hash (`.mdb`, `.msb`) signatures in the built-in engine and in
 * a real clamd, on the same database and the same files: small PEs built here (several
 * sections, an entry point, an overlay), a text file, a file that starts with "MZ" but is no PE,
 * and ClamAV's own test executable when installed. clamd scans each file with ALLMATCHSCAN so
 * every matching signature is named, and both engines must name the same ones for every file.
 * Hand-written signatures cover each feature with positives and near misses (wrong section,
 * offset one off, counts not met) and carry the files they must match; seeded random ones built
 * from the files' bytes add breadth.
 */

const CLAM_EXE = '/usr/share/clamav-testfiles/clam.exe';
const hex = (text: string | Buffer) => Buffer.from(text).toString('hex');
const hex2 = (byte: number) => byte.toString(16).padStart(2, '0');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Bytes no signature here looks for: filler between the planted strings. */
function filler(rng: Rng, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => int(rng, 0x80, 0xfe)));
}

function place(base: Buffer, at: number, data: Buffer | string): Buffer {
  Buffer.from(data).copy(base, at);
  return base;
}

interface TestFile {
  name: string;
  bytes: Buffer;
  pe?: BuiltPe;
}

const PROLOGUE = Buffer.from([0x55, 0x8b, 0xec, 0x83, 0xec, 0x40, 0x53, 0x56]);
const WIDE = Buffer.from('WideStr', 'utf16le');

function buildFiles(): TestFile[] {
  const rng = seededRng(20261205);
  const three = buildPe({
    sections: [
      { name: '.text', data: place(filler(rng, 300), 0x10, 'MARKER-A') },
      {
        name: '.data',
        data: place(place(place(filler(rng, 700), 16, PROLOGUE), 100, 'KERNEL32.dll'), 200, WIDE),
      },
      {
        name: '.rsrc',
        data: place(
          place(place(place(filler(rng, 400), 8, 'CountMe'), 40, 'CountMe'), 90, 'CountMe'),
          150,
          'ZZZZZZ',
        ),
      },
    ],
    entry: { section: 1, offset: 16 },
    overlay: Buffer.concat([filler(rng, 40), Buffer.from('TAILMARK')]),
  });
  const one = buildPe({
    sections: [{ data: place(place(filler(rng, 200), 50, 'MARKER-A'), 120, 'countme') }],
    entry: { section: 0, offset: 0 },
  });
  const five = buildPe({
    sections: Array.from({ length: 5 }, (_, i) => ({
      data: i === 3 ? place(filler(rng, 100), 30, 'MARKER-A') : filler(rng, 64 + i * 300),
    })),
    entry: { section: 2, offset: 4 },
  });
  // The NULs keep clamd from typing it as ASCII text, which it would also scan normalized (in
  // lower case): a difference docs/engines.md describes, left out here.
  const text = Buffer.from(
    'plain text with MARKER-A, KERNEL32.dll, CountMe and CountMe, ZZZZZZ and kernel32.DLL\n\0\0\0\0',
  );
  const broken = Buffer.concat([
    Buffer.from('MZ'),
    filler(rng, 200),
    Buffer.from('MARKER-A'),
    filler(rng, 50),
    Buffer.from('TAILMARK'),
  ]);
  const files: TestFile[] = [
    { name: 'pe-three.exe', bytes: three.bytes, pe: three },
    { name: 'pe-one.exe', bytes: one.bytes, pe: one },
    { name: 'pe-five.exe', bytes: five.bytes, pe: five },
    { name: 'data.bin', bytes: text },
    { name: 'mz-broken.exe', bytes: broken },
  ];
  return files;
}

interface Labelled {
  line: string;
  /** The files it matches. */
  matches: string[];
}

/** Hand-written signatures, each with the files it must match (and so not the others). */
function labelledSignatures(
  files: TestFile[],
  clamExe: boolean,
): { ldb: Labelled[]; mdb: Labelled[] } {
  const byName = new Map(files.map((f) => [f.name, f]));
  const three = byName.get('pe-three.exe')!;
  const pe3 = three.pe!;
  const one = byName.get('pe-one.exe')!;
  const five = byName.get('pe-five.exe')!;
  const text = byName.get('data.bin')!;
  const mz = clamExe ? ['clam.exe'] : [];
  const at = (file: TestFile, offset: number, length: number) =>
    file.bytes.subarray(offset, offset + length).toString('hex');
  const s1 = pe3.sections[1]!;
  const s2 = pe3.sections[2]!;
  const ep = pe3.entryPoint;
  const pe = 'Engine:51-255,Target:1';
  const ldb: Labelled[] = [
    // Targets.
    {
      line: `L.Any;Target:0;0;${hex('MARKER-A')}`,
      matches: ['pe-three.exe', 'pe-one.exe', 'pe-five.exe', 'data.bin', 'mz-broken.exe'],
    },
    {
      line: `L.PeOnly;${pe};0;${hex('MARKER-A')}`,
      matches: ['pe-three.exe', 'pe-one.exe', 'pe-five.exe', 'mz-broken.exe'],
    },
    // Offsets relative to the PE layout, and their near misses.
    { line: `L.Ep;${pe};0;EP+0:${hex(PROLOGUE)}`, matches: ['pe-three.exe'] },
    { line: `L.EpMinus;${pe};0;EP-16:${at(three, ep - 16, 6)}`, matches: ['pe-three.exe'] },
    { line: `L.EpOneOff;${pe};0;EP+1:${hex(PROLOGUE)}`, matches: [] },
    { line: `L.EpShift;${pe};0;EP+0,4:${at(three, ep + 3, 4)}`, matches: ['pe-three.exe'] },
    { line: `L.EpShiftShort;${pe};0;EP+0,2:${at(three, ep + 3, 4)}`, matches: [] },
    { line: `L.Sect2;${pe};0;S2+8:${hex('CountMe')}`, matches: ['pe-three.exe'] },
    { line: `L.Sect1Wrong;${pe};0;S1+8:${hex('CountMe')}`, matches: [] },
    { line: `L.Sect9;${pe};0;S9+0:${at(three, s2.raw, 4)}`, matches: [] },
    { line: `L.Last;${pe};0;SL+150:${hex('ZZZZ')}`, matches: ['pe-three.exe'] },
    { line: `L.Entire;${pe};0;SE1:${hex('KERNEL32.dll')}`, matches: ['pe-three.exe'] },
    { line: `L.EntireWrong;${pe};0;SE2:${hex('KERNEL32.dll')}`, matches: [] },
    { line: `L.Eof;${pe};0;EOF-8:${hex('TAILMARK')}`, matches: ['pe-three.exe'] },
    { line: `L.EofAny;Target:0;0;EOF-8:${hex('TAILMARK')}`, matches: ['pe-three.exe'] },
    { line: `L.EofShift;Target:0;0;EOF-10,2:${hex('TAILMARK')}`, matches: ['pe-three.exe'] },
    {
      line: `L.Absolute;Target:0;0;0:4d5a`,
      matches: ['pe-three.exe', 'pe-one.exe', 'pe-five.exe', 'mz-broken.exe', ...mz],
    },
    {
      line: `L.AbsoluteRange;Target:0;0;58,4:${at(three, 60, 4)}`,
      matches: ['pe-three.exe', 'pe-one.exe', 'pe-five.exe'],
    },
    { line: `L.AbsoluteMiss;Target:0;0;61,4:${at(three, 60, 4)}`, matches: [] },
    { line: `L.SectData;${pe};0;${s1.raw + 100}:${hex('KERNEL32')}`, matches: ['pe-three.exe'] },
    // Counts: distinct start offsets, overlapping ones included.
    { line: `L.CountEq3;Target:0;0=3;${hex('CountMe')}`, matches: ['pe-three.exe'] },
    { line: `L.CountGt1;Target:0;0>1;${hex('CountMe')}`, matches: ['pe-three.exe', 'data.bin'] },
    { line: `L.CountGt3;Target:0;0>3;${hex('CountMe')}`, matches: [] },
    { line: `L.Overlap;Target:0;0=3;${hex('ZZZZ')}`, matches: ['pe-three.exe', 'data.bin'] },
    {
      line: `L.Group;Target:0;(0|1)>3;${hex('CountMe')};${hex('MARKER-A')}`,
      matches: ['pe-three.exe'],
    },
    {
      line: `L.Distinct;Target:0;(0|1)=3,2;${hex('CountMe')};${hex('MARKER-A')}`,
      matches: ['data.bin'],
    },
    { line: `L.DistinctMiss;Target:0;(0|1)=3,3;${hex('CountMe')};${hex('MARKER-A')}`, matches: [] },
    {
      // Read as 0&(1|2), as ClamAV reads it.
      line: `L.Grouping;Target:0;0&1|2;${hex('MARKER-A')};${hex('KERNEL32')};${hex('TAILMARK')}`,
      matches: ['pe-three.exe', 'data.bin', 'mz-broken.exe'],
    },
    {
      line: `L.Nested;Target:0;(0&1)|(2&3);${hex('MARKER-A')};${hex('KERNEL32')};${hex('countme')};${hex('MARKER-A')}`,
      matches: ['pe-three.exe', 'data.bin', 'pe-one.exe'],
    },
    {
      // A count below 1 holds when nothing matched: restricted to one file by its size.
      line: `L.NoneMatched;Engine:51-255,Target:0,FileSize:${text.bytes.length}-${text.bytes.length};0<1;${hex('absent!')}`,
      matches: ['data.bin'],
    },
    // Modifiers.
    {
      line: `L.Nocase;Target:0;0;${hex('COUNTME')}::i`,
      matches: ['pe-three.exe', 'pe-one.exe', 'data.bin'],
    },
    { line: `L.NocaseCount;Target:0;0>1;${hex('kernel32.dll')}::i`, matches: ['data.bin'] },
    { line: `L.Wide;Target:0;0;${hex('WideStr')}::w`, matches: ['pe-three.exe'] },
    { line: `L.WideOnly;Target:0;0;${hex('KERNEL32')}::w`, matches: [] },
    {
      line: `L.WideAscii;Target:0;0;${hex('KERNEL32')}::wa`,
      matches: ['pe-three.exe', 'data.bin', ...mz],
    },
    { line: `L.WideNocase;Target:0;0;${hex('widestr')}::wi`, matches: ['pe-three.exe'] },
    // Target description conditions.
    {
      line: `L.Small;Engine:51-255,Target:0,FileSize:0-1024;0;${hex('MARKER-A')}`,
      matches: ['pe-one.exe', 'data.bin', 'mz-broken.exe'],
    },
    {
      line: `L.FiveSections;Engine:51-255,Target:1,NumberOfSections:5-5;0;${hex('MARKER-A')}`,
      matches: ['pe-five.exe'],
    },
    {
      line: `L.EntryPoint;Engine:51-255,Target:1,EntryPoint:${ep}-${ep};0;4d5a`,
      matches: ['pe-three.exe'],
    },
    { line: `L.EngineOld;Engine:1-100,Target:0;0;${hex('MARKER-A')}`, matches: [] },
    // Wildcards inside subsignatures.
    {
      line: `L.Wildcards;Target:0;0;${hex('MARK')}??${hex('R-A')}`,
      matches: ['pe-three.exe', 'pe-one.exe', 'pe-five.exe', 'data.bin', 'mz-broken.exe'],
    },
    {
      line: `L.Gap;Target:0;0&1;${hex('KERNEL32')}{2-6}${hex('ll')};${hex('CountMe')}*${hex('ZZZZ')}`,
      matches: ['pe-three.exe', 'data.bin'],
    },
  ];
  const raw = (file: TestFile, index: number) => {
    const section = file.pe!.sections[index]!;
    return file.bytes.subarray(section.raw, section.raw + section.rawSize);
  };
  const threeS1 = raw(three, 1);
  const fiveS2 = raw(five, 2);
  const oneS0 = raw(one, 0);
  const mdb: Labelled[] = [
    { line: `${threeS1.length}:${md5(threeS1)}:M.Md5`, matches: ['pe-three.exe'] },
    { line: `${threeS1.length + 512}:${md5(threeS1)}:M.Md5WrongSize`, matches: [] },
    { line: `${fiveS2.length}:${sha1(fiveS2)}:M.Sha1:73`, matches: ['pe-five.exe'] },
    { line: `*:${sha256(oneS0)}:M.Sha256Any:73`, matches: ['pe-one.exe'] },
    { line: `${oneS0.length}:${md5(oneS0)}:M.FutureLevel:250`, matches: [] },
    { line: `${oneS0.length}:${md5(oneS0)}:M.PastLevel:51:60`, matches: [] },
  ];
  return { ldb, mdb };
}

/**
 * Archives holding some of the files (a zip, a gzip, and a gzip stored in a zip), and a file for
 * bounded gaps.
 */
async function buildArchives(files: TestFile[]): Promise<TestFile[]> {
  const bytesOf = (name: string) => files.find((f) => f.name === name)!.bytes;
  const gzipped = gzip(bytesOf('pe-one.exe'));
  return [
    {
      name: 'pe-three.zip',
      bytes: await zip([{ name: 'pe-three.exe', data: bytesOf('pe-three.exe') }]),
    },
    { name: 'pe-one.exe.gz', bytes: gzipped },
    // Two starts sharing one end for a bounded gap, then one more match.
    { name: 'gaps.bin', bytes: Buffer.from('\0aa\x01aabb\0\0aaXbb\0', 'latin1') },
    {
      name: 'nested.zip',
      bytes: await zip([{ name: 'pe-one.exe.gz', data: gzipped, compress: false }]),
    },
  ];
}

const PLUS_SECTION = Buffer.concat([Buffer.from('plus section one '), Buffer.alloc(300, 0x99)]);

/**
 * More executables, labelled apart: a PE32+ and pe-three.exe cut in the middle of its last
 * section (whose raw size clamd then cuts at the end of the file).
 */
function moreExecutables(files: TestFile[]): TestFile[] {
  const three = files.find((f) => f.name === 'pe-three.exe')!;
  const last = three.pe!.sections[2]!;
  const plus = buildPe({
    pe32plus: true,
    sections: [
      { data: Buffer.alloc(64, 0x98) },
      { data: place(Buffer.from(PLUS_SECTION), 40, PROLOGUE) },
    ],
    entry: { section: 1, offset: 40 },
  });
  return [
    { name: 'pe-plus.exe', bytes: plus.bytes, pe: plus },
    { name: 'pe-cut.exe', bytes: three.bytes.subarray(0, last.raw + 100) },
  ];
}

/** Section hashes for moreExecutables(), labelled over every file. */
function moreSectionHashes(more: TestFile[]): Labelled[] {
  const plus = more.find((f) => f.name === 'pe-plus.exe')!;
  const section = plus.pe!.sections[1]!;
  const plusData = plus.bytes.subarray(section.raw, section.raw + section.rawSize);
  const cut = more.find((f) => f.name === 'pe-cut.exe')!;
  const cutLast = cut.bytes.subarray(cut.bytes.length - 100);
  return [
    { line: `${plusData.length}:${md5(plusData)}:M.Plus`, matches: ['pe-plus.exe'] },
    // The cut section: hashed over the 100 bytes left, under that size.
    { line: `100:${md5(cutLast)}:M.Cut`, matches: ['pe-cut.exe'] },
    { line: `512:${md5(cutLast)}:M.CutFullSize`, matches: [] },
  ];
}

/** Signatures with a `Container` condition or bounded gaps, labelled over every file. */
function containerSignatures(clamExe: boolean): Labelled[] {
  const gap = `${hex('aa')}{0-5}${hex('bb')}`;
  const zipOnly = 'Engine:81-255,Target:0,Container:CL_TYPE_ZIP';
  return [
    {
      line: `C.ZipEp;Engine:81-255,Target:1,Container:CL_TYPE_ZIP;0;EP+0:${hex(PROLOGUE)}`,
      matches: ['pe-three.zip'],
    },
    { line: `C.Zip;${zipOnly};0;${hex('MARKER-A')}`, matches: ['pe-three.zip'] },
    {
      line: `C.Gzip;Engine:81-255,Target:0,Container:CL_TYPE_GZ;0;${hex('MARKER-A')}`,
      matches: ['pe-one.exe.gz', 'nested.zip'],
    },
    {
      line: `C.Top;Engine:81-255,Target:0,Container:CL_TYPE_ANY;0;0:4d5a`,
      matches: [
        'pe-three.exe',
        'pe-one.exe',
        'pe-five.exe',
        'mz-broken.exe',
        'pe-plus.exe',
        'pe-cut.exe',
        ...(clamExe ? ['clam.exe'] : []),
      ],
    },
    // Any start of a match counts for an offset, as in clamd.
    { line: `G.First;Target:0;0;1:${gap}`, matches: ['gaps.bin'] },
    { line: `G.Second;Target:0;0;4:${gap}`, matches: ['gaps.bin'] },
    { line: `G.Miss;Target:0;0;2,1:${gap}`, matches: [] },
    { line: `G.Both;Target:0;0&1;1:${gap};EOF-6:${gap}`, matches: ['gaps.bin'] },
    // PE32+ and a cut PE.
    {
      line: `P.PlusEp;Engine:51-255,Target:1,NumberOfSections:2-2;0;EP+0:${hex(PROLOGUE)}`,
      matches: ['pe-plus.exe'],
    },
    {
      line: `P.PlusSect;Engine:51-255,Target:1;0;S1+0:${hex('plus section')}`,
      matches: ['pe-plus.exe'],
    },
    {
      line: `P.CutLast;Engine:51-255,Target:1;0;SL+8:${hex('CountMe')}`,
      matches: ['pe-three.exe', 'pe-cut.exe', 'pe-three.zip'],
    },
    {
      line: `P.CutGone;Engine:51-255,Target:1;0;SE2:${hex('ZZZZ')}`,
      matches: ['pe-three.exe', 'pe-three.zip'],
    },
  ];
}

/** Seeded random logical signatures from the files' own bytes: hits, near misses, counts. */
function randomSignatures(files: TestFile[], count: number): string[] {
  const rng = seededRng(4242);
  const lines: string[] = [];
  for (let n = 0; lines.length < count && n < count * 20; n += 1) {
    const file = pick(rng, files);
    const subsigs: string[] = [];
    const subCount = int(rng, 1, 3);
    let pe = false;
    for (let k = 0; k < subCount; k += 1) {
      const length = int(rng, 3, 8);
      const at = int(rng, 0, file.bytes.length - length);
      let body = '';
      for (let i = 0; i < length; i += 1) {
        const byte = file.bytes.subarray(at + i, at + i + 1).toString('hex');
        const inner = i >= 2 && i < length - 1;
        const roll = rng();
        if (inner && roll < 0.1) body += '??';
        else if (inner && roll < 0.15) body += `${byte[0]}?`;
        else if (inner && roll < 0.2) body += `(${byte}|${hex2(int(rng, 0, 255))})`;
        else body += byte;
      }
      const modifiers = pick(rng, ['', '', '', '::i', '::w', '::wa', '::iwa']);
      const miss = rng() < 0.3 ? 1 : 0;
      const kind = int(rng, 0, 6);
      const sections = file.pe?.sections ?? [];
      const sIndex = sections.findIndex((s) => at >= s.raw && at < s.raw + s.rawSize);
      let offset = '*';
      if (kind === 1) offset = `${at + miss}`;
      else if (kind === 2) offset = `EOF-${file.bytes.length - at + miss}`;
      else if (kind === 3 && file.pe) {
        const delta = at - file.pe.entryPoint + miss;
        offset = delta >= 0 ? `EP+${delta}` : `EP-${-delta}`;
        pe = true;
      } else if (kind === 4 && sIndex >= 0) {
        offset = `S${sIndex}+${at - sections[sIndex]!.raw + miss}`;
        pe = true;
      } else if (kind === 5 && sIndex >= 0) {
        offset = `SE${(sIndex + miss) % sections.length}`;
        pe = true;
      } else if (kind === 6) offset = `${Math.max(0, at - 3)},${int(rng, 0, 6)}`;
      subsigs.push(`${offset === '*' ? '' : `${offset}:`}${body}${modifiers}`);
    }
    const ids = subsigs.map((_, i) => `${i}`);
    let logic = ids.join(pick(rng, ['&', '|']));
    if (rng() < 0.4)
      logic = `${ids.length > 1 ? `(${logic})` : logic}${pick(rng, ['>', '=', '<'])}${int(rng, 0, 3)}`;
    const line = `R.${lines.length};Engine:51-255,Target:${pe ? 1 : pick(rng, [0, 1])};${logic};${subsigs.join(';')}`;
    const parsed = parseLdbLine(line);
    // Only lines both engines load: clamd refuses a whole database for one bad line.
    if (!parsed.ok || parsed.warning) continue;
    lines.push(line);
  }
  return lines;
}

describe('logical and PE section hash signatures: the built-in engine and clamd agree', () => {
  let dir: string;
  let clamd: TestClamd;
  let files: TestFile[];
  let labelled: { ldb: Labelled[]; mdb: Labelled[] };
  let archives: TestFile[];
  let containers: Labelled[];
  let randomCount = 0;
  const results = new Map<string, { builtin: string[]; clamd: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-ldb-agreement-'));
    files = buildFiles();
    const clamExe = existsSync(CLAM_EXE);
    if (clamExe) files.push({ name: 'clam.exe', bytes: await readFile(CLAM_EXE) });
    labelled = labelledSignatures(files, clamExe);
    const random = randomSignatures(files, 150);
    randomCount = random.length;
    const more = moreExecutables(files);
    archives = [...(await buildArchives(files)), ...more];
    containers = [...containerSignatures(clamExe), ...moreSectionHashes(more)];
    const dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    await writeFile(
      path.join(dbDir, 'test.ldb'),
      [...labelled.ldb, ...containers.filter((l) => l.line.includes(';'))]
        .map((l) => l.line)
        .concat(random)
        .join('\n') + '\n',
    );
    const mdb = [...labelled.mdb, ...containers].map((l) => l.line).filter((l) => !l.includes(';'));
    await writeFile(
      path.join(dbDir, 'test.mdb'),
      mdb.filter((l) => /^\d+:[0-9a-f]{32}:/.test(l)).join('\n') + '\n',
    );
    await writeFile(
      path.join(dbDir, 'test.msb'),
      mdb.filter((l) => !/^\d+:[0-9a-f]{32}:/.test(l)).join('\n') + '\n',
    );
    const filesDir = path.join(dir, 'files');
    await mkdir(filesDir);
    for (const file of [...files, ...archives]) {
      await writeFile(path.join(filesDir, file.name), file.bytes);
    }
    clamd = await startTestClamd({ databaseDir: dbDir });
    const builtin = await BuiltinEngine.load(dbDir, createLogger('silent'));
    const problems = builtin.database.problems.filter(
      (p) => !/functionality level/.test(p.message),
    );
    expect(problems).toEqual([]);
    for (const file of [...files, ...archives]) {
      const target = path.join(filesDir, file.name);
      results.set(
        file.name,
        await namesFromBoth(builtin, clamd.socketPath, {
          path: target,
          size: file.bytes.length,
          name: file.name,
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads every signature in the built-in engine except those outside its functionality level', async () => {
    const builtin = await BuiltinEngine.load(path.join(dir, 'db'), createLogger('silent'));
    const extraHashes = containers.filter((l) => !l.line.includes(';')).length;
    // L.EngineOld (Engine:1-100) is skipped by both engines.
    expect(builtin.database.logical.length).toBe(
      labelled.ldb.length - 1 + containers.length - extraHashes + randomCount,
    );
    expect(builtin.database.sectionHashes.count).toBe(labelled.mdb.length - 2 + extraHashes);
    expect(randomCount).toBeGreaterThan(100);
  });

  it('names the same signatures as clamd for every file', () => {
    expect(disagreementsOf(results)).toEqual([]);
  });

  it('matches each hand-written signature on exactly its labelled files', () => {
    const wrong: string[] = [];
    for (const { line, matches } of [...labelled.ldb, ...labelled.mdb]) {
      const name = line.includes(';') ? line.split(';')[0]! : line.split(':')[2]!;
      const found = files
        .filter((f) => results.get(f.name)?.builtin.includes(name))
        .map((f) => f.name);
      if (found.sort().join() !== [...matches].sort().join()) {
        wrong.push(`${name}: matched [${found.join(', ')}], expected [${matches.join(', ')}]`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('applies Container conditions, bounded gaps, PE32+ and cut PEs as clamd does', () => {
    const wrong: string[] = [];
    for (const { line, matches } of containers) {
      const name = line.includes(';') ? line.split(';')[0]! : line.split(':')[2]!;
      const found = [...files, ...archives]
        .filter((f) => results.get(f.name)?.builtin.includes(name))
        .map((f) => f.name);
      if (found.sort().join() !== [...matches].sort().join()) {
        wrong.push(`${name}: matched [${found.join(', ')}], expected [${matches.join(', ')}]`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('finds the random signatures built to match, not only near misses', () => {
    const hits = new Set(
      [...results.values()].flatMap((r) => r.builtin.filter((n) => n.startsWith('R.'))),
    );
    expect(hits.size).toBeGreaterThan(30);
    expect(hits.size).toBeLessThan(randomCount);
  });
});

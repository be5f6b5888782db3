import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { PCRE_MAX_CONTENT } from '../../scanning/matcher/pcre.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { parseLdbLine } from '../../scanning/signatures/ldb.js';
import { zip } from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { disagreementsOf, namesFromBoth } from '../support/agreement.js';
import { buildPe } from '../support/pe-builder.js';
import { int, pick, seededRng, type Rng } from '../support/signature-gen.js';

/**
 * PCRE subsignatures of logical signatures in the built-in engine (RE2, via re2-wasm) and in a
 * real clamd (PCRE2), on the same database and files. Hand-written signatures cover triggers
 * (held, failed, counted, on an earlier PCRE, holding with nothing matched), offsets (anchored,
 * with a shift, rolling, encompassed, EOF-relative, at the entry point), the flags g, r, e, i, s,
 * m, x, U, A and E, counts, bytes 0x80–0xFF and NUL, PCRE's `$` before a final newline and `\s`
 * with VT; each carries the files it must match. clamd's PCREMaxFileSize is set to the built-in
 * engine's bound, so files one byte over it and exactly at it are judged alike. The built-in
 * engine is also fed every file one byte at a time (its size unknown) and must name the same.
 */

const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
const TRIGGER = hex('TRIGGER1');
const ABSENT = hex('NOWHERE!');
const PROLOGUE = Buffer.from([0x55, 0x8b, 0xec, 0x83, 0xec, 0x40]);

/** Control bytes: no regex here matches them, and they keep clamd from typing files as text. */
function filler(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => 1 + ((i * 7 + seed) % 8)));
}

const HEAD = Buffer.from([0, 0, 1, 2, 0xfe, 0x90, 0, 0]);
const bytes = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

interface TestFile {
  name: string;
  bytes: Buffer;
}

function buildFiles(): TestFile[] {
  const main = bytes(
    HEAD,
    'TRIGGER1',
    filler(12, 1),
    'abc123x',
    filler(9, 2),
    'x1 x2 x3',
    filler(5, 3),
    'line1\nline2\n',
    filler(3, 4),
    '\xff\x80\x00\xfe',
    filler(4, 5),
    'CaseTest',
    filler(2, 6),
    'a\x0bb',
    filler(2, 7),
    '\xc0',
    filler(3, 0),
    'Q1Z2Z Q3Z',
    filler(2, 1),
    'a;b a/b',
    filler(2, 3),
    'h\xa0h v\x85v cr\rcr',
    filler(2, 4),
    'caf\xc3\xa9\xa9 [\xc3]',
    filler(20, 2),
    'TAILabc9',
    filler(6, 3),
  );
  const pe = buildPe({
    sections: [
      { data: bytes(filler(40, 1), 'TRIGGER1', filler(30, 2)) },
      { data: bytes(filler(16, 3), PROLOGUE, 'abc77x', filler(60, 4)) },
    ],
    entry: { section: 1, offset: 16 },
  });
  const big = (size: number) =>
    Buffer.concat([bytes(HEAD, 'TRIGGER1', filler(4, 1), 'abc123x'), filler(size, 5)]).subarray(
      0,
      size,
    );
  return [
    { name: 'main.bin', bytes: main },
    {
      name: 'no-trigger.bin',
      bytes: Buffer.from(main.toString('latin1').replace('TRIGGER1', 'TRIGGERX'), 'latin1'),
    },
    { name: 'final-newline.bin', bytes: bytes(HEAD, 'TRIGGER1', filler(6, 2), 'END\n') },
    { name: 'pe.exe', bytes: pe.bytes },
    { name: 'at-bound.bin', bytes: big(PCRE_MAX_CONTENT) },
    { name: 'over-bound.bin', bytes: big(PCRE_MAX_CONTENT + 1) },
  ];
}

interface Labelled {
  line: string;
  matches: string[];
}

function labelledSignatures(files: TestFile[]): Labelled[] {
  const main = files.find((f) => f.name === 'main.bin')!.bytes;
  const at = (text: string) => main.indexOf(Buffer.from(text, 'latin1'));
  const abc = at('abc123x');
  const tail = main.length - at('TAILabc9');
  const both = ['main.bin', 'at-bound.bin'];
  const sig = (name: string, logic: string, ...subs: string[]) =>
    `X.${name};Target:0;${logic};${subs.join(';')}`;
  return [
    // Triggers.
    { line: sig('Basic', '0&1', TRIGGER, String.raw`0/abc\d+x/`), matches: [...both, 'pe.exe'] },
    {
      line: sig('TriggerOnly', '0|1', TRIGGER, String.raw`0/zzz/`),
      matches: ['main.bin', 'final-newline.bin', 'pe.exe', 'at-bound.bin', 'over-bound.bin'],
    },
    { line: sig('PcreOnly', '1', ABSENT, String.raw`0/abc\d+x/`), matches: [] },
    {
      line: sig('ZeroTrigger', '1', ABSENT, String.raw`0=0/abc\d+x/`),
      matches: [...both, 'no-trigger.bin', 'pe.exe'],
    },
    { line: sig('CountTrigger', '1', TRIGGER, String.raw`0>1/abc/`), matches: [] },
    {
      line: sig('Chain', '2', TRIGGER, String.raw`0/x\d/`, String.raw`1/line\d/`),
      matches: ['main.bin'],
    },
    {
      line: sig('Or', '0|1', ABSENT, String.raw`0=0/TAIL[a-c]{3}\d/`),
      matches: ['main.bin', 'no-trigger.bin'],
    },
    // Offsets: anchored where no shift, searched within one.
    { line: sig('Anchored', '0&1', TRIGGER, String.raw`${abc}:0/abc\d/`), matches: ['main.bin'] },
    { line: sig('AnchoredMiss', '0&1', TRIGGER, String.raw`${abc - 1}:0/abc\d/`), matches: [] },
    {
      line: sig('Rolling', '0&1', TRIGGER, String.raw`${abc - 5}:0/abc\d/r`),
      matches: ['main.bin', 'pe.exe'],
    },
    {
      line: sig('Shift', '0&1', TRIGGER, String.raw`${abc - 4},4:0/abc\d/`),
      matches: ['main.bin'],
    },
    { line: sig('ShiftShort', '0&1', TRIGGER, String.raw`${abc - 4},3:0/abc\d/`), matches: [] },
    {
      line: sig('Encompass', '0&1', TRIGGER, String.raw`${abc - 2},9:0/abc\d+x/e`),
      matches: ['main.bin'],
    },
    {
      line: sig('EncompassCut', '0&1', TRIGGER, String.raw`${abc - 2},8:0/abc\d+x/e`),
      matches: [],
    },
    { line: sig('EncompassStart', '0&1', TRIGGER, String.raw`${abc - 2},9:0/^abc/e`), matches: [] },
    { line: sig('Eof', '0&1', TRIGGER, String.raw`EOF-${tail}:0/TAIL/`), matches: ['main.bin'] },
    { line: sig('EofMiss', '0&1', TRIGGER, String.raw`EOF-${tail + 1}:0/TAIL/`), matches: [] },
    {
      line: String.raw`X.Ep;Engine:51-255,Target:1;0&1;${TRIGGER};EP+0:0/\x55\x8b\xec.\xec/s`,
      matches: ['pe.exe'],
    },
    // Counts: every match with g, one without.
    { line: sig('Global3', '0&1=3', TRIGGER, String.raw`0/x\d/g`), matches: ['main.bin'] },
    { line: sig('Once', '0&1=1', TRIGGER, String.raw`0/x\d/`), matches: ['main.bin'] },
    {
      line: sig('Group', '0&(1|2)>3', TRIGGER, String.raw`0/x\d/g`, String.raw`0/line/g`),
      matches: ['main.bin'],
    },
    { line: sig('Lazy', '0&1=2', TRIGGER, String.raw`0/Q.+Z/gU`), matches: ['main.bin'] },
    { line: sig('Greedy', '0&1=1', TRIGGER, String.raw`0/Q.+Z/g`), matches: ['main.bin'] },
    // Flags.
    { line: sig('Nocase', '0&1', TRIGGER, String.raw`0/casetest/i`), matches: ['main.bin'] },
    { line: sig('Case', '0&1', TRIGGER, String.raw`0/casetest/`), matches: [] },
    // main.bin has À (0xc0), not à: no case outside ASCII. The PE header holds 0xe0.
    { line: sig('NocaseLatin1', '0&1', TRIGGER, String.raw`0/\xe0/i`), matches: ['pe.exe'] },
    { line: sig('DotAll', '0&1', TRIGGER, String.raw`0/line1.line2/s`), matches: ['main.bin'] },
    { line: sig('Dot', '0&1', TRIGGER, String.raw`0/line1.line2/`), matches: [] },
    { line: sig('Multiline', '0&1', TRIGGER, String.raw`0/^line2$/m`), matches: ['main.bin'] },
    { line: sig('NotMultiline', '0&1', TRIGGER, String.raw`0/^line2$/`), matches: [] },
    {
      line: sig('Extended', '0&1', TRIGGER, String.raw`0/abc \d+ x # a comment/x`),
      matches: [...both, 'pe.exe'],
    },
    {
      line: sig('AnchoredFlag', '0&1', TRIGGER, String.raw`0/\x00\x00\x01/A`),
      matches: ['main.bin', 'final-newline.bin', 'at-bound.bin'],
    },
    { line: sig('AnchoredFlagMiss', '0&1', TRIGGER, String.raw`0/abc/A`), matches: [] },
    {
      line: sig('DollarNewline', '0&1', TRIGGER, String.raw`0/END$/`),
      matches: ['final-newline.bin'],
    },
    { line: sig('DollarEndOnly', '0&1', TRIGGER, String.raw`0/END$/E`), matches: [] },
    {
      line: sig('AnchoredGlobal', '0&1=3', TRIGGER, String.raw`${at('x1 x2')}:0/x\d\x20?/g`),
      matches: ['main.bin'],
    },
    { line: sig('LazyGlobal', '0&1=2', TRIGGER, String.raw`0/Q.+?Z/g`), matches: ['main.bin'] },
    { line: sig('UpperZ', '0&1', TRIGGER, String.raw`0/END\Z/`), matches: ['final-newline.bin'] },
    {
      line: sig('InlineNocase', '0&1', TRIGGER, String.raw`0/(?i)casetest/`),
      matches: ['main.bin'],
    },
    {
      line: sig('InlineScoped', '0&1', TRIGGER, String.raw`0/(?i:CASE)Test(?s:line1.)?/`),
      matches: ['main.bin'],
    },
    {
      line: sig('InlineOff', '0&1', TRIGGER, String.raw`0/(?-i:casetest)/i`),
      matches: [],
    },
    {
      line: sig('ClassNocase', '0&1', TRIGGER, String.raw`0/tail[A-C]{3}[[:digit:]]/i`),
      matches: ['main.bin'],
    },
    {
      line: sig('Counted', '0&1&2>1', TRIGGER, String.raw`0/x\d/g`, String.raw`1>2/line\d/g`),
      matches: ['main.bin'],
    },
    {
      line: sig('CountedMiss', '0&1&2', TRIGGER, String.raw`0/x\d/g`, String.raw`1>3/line\d/g`),
      matches: [],
    },
    { line: sig('HSpace', '0&1', TRIGGER, String.raw`0/h\hh/`), matches: ['main.bin'] },
    { line: sig('VSpace', '0&1', TRIGGER, String.raw`0/v\vv/`), matches: ['main.bin'] },
    { line: sig('DotCr', '0&1', TRIGGER, String.raw`0/cr.cr/`), matches: ['main.bin'] },
    { line: sig('Control', '0&1', TRIGGER, String.raw`0/line1\cJline2/`), matches: ['main.bin'] },
    {
      line: sig('Nullable', '0&1', TRIGGER, String.raw`0/q?/`),
      matches: [...both, 'final-newline.bin', 'pe.exe'],
    },
    {
      line: sig('TriggerGroup', '(0|1)&2', TRIGGER, String.raw`0/x\d/`, String.raw`(0|1)>1/line/`),
      matches: ['main.bin'],
    },
    {
      line: String.raw`X.Section;Engine:51-255,Target:1;0&1;${TRIGGER};SE1:0/abc\d+x/`,
      matches: ['pe.exe'],
    },
    {
      line: String.raw`X.EpRolling;Engine:51-255,Target:1;0&1;${TRIGGER};EP+2:0/abc/r`,
      matches: ['pe.exe'],
    },
    {
      line: String.raw`X.EpAnchored;Engine:51-255,Target:1;0&1;${TRIGGER};EP+2:0/abc/`,
      matches: [],
    },
    // Bytes. The database is UTF-8 text: é in a pattern is its two bytes, as PCRE2 reads it.
    { line: sig('Utf8', '0&1', TRIGGER, String.raw`0/café+ \[[é]\]/`), matches: ['main.bin'] },
    {
      line: sig('HighBytes', '0&1', TRIGGER, String.raw`0/\xff\x80\x00\xfe/`),
      matches: ['main.bin'],
    },
    {
      line: sig('HighClass', '0&1', TRIGGER, String.raw`0/[\x80-\xff]{2}\x00/`),
      matches: ['main.bin', 'final-newline.bin', 'at-bound.bin'],
    },
    { line: sig('SpaceVt', '0&1', TRIGGER, String.raw`0/a\sb/`), matches: ['main.bin'] },
    { line: sig('Semicolon', '0&1', TRIGGER, String.raw`0/a;b/`), matches: ['main.bin'] },
    { line: sig('Slash', '0&1', TRIGGER, String.raw`0/a\/b/`), matches: ['main.bin'] },
    { line: sig('Word', '0&1', TRIGGER, String.raw`0/\bx2\b/`), matches: ['main.bin'] },
  ];
}

/** Regex pieces from main.bin's bytes, each byte written as itself, an escape or a class. */
function randomPiece(rng: Rng, main: Buffer): string {
  const length = int(rng, 2, 6);
  const at = int(rng, 0, main.length - length);
  let out = '';
  for (const byte of main.subarray(at, at + length)) {
    const char = String.fromCharCode(byte);
    const roll = rng();
    if (roll < 0.1) out += '.';
    else if (roll < 0.15)
      out += pick(rng, ['\\d', '\\w', '\\s', '\\W', '[a-z]', '[^\\x00]', '[[:alnum:]]']);
    else if (/[A-Za-z0-9 ]/.test(char)) out += char;
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
    if (rng() < 0.12) out += pick(rng, ['?', '*', '+', '{1,3}', '*?', '+?', '{0,2}?']);
  }
  return out;
}

/** Seeded random PCRE signatures: regexes, flags and offsets around main.bin's bytes. */
function randomSignatures(main: Buffer, count: number): string[] {
  const rng = seededRng(20261206);
  const lines: string[] = [];
  for (let n = 0; lines.length < count && n < count * 20; n += 1) {
    let pattern = randomPiece(rng, main);
    if (rng() < 0.2) pattern = `(?:${pattern}|${randomPiece(rng, main)})`;
    if (rng() < 0.1) pattern = `(?i:${pattern})${randomPiece(rng, main)}`;
    if (rng() < 0.1)
      pattern = `${pattern}${pick(rng, ['\\b', '\\B', '(?m)^', '(?m)$', '\\h', '\\v'])}${randomPiece(rng, main)}`;
    if (rng() < 0.1) pattern = `^${pattern}`;
    if (rng() < 0.1) pattern = `${pattern}$`;
    const flags = pick(rng, [
      '',
      '',
      'g',
      'i',
      's',
      'm',
      'gi',
      'r',
      'e',
      'U',
      'gU',
      'A',
      'E',
      'gm',
      'gs',
      'ge',
      'gr',
      'x',
      'gA',
    ]);
    const at = int(rng, 0, main.length - 1);
    const offset = pick(rng, [
      '',
      '',
      `${at}:`,
      `${at},${int(rng, 1, 60)}:`,
      `EOF-${int(rng, 1, main.length)}:`,
    ]);
    const [logic, trigger] = pick(rng, [
      ['0&1', '0'],
      ['0&1>1', '0'],
      ['0&1=2', '0'],
      ['1', '0=0'],
      ['0|1', '0'],
      ['0&1>3', '0'],
    ]);
    // Kept off the 1 MiB files: there a regex like `.+\d.` makes PCRE2 backtrack past clamd's
    // PCREMatchLimit, and clamd gives up where RE2 matches (docs/engines.md).
    const line = `R.${lines.length};Engine:51-255,Target:0,FileSize:0-65536;${logic};${TRIGGER};${offset}${trigger}/${pattern}/${flags}`;
    // Only lines the built-in engine runs: clamd loads every one of them too (or refuses the database).
    if (!parseLdbLine(line).ok) continue;
    lines.push(line);
  }
  return lines;
}

describe('PCRE subsignatures: the built-in engine and clamd agree', () => {
  let dir: string;
  let clamd: TestClamd;
  let files: TestFile[];
  let labelled: Labelled[];
  let database: string;
  let random: string[] = [];
  const results = new Map<string, { builtin: string[]; clamd: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-ldb-pcre-'));
    files = buildFiles();
    labelled = labelledSignatures(files);
    const main = files.find((f) => f.name === 'main.bin')!.bytes;
    random = randomSignatures(main, 150);
    files.push({
      name: 'main.zip',
      bytes: await zip([
        { name: 'main.bin', data: main },
        {
          name: 'final-newline.bin',
          data: files.find((f) => f.name === 'final-newline.bin')!.bytes,
        },
      ]),
    });
    database = [...labelled.map((l) => l.line), ...random].join('\n') + '\n';
    const dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    await writeFile(path.join(dbDir, 'test.ldb'), database);
    const filesDir = path.join(dir, 'files');
    await mkdir(filesDir);
    for (const file of files) await writeFile(path.join(filesDir, file.name), file.bytes);
    clamd = await startTestClamd({
      databaseDir: dbDir,
      extraConfig: [`PCREMaxFileSize ${PCRE_MAX_CONTENT}`],
    });
    const builtin = await BuiltinEngine.load(dbDir, createLogger('silent'));
    expect(builtin.database.problems).toEqual([]);
    for (const file of files) {
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

  it('names the same signatures as clamd for every file', () => {
    expect(disagreementsOf(results)).toEqual([]);
  });

  it('matches each hand-written signature on exactly its labelled files', () => {
    const wrong: string[] = [];
    for (const { line, matches } of labelled) {
      const name = line.split(';')[0]!;
      const found = files
        .filter((f) => !f.name.endsWith('.zip'))
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
    expect(random.length).toBeGreaterThan(100);
    expect(hits.size).toBeGreaterThan(20);
    expect(hits.size).toBeLessThan(random.length);
  });

  it('names the same when the content comes one byte at a time, its size unknown', () => {
    const scanner = new ContentScanner(
      buildSignatureDatabase([{ file: 'test.ldb', text: database }]),
    );
    const different: string[] = [];
    // The zip is left out: a content session does not unpack.
    for (const file of files.filter((f) => !f.name.endsWith('.zip'))) {
      const session = scanner.session(-1);
      const step = file.bytes.length > 100_000 ? 4096 : 1;
      for (let i = 0; i < file.bytes.length; i += step)
        session.update(file.bytes.subarray(i, i + step));
      const names = session.finish();
      const expected = results.get(file.name)!.clamd;
      if (names.join() !== expected.join())
        different.push(
          `${file.name}: [${names.join(', ')}] against clamd's [${expected.join(', ')}]`,
        );
    }
    expect(different).toEqual([]);
  });
});

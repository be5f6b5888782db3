import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { clamdAllMatches, startTestClamd, type TestClamd } from '../support/clamd.js';

/**
 * The fullword modifier (`::f`) of logical subsignatures in the built-in engine and in a real
 * clamd, on the same database and files: a word delimited by punctuation, by letters and digits,
 * at the file's start and end, in its wide (UTF-16LE) and ASCII forms, case-insensitive, counted,
 * with offsets, gaps and alternatives. The built-in engine reads each file twice, in its usual
 * chunks and one byte at a time, and must give the same names both ways.
 */

const hex = (text: string | Buffer) => Buffer.from(text).toString('hex');
const wide = (text: string) => Buffer.from(text, 'utf16le');
/** Binary bytes between the test strings: keeps clamd from reading the files as text. */
const BINARY = Buffer.from([0, 0, 0, 1, 2, 3, 0, 0]);
const bytes = (...parts: (string | Buffer)[]) =>
  Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part)),
  );
const between = (middle: string | Buffer) => bytes(BINARY, middle, BINARY);

const WORD = 'KEYWORD';

const SIGNATURES = [
  `F.Ascii;Target:0;0;${hex(WORD)}::f`,
  `F.Nocase;Target:0;0;${hex('keyword')}::fi`,
  `F.Wide;Target:0;0;${hex(WORD)}::fw`,
  `F.WideAscii;Target:0;0;${hex(WORD)}::wfa`,
  `F.WideNocase;Target:0;0;${hex('keyword')}::fwi`,
  `F.WideAsciiNocase;Target:0;0;${hex('keyword')}::iawf`,
  `F.Twice;Target:0;0>1;${hex(WORD)}::f`,
  `F.Once;Target:0;0=1;${hex(WORD)}::f`,
  `F.WideTwice;Target:0;0>1;${hex(WORD)}::fw`,
  `F.AtStart;Target:0;0;0:${hex(WORD)}::f`,
  `F.AtEnd;Target:0;0;EOF-7:${hex(WORD)}::f`,
  `F.WideAtEnd;Target:0;0;EOF-14:${hex(WORD)}::fw`,
  `F.Floating;Target:0;0;8,3:${hex(WORD)}::f`,
  `F.Gap;Target:0;0;${hex('KEY')}{0-2}${hex('WORD')}::f`,
  `F.Bracket;Target:0;0;${hex('KE')}[1-2]${hex('WORD')}::f`,
  `F.Star;Target:0;0;${hex('KEY')}*${hex('WORD')}::f`,
  `F.Alt;Target:0;0;(4b|6b)${hex('EYWORD')}::f`,
  `F.Wildcard;Target:0;0;${hex('KEY')}??${hex('ORD')}::f`,
  `F.And;Target:0;0&1;${hex(WORD)}::f;${hex('MARK')}`,
];

function buildFiles(): Map<string, Buffer> {
  const files: [string, Buffer][] = [
    // Neighbours of an ASCII word.
    ['punctuation', bytes(',KEYWORD;', BINARY)],
    ['underscores', between('_KEYWORD_')],
    ['whitespace', between(' KEYWORD\t')],
    ['letter-before', between('aKEYWORD ')],
    ['letter-after', between(' KEYWORDz')],
    ['digit-before', between('7KEYWORD.')],
    ['digit-after', between('.KEYWORD0')],
    ['high-bytes', between('\xe9KEYWORD\xff')],
    ['nul-and-letter', between('\0KEYWORDb')],
    ['at-start', bytes('KEYWORD.', BINARY)],
    ['at-start-letter', bytes('KEYWORDs', BINARY)],
    ['at-end', bytes(BINARY, '.KEYWORD')],
    ['at-end-letter', bytes(BINARY, 'xKEYWORD')],
    ['whole-file', bytes('KEYWORD')],
    ['floating', bytes(BINARY, '..KEYWORD..', BINARY)],
    ['floating-letter', bytes(BINARY, '.aKEYWORD.', BINARY)],
    // Case.
    ['lower', between(' keyword ')],
    ['mixed', between('(kEyWoRd)')],
    ['lower-letters', between('ZkeywordQ')],
    // Counts: only the delimited occurrences count.
    ['two-of-three', between(' KEYWORD KEYWORDx KEYWORD ')],
    ['one-of-three', between('KEYWORD1 KEYWORD xKEYWORD')],
    ['with-mark', bytes(BINARY, 'MARK yKEYWORD', BINARY, '-KEYWORD-')],
    ['with-mark-letters', bytes(BINARY, 'MARK yKEYWORD', BINARY, '-KEYWORDy')],
    // Variable lengths: the end counts wherever it falls.
    ['gap', between(' KEY WORD ')],
    ['gap-two', between('.KEY  WORD.')],
    ['gap-letter-after', between(' KEY WORDs')],
    ['gap-one-ok', between(' KEY WORDs KEY  WORD;')],
    ['star', bytes(BINARY, ' KEY', BINARY, 'WORD ', BINARY)],
    ['star-letter', bytes(BINARY, ' KEY', BINARY, 'WORDS', BINARY)],
    ['alternative', between('.kEYWORD.')],
    ['wildcard', between('.KEYxORD.')],
    ['wildcard-letter', between('.KEYxORDx')],
    // Wide: the UTF-16 character before and after.
    ['wide-spaces', between(wide(' KEYWORD '))],
    ['wide-letter-before', between(wide('aKEYWORD '))],
    ['wide-letter-after', between(wide(' KEYWORD1'))],
    ['wide-two-letters-before', between(bytes('ab', wide('KEYWORD'), '..'))],
    ['wide-nul-letter-before', between(bytes('\0a', wide('KEYWORD'), '..'))],
    ['wide-two-letters-after', between(bytes('..', wide('KEYWORD'), 'ab'))],
    ['wide-at-start', bytes(wide('KEYWORD.'), BINARY)],
    ['wide-at-start-letter', bytes(wide('KEYWORDq'), BINARY)],
    ['wide-at-offset-1', bytes('a', wide('KEYWORD.'), BINARY)],
    ['wide-at-end', bytes(BINARY, wide('.KEYWORD'))],
    ['wide-one-letter-after', bytes(BINARY, wide('.KEYWORD'), 'a')],
    ['wide-one-dot-after', bytes(BINARY, wide('.KEYWORD'), '.')],
    ['wide-one-nul-after', bytes(BINARY, wide('.KEYWORD'), '\0')],
    ['wide-lower', between(wide(' keyword '))],
    ['wide-lower-letters', between(wide('ZkeywordZ'))],
    ['wide-twice', between(wide(' KEYWORD-KEYWORD aKEYWORD'))],
  ];
  // Across the built-in engine's read chunks (64 KiB), far from clamd's 128 KiB window edges.
  const large = Buffer.alloc(200_000, 0);
  Buffer.from('.KEYWORD.').copy(large, 65_536 - 4);
  Buffer.from(wide(' KEYWORD ')).copy(large, 98_304 - 7);
  files.push(['large', large]);
  const largeLetter = Buffer.from(large);
  largeLetter[65_536 + 4] = 0x61;
  files.push(['large-letter', largeLetter]);
  return new Map(files);
}

describe('the fullword modifier (::f): the built-in engine and clamd agree', () => {
  let dir: string;
  let clamd: TestClamd;
  let files: Map<string, Buffer>;
  const results = new Map<string, { builtin: string[]; byteByByte: string[]; clamd: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-ldb-fullword-'));
    files = buildFiles();
    const dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    await writeFile(path.join(dbDir, 'fullword.ldb'), SIGNATURES.join('\n') + '\n');
    const filesDir = path.join(dir, 'files');
    await mkdir(filesDir);
    for (const [name, content] of files) await writeFile(path.join(filesDir, name), content);
    clamd = await startTestClamd({ databaseDir: dbDir });
    const builtin = await BuiltinEngine.load(dbDir, createLogger('silent'));
    expect(builtin.database.problems).toEqual([]);
    expect(builtin.database.logical.length).toBe(SIGNATURES.length);
    for (const [name, content] of files) {
      const target = path.join(filesDir, name);
      const verdict = await builtin.scan({ path: target, size: content.length, name });
      const session = builtin.scanner.session(content.length);
      for (let i = 0; i < content.length; i += 1) session.update(content.subarray(i, i + 1));
      results.set(name, {
        builtin: [...new Set((verdict.detections ?? []).map((d) => d.signature))].sort(),
        byteByByte: session.finish(),
        clamd: await clamdAllMatches(clamd.socketPath, target),
      });
    }
  }, 60_000);

  afterAll(async () => {
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names the same signatures as clamd for every file', () => {
    const disagreements: string[] = [];
    for (const [name, { builtin, clamd: fromClamd }] of results) {
      if (builtin.join() !== fromClamd.join()) {
        disagreements.push(
          `${name}: built-in [${builtin.join(', ')}], clamd [${fromClamd.join(', ')}]`,
        );
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('gives the same names when the content arrives one byte at a time', () => {
    const different = [...results]
      .filter(([, r]) => r.byteByByte.join() !== r.builtin.join())
      .map(
        ([name, r]) => `${name}: [${r.byteByByte.join(', ')}] against [${r.builtin.join(', ')}]`,
      );
    expect(different).toEqual([]);
  });

  it('matches delimited words and refuses words run into letters or digits', () => {
    const matching = (signature: string) =>
      [...results].filter(([, r]) => r.builtin.includes(signature)).map(([name]) => name);
    expect(matching('F.Ascii')).toEqual(
      expect.arrayContaining(['punctuation', 'underscores', 'high-bytes', 'at-start', 'at-end']),
    );
    expect(matching('F.Ascii')).not.toEqual(
      expect.arrayContaining(['letter-before', 'letter-after', 'digit-after']),
    );
    expect(matching('F.Nocase')).toEqual(expect.arrayContaining(['lower', 'mixed']));
    expect(matching('F.Nocase')).not.toContain('lower-letters');
    expect(matching('F.Wide')).toEqual(
      expect.arrayContaining(['wide-spaces', 'wide-at-offset-1', 'wide-one-dot-after', 'large']),
    );
    expect(matching('F.Wide')).not.toContain('wide-one-letter-after');
    expect(matching('F.Twice')).toContain('two-of-three');
    expect(matching('F.Twice')).not.toContain('one-of-three');
    expect(matching('F.Gap')).toEqual(expect.arrayContaining(['gap', 'gap-two', 'gap-one-ok']));
    expect(matching('F.Gap')).not.toContain('gap-letter-after');
    expect(matching('F.Wildcard')).toContain('wildcard');
    expect(matching('F.Wildcard')).not.toContain('wildcard-letter');
    // Every signature matches some file and misses others.
    for (const line of SIGNATURES) {
      const name = line.split(';')[0]!;
      expect(matching(name).length, name).toBeGreaterThan(0);
      expect(matching(name).length, name).toBeLessThan(files.size);
    }
  });
});

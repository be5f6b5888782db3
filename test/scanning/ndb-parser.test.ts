import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSignatureDatabase } from '../../scanning/signatures/database.js';
import {
  parseNdbLine,
  parseNdbText,
  type BodySignature,
  type HexElement,
} from '../../scanning/signatures/ndb.js';

const parse = (line: string): BodySignature => {
  const result = parseNdbLine(line);
  if (!result.ok) throw new Error(`expected ${line} to parse: ${result.message}`);
  return result.signature;
};
const elements = (hex: string): HexElement[] => parse(`T:0:*:${hex}`).elements;
const problem = (line: string): string => {
  const result = parseNdbLine(line);
  if (result.ok) throw new Error(`expected ${line} to be rejected`);
  return result.message;
};
const warning = (line: string): string | undefined => {
  const result = parseNdbLine(line);
  if (!result.ok) throw new Error(`expected ${line} to parse: ${result.message}`);
  return result.warning;
};

const byte = (value: number, mask = 0xff): HexElement => ({ kind: 'byte', value, mask });
const gap = (min: number, max: number, split: boolean): HexElement => ({
  kind: 'gap',
  min,
  max,
  split,
});

describe('the .ndb parser', () => {
  it('reads the fields: name, target type, offset, hex, optional functionality levels', () => {
    const signature = parse('Win.Test.Sample-1:0:*:41424344:51:255');
    expect(signature).toMatchObject({
      name: 'Win.Test.Sample-1',
      targetType: 0,
      offset: { kind: 'any' },
    });
    expect(signature.elements).toEqual([byte(0x41), byte(0x42), byte(0x43), byte(0x44)]);
    expect(parse('T:0:*:41424344:51').name).toBe('T');
    expect(problem('T:0:*:41424344:x')).toMatch(/functionality level/);
    expect(problem('T:0:*:41424344:1:2:3')).toMatch(/too many fields/);
    expect(problem('T:0:*')).toMatch(/expected Name:TargetType/);
    expect(problem(':0:*:41424344')).toMatch(/no name/);
  });

  it('parses hex bytes in either case, ?? and both nibble wildcards', () => {
    expect(elements('aBCd??4?')).toEqual([byte(0xab), byte(0xcd), byte(0, 0), byte(0x40, 0xf0)]);
    expect(elements('4142?f')).toEqual([byte(0x41), byte(0x42), byte(0x0f, 0x0f)]);
    expect(problem('T:0:*:414')).toMatch(/not a hex byte/);
    expect(problem('T:0:*:4142zz')).toMatch(/"zz" at position 4/);
  });

  it('parses every range form', () => {
    expect(elements('4142*4344')).toContainEqual(gap(0, Infinity, true));
    expect(elements('4142{5}4344')).toContainEqual(gap(5, 5, false));
    expect(elements('4142{200}4344')).toContainEqual(gap(200, 200, true));
    expect(elements('4142{2-7}4344')).toContainEqual(gap(2, 7, true));
    expect(elements('4142{-4}4344')).toContainEqual(gap(0, 4, true));
    expect(elements('4142{3-}4344')).toContainEqual(gap(3, Infinity, true));
    expect(elements('41[2-5]424344')).toContainEqual({
      kind: 'gap',
      min: 2,
      max: 5,
      split: false,
      bracket: true,
    });
    expect(elements('41[3]424344')).toContainEqual({
      kind: 'gap',
      min: 3,
      max: 3,
      split: false,
      bracket: true,
    });
    // As in ClamAV, {n} is shorthand for n ?? only until the first real range.
    const quirk = elements('4142{4}4344{1-2}4546{4}4748');
    expect(quirk.filter((e) => e.kind === 'gap')).toEqual([
      gap(4, 4, false),
      gap(1, 2, true),
      gap(4, 4, true),
    ]);
    expect(problem('T:0:*:4142{7-3}4344')).toMatch(/reversed/);
    expect(problem('T:0:*:4142{x}4344')).toMatch(/is not \{n\}/);
    expect(problem('T:0:*:4142{4344')).toMatch(/not closed/);
    expect(problem('T:0:*:4142[2-x]4344')).toMatch(/\[x-y\]/);
  });

  it('parses alternatives: single bytes, unequal lengths with wildcards inside, and negations', () => {
    expect(elements('4142(43|44|45)')).toContainEqual({
      kind: 'alt',
      negated: false,
      alternatives: [
        [{ value: 0x43, mask: 0xff }],
        [{ value: 0x44, mask: 0xff }],
        [{ value: 0x45, mask: 0xff }],
      ],
    });
    const unequal = elements('4142(43??|4?|{2}46)4748').find((e) => e.kind === 'alt');
    expect(unequal).toEqual({
      kind: 'alt',
      negated: false,
      alternatives: [
        [
          { value: 0x43, mask: 0xff },
          { value: 0, mask: 0 },
        ],
        [{ value: 0x40, mask: 0xf0 }],
        [
          { value: 0, mask: 0 },
          { value: 0, mask: 0 },
          { value: 0x46, mask: 0xff },
        ],
      ],
    });
    expect(elements('4142!(43|44)').at(-1)).toMatchObject({ kind: 'alt', negated: true });
    expect(elements('4142!(4344|4546)').at(-1)).toMatchObject({ kind: 'alt', negated: true });
    expect(problem('T:0:*:4142!(43|4445)')).toMatch(/negated alternative/);
    expect(problem('T:0:*:4142!(4?|44)')).toMatch(/negated alternative/);
    expect(problem('T:0:*:4142(43|(44|45))')).toMatch(/nested/);
    expect(problem('T:0:*:4142(43||44)')).toMatch(/empty/);
    expect(problem('T:0:*:4142(43*|44)')).toMatch(/cannot contain/);
    expect(problem('T:0:*:4142(43|44')).toMatch(/not closed/);
    expect(problem('T:0:*:4142(B)4344')).toMatch(/character class \(B\) is not supported/);
    expect(problem('T:0:*:4142(L)4344')).toMatch(/\(L\)/);
    expect(problem('T:0:*:4142(W)4344')).toMatch(/\(W\)/);
  });

  it('parses every offset form and rejects executable-relative ones', () => {
    expect(parse('T:0:*:41424344').offset).toEqual({ kind: 'any' });
    expect(parse('T:0:100:41424344').offset).toEqual({
      kind: 'absolute',
      offset: 100,
      maxShift: 0,
    });
    expect(parse('T:0:100,20:41424344').offset).toEqual({
      kind: 'absolute',
      offset: 100,
      maxShift: 20,
    });
    expect(parse('T:0:EOF-10:41424344').offset).toEqual({ kind: 'eof', offset: 10, maxShift: 0 });
    expect(parse('T:0:EOF-10,4:41424344').offset).toEqual({ kind: 'eof', offset: 10, maxShift: 4 });
    for (const offset of ['EP+0', 'EP-10', 'S1+4', 'SE0', 'SL+2', 'VI', '$1']) {
      expect(problem(`T:1:${offset}:41424344`)).toMatch(/executable's layout/);
    }
    expect(problem('T:0:abc:41424344')).toMatch(/offset "abc" is not a number/);
    expect(problem('T:0:10,x:41424344')).toMatch(/offset shift/);
    expect(problem('T:0:EOF-9999999:41424344')).toMatch(/further back/);
  });

  it('reads the target types it matches and skips, with the reason, those it does not', () => {
    expect(warning('T:0:*:41424344')).toBeUndefined();
    expect(warning('T:1:*:41424344')).toBeUndefined();
    expect(parse('T:6:*:41424344').targetType).toBe(6);
    expect(parse('T:7:*:41424344').targetType).toBe(7);
    expect(problem('T:3:*:41424344')).toMatch(
      /^skipped: target type 3 \(HTML\) is matched by clamd against its normalised forms/,
    );
    expect(problem('T:13:*:41424344')).toMatch(/^skipped: target type 13 \(Internal\)/);
    expect(problem('T:99:*:41424344')).toMatch(/unknown target type/);
    expect(problem('T:x:*:41424344')).toMatch(/not a number/);
  });

  it('needs two fixed bytes between unbounded gaps and no range at either end', () => {
    expect(problem('T:0:*:41??42')).toMatch(/no block of two fixed bytes/);
    expect(problem('T:0:*:4142*43??44')).toMatch(/part 2 .* no block of two fixed bytes/);
    expect(problem('T:0:*:*41424344')).toMatch(/cannot start or end/);
    expect(problem('T:0:*:41424344{2-3}')).toMatch(/cannot start or end/);
    expect(problem('T:0:*:41424344[1-2]')).toMatch(/cannot start or end/);
    expect(problem('T:0:*:4142**4344')).toMatch(/in a row/);
    expect(problem('T:0:*:4142{0-2000000}4344')).toMatch(/more than 1048576 bytes/);
    // Fine for this engine, though ClamAV rejects the line (and with it the whole database).
    expect(warning('T:0:*:4142{1-2}43{2}4445')).toMatch(
      /clamd would reject.*no two consecutive fixed bytes/,
    );
    expect(warning('T:0:*:4142[1-2]434445')).toMatch(/clamd would reject.*\[x-y\]/);
    expect(warning('T:0:*:41[1-2]424344')).toBeUndefined();
    expect(warning('T:0:*:4142*4?(4344|45)4647')).toMatch(/clamd would reject.*index/);
    expect(warning('T:0:*:4142*(4344|45)4647')).not.toMatch(/clamd would reject/);
    expect(warning('T:0:*:4142')).toMatch(/at least three/);
    expect(warning('T:0:*:4142*(af5d|??)44a353')).toMatch(/clamd may miss matches/);
    expect(warning('T:0:*:4343(42|4341|4142)434243')).toMatch(/clamd may miss matches/);
    expect(warning('T:0:*:4142(43|44|45)4647')).toBeUndefined();
    expect(warning('T:0:*:4142*(4344|4546)41424242!(4344|4546)')).toBeUndefined();
  });

  it('reports bad lines with file and line number and loads the rest', () => {
    const text = [
      '# comment',
      '',
      'Good.One:0:*:41424344',
      'Bad.One:0:*:4x',
      'Good.Two:1:*:45464748\r',
      'Bad.Two',
    ].join('\n');
    const parsed = parseNdbText(text, 'test.ndb');
    expect(parsed.signatures.map((s) => [s.name, s.line])).toEqual([
      ['Good.One', 3],
      ['Good.Two', 5],
    ]);
    expect(parsed.problems.map((p) => [p.file, p.line])).toEqual([
      ['test.ndb', 4],
      ['test.ndb', 6],
    ]);
    expect(parsed.problems[0]?.message).toMatch(/hex byte/);
    expect(parsed.problems[1]?.message).toMatch(/expected Name/);
    expect(parsed.signatures[1]?.targetType).toBe(1);
    expect(parsed.warnings).toEqual([]);
  });
});

describe('loading a signature folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-sigs-'));
    await writeFile(path.join(dir, 'a.ndb'), 'Body.One:0:*:41424344\nBody.Bad:0:*:zz\n');
    await writeFile(path.join(dir, 'b.hdb'), `${'0'.repeat(32)}:10:Hash.Md5\nnot-a-hash:1:X\n`);
    await writeFile(
      path.join(dir, 'c.hsb'),
      `${'1'.repeat(64)}:*:Hash.Sha256:73\n${'2'.repeat(40)}:5:Hash.Sha1\n`,
    );
    await writeFile(path.join(dir, 'ignored.txt'), 'not a database');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads .ndb, .hdb and .hsb, counts what loaded and lists what did not', async () => {
    const db = await loadSignatureDatabase(dir);
    expect(db.files).toEqual(['a.ndb', 'b.hdb', 'c.hsb']);
    expect(db.count).toBe(4);
    expect(db.bodies.map((b) => b.name)).toEqual(['Body.One']);
    expect([...db.hashes.algorithms].sort()).toEqual(['md5', 'sha1', 'sha256']);
    expect(db.problems.map((p) => [p.file, p.line])).toEqual([
      ['a.ndb', 2],
      ['b.hdb', 2],
    ]);
    expect(db.fingerprint).toMatch(/^[0-9a-f]{12}$/);
  });

  it('fingerprints the database by file names and contents', async () => {
    const before = (await loadSignatureDatabase(dir)).fingerprint;
    expect((await loadSignatureDatabase(dir)).fingerprint).toBe(before);
    await writeFile(path.join(dir, 'd.ndb'), 'Body.Two:0:*:45464748\n');
    expect((await loadSignatureDatabase(dir)).fingerprint).not.toBe(before);
    expect((await loadSignatureDatabase(undefined)).fingerprint).toBe('empty');
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContentScanner, EICAR_SIGNATURE_NAME } from '../../scanning/matcher/index.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { eicar } from '../support/content.js';
import { oracleMatchesFile } from '../support/ndb-oracle.js';
import {
  generateSignature,
  int,
  pick,
  randomBytesFrom,
  randomSplits,
  seededRng,
} from '../support/signature-gen.js';

const scannerFor = (ndb: string[], hashes: { file: string; lines: string[] }[] = []) => {
  const db = buildSignatureDatabase([
    { file: 'test.ndb', text: ndb.join('\n') },
    ...hashes.map((h) => ({ file: h.file, text: h.lines.join('\n') })),
  ]);
  expect(db.problems).toEqual([]);
  return new ContentScanner(db);
};

/** Scans the content cut into chunks of `size` bytes (or the given chunks). */
function scan(
  scanner: ContentScanner,
  content: Buffer,
  size: number | Buffer[] = content.length || 1,
): string[] {
  const session = scanner.session(content.length);
  if (Array.isArray(size)) for (const chunk of size) session.update(chunk);
  else
    for (let at = 0; at < content.length; at += size)
      session.update(content.subarray(at, at + size));
  return session.finish();
}

const latin1 = (text: string) => Buffer.from(text, 'latin1');
const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
const CHUNKINGS = [1, 2, 3, 7, 64 * 1024];

/** Every chunking gives the same answer; returns it. */
function scanAllWays(scanner: ContentScanner, content: Buffer, seed = 1): string[] {
  const whole = scan(scanner, content);
  for (const size of CHUNKINGS)
    expect(scan(scanner, content, size), `chunks of ${size}`).toEqual(whole);
  const rng = seededRng(seed);
  for (let round = 0; round < 3; round += 1) {
    expect(scan(scanner, content, randomSplits(rng, content, 50)), `random split ${round}`).toEqual(
      whole,
    );
  }
  return whole;
}

describe('the streaming matcher', () => {
  it('matches each wildcard form, and near misses do not', () => {
    const cases: [string, string[], string[]][] = [
      // [hex pattern, contents that match, contents that do not]
      [`${hex('ABCD')}`, ['xxABCDxx'], ['ABCxD', 'ABC']],
      [`${hex('AB')}??${hex('CD')}`, ['AB!CD', 'AB\0CD'], ['ABCD', 'AB!!CD']],
      [`${hex('AB')}4?${hex('CD')}`, ['AB@CD', 'ABOCD'], ['ABPCD']],
      [`${hex('AB')}?1${hex('CD')}`, ['AB1CD', 'ABQCD'], ['AB2CD']],
      [`${hex('AB')}*${hex('CD')}`, ['ABCD', 'AB lots of bytes CD'], ['CDAB', 'ACBD']],
      [`${hex('AB')}{3}${hex('CD')}`, ['AB123CD'], ['AB12CD', 'AB1234CD']],
      [
        `${hex('AB')}{2-4}${hex('CD')}`,
        ['AB12CD', 'AB1234CD', 'AB1CD AB123CD'],
        ['AB1CD', 'AB12345CD'],
      ],
      [`${hex('AB')}{-2}${hex('CD')}`, ['ABCD', 'AB12CD'], ['AB123CD']],
      [`${hex('AB')}{3-}${hex('CD')}`, ['AB123CD', 'AB123456789CD'], ['AB12CD']],
      [`${hex('A')}[1-3]${hex('BCD')}`, ['A1BCD', 'A123BCD'], ['ABCD', 'A1234BCD']],
      [
        `${hex('AB')}(${hex('1')}|${hex('2')})${hex('CD')}`,
        ['AB1CD', 'AB2CD'],
        ['AB3CD', 'AB12CD'],
      ],
      [
        `${hex('AB')}(${hex('1')}|${hex('22')}|${hex('3')}??)${hex('CD')}`,
        ['AB1CD', 'AB22CD', 'AB3xCD'],
        ['AB2CD', 'AB3CD'],
      ],
      [`${hex('AB')}!(${hex('1')}|${hex('2')})${hex('CD')}`, ['AB3CD'], ['AB1CD', 'AB2CD', 'ABCD']],
      [
        `${hex('AB')}!(${hex('12')}|${hex('34')})${hex('CD')}`,
        ['AB13CD', 'AB99CD'],
        ['AB12CD', 'AB34CD', 'AB1CD'],
      ],
      [
        `${hex('AB')}*${hex('CD')}{1-2}${hex('EF')}*${hex('GH')}`,
        ['AB..CD1EF..GH', 'ABCD12EFGH'],
        ['AB..CDEF..GH', 'GHAB..CD1EF'],
      ],
      // A rarer single byte must not be picked over a two-byte run to anchor on.
      [
        '(604f|34)da863aef82*006b6?8?c4',
        ['\x60\x4f\xda\x86\x3a\xef\x82..\x00\x6b\x6f\x80\xc4'],
        ['\x34\xda\x86\x3a\xef\x82..\x00\x6b\x6f\x80\xc5'],
      ],
    ];
    for (const [pattern, hits, misses] of cases) {
      const scanner = scannerFor([`Test.Sig:0:*:${pattern}`]);
      for (const content of hits)
        expect(scanAllWays(scanner, latin1(content)), `${pattern} in ${content}`).toEqual([
          'Test.Sig',
        ]);
      for (const content of misses)
        expect(scanAllWays(scanner, latin1(content)), `${pattern} in ${content}`).toEqual([]);
    }
  });

  it('finds patterns wherever chunk boundaries fall, the same for every chunking', () => {
    const rng = seededRng(7);
    const signatures = Array.from({ length: 16 }, (_, i) =>
      generateSignature(rng, `Gen.Sig-${i}`, { runMin: 2, runMax: 6 }),
    );
    const scanner = scannerFor(signatures.map((s) => s.line));
    // Plant every instance so that each crosses a 64 KiB boundary, and others at random.
    const content = randomBytesFrom(rng, 18 * 64 * 1024);
    signatures.forEach((s, i) => {
      const boundary = (i + 1) * 64 * 1024;
      s.instance.copy(content, boundary - Math.floor(s.instance.length / 2));
      s.instance.copy(content, int(rng, 0, content.length - s.instance.length - 1));
    });
    const expected = scanner.db.bodies
      .filter((b) => oracleMatchesFile(b, content))
      .map((b) => b.name)
      .sort();
    expect(expected.length).toBeGreaterThan(12);
    const session = scanner.session(content.length);
    for (const chunk of randomSplits(rng, content, 100_000)) session.update(chunk);
    expect(session.finish()).toEqual(expected);
    for (const size of [1, 2, 3, 7, 64 * 1024])
      expect(scan(scanner, content, size)).toEqual(expected);
  });

  it('honours absolute offsets, floating offsets and EOF-n', () => {
    const scanner = scannerFor([
      `At.Ten:0:10:${hex('MARK')}`,
      `At.Ten.Float:0:10,5:${hex('FLOAT')}`,
      `At.End:0:EOF-6:${hex('TAIL')}`,
      `At.End.Float:0:EOF-10,2:${hex('ENDF')}`,
      `At.End.Star:0:EOF-20:${hex('PQ')}*${hex('RS')}`,
    ]);
    const at = (offset: number, text: string, size = 40) => {
      const content = Buffer.alloc(size, 0x2e);
      latin1(text).copy(content, offset < 0 ? size + offset : offset);
      return scanAllWays(scanner, content);
    };
    expect(at(10, 'MARK')).toEqual(['At.Ten']);
    expect(at(9, 'MARK')).toEqual([]);
    expect(at(11, 'MARK')).toEqual([]);
    expect(at(10, 'FLOAT')).toEqual(['At.Ten.Float']);
    expect(at(15, 'FLOAT')).toEqual(['At.Ten.Float']);
    expect(at(16, 'FLOAT')).toEqual([]);
    expect(at(-6, 'TAIL')).toEqual(['At.End']);
    expect(at(-7, 'TAIL')).toEqual([]);
    expect(at(-5, 'TAIL')).toEqual([]);
    expect(at(-6, 'TAIL', 5000)).toEqual(['At.End']);
    expect(at(-10, 'ENDF')).toEqual(['At.End.Float']);
    expect(at(-8, 'ENDF')).toEqual(['At.End.Float']);
    expect(at(-11, 'ENDF')).toEqual([]);
    expect(at(-20, 'PQ.........RS')).toEqual(['At.End.Star']);
    expect(at(-21, 'PQ.........RS')).toEqual([]);
    // EOF-n further back than the content is no match.
    expect(scanAllWays(scanner, latin1('TAIL'))).toEqual([]);
  });

  it('follows a * gap across many chunks keeping state, not bytes', () => {
    const scanner = scannerFor([
      `Far.Apart:0:*:${hex('BEGIN')}*${hex('FINISH')}`,
      `Far.Range:0:*:${hex('LEFT')}{100000-}${hex('RIGHT')}`,
    ]);
    const content = Buffer.alloc(5 * 1024 * 1024, 0x2e);
    latin1('BEGIN').copy(content, 100);
    latin1('LEFT').copy(content, 200);
    latin1('RIGHT').copy(content, 200 + 4 + 99_999);
    latin1('FINISH').copy(content, content.length - 10);
    const session = scanner.session(content.length);
    for (let at = 0; at < content.length; at += 4096) {
      session.update(content.subarray(at, at + 4096));
      expect(session.windowSize).toBe(scanner.windowSize);
    }
    expect(session.finish()).toEqual(['Far.Apart']);
    latin1('LEFT').copy(content, 300);
    latin1('RIGHT').copy(content, 300 + 4 + 100_000);
    expect(scan(scanner, content, 64 * 1024)).toEqual(['Far.Apart', 'Far.Range']);
    // The second part before the first does not count.
    const reversed = Buffer.alloc(100_000, 0x2e);
    latin1('FINISH').copy(reversed, 10);
    latin1('BEGIN').copy(reversed, 90_000);
    expect(scan(scanner, reversed, 1000)).toEqual([]);
  });

  it('reports hashes, body signatures and EICAR from one pass', () => {
    const sample = Buffer.concat([eicar(), latin1('\n')]);
    const other = randomBytesFrom(seededRng(3), 3000);
    const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const scanner = scannerFor(
      [
        `Body.In.Eicar:0:*:${hex('STANDARD-ANTIVIRUS')}`,
        `Body.In.Other:0:100:${other.subarray(100, 110).toString('hex')}`,
      ],
      [
        {
          file: 'x.hdb',
          lines: [
            `${md5(sample)}:${sample.length}:Hash.Md5`,
            `${md5(other)}:${other.length + 1}:Hash.Wrong.Size`,
          ],
        },
        {
          file: 'x.hsb',
          lines: [`${sha256(sample)}:*:Hash.Sha256`, `${sha256(other)}:${other.length}:Hash.Other`],
        },
      ],
    );
    expect(scanAllWays(scanner, sample)).toEqual([
      'Body.In.Eicar',
      'Eicar-Test-Signature',
      'Hash.Md5',
      'Hash.Sha256',
    ]);
    expect(scanAllWays(scanner, other)).toEqual(['Body.In.Other', 'Hash.Other']);
    expect(scan(scanner, Buffer.concat([eicar(), latin1('junk')]))).toEqual(['Body.In.Eicar']);
    expect(EICAR_SIGNATURE_NAME).toBe('Eicar-Test-Signature');
  });

  it('finds EICAR alone, followed by whitespace up to 128 bytes, not followed by anything else', () => {
    const scanner = new ContentScanner(buildSignatureDatabase([]));
    const padded = Buffer.concat([eicar(), Buffer.alloc(128 - eicar().length, 0x20)]);
    expect(scanAllWays(scanner, eicar())).toEqual([EICAR_SIGNATURE_NAME]);
    expect(scanAllWays(scanner, padded)).toEqual([EICAR_SIGNATURE_NAME]);
    expect(scan(scanner, Buffer.concat([padded, latin1(' ')]))).toEqual([]);
    expect(scan(scanner, Buffer.concat([latin1(' '), eicar()]))).toEqual([]);
  });

  it('keeps memory flat on a 50 MB stream: a fixed window and a bounded queue', () => {
    const rng = seededRng(11);
    const signatures = Array.from({ length: 500 }, (_, i) =>
      generateSignature(rng, `Gen.Sig-${i}`, { runMin: 6, runMax: 16 }),
    );
    const scanner = scannerFor([
      ...signatures.map((s) => s.line),
      `Never.Ends:0:*:${hex('OPEN')}*${hex('NEVERTHERE')}`,
    ]);
    const block = randomBytesFrom(rng, 1024 * 1024);
    latin1('OPEN').copy(block, 5000);
    const session = scanner.session(50 * block.length);
    let largestQueue = 0;
    for (let i = 0; i < 50; i += 1) {
      for (let at = 0; at < block.length; at += 64 * 1024)
        session.update(block.subarray(at, at + 64 * 1024));
      expect(session.windowSize).toBe(scanner.windowSize);
      largestQueue = Math.max(largestQueue, session.pendingCount);
    }
    expect(scanner.windowSize).toBeLessThanOrEqual(4096);
    expect(largestQueue).toBeLessThan(100);
    expect(session.finish()).toEqual([]);
  });

  it('agrees with a regular-expression oracle on random signatures, contents and chunkings', () => {
    const started = Date.now();
    const seed = Number(process.env.MATCHER_SEED ?? Date.now() % 1_000_000);
    let trials = 0;
    for (let t = 0; Date.now() - started < 3000 && t < 3000; t += 1, trials += 1) {
      const rng = seededRng(seed + t);
      const alphabet = rng() < 0.5 ? [0x41, 0x42, 0x43, 0x44] : undefined;
      const signatures = Array.from({ length: int(rng, 1, 10) }, (_, i) =>
        generateSignature(rng, `S${i}`, {
          alphabet,
          offsets: true,
          maxUnboundedFill: 30,
          clamd: rng() < 0.5,
        }),
      );
      const parts: Buffer[] = [];
      for (let k = int(rng, 0, 4); k > 0; k -= 1) {
        parts.push(randomBytesFrom(rng, int(rng, 0, 60), alphabet));
        const instance = Buffer.from(pick(rng, signatures).instance);
        if (rng() < 0.3 && instance.length > 0)
          instance[int(rng, 0, instance.length - 1)]! ^= 1 << int(rng, 0, 7);
        parts.push(instance);
      }
      parts.push(randomBytesFrom(rng, int(rng, 0, 60), alphabet));
      const content = Buffer.concat(parts);
      const db = buildSignatureDatabase([
        { file: 'r.ndb', text: signatures.map((s) => s.line).join('\n') },
      ]);
      const expected = db.bodies
        .filter((b) => oracleMatchesFile(b, content))
        .map((b) => b.name)
        .sort();
      const scanner = new ContentScanner(db);
      for (const max of [1, 3, 1000]) {
        const got = scan(scanner, content, randomSplits(rng, content, max));
        expect(
          got,
          `seed ${seed + t} (MATCHER_SEED=${seed + t}), chunks up to ${max}: ${signatures.map((s) => s.line).join(' | ')} on ${content.toString('hex')}`,
        ).toEqual(expected);
      }
    }
    expect(trials).toBeGreaterThan(50);
  });

  it('agrees with the oracle on EOF-n signatures placed at (and just off) their offsets', () => {
    const started = Date.now();
    const seed = Number(process.env.MATCHER_SEED ?? Date.now() % 1_000_000);
    let placed = 0;
    for (let t = 0; Date.now() - started < 2000 && t < 2000; t += 1) {
      const rng = seededRng(seed + t);
      const alphabet = rng() < 0.5 ? [0x41, 0x42, 0x43, 0x44] : undefined;
      const signatures = Array.from({ length: int(rng, 1, 12) }, (_, i) =>
        generateSignature(rng, `E${i}`, { alphabet, offsets: true, maxUnboundedFill: 30 }),
      );
      const db = buildSignatureDatabase([
        { file: 'e.ndb', text: signatures.map((s) => s.line).join('\n') },
      ]);
      const eof = db.bodies
        .map((body, i) => ({ body, instance: signatures[i]!.instance }))
        .filter(({ body }) => body.offset.kind === 'eof');
      const choice = eof.length > 0 ? pick(rng, eof) : undefined;
      if (!choice || choice.body.offset.kind !== 'eof') continue;
      const { offset, maxShift } = choice.body.offset;
      // Start the instance `offset - shift` bytes before the end, give or take one byte.
      const shift = int(rng, 0, maxShift) + int(rng, -1, 1);
      const tail = offset - shift - choice.instance.length;
      if (tail < 0) continue;
      placed += 1;
      const instance = Buffer.from(choice.instance);
      if (rng() < 0.2 && instance.length > 0)
        instance[int(rng, 0, instance.length - 1)]! ^= 1 << int(rng, 0, 7);
      const content = Buffer.concat([
        randomBytesFrom(rng, int(rng, 0, 3000), alphabet),
        instance,
        randomBytesFrom(rng, tail, alphabet),
      ]);
      const expected = db.bodies
        .filter((b) => oracleMatchesFile(b, content))
        .map((b) => b.name)
        .sort();
      const scanner = new ContentScanner(db);
      for (const max of [1, 7, 100_000]) {
        expect(
          scan(scanner, content, randomSplits(rng, content, max)),
          `seed ${seed + t} (MATCHER_SEED=${seed + t}), chunks up to ${max}: ${signatures.map((s) => s.line).join(' | ')} on ${content.toString('hex')}`,
        ).toEqual(expected);
      }
    }
    expect(placed).toBeGreaterThan(50);
  });

  it('opens sessions cheaply and refuses misuse', () => {
    const scanner = scannerFor([`A:0:*:${hex('ABCD')}`]);
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) scanner.session(0).finish();
    expect(performance.now() - started).toBeLessThan(2000);
    const session = scanner.session(4);
    session.update(latin1('ABCD'));
    expect(session.finish()).toEqual(['A']);
    expect(() => session.finish()).toThrow(/already finished/);
    const short = scanner.session(10);
    short.update(latin1('ABCD'));
    expect(() => short.finish()).toThrow(/told 10 bytes but got 4/);
    const unknown = scanner.session(-1);
    unknown.update(latin1('xABCD'));
    expect(unknown.finish()).toEqual(['A']);
  });
});

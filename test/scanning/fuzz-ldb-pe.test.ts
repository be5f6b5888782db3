import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { parsePe, PE_HEAD_BYTES } from '../../scanning/pe.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { buildPe } from '../support/pe-builder.js';
import {
  int,
  pick,
  randomBytesFrom,
  randomSplits,
  seededRng,
  type Rng,
} from '../support/signature-gen.js';

/**
 * Bounded-time fuzzing of the PE parser, the `.ldb`/`.mdb` loaders and the logical matcher:
 * mutated executables and random or mutated database lines must never throw or take long, and
 * what matches must not depend on how the content is cut into chunks or whether its size is
 * known up front. Reproduce a failure with FUZZ_SEED=<seed printed in the failure message>.
 */

const BUDGET_MS = Number(process.env.FUZZ_MS ?? 2500);
const SLOW_MS = 1000;
const baseSeed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000_000);

function samplePe(rng: Rng): Buffer {
  const sections = Array.from({ length: int(rng, 1, 6) }, () => ({
    data: randomBytesFrom(
      rng,
      int(rng, 1, 1500),
      rng() < 0.5 ? [0x41, 0x42, 0x61, 0, 0x90] : undefined,
    ),
    ...(rng() < 0.2 ? { virtualSize: int(rng, 0, 0x5000) } : {}),
  }));
  return buildPe({
    sections,
    entry: { section: int(rng, 0, sections.length - 1), offset: int(rng, 0, 40) },
    ...(rng() < 0.5 ? { overlay: randomBytesFrom(rng, int(rng, 0, 300)) } : {}),
  }).bytes;
}

/** Overwrites header fields with edge values, flips bytes, truncates. */
function mutatePe(rng: Rng, pe: Buffer): Buffer {
  let out = Buffer.from(pe);
  for (let n = int(rng, 0, 6); n > 0; n -= 1) {
    if (out.length < 8) break;
    const kind = int(rng, 0, 3);
    const at = int(rng, 0, Math.min(out.length, 0x300) - 4);
    if (kind === 0)
      out.writeUInt32LE(
        pick(rng, [0, 1, 0x1ff, 0x200, 0x1000, 0x7fffffff, 0x80000000, 0xffffffff]),
        at,
      );
    else if (kind === 1) out[at] = int(rng, 0, 255);
    else if (kind === 2) out.writeUInt16LE(pick(rng, [0, 1, 0x10b, 0x20b, 0xe0, 0xf0, 0xffff]), at);
    else out = out.subarray(0, int(rng, 0, out.length));
  }
  return out;
}

const LDB_TEMPLATES = [
  'A;Engine:51-255,Target:1;0&1;EP+0:4142;S0+4:6142??90',
  'B;Engine:51-255,Target:1,NumberOfSections:1-3,EntryPoint:0-99999;0|1;SL+0:4141;SE1:9090',
  'C;Target:0;(0|1)>2,2;4142::i;6100::wa',
  'D;Engine:51-255,Target:0,FileSize:0-5000;0=2&1<3;EOF-10,10:4142;0,600:4d5a',
  'E;Target:0;0&(1|2);4142*6142;(41|42)4242;EP-2:9090',
  'F;Target:1;0;S9+0:4142',
];
const MDB_TEMPLATES = [
  '512:d41d8cd98f00b204e9800998ecf8427e:M',
  '*:da39a3ee5e6b4b0d3255bfef95601890afd80709:S:73',
];
const CHARS = '0123456789abcdef;:,&|()<>=*?{}-+EPSLOFV$/#ifwa';

function mutateLine(rng: Rng, line: string): string {
  let out = line;
  for (let n = int(rng, 0, 4); n > 0; n -= 1) {
    const at = int(rng, 0, out.length);
    const kind = int(rng, 0, 4);
    if (kind === 0) out = out.slice(0, at) + out.slice(at + int(rng, 1, 5));
    else if (kind === 1) out = out.slice(0, at) + pick(rng, [...CHARS]) + out.slice(at);
    else if (kind === 2) out = out.slice(0, at) + String(int(rng, 0, 2 ** 32)) + out.slice(at);
    else if (kind === 3)
      out =
        out.slice(0, at) +
        pick(rng, ['(', ')', ';', '::i', 'EP+', 'SE', '=0', '>99']) +
        out.slice(at);
    else out = out + out.slice(at);
  }
  return out;
}

function randomDatabase(rng: Rng): { file: string; text: string }[] {
  const ldb = Array.from({ length: int(rng, 1, 12) }, () =>
    rng() < 0.2
      ? Array.from({ length: int(rng, 0, 80) }, () => pick(rng, [...CHARS])).join('')
      : mutateLine(rng, pick(rng, LDB_TEMPLATES)),
  );
  const mdb = Array.from({ length: int(rng, 0, 4) }, () =>
    mutateLine(rng, pick(rng, MDB_TEMPLATES)),
  );
  return [
    { file: 'f.ldb', text: ldb.join('\n') },
    { file: pick(rng, ['f.mdb', 'f.msb']), text: mdb.join('\n') },
  ];
}

function scan(
  scanner: ContentScanner,
  content: Buffer,
  chunks: Buffer[],
  sizeKnown: boolean,
): string[] {
  const session = scanner.session(sizeKnown ? content.length : -1);
  for (const chunk of chunks) session.update(chunk);
  return session.finish();
}

describe('fuzzing the PE parser, the logical signature loader and matcher', () => {
  it('never throws or hangs on mutated executables', () => {
    const started = Date.now();
    let rounds = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = seededRng(seed);
      const bytes =
        rng() < 0.1
          ? Buffer.concat([Buffer.from('MZ'), randomBytesFrom(rng, int(rng, 0, 600))])
          : mutatePe(rng, samplePe(rng));
      const t0 = performance.now();
      const result = parsePe(
        bytes.subarray(0, PE_HEAD_BYTES),
        pick(rng, [bytes.length, 0, 2 ** 32]),
      );
      if (result.ok) {
        expect(result.pe.sections.length, `FUZZ_SEED=${seed}`).toBeGreaterThan(0);
        expect(Number.isFinite(result.pe.entryPoint), `FUZZ_SEED=${seed}`).toBe(true);
      } else {
        expect(result.reason, `FUZZ_SEED=${seed}`).not.toBe('');
      }
      expect(performance.now() - t0, `FUZZ_SEED=${seed}`).toBeLessThan(SLOW_MS);
    }
    expect(rounds).toBeGreaterThan(20);
  });

  it('never throws or hangs loading random and mutated .ldb and .mdb lines, and matches the same however the content is cut', () => {
    const started = Date.now();
    let rounds = 0;
    let loaded = 0;
    let matched = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = seededRng(seed ^ 0x1db);
      const sources = randomDatabase(rng);
      const t0 = performance.now();
      try {
        const db = buildSignatureDatabase(sources);
        for (const problem of db.problems) expect(problem.line).toBeGreaterThan(0);
        loaded += db.logical.length;
        const pe = samplePe(rng);
        const content =
          rng() < 0.7
            ? rng() < 0.5
              ? pe
              : mutatePe(rng, pe)
            : randomBytesFrom(rng, int(rng, 0, 3000));
        // A section hash that matches this content, so that path runs too.
        const extra = buildSignatureDatabase([
          ...sources,
          {
            file: 'g.mdb',
            text: `*:${createHash('md5').update(content.subarray(0x400, 0x600)).digest('hex')}:G:73`,
          },
        ]);
        const scanner = new ContentScanner(extra);
        const whole = scan(scanner, content, [content], true);
        if (whole.length > 0) matched += 1;
        expect(
          scan(scanner, content, randomSplits(rng, content, pick(rng, [1, 7, 512])), true),
        ).toEqual(whole);
        expect(scan(scanner, content, randomSplits(rng, content, 300), false)).toEqual(whole);
      } catch (error) {
        throw new Error(
          `FUZZ_SEED=${seed}: ${String(error)}\n${sources.map((s) => `${s.file}:\n${s.text}`).join('\n')}`,
        );
      }
      const elapsed = performance.now() - t0;
      expect(elapsed, `FUZZ_SEED=${seed} took ${Math.round(elapsed)} ms`).toBeLessThan(SLOW_MS);
    }
    expect(rounds).toBeGreaterThan(20);
    // The mutations leave enough lines loadable, and enough content matching, to mean something.
    expect(loaded).toBeGreaterThan(rounds / 2);
    expect(matched).toBeGreaterThan(rounds / 10);
  });
});

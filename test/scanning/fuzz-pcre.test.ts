import { describe, expect, it } from 'vitest';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { translatePcre } from '../../scanning/signatures/pcre.js';
import { prng, type Rng } from '../support/fuzz.js';

/**
 * Bounded-time fuzzing of PCRE subsignatures: random and mutated regular expressions and flags
 * through the translation for RE2 and the `.ldb` loader, then matched over random bytes. Nothing
 * may throw or take long (RE2 runs in linear time, so patterns that make PCRE backtrack without
 * end are cheap here), and what matches must not depend on how the content is cut into chunks
 * or whether its size is known. Reproduce a failure with FUZZ_SEED=<seed in the message>.
 */

const BUDGET_MS = Number(process.env.FUZZ_MS ?? 2500);
const SLOW_MS = 1000;
const baseSeed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000_000);

const int = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

const TOKENS = [
  'a',
  'b',
  'A',
  'x',
  '0',
  ' ',
  ';',
  ':',
  '/',
  '\\/',
  '.',
  '*',
  '+',
  '?',
  '*?',
  '+?',
  '{2}',
  '{1,3}',
  '{2,}',
  '{,2}',
  '{',
  '}',
  '(',
  ')',
  '(?:',
  '(?i)',
  '(?-i:',
  '(?s:',
  '(?m)',
  '(?x)',
  '(?=',
  '(?!',
  '(?<=',
  '(?>',
  '(?#c)',
  '(?<n>',
  '(?P<n>',
  '|',
  '^',
  '$',
  '[',
  ']',
  '[^',
  '-',
  '[:alpha:]',
  '[:^digit:]',
  '\\d',
  '\\D',
  '\\w',
  '\\W',
  '\\s',
  '\\S',
  '\\h',
  '\\v',
  '\\b',
  '\\B',
  '\\A',
  '\\z',
  '\\Z',
  '\\G',
  '\\x',
  '\\x4',
  '\\x41',
  '\\xff',
  '\\x{80}',
  '\\x{100}',
  '\\0',
  '\\012',
  '\\1',
  '\\o{101}',
  '\\cA',
  '\\c',
  '\\Q',
  '\\E',
  '\\n',
  '\\t',
  '\\N',
  '\\C',
  '\\p{L}',
  '\\K',
  '\\R',
  '\\i',
  '\\',
  '#',
];
const FLAGS = 'ismxAEUgrez';

function randomPattern(rng: Rng): string {
  return Array.from({ length: int(rng, 1, 14) }, () => pick(rng, TOKENS)).join('');
}

/** Backtracking traps for PCRE: linear for RE2. */
const TRAPS = ['(a*)*b', '(a|aa)+c', '(x+x+)+y', '(.*a){12}', '(?:a|a?)+$'];

function randomFlags(rng: Rng): string {
  return Array.from({ length: int(rng, 0, 3) }, () => pick(rng, [...FLAGS])).join('');
}

/** Content with the letters the patterns use, runs of them, high bytes and NULs. */
function randomContent(rng: Rng, length: number): Buffer {
  const alphabet = [0x61, 0x62, 0x41, 0x78, 0x30, 0x20, 0x0a, 0x00, 0xff, 0x80, 0x3b, 0x2f];
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = rng() < 0.3 ? 0x61 : pick(rng, alphabet);
  return out;
}

function scan(
  scanner: ContentScanner,
  content: Buffer,
  step: number,
  sizeKnown: boolean,
): string[] {
  const session = scanner.session(sizeKnown ? content.length : -1);
  for (let i = 0; i < content.length; i += step) session.update(content.subarray(i, i + step));
  return session.finish();
}

describe('fuzzing PCRE subsignatures', () => {
  it('translates random patterns without throwing, and RE2 runs them in bounded time', () => {
    const started = Date.now();
    let rounds = 0;
    let translated = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = prng(seed);
      const pattern = rng() < 0.1 ? pick(rng, TRAPS) : randomPattern(rng);
      const flags = randomFlags(rng);
      const t0 = performance.now();
      const result = translatePcre(pattern, flags);
      if (result.ok) translated += 1;
      else expect(result.message, `FUZZ_SEED=${seed} /${pattern}/${flags}`).not.toBe('');
      expect(performance.now() - t0, `FUZZ_SEED=${seed}`).toBeLessThan(SLOW_MS);
    }
    expect(rounds).toBeGreaterThan(50);
    expect(translated).toBeGreaterThan(rounds / 20);
  });

  it('loads random PCRE lines and matches the same however the content is cut', () => {
    const started = Date.now();
    let rounds = 0;
    let loaded = 0;
    let matched = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = prng(seed ^ 0x9c3e);
      const lines = Array.from({ length: int(rng, 1, 6) }, (_, n) => {
        const pattern = rng() < 0.15 ? pick(rng, TRAPS) : randomPattern(rng);
        const offset = pick(rng, ['', '', '0:', '5,40:', 'EOF-30:', '*:']);
        const trigger = pick(rng, ['0', '0', '0=0', '0>1', '0|1', '1']);
        const logic = pick(rng, ['0&1', '1', '0|1', '1>1', '(0|1)>2']);
        return `F.${n};Target:0;${logic};616161;${offset}${trigger}/${pattern}/${randomFlags(rng)}`;
      });
      const content =
        rng() < 0.1
          ? randomContent(rng, int(rng, 3000, 20000))
          : randomContent(rng, int(rng, 0, 400));
      const t0 = performance.now();
      try {
        const db = buildSignatureDatabase([{ file: 'f.ldb', text: lines.join('\n') }]);
        loaded += db.logical.length;
        const scanner = new ContentScanner(db);
        const whole = scan(scanner, content, Math.max(1, content.length), true);
        if (whole.length > 0) matched += 1;
        expect(scan(scanner, content, pick(rng, [1, 3, 64]), true)).toEqual(whole);
        expect(scan(scanner, content, pick(rng, [1, 17, 500]), false)).toEqual(whole);
      } catch (error) {
        throw new Error(`FUZZ_SEED=${seed}: ${String(error)}\n${lines.join('\n')}`);
      }
      const elapsed = performance.now() - t0;
      expect(elapsed, `FUZZ_SEED=${seed} took ${Math.round(elapsed)} ms`).toBeLessThan(SLOW_MS);
    }
    expect(rounds).toBeGreaterThan(20);
    expect(loaded).toBeGreaterThan(rounds / 4);
    expect(matched).toBeGreaterThan(rounds / 20);
  });
});

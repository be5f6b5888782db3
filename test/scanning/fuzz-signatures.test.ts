import { describe, expect, it } from 'vitest';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import {
  generateSignature,
  int,
  pick,
  randomBytesFrom,
  randomSplits,
  seededRng,
  type Rng,
} from '../support/signature-gen.js';

/**
 * Bounded-time fuzzing of the signature loader and the matcher: random and mutated `.ndb`,
 * `.hdb` and `.hsb` lines must never throw out of the loader or take long, and random bytes
 * through a matcher built from random valid signatures must never throw. Reproduce a failure
 * with FUZZ_SEED=<seed printed in the failure message>.
 */

const BUDGET_MS = Number(process.env.FUZZ_MS ?? 2500);
const SLOW_MS = 1000;
const baseSeed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000_000);

const SIG_CHARS = '0123456789abcdefABCDEF??**{}{}()[]|!-,:';
const FIELD_CHARS = '0123456789:*-,EOF+PSLV$abcdef';

function randomText(rng: Rng, alphabet: string, max: number): string {
  let text = '';
  for (let i = int(rng, 0, max); i > 0; i -= 1) text += alphabet[int(rng, 0, alphabet.length - 1)];
  return text;
}

function mutate(rng: Rng, line: string): string {
  let out = line;
  for (let n = int(rng, 1, 4); n > 0; n -= 1) {
    const at = int(rng, 0, out.length);
    const kind = int(rng, 0, 6);
    if (kind === 0) out = out.slice(0, at) + out.slice(at + int(rng, 1, 4));
    else if (kind === 1) out = out.slice(0, at) + randomText(rng, SIG_CHARS, 4) + out.slice(at);
    else if (kind === 2)
      out =
        out.slice(0, at) +
        pick(rng, ['{', '}', '(', ')', '[', ']', '|', '!', '*', ':', '?', '-', ',']) +
        out.slice(at + 1);
    else if (kind === 3) out = out.slice(0, at);
    else if (kind === 4) out = out + out.slice(at);
    else if (kind === 5)
      out =
        out.slice(0, at) +
        pick(rng, [
          '{99999999999}',
          '{0-1048577}',
          '{128}',
          '{-}',
          '(B)',
          'EOF-',
          '\u0000',
          '\u00ff',
          '%',
        ]) +
        out.slice(at);
    else out = out.replace(/\d+/, String(int(rng, 0, 2 ** 31)));
  }
  return out;
}

function randomLine(rng: Rng): { file: string; line: string } {
  const kind = int(rng, 0, 5);
  if (kind === 0)
    return {
      file: 'r.ndb',
      line: `F:${randomText(rng, FIELD_CHARS, 4)}:${randomText(rng, FIELD_CHARS, 6)}:${randomText(rng, SIG_CHARS, 40)}`,
    };
  if (kind === 1) return { file: 'r.ndb', line: randomText(rng, SIG_CHARS + FIELD_CHARS, 60) };
  if (kind === 2)
    return {
      file: 'r.ndb',
      line: mutate(rng, generateSignature(rng, 'M', { offsets: true, clamd: false }).line),
    };
  if (kind === 3) {
    const hash = randomText(rng, '0123456789abcdef', pick(rng, [31, 32, 33, 40, 64, 65]));
    return {
      file: pick(rng, ['r.hdb', 'r.hsb']),
      line: mutate(rng, `${hash}:${pick(rng, ['*', '12', '-1', 'x', ''])}:Name:${int(rng, 0, 99)}`),
    };
  }
  if (kind === 4)
    return { file: pick(rng, ['r.hdb', 'r.hsb']), line: randomText(rng, '0123456789abcdef:*', 80) };
  return {
    file: 'r.ndb',
    line: generateSignature(rng, 'V', { offsets: true, clamd: rng() < 0.5 }).line,
  };
}

describe('fuzzing the signature loader and matcher', () => {
  it('never throws or hangs on random and mutated database lines', () => {
    const started = Date.now();
    let rounds = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = seededRng(seed);
      const lines = Array.from({ length: int(rng, 1, 30) }, () => randomLine(rng));
      const files = new Map<string, string[]>();
      for (const { file, line } of lines) files.set(file, [...(files.get(file) ?? []), line]);
      const sources = [...files].map(([file, text]) => ({
        file,
        text: text.join(pick(rng, ['\n', '\r\n'])),
      }));
      const t0 = performance.now();
      let db;
      try {
        db = buildSignatureDatabase(sources);
        // Everything either loaded or was reported against a real line.
        for (const problem of db.problems) {
          expect(files.has(problem.file)).toBe(true);
          expect(problem.line).toBeGreaterThan(0);
        }
        const scanner = new ContentScanner(db);
        const content = randomBytesFrom(rng, int(rng, 0, 2000));
        const session = scanner.session(content.length);
        for (const chunk of randomSplits(rng, content, 300)) session.update(chunk);
        session.finish();
      } catch (error) {
        throw new Error(
          `FUZZ_SEED=${seed}: ${String(error)}\n${lines.map((l) => `${l.file}: ${JSON.stringify(l.line)}`).join('\n')}`,
        );
      }
      const elapsed = performance.now() - t0;
      expect(elapsed, `FUZZ_SEED=${seed} took ${Math.round(elapsed)} ms`).toBeLessThan(SLOW_MS);
    }
    expect(rounds).toBeGreaterThan(20);
  });

  it('never throws or hangs scanning random bytes with random valid signatures', () => {
    const started = Date.now();
    let rounds = 0;
    for (let seed = baseSeed; Date.now() - started < BUDGET_MS; seed += 1, rounds += 1) {
      const rng = seededRng(seed ^ 0x5eed);
      const alphabet = rng() < 0.5 ? [0, 1, 0xff, 0x41] : undefined;
      const signatures = Array.from({ length: int(rng, 1, 60) }, (_, i) =>
        generateSignature(rng, `Fuzz.${i}`, {
          alphabet,
          offsets: true,
          clamd: rng() < 0.5,
          maxParts: 5,
        }),
      );
      const t0 = performance.now();
      try {
        const db = buildSignatureDatabase([
          { file: 'f.ndb', text: signatures.map((s) => s.line).join('\n') },
        ]);
        const scanner = new ContentScanner(db);
        const parts = [randomBytesFrom(rng, int(rng, 0, 5000), alphabet)];
        for (let k = int(rng, 0, 5); k > 0; k -= 1)
          parts.push(
            pick(rng, signatures).instance,
            randomBytesFrom(rng, int(rng, 0, 500), alphabet),
          );
        const content = Buffer.concat(parts);
        const session = scanner.session(rng() < 0.2 ? -1 : content.length);
        for (const chunk of randomSplits(rng, content, pick(rng, [1, 16, 4096])))
          session.update(chunk);
        const found = session.finish();
        expect(Array.isArray(found)).toBe(true);
      } catch (error) {
        throw new Error(
          `FUZZ_SEED=${seed} (matcher): ${String(error)}\n${signatures.map((s) => s.line).join('\n')}`,
        );
      }
      const elapsed = performance.now() - t0;
      expect(elapsed, `FUZZ_SEED=${seed} (matcher) took ${Math.round(elapsed)} ms`).toBeLessThan(
        SLOW_MS,
      );
    }
    expect(rounds).toBeGreaterThan(20);
  });
});

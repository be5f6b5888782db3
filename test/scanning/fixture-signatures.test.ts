import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EICAR } from '../../scanning/eicar.js';
import {
  BODY_SIGNATURES,
  SIGNATURES_DIR,
  fixtureSignatureFiles,
  generateCorpus,
  verdictClass,
} from '../support/corpus.js';

/**
 * The committed signature folder is rendered from test/support/corpus.ts; these checks keep the
 * two in step and make sure the folder exercises every form the engines must support. (That
 * clamd loads the folder and every signature fires is checked in clamd-engine.test.ts.)
 */
describe('the test signature folder', () => {
  it('is exactly what the corpus generator renders', async () => {
    const expected = fixtureSignatureFiles();
    const present = (await readdir(SIGNATURES_DIR))
      .filter((f) => /\.(hdb|hsb|ndb)$/.test(f))
      .sort();
    expect(present).toEqual(Object.keys(expected).sort());
    for (const [file, text] of Object.entries(expected)) {
      expect(
        await readFile(path.join(SIGNATURES_DIR, file), 'utf8'),
        `${file} (regenerate: npx tsx test/support/corpus.ts --write-signatures)`,
      ).toBe(text);
    }
  });

  it('uses every wildcard and offset form, in lines clamd accepts (no blank lines, * sizes with :73)', async () => {
    const ndb = await readFile(path.join(SIGNATURES_DIR, 'arbiter-test.ndb'), 'utf8');
    const bodies = ndb
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
    // Pair-aware tokens: "{…}", "(…)", "*" or two hex/? characters.
    const tokens = bodies.flatMap(
      (fields) => (fields[3] ?? '').match(/\{[^}]*\}|\([^)]*\)|\*|[0-9a-f?]{2}/g) ?? [],
    );
    const has = (pattern: RegExp) => tokens.some((token) => pattern.test(token));
    expect(has(/^\?\?$/)).toBe(true);
    expect(has(/^[0-9a-f]\?$/)).toBe(true); // a? high nibble
    expect(has(/^\?[0-9a-f]$/)).toBe(true); // ?a low nibble
    expect(has(/^\*$/)).toBe(true);
    expect(has(/^\{\d+\}$/)).toBe(true);
    expect(has(/^\{\d+-\d+\}$/)).toBe(true);
    expect(has(/^\{-\d+\}$/)).toBe(true);
    expect(has(/^\{\d+-\}$/)).toBe(true);
    expect(has(/^\([0-9a-f]{2}(\|[0-9a-f]{2})+\)$/)).toBe(true);
    const offsets = bodies.map((fields) => fields[2] ?? '');
    expect(offsets).toContain('*');
    expect(offsets.some((o) => /^\d+$/.test(o))).toBe(true);
    expect(offsets.some((o) => /^EOF-\d+$/.test(o))).toBe(true);
    expect(bodies.every((fields) => fields[1] === '0')).toBe(true);
    for (const file of ['arbiter-test.hdb', 'arbiter-test.hsb', 'arbiter-test.ndb']) {
      const text = await readFile(path.join(SIGNATURES_DIR, file), 'utf8');
      expect(
        text.endsWith('\n') && !text.includes('\n\n'),
        `${file} must have no blank line (clamd rejects the whole file)`,
      ).toBe(true);
    }
    const hsb = await readFile(path.join(SIGNATURES_DIR, 'arbiter-test.hsb'), 'utf8');
    for (const line of hsb.split('\n').filter((l) => /^[0-9a-f]+:\*:/.test(l)))
      expect(line).toMatch(/:\d+$/);
    expect(bodies.length).toBe(BODY_SIGNATURES.length);
  });

  it('never holds the EICAR string itself, only its hex', async () => {
    for (const file of await readdir(SIGNATURES_DIR)) {
      const bytes = await readFile(path.join(SIGNATURES_DIR, file));
      expect(bytes.includes(EICAR.subarray(0, 20))).toBe(false);
    }
    expect(await readFile(path.join(SIGNATURES_DIR, 'arbiter-test.ndb'), 'utf8')).toContain(
      EICAR.toString('hex'),
    );
  });

  it('comes with a deterministic corpus that covers every class', async () => {
    const [first, second] = [await generateCorpus(), await generateCorpus()];
    expect(first.map((i) => i.name)).toEqual(second.map((i) => i.name));
    first.forEach((item, index) =>
      expect(item.content.equals(second[index]?.content ?? Buffer.alloc(0)), item.name).toBe(true),
    );
    const classes = new Set(first.map((i) => i.expected));
    expect([...classes].sort()).toEqual(['clean', 'infected', 'unscannable']);
    for (const signature of BODY_SIGNATURES)
      expect(first.some((i) => i.name.startsWith(`pattern/${signature.name}/`))).toBe(true);
    expect(verdictClass(['content.unscannable.encrypted', 'content.malicious.x'])).toBe('infected');
  });
});

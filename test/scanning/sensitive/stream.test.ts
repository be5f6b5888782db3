import { describe, expect, it } from 'vitest';
import {
  CHUNK_CHARS,
  classifyText,
  DEFAULT_MAX_CHARS,
  DEFAULT_MAX_MATCHES_PER_TYPE,
  OVERLAP_CHARS,
  TextClassifier,
} from '../../../scanning/sensitive/classify.js';
import { SENSITIVE_TYPES, type SensitiveType } from '../../../scanning/sensitive/types.js';
import { pemPrivateKey, TEST_CARDS } from '../../support/sensitive-values.js';

/** Text read in chunks and pushed in pieces: every value counted once, and the work bounded. */

const ALL = { types: SENSITIVE_TYPES };

/** Filler prose of exactly `length` characters, holding nothing sensitive. */
function filler(length: number): string {
  return 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '
    .repeat(length / 50 + 1)
    .slice(0, length);
}

/** One value of each of several types, each placed to straddle a chunk boundary. */
const STRADDLERS: readonly [SensitiveType, string][] = [
  ['credit_card', '4012 8888 8888 1881'],
  ['iban', 'DE89 3704 0044 0532 0130 00'],
  ['us_ssn', 'SSN: 078051120'],
  ['email', 'jane.doe@example.com'],
  ['phone', '+44 20 7946 0958'],
  ['aws_secret_key', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
  ['private_key', pemPrivateKey('RSA ', 'A'.repeat(2000))],
  ['github_token', `ghp_${'a1B2'.repeat(9)}`],
];

/** A text of several chunks where the value starts `before` characters ahead of each boundary. */
function straddlingText(value: string, before: number, boundaries: number): string {
  let text = '';
  for (let boundary = 1; boundary <= boundaries; boundary += 1) {
    text += filler(boundary * CHUNK_CHARS - before - text.length - 1) + ' ' + value + ' ';
  }
  return text + filler(1000);
}

describe('values cut between chunks', () => {
  it.each(STRADDLERS)('counts a value of type %s across each boundary once', (type, value) => {
    for (const before of [1, Math.floor(value.length / 2), value.length - 1]) {
      const text = straddlingText(value, before, 3);
      const result = classifyText(text, ALL);
      expect(result.matches).toEqual({ [type]: 3 });
    }
  });

  it('counts a value whose label is in one chunk and its number in the next', () => {
    const text = filler(CHUNK_CHARS - 7) + ' SSN: 078051120 ' + filler(100);
    expect(classifyText(text, { types: ['us_ssn'] }).matches).toEqual({ us_ssn: 1 });
  });

  it('counts the same when the text is pushed in pieces of any size', () => {
    const text = straddlingText(`${TEST_CARDS.join(' ')} jane@example.com`, 40, 2);
    const whole = classifyText(text, ALL);
    expect(whole.matches).toEqual({ credit_card: 2 * TEST_CARDS.length, email: 2 });
    for (const pieceSize of [1_000, 65_537, CHUNK_CHARS + OVERLAP_CHARS + 3]) {
      const classifier = new TextClassifier(ALL);
      for (let at = 0; at < text.length; at += pieceSize)
        classifier.push(text.slice(at, at + pieceSize));
      expect(classifier.finish()).toEqual(whole);
    }
  });

  it('refuses text pushed after the result was taken', () => {
    const classifier = new TextClassifier(ALL);
    classifier.push('4111111111111111');
    expect(classifier.finish().matches).toEqual({ credit_card: 1 });
    expect(() => classifier.push('4111111111111111')).toThrow(/after finish/);
  });
});

describe('the bounds on the work', () => {
  it('stops counting a type at its cap and names it, other types still counted', () => {
    const text = Array.from({ length: 50 }, () => '4111111111111111 jane@example.com').join('\n');
    const result = classifyText(text, { ...ALL, maxMatchesPerType: 20 });
    expect(result.matches).toEqual({ credit_card: 20, email: 20 });
    expect(result.limits.cappedTypes.sort()).toEqual(['credit_card', 'email']);
    const uncapped = classifyText(text, { ...ALL, maxMatchesPerType: 50 });
    expect(uncapped.matches).toEqual({ credit_card: 50, email: 50 });
  });

  it('reads at most maxChars characters and says the text was cut', () => {
    const text = `${filler(500)} 4111111111111111 ${filler(500)} 5555555555554444`;
    const cut = classifyText(text, { ...ALL, maxChars: 1_000 });
    expect(cut.matches).toEqual({ credit_card: 1 });
    expect(cut.limits.textTruncated).toBe(true);
    const classifier = new TextClassifier({ ...ALL, maxChars: 1_000 });
    classifier.push(text.slice(0, 600));
    classifier.push(text.slice(600));
    expect(classifier.finish()).toEqual(cut);
    expect(classifyText(text, ALL)).toMatchObject({
      matches: { credit_card: 2 },
      limits: { textTruncated: false },
    });
  });

  it('has defaults a caller can rely on', () => {
    expect(DEFAULT_MAX_CHARS).toBe(32 * 1024 * 1024);
    expect(DEFAULT_MAX_MATCHES_PER_TYPE).toBe(10_000);
  });

  it('keeps at most three distinct samples per type', () => {
    const text = TEST_CARDS.map((card) => `${card}\n${card}`).join('\n');
    const result = classifyText(text, ALL);
    expect(result.matches).toEqual({ credit_card: 2 * TEST_CARDS.length });
    expect(result.samples).toEqual({ credit_card: ['…1111', '…1881', '…2222'] });
  });
});

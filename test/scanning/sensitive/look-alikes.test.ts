import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { classifyText } from '../../../scanning/sensitive/classify.js';
import { passesLuhn } from '../../../scanning/sensitive/detectors/credit-card.js';
import { SENSITIVE_TYPES } from '../../../scanning/sensitive/types.js';
import { ibanOf } from '../../support/sensitive-values.js';

/**
 * No false positives: a corpus of what sensitive values are confused with, built in bulk, must
 * classify as nothing at all, whichever type is asked for.
 */

/** A deterministic source of digits, so that a failure can be replayed. */
function* digitStream(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    yield Math.floor(state / 65_536) % 10;
  }
}

function digitsFrom(stream: Generator<number>, length: number): string {
  let digits = '';
  while (digits.length < length) digits += String(stream.next().value);
  return digits;
}

/** Order numbers shaped like Visa and Mastercard numbers whose check digit is wrong. */
function luhnFailingOrderNumbers(count: number): string[] {
  const stream = digitStream(17);
  const numbers: string[] = [];
  while (numbers.length < count) {
    const candidate = `${numbers.length % 2 === 0 ? '4' : '5'}${digitsFrom(stream, 15)}`;
    if (!passesLuhn(candidate)) numbers.push(candidate);
  }
  return numbers;
}

/**
 * Bytes that look random and are the same on every run: a corpus that passed once always passes,
 * instead of one run in many meeting a blob that happens to hold a long run of digits.
 */
const seededBytes = (label: string, index: number): Buffer =>
  createHash('sha512').update(`${label}:${index}`).digest();

/** A version 4 UUID's form (8-4-4-4-12 hex digits) from 16 of these bytes. */
function uuidOf(bytes: Buffer): string {
  const hex = Buffer.from(bytes.subarray(0, 16));
  hex[6] = (hex[6]! & 0x0f) | 0x40;
  hex[8] = (hex[8]! & 0x3f) | 0x80;
  const d = hex.toString('hex');
  return `${d.slice(0, 8)}-${d.slice(8, 12)}-${d.slice(12, 16)}-${d.slice(16, 20)}-${d.slice(20, 32)}`;
}

function corpus(): string {
  const stream = digitStream(99);
  const lines: string[] = [];
  for (const order of luhnFailingOrderNumbers(200)) lines.push(`Order ${order} shipped`);
  for (let index = 0; index < 200; index += 1) lines.push(`id ${digitsFrom(stream, 9)}`);
  for (let index = 0; index < 100; index += 1) {
    lines.push(`customer ${digitsFrom(stream, 9)},${digitsFrom(stream, 12)}`);
  }
  for (let index = 0; index < 100; index += 1) {
    lines.push(`blob: ${seededBytes('blob', index).subarray(0, 60).toString('base64')}`);
    lines.push(`uuid ${uuidOf(seededBytes('uuid', index))}`);
    lines.push(`sha1 ${createHash('sha1').update(String(index)).digest('hex')}`);
    lines.push(`sha256 ${createHash('sha256').update(String(index)).digest('hex')}`);
    lines.push(`md5 ${createHash('md5').update(String(index)).digest('hex')}`);
  }
  lines.push(
    'version 1.2.3, 10.0.19045.3803, v2024.01.15-rc1, build 5.4.0-150-generic',
    'dates 2024-01-15 15/01/2024 01/15/2024 2024-01-15T10:20:30Z 20240115 1705314030',
    'amounts $1,234,567.89 and 1 234 567,89 € and 0.000123456789',
    'IPs 192.168.100.200 and 2001:db8::1 and 10.0.0.255:8080',
    'coordinates 52.520008, 13.404954 and -33.865143, 151.209900',
    'ISBN 978-3-16-148410-0 and ISSN 2049-3630',
    'tracking 1Z999AA10123456784 and 9400111899223100012345',
    'npm install left-pad@1.3.0 react@18.2.0',
    '<img src="avatar@2x.png"> url(icon@3x.svg)',
    'dashed 123-456-7890-12 and part numbers 4111-1111-11',
    'AKIAEXAMPLE short id, sk_live_ and ghp_ alone, xoxb- alone',
    '-----BEGIN RSA PRIVATE KEY----- is how the file starts',
    'eyJhbGciOiJIUzI1NiJ9 alone, and eyJub3QiOiJqc29uIn0.e30.sig without alg',
  );
  const validIban = ibanOf('DE', '370400440532013000');
  for (let check = 0; check < 100; check += 1) {
    const wrong = `DE${String(check).padStart(2, '0')}${validIban.slice(4)}`;
    if (wrong !== validIban) lines.push(`IBAN ${wrong}`);
  }
  return lines.join('\n');
}

describe('the look-alike corpus', () => {
  const text = corpus();

  it('holds nothing sensitive with every type asked for', () => {
    expect(classifyText(text, { types: SENSITIVE_TYPES })).toEqual({
      matches: {},
      samples: {},
      limits: { textTruncated: false, cappedTypes: [] },
    });
  });

  it('holds nothing sensitive whatever the phone region', () => {
    for (const defaultRegion of ['US', 'GB', 'DE', 'FR', 'IN'] as const) {
      expect(classifyText(text, { types: ['phone'], defaultRegion }).matches).toEqual({});
    }
  });
});

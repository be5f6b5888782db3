import { acceptedMatches } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * IBANs: a country code, two check digits and the account (the country fixes its length),
 * written bare or in groups separated by single spaces. The candidate pattern takes up to the
 * longest IBAN; the validator keeps exactly the country's length (a word after a grouped IBAN
 * is left out), then checks mod-97, so a mistyped or invented IBAN does not count.
 */
const CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/g;

/** The length of each country's IBAN (the SWIFT IBAN registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HN: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

/**
 * Where the IBAN starting a candidate ends: after its country's number of letters and digits
 * (spaces between them skipped), provided a letter or digit does not follow straight on.
 */
function ibanEnd(candidate: string): number | undefined {
  const length = IBAN_LENGTHS[candidate.slice(0, 2)];
  if (length === undefined) return undefined;
  let taken = 0;
  let index = 0;
  while (index < candidate.length && taken < length) {
    if (candidate[index] !== ' ') taken += 1;
    index += 1;
  }
  if (taken < length) return undefined;
  const next = candidate[index];
  return next === undefined || next === ' ' ? index : undefined;
}

/** ISO 13616's check: the account, then the country and check digits, as a number mod 97 is 1. */
export function passesMod97(iban: string): boolean {
  const checkDigits = Number(iban.slice(2, 4));
  if (checkDigits < 2 || checkDigits > 98) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const code = character.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

export function isIban(value: string): boolean {
  const compact = value.replace(/ /g, '');
  return IBAN_LENGTHS[compact.slice(0, 2)] === compact.length && passesMod97(compact);
}

function* findIbans(text: string): Generator<Span> {
  yield* acceptedMatches(CANDIDATE, text, (match) => {
    const end = ibanEnd(match[0]);
    if (end === undefined || !isIban(match[0].slice(0, end))) return undefined;
    if (/[A-Za-z0-9]/.test(text.charAt(match.index + end))) return undefined;
    return { start: match.index, end: match.index + end };
  });
}

export const iban: Detector = {
  type: 'iban',
  maxLength: 34 + 33,
  find: findIbans,
  redact: (value) => {
    const compact = value.replace(/ /g, '');
    return `${compact.slice(0, 2)}…${compact.slice(-4)}`;
  },
};

import { acceptedMatches, digitsOf } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * Payment card numbers: 12 to 19 digits, bare or grouped with spaces or dashes (one kind of
 * separator per number: fours, the last group shorter, or Amex's 4-6-5 and Diners' 4-6-4), not
 * part of a word or a longer dashed number. A candidate counts when its prefix and length are an
 * issuer's and its Luhn check digit is right: an order number of the right length fails the
 * check nine times in ten and most 16-digit ids fall outside the issuers' ranges. Numbers in a
 * list separated by single spaces are told apart by their grouping; a grouped number followed by
 * a short group (a card and its security code) is tried without that group.
 */
const CANDIDATE = new RegExp(
  '(?<![\\w-])(?:' +
    [
      '\\d{12,19}',
      '\\d{4}(?: \\d{4}){2,3}(?: \\d{1,4})?',
      '\\d{4}(?:-\\d{4}){2,3}(?:-\\d{1,4})?',
      '\\d{4} \\d{6} \\d{4,5}',
      '\\d{4}-\\d{6}-\\d{4,5}',
    ].join('|') +
    ')(?![\\w]|-\\d)',
  'g',
);

interface Issuer {
  readonly name: string;
  readonly lengths: readonly number[];
  /** Inclusive ranges of the number's first digits (both ends the same number of digits). */
  readonly ranges: readonly (readonly [number, number])[];
}

const LENGTHS_16_TO_19 = [16, 17, 18, 19];

/** The issuers' published ranges (IIN prefixes) and lengths. */
const ISSUERS: readonly Issuer[] = [
  { name: 'visa', lengths: [13, 16, 19], ranges: [[4, 4]] },
  {
    name: 'mastercard',
    lengths: [16],
    ranges: [
      [51, 55],
      [2221, 2720],
    ],
  },
  {
    name: 'amex',
    lengths: [15],
    ranges: [
      [34, 34],
      [37, 37],
    ],
  },
  {
    name: 'discover',
    lengths: LENGTHS_16_TO_19,
    ranges: [
      [6011, 6011],
      [644, 649],
      [65, 65],
      [622126, 622925],
    ],
  },
  { name: 'jcb', lengths: LENGTHS_16_TO_19, ranges: [[3528, 3589]] },
  {
    name: 'diners',
    lengths: [14, 15, 16, 17, 18, 19],
    ranges: [
      [300, 305],
      [3095, 3095],
      [36, 36],
      [38, 39],
    ],
  },
  { name: 'unionpay', lengths: LENGTHS_16_TO_19, ranges: [[62, 62]] },
];

export function issuerOf(digits: string): string | undefined {
  return ISSUERS.find(
    (issuer) =>
      issuer.lengths.includes(digits.length) &&
      issuer.ranges.some(([low, high]) => {
        const prefix = Number(digits.slice(0, String(low).length));
        return prefix >= low && prefix <= high;
      }),
  )?.name;
}

export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = digits.charCodeAt(digits.length - 1 - index) - 48;
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export function isCardNumber(candidate: string): boolean {
  const digits = digitsOf(candidate);
  return issuerOf(digits) !== undefined && passesLuhn(digits);
}

/** The candidate, else (when grouped) the candidate without its last group, if a card. */
function cardLength(candidate: string): number | undefined {
  if (isCardNumber(candidate)) return candidate.length;
  const lastSeparator = Math.max(candidate.lastIndexOf(' '), candidate.lastIndexOf('-'));
  if (lastSeparator === -1) return undefined;
  const shorter = candidate.slice(0, lastSeparator);
  return digitsOf(shorter).length >= 12 && isCardNumber(shorter) ? shorter.length : undefined;
}

function* findCards(text: string): Generator<Span> {
  yield* acceptedMatches(CANDIDATE, text, (match) => {
    const length = cardLength(match[0]);
    return length === undefined ? undefined : { start: match.index, end: match.index + length };
  });
}

export const creditCard: Detector = {
  type: 'credit_card',
  maxLength: 19 + 18,
  find: findCards,
  redact: (value) => `…${digitsOf(value).slice(-4)}`,
};

import { acceptedMatches } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * US Social Security numbers, `123-45-6789`, or nine bare digits when a label says so just
 * before (`SSN`, `social security number`): bare, they are as likely any id. The Social
 * Security Administration never issues area 000, 666 or 900–999, group 00 or serial 0000.
 */
const DASHED = /(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-]|-\d)/g;
const BARE = /(?<![\w-])\d{9}(?![\w-])/g;
/** The label right before a bare number, with what may stand between ("SSN: ", `"ssn": "`). */
const LABEL_BEFORE =
  /\b(?:SSN|social[\s_-]*security(?:[\s_-]*(?:number|no\.?|#))?|SS#)[\s:#=."'-]{0,6}$/i;
const LABEL_DISTANCE = 48;

export function isValidSsn(digits: string): boolean {
  const area = Number(digits.slice(0, 3));
  const group = digits.slice(3, 5);
  const serial = digits.slice(5, 9);
  return area !== 0 && area !== 666 && area < 900 && group !== '00' && serial !== '0000';
}

function hasLabelBefore(text: string, start: number): boolean {
  return LABEL_BEFORE.test(text.slice(Math.max(0, start - LABEL_DISTANCE), start));
}

function* findSsns(text: string): Generator<Span> {
  const dashed = [
    ...acceptedMatches(DASHED, text, (match) =>
      isValidSsn(match[0].replace(/-/g, ''))
        ? { start: match.index, end: match.index + match[0].length }
        : undefined,
    ),
  ];
  const bare = [
    ...acceptedMatches(BARE, text, (match) =>
      isValidSsn(match[0]) && hasLabelBefore(text, match.index)
        ? { start: match.index, end: match.index + match[0].length }
        : undefined,
    ),
  ];
  yield* [...dashed, ...bare].sort((a, b) => a.start - b.start);
}

export const usSsn: Detector = {
  type: 'us_ssn',
  maxLength: 11,
  find: findSsns,
  redact: (value) => `***-**-${value.replace(/\D/g, '').slice(-4)}`,
};

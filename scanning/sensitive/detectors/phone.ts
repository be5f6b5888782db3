import { findNumbers } from 'libphonenumber-js/max';
import type { Detector, FindOptions, Span } from '../types.js';
import { creditCard } from './credit-card.js';
import { iban } from './iban.js';
import { usSsn } from './us-ssn.js';

/**
 * Phone numbers, found and validated by libphonenumber-js with its full metadata (a number must
 * fit one of its country's number patterns, not only its length). Numbers written without `+`
 * are read in the default region. Two rules keep ids out: a number written nationally must be
 * formatted (a space, dash, dot or parenthesis in it), as a bare run of ten digits is as likely
 * an order number or a timestamp; and digits that are a card number, an IBAN or an SSN are
 * those, not a phone number.
 */
function isFormatted(raw: string): boolean {
  return raw.startsWith('+') || /[\s().-]/.test(raw);
}

function overlaps(span: Span, others: readonly Span[]): boolean {
  return others.some((other) => span.start < other.end && other.start < span.end);
}

function* findPhones(text: string, options: FindOptions): Generator<Span> {
  const found = findNumbers(text, { defaultCountry: options.defaultRegion, v2: true });
  if (found.length === 0) return;
  const otherNumbers = [creditCard, iban, usSsn].flatMap((detector) => [
    ...detector.find(text, options),
  ]);
  for (const number of found) {
    const span = { start: number.startsAt, end: number.endsAt };
    const raw = text.slice(span.start, span.end);
    if (number.number.isValid() && isFormatted(raw) && !overlaps(span, otherNumbers)) yield span;
  }
}

export const phone: Detector = {
  type: 'phone',
  // libphonenumber-js reads at most 250 characters of a number with its punctuation.
  maxLength: 250,
  find: findPhones,
  redact: (value) => `…${value.replace(/\D/g, '').slice(-2)}`,
};

import { findNumbers, Metadata, type CountryCode, type PhoneNumber } from 'libphonenumber-js/max';
import type { Detector, FindOptions, Span } from '../types.js';
import { creditCard } from './credit-card.js';
import { iban } from './iban.js';
import { usSsn } from './us-ssn.js';

/**
 * Phone numbers, found and validated by libphonenumber-js with its full metadata (a number must
 * fit one of its country's number patterns, not only its length). Numbers written without `+`
 * are read in the default region. Numbers are everywhere in text that are not phone numbers, so
 * more rules keep them out:
 * - a number written nationally must be formatted (a space, dash, dot or parenthesis in it): a
 *   bare run of digits is as likely an order number or a timestamp;
 * - in a region whose national numbers start with a trunk prefix `0` (most of Europe, India), a
 *   number written nationally must start with it (`030 901820` in Germany; `2049-3630` is an
 *   ISSN there, not a number without its area code);
 * - no comma inside, and not part of a longer token (`5.4.0-150-generic`, `10.0.19045.3803`),
 *   though a comma after a field of CSV may come before it (`Ada,(202) 555-0143`);
 * - digits that are a card number, an IBAN or an SSN are those, not a phone number.
 */
function isFormatted(raw: string): boolean {
  return raw.startsWith('+') || /[\s().-]/.test(raw);
}

function standsAlone(text: string, span: Span): boolean {
  const before = text.charAt(span.start - 1);
  const after = text.slice(span.end, span.end + 2);
  return (
    (!/[\w.,/:-]/.test(before) || startsField(text, span)) && !/^(?:[\w/:-]|[.,]\d)/.test(after)
  );
}

/**
 * A number right after a comma that ends a field of CSV (`Ada,(202) 555-0143`): the comma
 * follows no digit, so it separates no thousands.
 */
function startsField(text: string, span: Span): boolean {
  return text.charAt(span.start - 1) === ',' && !/\d/.test(text.charAt(span.start - 2));
}

/** Whether the region's national numbers are dialled with the trunk prefix `0`. */
function requiresTrunkZero(region: CountryCode): boolean {
  const metadata = new Metadata();
  metadata.selectNumberingPlan(region);
  // NumberingPlan.nationalPrefix() is in the library's metadata API but not its typings.
  const plan = metadata.numberingPlan as { nationalPrefix?: () => string | undefined } | undefined;
  return plan?.nationalPrefix?.() === '0';
}

function isWrittenInFull(
  raw: string,
  number: PhoneNumber,
  region: CountryCode,
  trunkZero: boolean,
): boolean {
  if (raw.startsWith('+') || number.country !== region) return true;
  return !trunkZero || raw.replace(/^\(/, '').startsWith('0');
}

function isPlausible(
  text: string,
  span: Span,
  number: PhoneNumber,
  region: CountryCode,
  trunkZero: boolean,
): boolean {
  const raw = text.slice(span.start, span.end);
  return (
    number.isValid() &&
    isFormatted(raw) &&
    !raw.includes(',') &&
    standsAlone(text, span) &&
    isWrittenInFull(raw, number, region, trunkZero)
  );
}

function overlaps(span: Span, others: readonly Span[]): boolean {
  return others.some((other) => span.start < other.end && other.start < span.end);
}

/**
 * Runs of digits and the punctuation numbers are written with, holding at least seven digits:
 * libphonenumber-js reads text at well under 1 MB/s, so it is handed these runs (with a
 * character of context either side for its own checks) rather than the whole text. The few
 * numbering plans with shorter numbers (small territories') are left out: six digits or fewer
 * are as likely a postcode, an amount or a reference.
 */
const NUMBER_RUN = /\+?\(?\d[\d\s()./-]*\d/g;
const MIN_DIGITS = 7;

function* numberRuns(text: string): Generator<Span> {
  for (const match of text.matchAll(NUMBER_RUN)) {
    let digits = 0;
    for (const character of match[0]) if (character >= '0' && character <= '9') digits += 1;
    if (digits >= MIN_DIGITS) yield { start: match.index, end: match.index + match[0].length };
  }
}

function* findPhones(text: string, options: FindOptions): Generator<Span> {
  let trunkZero: boolean | undefined;
  let otherNumbers: Span[] | undefined;
  // The furthest end of the other numbers starting at or before the current run (runs come in
  // order), and the next of them to look at.
  let coveredTo = -1;
  let next = 0;
  for (const run of numberRuns(text)) {
    otherNumbers ??= [creditCard, iban, usSsn]
      .flatMap((detector) => [...detector.find(text, options)])
      .sort((a, b) => a.start - b.start);
    for (; next < otherNumbers.length && otherNumbers[next]!.start <= run.start; next++)
      coveredTo = Math.max(coveredTo, otherNumbers[next]!.end);
    // A run that is all a card number, an IBAN or an SSN holds no phone number (any found in it
    // would overlap that value): libphonenumber-js, by far the slowest step, is spared it.
    if (run.end <= coveredTo) continue;
    const from = Math.max(0, run.start - 1);
    const found = findNumbers(text.slice(from, run.end + 1), {
      defaultCountry: options.defaultRegion,
      v2: true,
    });
    for (const number of found) {
      trunkZero ??= requiresTrunkZero(options.defaultRegion);
      const span = { start: from + number.startsAt, end: from + number.endsAt };
      if (
        isPlausible(text, span, number.number, options.defaultRegion, trunkZero) &&
        !overlaps(span, otherNumbers)
      )
        yield span;
    }
  }
}

export const phone: Detector = {
  type: 'phone',
  // libphonenumber-js reads at most 250 characters of a number with its punctuation.
  maxLength: 250,
  find: findPhones,
  redact: (value) => `…${value.replace(/\D/g, '').slice(-2)}`,
};

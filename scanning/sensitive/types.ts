import type { CountryCode } from 'libphonenumber-js/max';

/** The sensitive-data types, named as results, findings and tags name them. */
export const SENSITIVE_TYPES = [
  'credit_card',
  'iban',
  'us_ssn',
  'email',
  'phone',
  'aws_access_key',
  'aws_secret_key',
  'private_key',
  'jwt',
  'github_token',
  'slack_token',
  'stripe_key',
] as const;

export type SensitiveType = (typeof SENSITIVE_TYPES)[number];

/** Where a value was found in the text handed to a detector: [start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface FindOptions {
  /** The region whose numbering a phone number written without `+` is read in. */
  readonly defaultRegion: CountryCode;
}

/**
 * One type's detector: a bounded pattern and the validation that keeps look-alikes out.
 * `maxLength` (with the context a validator reads either side, `CONTEXT_CHARS`) is what a
 * stream's chunks must overlap by for a value cut between two chunks to be found whole.
 */
export interface Detector {
  readonly type: SensitiveType;
  readonly maxLength: number;
  find(text: string, options: FindOptions): Iterable<Span>;
  /** What a sample shows of a value: never the whole value. */
  redact(value: string): string;
}

/** Characters a validator may read before or after a value (a label such as "SSN:"). */
export const CONTEXT_CHARS = 256;

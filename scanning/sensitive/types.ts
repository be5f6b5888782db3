import type { CountryCode } from 'libphonenumber-js/max';
import type { SensitiveType } from '../../core/sensitive-types.js';

/** The sensitive-data types, named as results, findings and tags name them (core/sensitive-types.ts). */
export { SENSITIVE_TYPES, type SensitiveType } from '../../core/sensitive-types.js';

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

import type { CountryCode } from 'libphonenumber-js/max';
import { DETECTORS } from './detectors/index.js';
import { CONTEXT_CHARS, type Detector, type SensitiveType } from './types.js';

/**
 * Sensitive-data classification of text: how many values of each type it holds, and a few
 * redacted samples. A matched value never leaves this module whole: counts and samples are all
 * a result carries.
 *
 * The work is bounded: at most `maxChars` characters are read (the rest is left unread and the
 * result says so), a type stops being counted at `maxMatchesPerType` (the result names it), and
 * the text is read in chunks of `CHUNK_CHARS`, each with `OVERLAP_CHARS` of its neighbours either
 * side, so that every detector sees a value cut between two chunks whole (plus the context its
 * validator reads); a value is counted in the one chunk its first character belongs to.
 */

/** Characters read per call unless the caller bounds it otherwise (32 Mi: 64 MiB of UTF-16). */
export const DEFAULT_MAX_CHARS = 32 * 1024 * 1024;
/** Values counted per type unless the caller bounds it otherwise. */
export const DEFAULT_MAX_MATCHES_PER_TYPE = 10_000;
/** Samples kept per type. */
export const MAX_SAMPLES_PER_TYPE = 3;
/** The region phone numbers written without `+` are read in, unless the caller names one. */
export const DEFAULT_PHONE_REGION: CountryCode = 'US';
/** The part of the text each pass counts values in. */
export const CHUNK_CHARS = 256 * 1024;
/** The longest value of any type and the context read beside it. */
export const OVERLAP_CHARS =
  Math.max(...Object.values(DETECTORS).map((detector) => detector.maxLength)) + CONTEXT_CHARS;

export interface ClassifyOptions {
  readonly types: readonly SensitiveType[];
  readonly defaultRegion?: CountryCode;
  readonly maxChars?: number;
  readonly maxMatchesPerType?: number;
}

export interface Classification {
  /** Values found of each type found (types with none are absent). */
  readonly matches: Partial<Record<SensitiveType, number>>;
  /** Up to three distinct redacted samples of each type found. */
  readonly samples: Partial<Record<SensitiveType, string[]>>;
  /** Where a bound stopped the work: the text was cut, or these types reached their cap. */
  readonly limits: { readonly textTruncated: boolean; readonly cappedTypes: SensitiveType[] };
}

/** Classifies a text held whole (read in chunks all the same, see the module's comment). */
export function classifyText(text: string, options: ClassifyOptions): Classification {
  const classifier = new TextClassifier(options);
  classifier.push(text);
  return classifier.finish();
}

/**
 * Classifies text given piece by piece (a document's text as it is extracted): `push` each
 * piece, then `finish`. Memory stays within a chunk and its overlaps whatever the pieces' sizes.
 */
export class TextClassifier {
  private readonly detectors: readonly Detector[];
  private readonly defaultRegion: CountryCode;
  private readonly maxChars: number;
  private readonly maxMatches: number;
  private readonly counts = new Map<SensitiveType, number>();
  private readonly samples = new Map<SensitiveType, string[]>();
  private readonly capped = new Set<SensitiveType>();
  /** Text kept: from `bufferStart` (a position in the whole text) to what was pushed so far. */
  private buffer = '';
  private bufferStart = 0;
  /** Values starting before this position of the whole text are counted. */
  private countedTo = 0;
  private received = 0;
  private truncated = false;
  private finished = false;

  constructor(options: ClassifyOptions) {
    this.detectors = [...new Set(options.types)].map((type) => DETECTORS[type]);
    this.defaultRegion = options.defaultRegion ?? DEFAULT_PHONE_REGION;
    this.maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
    this.maxMatches = options.maxMatchesPerType ?? DEFAULT_MAX_MATCHES_PER_TYPE;
  }

  push(text: string): void {
    if (this.finished) throw new Error('push after finish');
    const room = this.maxChars - this.received;
    if (text.length > room) this.truncated = true;
    const taken = text.length > room ? text.slice(0, Math.max(0, room)) : text;
    this.received += taken.length;
    this.buffer += taken;
    while (this.end() - this.countedTo >= CHUNK_CHARS + OVERLAP_CHARS) {
      this.countChunk(this.countedTo + CHUNK_CHARS);
      this.dropBefore(this.countedTo - OVERLAP_CHARS);
    }
  }

  finish(): Classification {
    if (!this.finished) {
      this.finished = true;
      if (this.end() > this.countedTo) this.countChunk(this.end());
      this.buffer = '';
    }
    return {
      matches: Object.fromEntries(this.counts),
      samples: Object.fromEntries([...this.samples].map(([type, list]) => [type, [...list]])),
      limits: { textTruncated: this.truncated, cappedTypes: [...this.capped] },
    };
  }

  private end(): number {
    return this.bufferStart + this.buffer.length;
  }

  /** Counts the values that start in [countedTo, to), reading the overlap either side. */
  private countChunk(to: number): void {
    const from = this.countedTo;
    const windowStart = Math.max(this.bufferStart, from - OVERLAP_CHARS);
    const windowEnd = Math.min(this.end(), to + OVERLAP_CHARS);
    const window = this.buffer.slice(windowStart - this.bufferStart, windowEnd - this.bufferStart);
    for (const detector of this.detectors) {
      if (this.capped.has(detector.type)) continue;
      for (const span of detector.find(window, { defaultRegion: this.defaultRegion })) {
        const start = windowStart + span.start;
        if (start < from || start >= to) continue;
        this.count(detector, window.slice(span.start, span.end));
        if (this.capped.has(detector.type)) break;
      }
    }
    this.countedTo = to;
  }

  private count(detector: Detector, value: string): void {
    const counted = (this.counts.get(detector.type) ?? 0) + 1;
    this.counts.set(detector.type, counted);
    if (counted >= this.maxMatches) this.capped.add(detector.type);
    const samples = this.samples.get(detector.type) ?? [];
    const sample = detector.redact(value);
    if (samples.length < MAX_SAMPLES_PER_TYPE && !samples.includes(sample)) samples.push(sample);
    this.samples.set(detector.type, samples);
  }

  private dropBefore(position: number): void {
    if (position <= this.bufferStart) return;
    this.buffer = this.buffer.slice(position - this.bufferStart);
    this.bufferStart = position;
  }
}

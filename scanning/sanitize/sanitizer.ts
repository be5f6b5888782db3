/**
 * Content disarm and reconstruction: a sanitizer reads a file and writes a new one of the same
 * format holding its content without its active parts (scripts, macros, embedded files, remote
 * references, metadata, bytes after the format's end). It never copies the input through: what
 * it cannot rebuild it refuses (`available: false` with the reason).
 *
 * One sanitizer per format (image.ts, ooxml.ts, pdf.ts, markup.ts); index.ts picks one by the
 * content type sniffed from the bytes and holds every call to the limits below. docs/sanitizing.md
 * describes each format and the `removed` vocabulary.
 */

export interface SanitizeInput {
  /** The content as scanned: a local file. */
  readonly path: string;
  readonly size: number;
  /** The type sniffed from the bytes (scanning/content-type.ts `sniffContentType`). */
  readonly contentType: string;
  /** The content's name, for logs only. */
  readonly name?: string;
}

export interface SanitizeLimits {
  /** The largest input read and the largest output written, in bytes. */
  readonly maxBytes: number;
  /** A sanitizer that runs longer gives `available: false`, with a reason that says so. */
  readonly timeoutMs: number;
  /** The most pixels an image (all its frames) may decode to; default DEFAULT_MAX_PIXELS. */
  readonly maxPixels?: number;
}

/** Sharp's own default: an image of 16383 × 16383 pixels. */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff;

/**
 * What a sanitizer took out, by stable short names (docs/sanitizing.md). A name is listed only
 * when the input had that kind of content.
 */
export const REMOVED_KINDS = [
  'metadata',
  'trailing-data',
  'macros',
  'activex',
  'ole-objects',
  'external-relationships',
  'dde-fields',
  'javascript',
  'open-action',
  'additional-actions',
  'launch-actions',
  'submit-actions',
  'embedded-files',
  'rich-media',
  'xfa',
  'scripts',
  'event-attributes',
  'javascript-urls',
  'external-references',
  'embedded-content',
  'forms',
] as const;

export type RemovedKind = (typeof REMOVED_KINDS)[number];

export type SanitizeOutcome =
  /** The copy is at the output path; `removed` is sorted and holds each name once. */
  | { readonly available: true; readonly contentType: string; readonly removed: RemovedKind[] }
  | { readonly available: false; readonly reason: string };

export interface Sanitizer {
  readonly format: 'image' | 'ooxml' | 'pdf' | 'svg' | 'html';
  accepts(contentType: string): boolean;
  /**
   * Writes the sanitized copy to `outPath`. Throws on content it cannot read; gives
   * `available: false` for content it reads but will not rebuild (an encrypted PDF, an
   * over-limit image). Checks `signal` between steps so that a timed-out call stops early.
   */
  sanitize(
    input: SanitizeInput,
    outPath: string,
    limits: SanitizeLimits,
    signal: AbortSignal,
  ): Promise<SanitizeOutcome>;
  /** Releases what the sanitizer holds (a DOM window); it is not used after. */
  close?(): void;
}

/** The `removed` list of an outcome: each name once, sorted. */
export function removedList(found: Iterable<RemovedKind>): RemovedKind[] {
  return [...new Set(found)].sort();
}

/** An outcome refused for a reason. */
export function refused(reason: string): SanitizeOutcome {
  return { available: false, reason };
}

import { randomUUID } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { createImageSanitizer } from './image.js';
import { createHtmlSanitizer, createSvgSanitizer } from './markup.js';
import { refineMarkupType } from './markup-type.js';
import { createOoxmlSanitizer } from './ooxml.js';
import { createPdfSanitizer } from './pdf.js';
import {
  refused,
  type SanitizeInput,
  type SanitizeLimits,
  type SanitizeOutcome,
  type Sanitizer,
} from './sanitizer.js';

export type {
  RemovedKind,
  SanitizeInput,
  SanitizeLimits,
  SanitizeOutcome,
  Sanitizer,
} from './sanitizer.js';
export { DEFAULT_MAX_PIXELS, REMOVED_KINDS } from './sanitizer.js';
export { refineMarkupType } from './markup-type.js';

/**
 * The sanitizers of every format, built once per process (cli/runtime.ts) and passed down:
 * `sanitizeFile` picks the one for the content's type and holds it to the limits; `close`
 * releases what they hold.
 */
export interface SanitizerSet {
  /**
   * Writes a sanitized copy of the input to `outPath`, or gives `available: false` with the
   * reason: no sanitizer for the type, the input or the copy over `maxBytes`, `timeoutMs`
   * passed, content the sanitizer could not read. Never copies the input through, and leaves
   * nothing at `outPath` unless the copy is available.
   */
  sanitizeFile(
    input: SanitizeInput,
    outPath: string,
    limits: SanitizeLimits,
  ): Promise<SanitizeOutcome>;
  /**
   * The format of the sanitizer that takes content of this type, or undefined when none does.
   * SVG and HTML sniff as text: `sanitizeFile` tells them apart by their first element
   * (refineMarkupType), which this, given a type only, cannot.
   */
  formatOf(contentType: string): Sanitizer['format'] | undefined;
  close(): void;
}

export function createSanitizerSet(
  sanitizers: readonly Sanitizer[] = [
    createImageSanitizer(),
    createOoxmlSanitizer(),
    createPdfSanitizer(),
    createSvgSanitizer(),
    createHtmlSanitizer(),
  ],
): SanitizerSet {
  const pick = (contentType: string) => sanitizers.find((s) => s.accepts(contentType));
  return {
    sanitizeFile: async (given, outPath, limits) => {
      let input = given;
      try {
        input = { ...given, contentType: await refineMarkupType(given.path, given.contentType) };
      } catch (error) {
        return refused(`could not read the content: ${reasonOf(error)}`);
      }
      const sanitizer = pick(input.contentType);
      if (!sanitizer) return refused(`no sanitizer for ${input.contentType}`);
      if (input.size > limits.maxBytes)
        return refused(
          `${input.contentType} content of ${input.size} bytes is over the limit of ${limits.maxBytes} bytes`,
        );
      return runBounded(sanitizer, input, outPath, limits);
    },
    formatOf: (contentType) => pick(contentType)?.format,
    close: () => {
      for (const sanitizer of sanitizers) sanitizer.close?.();
    },
  };
}

/**
 * Runs one sanitizer into a private file beside `outPath` and moves it there only when it is
 * complete, in time and within the size limit. A timed-out sanitizer is told to stop (its
 * signal) and its partial file is removed when it does.
 */
async function runBounded(
  sanitizer: Sanitizer,
  input: SanitizeInput,
  outPath: string,
  limits: SanitizeLimits,
): Promise<SanitizeOutcome> {
  const partial = `${outPath}.${randomUUID()}.partial`;
  const controller = new AbortController();
  const started = performance.now();
  const work = sanitizer.sanitize(input, partial, limits, controller.signal);
  const removePartial = () => rm(partial, { force: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), limits.timeoutMs);
  });
  try {
    const outcome = await Promise.race([work, timedOut]);
    // A sanitizer busy without a pause can finish before its timer gets to run: late is late.
    if (outcome === 'timeout' || performance.now() - started > limits.timeoutMs) {
      controller.abort();
      void work.then(removePartial, removePartial);
      return refused(
        `sanitizing ${input.contentType} took longer than the limit of ${limits.timeoutMs} ms`,
      );
    }
    if (!outcome.available) {
      await removePartial();
      return outcome;
    }
    const { size } = await stat(partial);
    if (size > limits.maxBytes) {
      await removePartial();
      return refused(
        `the sanitized ${outcome.contentType} of ${size} bytes is over the limit of ${limits.maxBytes} bytes`,
      );
    }
    await rename(partial, outPath);
    return outcome;
  } catch (error) {
    await removePartial();
    return refused(`could not sanitize ${input.contentType}: ${reasonOf(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A thrown error's message, on one line and short: it is shown to the tenant. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.split('\n')[0]?.trim() || 'unknown error';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

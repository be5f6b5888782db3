import type { Span } from './types.js';

/**
 * The spans of a global regular expression's matches that `accept` keeps. `accept` may answer a
 * shorter span than the match (an IBAN followed by a word the pattern also took), or undefined
 * to drop it; the search goes on from the end of the span kept, or one character past the start
 * of a match dropped, so that a value beginning inside a rejected candidate is still found.
 * The patterns given are linear: bounded repetitions of character classes that do not overlap
 * what follows them, so no input makes them backtrack more than the bound.
 */
export function* acceptedMatches(
  pattern: RegExp,
  text: string,
  accept: (match: RegExpExecArray) => Span | undefined,
): Generator<Span> {
  const regex = new RegExp(
    pattern.source,
    pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
  );
  let match: RegExpExecArray | null;
  while ((match = regex.exec(text)) !== null) {
    const span = accept(match);
    if (span === undefined) {
      regex.lastIndex = match.index + 1;
      continue;
    }
    yield span;
    regex.lastIndex = Math.max(span.end, match.index + 1);
  }
}

/** The span of a whole match. */
export function wholeMatch(match: RegExpExecArray): Span {
  return { start: match.index, end: match.index + match[0].length };
}

/** Keys and tokens: their first four characters, then an ellipsis. */
export function redactToPrefix(value: string): string {
  return `${value.slice(0, 4)}…`;
}

/** The digits of a value written with separators. */
export function digitsOf(value: string): string {
  return value.replace(/\D/g, '');
}

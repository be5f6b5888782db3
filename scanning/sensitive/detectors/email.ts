import { acceptedMatches } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * E-mail addresses: a local part of at most 64 characters, then a domain of dot-separated
 * labels (each 1–63 characters, no leading or trailing hyphen) ending in an alphabetic top-level
 * domain. Image names such as `logo@2x.png` look the same; a "top-level domain" that is a file
 * extension is not taken.
 */
const CANDIDATE =
  /(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-]|\.[A-Za-z0-9])/g;

const FILE_EXTENSIONS = new Set([
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'webp',
  'bmp',
  'ico',
  'css',
  'js',
  'json',
  'html',
  'htm',
  'pdf',
  'txt',
  'xml',
  'zip',
]);

export function isEmailAddress(value: string): boolean {
  const at = value.lastIndexOf('@');
  const local = value.slice(0, at);
  const topLevel = value.slice(value.lastIndexOf('.') + 1).toLowerCase();
  return (
    !local.startsWith('.') &&
    !local.endsWith('.') &&
    !local.includes('..') &&
    !FILE_EXTENSIONS.has(topLevel)
  );
}

function* findEmails(text: string): Generator<Span> {
  yield* acceptedMatches(CANDIDATE, text, (match) =>
    isEmailAddress(match[0])
      ? { start: match.index, end: match.index + match[0].length }
      : undefined,
  );
}

export const email: Detector = {
  type: 'email',
  maxLength: 64 + 1 + 253,
  find: findEmails,
  redact: (value) => {
    const at = value.lastIndexOf('@');
    return `${value.charAt(0)}***${value.slice(at)}`;
  },
};

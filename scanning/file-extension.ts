/** Longest extension taken for one: past it, the "extension" is just the end of a long name. */
const MAX_EXTENSION = 16;
const EXTENSION = /^[a-z0-9][a-z0-9_+-]*$/;

/**
 * The extension of a file name (the last part of a path, a URL's path or an object key): lower
 * case, without the dot (`Invoice.PDF` → `pdf`, `a.tar.gz` → `gz`). Trailing dots and spaces are
 * dropped first, as Windows drops them when it opens `invoice.pdf.`. Undefined when the name has
 * none: no dot, a dot-file (`.bashrc`), or an ending too long or made of odd characters to be
 * one.
 */
export function fileExtension(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const last = (name.split(/[/\\]/).pop() ?? '').replace(/[. ]+$/, '');
  const dot = last.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const extension = last.slice(dot + 1).toLowerCase();
  if (extension.length > MAX_EXTENSION || !EXTENSION.test(extension)) return undefined;
  return extension;
}

/** What a shortened name keeps of its end: its extension, and the end of its stem. */
const KEPT_END = 24;

/**
 * A name cut to at most `max` characters without losing its extension: `aaaa….jpg` is still a
 * `.jpg`, so a long name cannot hide what it claims to be from the file type check.
 */
export function shortenFileName(name: string, max: number): string {
  if (name.length <= max) return name;
  return `${name.slice(0, max - KEPT_END - 1)}…${name.slice(-KEPT_END)}`;
}

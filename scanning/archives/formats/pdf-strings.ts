import type { PdfDecryption } from './pdf-crypt.js';
import type { PdfObjectId } from './pdf-images.js';
import { asDict, asName, asRef, textString, type PdfDict, type PdfValue } from './pdf-syntax.js';

/**
 * The strings of a PDF's objects outside streams, for the analyzers that read text: a form's
 * field values (`/V`) and tooltips (`/TU`), annotations' comments (`/Contents`), the document's
 * properties and bookmarks' titles live there, outside any content stream. The strings of
 * objects inside object streams are read with those streams (analysis/text/pdf-text.ts).
 *
 * What an annotation's appearance stream draws (a filled field's value, a comment's text) is its
 * own strings again: those streams are marked (`appearanceStreams`) so that their text is not
 * read a second time, and the value counts once, from the string that holds it whole (a comb
 * field draws each character on its own).
 */

/** The member the strings are handed over as, one a line. */
export const PDF_STRINGS_MEMBER = '(strings)';

/**
 * Bytes of strings kept, each string counted with STRING_OVERHEAD more (a hostile file of a
 * million one-byte strings is bounded too); past them the rest is not read, and the PDF says so.
 */
export const MAX_STRING_BYTES = 8 * 1024 * 1024;
const STRING_OVERHEAD = 32;
/** Appearance streams remembered (hostile files repeat annotations endlessly). */
const MAX_APPEARANCES = 100_000;

/** Entries whose strings are binary, not text: a signature's value and certificates. */
const SIGNATURE_ENTRIES = new Set(['Contents', 'Cert']);

export class ObjectStrings {
  private readonly found: Array<{ raw: Buffer; owner: PdfObjectId }> = [];
  private bytes = 0;
  /** Some strings were left out: more than MAX_STRING_BYTES of them. */
  overflowed = false;

  get size(): number {
    return this.found.length;
  }

  /** The strings as text, decrypted with their objects' keys, one a line. */
  text(decryption: PdfDecryption | undefined): Buffer {
    const lines = this.found.map(({ raw, owner }) => {
      const plain = decryption ? decryption.string(raw, owner.num, owner.gen) : raw;
      // A line break inside a value (a multi-line field) stays one; the lines stay apart.
      // Control characters (a binary string, a wrong key) would make the text pass for binary.
      // eslint-disable-next-line no-control-regex -- control characters are what is replaced
      return textString(plain).replace(/[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/g, ' ');
    });
    return Buffer.from(lines.join('\n'), 'utf8');
  }

  /**
   * The strings of one object outside streams (a security handler's are keys, not text, and are
   * not given here), in the order they are written.
   */
  add(value: PdfValue, owner: PdfObjectId): void {
    if (this.overflowed) return;
    if (Buffer.isBuffer(value)) {
      if (value.length === 0) return;
      const cost = value.length + STRING_OVERHEAD;
      if (this.bytes + cost > MAX_STRING_BYTES) {
        this.overflowed = true;
        return;
      }
      this.bytes += cost;
      this.found.push({ raw: value, owner });
    } else if (Array.isArray(value)) {
      for (const item of value) this.add(item, owner);
    } else if (value instanceof Map) {
      const signature = value.has('ByteRange');
      for (const [key, item] of value) {
        if (!(signature && SIGNATURE_ENTRIES.has(key))) this.add(item, owner);
      }
    }
  }
}

/**
 * Notes the appearance streams (ISO 32000-1 §12.5.5) an annotation's dictionary refers to: its
 * `/AP` entry's normal, rollover and down appearances, each a stream or a dictionary of streams
 * by state (a check box's `/On` and `/Off`).
 */
export function noteAppearances(dict: PdfDict, appearances: Set<number>): void {
  const ap = asDict(dict.get('AP'));
  if (!ap) return;
  for (const key of ['N', 'R', 'D']) {
    const entry = ap.get(key);
    const states = asDict(entry);
    const targets = states ? [...states.values()] : [entry];
    for (const target of targets) {
      const ref = asRef(target);
      if (ref && appearances.size < MAX_APPEARANCES) appearances.add(ref.num);
    }
  }
}

/** A standard security handler's dictionary: its strings are keys, never text. */
export function isSecurityHandler(dict: PdfDict | undefined): boolean {
  return (
    dict !== undefined && asName(dict.get('Filter')) !== undefined && dict.has('O') && dict.has('U')
  );
}

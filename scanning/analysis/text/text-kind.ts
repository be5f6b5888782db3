import { isMboxSeparator, looksLikeMailHeaders } from '../../archives/formats/mail-sniff.js';
import type { PieceHead } from '../analyzer.js';
import { isCompoundFile } from './compound-file.js';

/**
 * Which pieces hold text worth reading for language, decided from a piece's head: plain text
 * (UTF-8, UTF-16, Latin-1), markup (HTML, XML, the XML parts of office documents), the
 * decoded streams of a PDF, whose content streams carry the page text in operators, RTF
 * documents and OLE2 compound files (`office`: Word, Excel and PowerPoint 97–2003 documents
 * are such files; which one, if any, is known only once the file's directory is read). Binary
 * pieces (executables, images, archives, fonts) are not text; neither are the containers whose
 * text the walker hands over piece by piece (a PDF file, a mail message: its decoded parts are
 * pieces of their own, while its raw form would show base64 attachments as text).
 */
export type TextKind = 'plain' | 'markup' | 'pdf-stream' | 'rtf' | 'office';

export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'windows-1252';

/** Control characters (besides white space) a text may hold before it is taken for binary. */
const MAX_CONTROL_SHARE = 0.02;
/** Bytes above 0x7f a text that is not UTF-8 may hold (accented letters of Latin-1 text). */
const MAX_HIGH_SHARE = 0.25;

export function textKind(piece: PieceHead): TextKind | undefined {
  if (isCompoundFile(piece.head)) return 'office';
  if (isRtf(piece.head)) return 'rtf';
  const encoding = sniffEncoding(piece.head);
  if (encoding === undefined) return undefined;
  const head = decodeText(piece.head, encoding);
  if (isContainerText(head, piece.head)) return undefined;
  if (looksLikeMarkup(head)) return 'markup';
  if (piece.container === 'pdf') return 'pdf-stream';
  return 'plain';
}

/** Word opens a document starting `{\\rt` (and so does the walker: see formats/rtf.ts). */
function isRtf(head: Buffer): boolean {
  const start = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  return head.toString('latin1', start, start + 4) === '{\\rt';
}

/**
 * The encoding of a text, or undefined for binary content: a byte order mark says it; else
 * UTF-16 without one shows as every other byte NUL; else a NUL or many control characters
 * mean binary; else UTF-8 when the bytes are valid UTF-8 (a sequence cut at the end of the head
 * is allowed), else Latin-1 (as Windows-1252, its superset) when few bytes are above 0x7f.
 */
export function sniffEncoding(head: Buffer): TextEncoding | undefined {
  if (head.length === 0) return undefined;
  const marked = byteOrderMark(head) ?? unmarkedUtf16(head);
  // Binary formats start with these bytes too (an OLE2 property set stream starts FE FF 00 00).
  if (marked) return mostlyPrintable(decodeText(head, marked)) ? marked : undefined;
  if (head.includes(0)) return undefined;
  if (!mostlyPrintable(head.toString('latin1'))) return undefined;
  if (isUtf8(head)) return 'utf-8';
  let high = 0;
  for (const byte of head) if (byte > 0x7f) high += 1;
  return high <= head.length * MAX_HIGH_SHARE ? 'windows-1252' : undefined;
}

export function decodeText(bytes: Buffer, encoding: TextEncoding): string {
  // TextDecoder drops a byte order mark and replaces what does not decode, never throws.
  return new TextDecoder(encoding).decode(bytes);
}

function byteOrderMark(head: Buffer): TextEncoding | undefined {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** UTF-16 written without a byte order mark: ASCII text has a NUL in every other byte. */
function unmarkedUtf16(head: Buffer): TextEncoding | undefined {
  const pairs = Math.floor(head.length / 2);
  if (pairs < 8) return undefined;
  let evenZero = 0;
  let oddZero = 0;
  for (let i = 0; i + 1 < head.length; i += 2) {
    if (head[i] === 0) evenZero += 1;
    if (head[i + 1] === 0) oddZero += 1;
  }
  if (oddZero >= pairs * 0.4 && evenZero <= pairs * 0.05) return 'utf-16le';
  if (evenZero >= pairs * 0.4 && oddZero <= pairs * 0.05) return 'utf-16be';
  return undefined;
}

function mostlyPrintable(text: string): boolean {
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const whitespace = code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
    if ((code < 0x20 && !whitespace) || code === 0x7f) control += 1;
  }
  return control <= text.length * MAX_CONTROL_SHARE;
}

/** Valid UTF-8, allowing a sequence cut short by the end of the head. */
function isUtf8(head: Buffer): boolean {
  for (let cut = 0; cut < 4 && cut < head.length; cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch {
      // A cut sequence: try without the last bytes.
    }
  }
  return false;
}

/**
 * Text the walker opens as a container: a PDF file (readers accept its header anywhere in the
 * first KiB) and mail (a message, an mbox).
 */
function isContainerText(head: string, raw: Buffer): boolean {
  if (/%PDF-\d/.test(head.slice(0, 1024))) return true;
  if (isMboxSeparator(head.split('\n', 1)[0]?.replace(/\r$/, '') ?? '')) return true;
  return looksLikeMailHeaders(raw);
}

/** A document that starts with a tag, an XML declaration, a doctype or a comment. */
export function looksLikeMarkup(head: string): boolean {
  return /^\s*<(?:\?xml|!doctype|!--|[a-z][\w:.-]*[\s>/])/i.test(head);
}

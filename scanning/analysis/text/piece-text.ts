import { MAIL_HEADERS_MEMBER } from '../../archives/formats/mail-headers.js';
import { PDF_STRINGS_MEMBER } from '../../archives/formats/pdf-strings.js';
import type { Piece, PieceHead } from '../analyzer.js';
import { DocumentTextError } from './document-text-error.js';
import { markupText } from './markup-text.js';
import { officeDocumentText, officeStream, officeStreamText } from './office-text.js';
import { isContentStream, pdfContentText, pdfObjectStrings } from './pdf-text.js';
import { rtfText } from './rtf-text.js';
import { decodeText, sniffEncoding, textKind } from './text-kind.js';

/**
 * The text of the pieces the walker hands over, for every analyzer that reads text
 * (`unsafe_language`, `sensitive_data`): plain text in its encoding, HTML and XML as a reader
 * sees them (with office documents' parts, DOCX, XLSX, PPTX and ODF, which arrive as the members
 * of their zip, and the attribute values a reader sees or follows), PDF page text from its
 * decoded content streams and the strings of its objects (form field values, comments), RTF,
 * binary Word, Excel and PowerPoint documents. Mail and archives are containers: their parts
 * and members arrive as pieces of their own, at every depth, and so do a message's shown header
 * fields.
 */

/**
 * For one scan: whether a piece is text worth reading whole. A compound file (binary Office)
 * past `maxBytes` is not read; its document streams are, one by one, as the walker hands them
 * over (officeStream), and those of a file read whole are not read twice. A compound file is
 * seen before its streams: they come out of it once the walker has it whole (were it seen after,
 * its streams would be read twice, never skipped).
 */
export function textPieceFilter(maxBytes: number): (piece: PieceHead) => boolean {
  const readWhole = new Set<string>();
  const key = (path: readonly string[]) => JSON.stringify(path);
  return (piece) => {
    // What an annotation's appearance draws is read from the annotation's strings.
    if (piece.appearance) return false;
    const kind = textKind(piece);
    if (kind === 'office') {
      if (piece.size !== undefined && piece.size > maxBytes) return false;
      readWhole.add(key(piece.path));
      return true;
    }
    if (kind !== undefined) return true;
    return officeStream(piece) !== undefined && !readWhole.has(key(piece.path.slice(0, -1)));
  };
}

/**
 * The text of a piece, markup dropped and decoded to a JavaScript string (not otherwise
 * normalised: each analyzer does what its matching needs). What of a document cannot be read
 * (damaged, encrypted, a Word stream without its file) is told to `unreadable`; the rest is
 * returned.
 */
export function pieceText(
  piece: Piece,
  maxBytes: number,
  unreadable: (problem: DocumentTextError) => void,
): string {
  try {
    return extractedText(piece, maxBytes, unreadable);
  } catch (error) {
    if (!(error instanceof DocumentTextError)) throw error;
    unreadable(error);
    return '';
  }
}

function extractedText(
  piece: Piece,
  maxBytes: number,
  unreadable: (problem: DocumentTextError) => void,
): string {
  const kind = textKind(piece);
  const stream = kind === undefined ? officeStream(piece) : undefined;
  if (stream) return officeStreamText(stream, piece.bytes, maxBytes);
  if (kind === 'office') return officeDocumentText(piece.bytes, unreadable) ?? '';
  if (kind === 'rtf') return rtfText(piece.bytes);
  const encoding = sniffEncoding(piece.head);
  if (kind === undefined || encoding === undefined) return '';
  const decoded = decodeText(piece.bytes, encoding);
  if (isExtractedText(piece)) return decoded;
  if (kind === 'markup') return markupText(decoded);
  // Content stream syntax is bytes: strings are read as such, not as the head's encoding.
  if (kind === 'pdf-stream' && isObjectStream(piece, decoded))
    return pdfObjectStrings(piece.bytes.toString('latin1'));
  if (kind === 'pdf-stream' && isContentStream(decoded))
    return pdfContentText(piece.bytes.toString('latin1'));
  return decoded;
}

/**
 * A PDF's object stream, as the walker names it (archives/formats/pdf.ts), whose decoded bytes
 * start as one does: pairs of object numbers and offsets (an attached file of that name is
 * still read as the text it is).
 */
function isObjectStream(piece: PieceHead, decoded: string): boolean {
  return /^objstm-\d+-\d+\.bin$/.test(piece.path.at(-1) ?? '') && /^\s*\d+\s+\d+\s/.test(decoded);
}

/**
 * Text the walker took out of its container itself: a PDF's strings, a message's shown header
 * fields. Values one a line, read as written whatever they start with (a Subject `<b>…`).
 */
function isExtractedText(piece: PieceHead): boolean {
  const name = piece.path.at(-1);
  return (
    (piece.container === 'pdf' && name === PDF_STRINGS_MEMBER) ||
    (piece.container === 'mime' && name === MAIL_HEADERS_MEMBER)
  );
}

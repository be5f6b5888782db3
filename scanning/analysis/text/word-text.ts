import { cp1252 } from './cp1252.js';
import { DocumentTextError } from './document-text-error.js';

/**
 * The text of a Word 97–2003 document ([MS-DOC]) from its two streams: `WordDocument`, which
 * starts with the FIB (file information block) and holds the characters, and the table stream
 * (`1Table` or `0Table`, as the FIB's fWhichTblStm bit says), which holds the piece table (the
 * CLX at fcClx, lcbClx). The piece table lists where each run of characters lies in
 * `WordDocument`: 8-bit (cp1252, "compressed") or UTF-16LE. Every piece is read, so the main
 * text, footnotes, headers, comments and text boxes are all there.
 *
 * Word 6 and Word 95 documents (nFib below 0xC0) have no table stream: when they are not
 * fast-saved (fComplex off) their text lies whole from fcMin to fcMac in 8 bits, read so; a
 * fast-saved one is refused (`unsupported`). Encrypted and obfuscated documents are refused too.
 */
export function wordText(
  wordDocument: Buffer,
  tableStream: (name: '0Table' | '1Table') => Buffer | undefined,
): string {
  if (wordDocument.length < 0x20 || wordDocument.readUInt16LE(0) !== FIB_IDENT) {
    throw new DocumentTextError('corrupt', 'WordDocument stream without a FIB');
  }
  const nFib = wordDocument.readUInt16LE(2);
  const flags = wordDocument.readUInt16LE(0x0a);
  if (flags & (F_ENCRYPTED | F_OBFUSCATED)) {
    throw new DocumentTextError('unsupported-method', 'encrypted Word document');
  }
  if (nFib < WORD_97) return word95Text(wordDocument, flags);
  const table = tableStream(flags & F_WHICH_TBL_STM ? '1Table' : '0Table');
  if (!table) throw new DocumentTextError('corrupt', 'Word document without its table stream');
  const { fcClx, lcbClx } = clxLocation(wordDocument);
  if (lcbClx === 0 || fcClx + lcbClx > table.length) {
    throw new DocumentTextError('corrupt', 'Word piece table outside the table stream');
  }
  const pieces = pieceTable(table.subarray(fcClx, fcClx + lcbClx));
  return cleanWordText(pieces.map((piece) => pieceText(wordDocument, piece)).join(''));
}

const FIB_IDENT = 0xa5ec;
const WORD_97 = 0xc0;
const F_COMPLEX = 0x0004;
const F_ENCRYPTED = 0x0100;
const F_WHICH_TBL_STM = 0x0200;
const F_OBFUSCATED = 0x8000;
/** fcClx is the 34th pair of FibRgFcLcb97. */
const CLX_PAIR = 33;
/** A Prc (formatting, skipped) and the Pcdt (the piece table) in a CLX. */
const CLXT_PRC = 0x01;
const CLXT_PCDT = 0x02;
const PCD = 8;

interface Piece {
  characters: number;
  /** Byte offset of the piece's text in WordDocument. */
  offset: number;
  compressed: boolean;
}

/** FibBase (32 bytes), then three counted arrays: fibRgW, fibRgLw, fibRgFcLcbBlob. */
function clxLocation(fib: Buffer): { fcClx: number; lcbClx: number } {
  try {
    const csw = fib.readUInt16LE(0x20);
    const cslwAt = 0x22 + csw * 2;
    const cslw = fib.readUInt16LE(cslwAt);
    const cbAt = cslwAt + 2 + cslw * 4;
    const pairs = fib.readUInt16LE(cbAt);
    if (pairs <= CLX_PAIR) throw new DocumentTextError('corrupt', 'Word FIB without fcClx');
    const at = cbAt + 2 + CLX_PAIR * 8;
    return { fcClx: fib.readUInt32LE(at), lcbClx: fib.readUInt32LE(at + 4) };
  } catch (error) {
    if (error instanceof RangeError) throw new DocumentTextError('corrupt', 'Word FIB cut short');
    throw error;
  }
}

/** The CLX: Prc entries to skip, then one Pcdt holding the PlcPcd (CPs, then PCDs). */
function pieceTable(clx: Buffer): Piece[] {
  let at = 0;
  while (at < clx.length && clx[at] === CLXT_PRC) {
    if (at + 3 > clx.length) break;
    at += 3 + clx.readInt16LE(at + 1);
  }
  if (at + 5 > clx.length || clx[at] !== CLXT_PCDT) {
    throw new DocumentTextError('corrupt', 'Word piece table not found in the CLX');
  }
  const size = clx.readUInt32LE(at + 1);
  const plc = clx.subarray(at + 5, at + 5 + size);
  const count = (size - 4) / (4 + PCD);
  if (plc.length < size || size < 4 || !Number.isInteger(count)) {
    throw new DocumentTextError('corrupt', 'Word piece table of a bad size');
  }
  const pieces: Piece[] = [];
  for (let i = 0; i < count; i++) {
    const start = plc.readUInt32LE(i * 4);
    const end = plc.readUInt32LE((i + 1) * 4);
    if (end < start) throw new DocumentTextError('corrupt', 'Word piece table out of order');
    const fc = plc.readUInt32LE((count + 1) * 4 + i * PCD + 2);
    const compressed = (fc & 0x40000000) !== 0;
    const offset = fc & 0x3fffffff;
    pieces.push({
      characters: end - start,
      offset: compressed ? offset / 2 : offset,
      compressed,
    });
  }
  return pieces;
}

function pieceText(wordDocument: Buffer, piece: Piece): string {
  const length = piece.compressed ? piece.characters : piece.characters * 2;
  if (piece.offset + length > wordDocument.length) {
    throw new DocumentTextError('corrupt', 'Word piece past the end of WordDocument');
  }
  const bytes = wordDocument.subarray(piece.offset, piece.offset + length);
  return piece.compressed ? cp1252(bytes) : bytes.toString('utf16le');
}

/** Word 6 and 95: a non-complex document's text runs from fcMin to fcMac, in 8 bits. */
function word95Text(wordDocument: Buffer, flags: number): string {
  if (flags & F_COMPLEX) {
    throw new DocumentTextError('unsupported-method', 'fast-saved Word 6/95 document');
  }
  const fcMin = wordDocument.readUInt32LE(0x18);
  const fcMac = wordDocument.readUInt32LE(0x1c);
  if (fcMac < fcMin || fcMac > wordDocument.length) {
    throw new DocumentTextError('corrupt', 'Word 6/95 text outside WordDocument');
  }
  return cleanWordText(cp1252(wordDocument.subarray(fcMin, fcMac)));
}

/**
 * Word's special characters: an optional hyphen (0x1F) is invisible inside a word, a
 * non-breaking hyphen (0x1E) is a hyphen; every other control character (paragraph and cell
 * marks, field delimiters, anchors of pictures and notes) separates words.
 */
function cleanWordText(text: string): string {
  let clean = '';
  for (const character of text) {
    const code = character.charCodeAt(0);
    if (code >= 0x20 || code === 0x09 || code === 0x0a) clean += character;
    else if (code === OPTIONAL_HYPHEN) continue;
    else if (code === NON_BREAKING_HYPHEN) clean += '-';
    else clean += ' ';
  }
  return clean;
}

const OPTIONAL_HYPHEN = 0x1f;
const NON_BREAKING_HYPHEN = 0x1e;

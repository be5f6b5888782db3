import { DocumentTextError } from './document-text-error.js';

/**
 * The text of a PowerPoint 97–2003 presentation ([MS-PPT]) from its `PowerPoint Document`
 * stream: a tree of records (an 8-byte header — recVer and recInstance in 2 bytes, recType in 2,
 * recLen in 4 — then recLen bytes; recVer 0xF is a container of records). The text of slides,
 * notes and masters, of placeholders and of shapes' text boxes (OfficeArt records nest the same
 * way), is in TextCharsAtom (0x0FA0, UTF-16LE) and TextBytesAtom (0x0FA8, the low bytes of
 * UTF-16 characters: Latin-1) records, read in stream order, one line each. A file saved
 * incrementally keeps its older records: their text is read too (more text, never less).
 * An encrypted presentation (a CryptSession10Container, 0x2F14) is refused as
 * `unsupported-method`; records that run past their container are `corrupt`.
 */
export function presentationText(stream: Buffer): string {
  const texts: string[] = [];
  walkRecords(stream, 0, stream.length, 0, texts);
  return texts.join('\n');
}

/** The stream holding the presentation's records. */
export const POWERPOINT_STREAM = 'PowerPoint Document';

const HEADER = 8;
const CONTAINER = 0xf;
const TEXT_CHARS = 0x0fa0;
const TEXT_BYTES = 0x0fa8;
const CRYPT_SESSION = 0x2f14;
/** Deeper than any real presentation nests (OfficeArt groups included). */
const MAX_DEPTH = 64;

function walkRecords(
  stream: Buffer,
  start: number,
  end: number,
  depth: number,
  texts: string[],
): void {
  if (depth > MAX_DEPTH) throw new DocumentTextError('corrupt', 'PowerPoint records nest too deep');
  let at = start;
  while (at + HEADER <= end) {
    const version = stream.readUInt16LE(at) & 0xf;
    const type = stream.readUInt16LE(at + 2);
    const length = stream.readUInt32LE(at + 4);
    const body = at + HEADER;
    if (body + length > end) {
      // The top level ends in the zero padding of the stream's last sector.
      if (depth === 0 && type === 0) return;
      throw new DocumentTextError('corrupt', `PowerPoint record 0x${type.toString(16)} cut short`);
    }
    if (type === CRYPT_SESSION) {
      throw new DocumentTextError('unsupported-method', 'encrypted PowerPoint presentation');
    }
    if (version === CONTAINER) walkRecords(stream, body, body + length, depth + 1, texts);
    else if (type === TEXT_CHARS) texts.push(stream.toString('utf16le', body, body + length));
    else if (type === TEXT_BYTES) texts.push(stream.toString('latin1', body, body + length));
    at = body + length;
  }
}

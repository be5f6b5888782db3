import type { PieceHead } from '../analyzer.js';
import { CompoundFileError, readCompoundFile, type CompoundFile } from './compound-file.js';
import { DocumentTextError } from './document-text-error.js';
import { workbookText } from './excel-text.js';
import { POWERPOINT_STREAM, presentationText } from './powerpoint-text.js';
import { wordText } from './word-text.js';

/**
 * The text of a binary Office document (Word, Excel or PowerPoint 97–2003), read from the OLE2
 * compound file it is, with the documents embedded in it as storages (a chart's workbook, an
 * object in a Word document's ObjectPool), each one's text on lines of its own: undefined when
 * the file holds none of them (an installer, an Outlook message, a thumbnail cache: no text this
 * reader knows of). A document whose text cannot be taken out is told to `unreadable` (a damaged
 * stream: `corrupt`; an encrypted document: `unsupported-method`, and so is an encrypted Office
 * 2007+ document, a compound file holding `EncryptionInfo` and `EncryptedPackage`), and the text
 * of the others is still returned; a damaged compound file gives no text at all.
 */
export function officeDocumentText(
  bytes: Buffer,
  unreadable: (problem: DocumentTextError) => void,
): string | undefined {
  let file: CompoundFile;
  try {
    file = readCompoundFile(bytes);
  } catch (error) {
    unreadable(asDocumentTextError(error));
    return undefined;
  }
  const texts: string[] = [];
  for (const storage of ['', ...file.storages]) {
    try {
      const text = documentText(file, storage);
      if (text !== undefined) texts.push(text);
    } catch (error) {
      unreadable(asDocumentTextError(error));
    }
  }
  return texts.length === 0 ? undefined : texts.join('\n');
}

/** A reader's own errors are the file's damage; anything else is a fault of Arbiter's. */
function asDocumentTextError(error: unknown): DocumentTextError {
  if (error instanceof DocumentTextError) return error;
  if (error instanceof CompoundFileError) {
    return new DocumentTextError('corrupt', `compound file: ${error.message}`);
  }
  // Reading past a buffer's end: a length field that lies.
  if (error instanceof RangeError) return new DocumentTextError('corrupt', error.message);
  throw error;
}

/** The text of the document whose streams are in `storage` ('' for the root), if any. */
function documentText(file: CompoundFile, storage: string): string | undefined {
  const stream = (name: string) => file.stream(storage === '' ? name : `${storage}/${name}`);
  const wordDocument = stream('WordDocument');
  if (wordDocument) return wordText(wordDocument, stream);
  const workbook = stream('Workbook') ?? stream('Book');
  if (workbook) return workbookText(workbook);
  const presentation = stream(POWERPOINT_STREAM);
  if (presentation) return presentationText(presentation);
  if (stream('EncryptedPackage')) {
    throw new DocumentTextError('unsupported-method', 'encrypted Office document');
  }
  return undefined;
}

/**
 * The streams of a document that arrive alone, as the walker hands over the streams of a
 * compound file it opened (container `ole2`): the streams that hold a document's text (or say
 * it is encrypted), recognised by their name and their first bytes.
 */
export type OfficeStream = 'word' | 'workbook' | 'presentation' | 'encrypted';

export function officeStream(piece: PieceHead): OfficeStream | undefined {
  if (piece.container !== 'ole2') return undefined;
  // 7-Zip names a stream inside a storage by its path (`ObjectPool/_1279313719/Workbook`).
  const name = piece.path.at(-1)?.split('/').at(-1) ?? '';
  const head = piece.head;
  if (name === 'WordDocument' && head.length >= 2 && head.readUInt16LE(0) === 0xa5ec) {
    return 'word';
  }
  if ((name === 'Workbook' || name === 'Book') && head.length >= 2) {
    return head.readUInt16LE(0) === 0x0809 ? 'workbook' : undefined;
  }
  if (name === POWERPOINT_STREAM && head.length >= 8) {
    // A record type of [MS-PPT] first, as ppt.ts checks.
    const type = head.readUInt16LE(2);
    return type >= 0x03e8 && type <= 0x2f14 ? 'presentation' : undefined;
  }
  if (name === 'EncryptedPackage') return 'encrypted';
  return undefined;
}

/**
 * The text of one stream of a document read alone (officeStream). An Excel or PowerPoint
 * stream holds all of its document's text; a Word document's text needs its table stream too,
 * so a `WordDocument` stream alone is reported `limits-exceeded` (it comes alone only when its
 * file was too large to read whole), or `unsupported-method` when its FIB says it is encrypted.
 */
export function officeStreamText(stream: OfficeStream, bytes: Buffer, maxBytes: number): string {
  try {
    switch (stream) {
      case 'workbook':
        return workbookText(bytes);
      case 'presentation':
        return presentationText(bytes);
      case 'encrypted':
        throw new DocumentTextError('unsupported-method', 'encrypted Office document');
      case 'word':
        if (bytes.length >= 0x0c && bytes.readUInt16LE(0x0a) & WORD_ENCRYPTED) {
          throw new DocumentTextError('unsupported-method', 'encrypted Word document');
        }
        throw new DocumentTextError(
          'limits-exceeded',
          `Word document larger than ${maxBytes} bytes: its text is read from the whole file`,
        );
    }
  } catch (error) {
    if (error instanceof RangeError) throw new DocumentTextError('corrupt', error.message);
    throw error;
  }
}

const WORD_ENCRYPTED = 0x0100;

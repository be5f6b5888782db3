import type { PieceHead } from '../analyzer.js';
import { CompoundFileError, readCompoundFile, type CompoundFile } from './compound-file.js';
import { DocumentTextError } from './document-text-error.js';
import { workbookText } from './excel-text.js';
import { POWERPOINT_STREAM, presentationText } from './powerpoint-text.js';
import { wordText } from './word-text.js';

/**
 * The text of a binary Office document (Word, Excel or PowerPoint 97–2003), read from the OLE2
 * compound file it is: undefined when the file is none of them (an installer, an Outlook
 * message, a thumbnail cache: no text this reader knows of). Throws DocumentTextError for a
 * document whose text cannot be taken out: a damaged compound file or stream (`corrupt`), an
 * encrypted one (`unsupported-method`, and so is an encrypted Office 2007+ document, which is a
 * compound file holding `EncryptionInfo` and `EncryptedPackage`).
 */
export function officeDocumentText(bytes: Buffer): string | undefined {
  let file: CompoundFile;
  try {
    file = readCompoundFile(bytes);
  } catch (error) {
    if (error instanceof CompoundFileError) {
      throw new DocumentTextError('corrupt', `compound file: ${error.message}`);
    }
    throw error;
  }
  try {
    // The document at the root, then those embedded in it as storages (a chart's workbook,
    // an object in a Word document's ObjectPool): each one's text on lines of its own.
    const texts = ['', ...file.storages]
      .map((storage) => documentText(file, storage))
      .filter((text): text is string => text !== undefined);
    return texts.length === 0 ? undefined : texts.join('\n');
  } catch (error) {
    if (error instanceof CompoundFileError) {
      throw new DocumentTextError('corrupt', `compound file: ${error.message}`);
    }
    if (error instanceof RangeError) throw new DocumentTextError('corrupt', error.message);
    throw error;
  }
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

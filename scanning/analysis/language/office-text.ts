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
    return documentText(file);
  } catch (error) {
    if (error instanceof CompoundFileError) {
      throw new DocumentTextError('corrupt', `compound file: ${error.message}`);
    }
    if (error instanceof RangeError) throw new DocumentTextError('corrupt', error.message);
    throw error;
  }
}

function documentText(file: CompoundFile): string | undefined {
  const wordDocument = file.stream('WordDocument');
  if (wordDocument) return wordText(wordDocument, (name) => file.stream(name));
  const workbook = file.stream('Workbook') ?? file.stream('Book');
  if (workbook) return workbookText(workbook);
  const presentation = file.stream(POWERPOINT_STREAM);
  if (presentation) return presentationText(presentation);
  if (file.stream('EncryptedPackage')) {
    throw new DocumentTextError('unsupported-method', 'encrypted Office document');
  }
  return undefined;
}

import type { FormatHandler } from '../types.js';
import { encodedTextFormat } from './encoded-text.js';
import { htmlFormat } from './html.js';
import { mboxFormat } from './mbox.js';
import { mimeFormat } from './mime.js';
import { createOle10NativeFormat } from './ole10native.js';
import { pdfFormat } from './pdf.js';
import { pptFormat } from './ppt.js';
import { rtfFormat } from './rtf.js';
import { SevenZipPool } from './sevenzip-pool.js';
import { createSevenZipFormats } from './sevenzip.js';
import { createSfxFormat } from './sfx.js';
import { sisFormat } from './sis.js';
import { tnefFormat } from './tnef.js';
import { vbaFormat } from './vba.js';

/**
 * The formats the built-in engine opens besides zip, gzip, zstd and tar, in the order they are
 * tried (the first whose `sniff` accepts the content opens it). Built once per engine: a handler
 * may hold resources (a worker pool), released by `close`.
 */
export interface FormatSet {
  readonly handlers: readonly FormatHandler[];
  close(): Promise<void>;
}

export interface FormatSetOptions {
  /** Worker threads running 7-Zip (default 2) and the time limit per 7-Zip command. */
  sevenZip?: { workers?: number; timeoutMs?: number };
}

export function createFormatSet(options: FormatSetOptions = {}): FormatSet {
  const handlers: FormatHandler[] = [];
  // Mail: an mbox (From_ separator lines) before a single message (a header block); both
  // before PDF, whose `%PDF-` may sit anywhere in the first KiB (a mail quoting one is mail).
  handlers.push(mboxFormat);
  handlers.push(mimeFormat);
  // Outlook's winmail.dat (a magic number).
  handlers.push(tnefFormat);
  // Symbian installation packages (UIDs).
  handlers.push(sisFormat);
  // Archives 7-Zip opens (magic numbers), self-extracting executables (a PE with an archive
  // after its image), and files embedded in Office documents as OLE packages.
  const sevenZip = new SevenZipPool(options.sevenZip);
  handlers.push(...createSevenZipFormats(sevenZip));
  handlers.push(createSfxFormat(sevenZip));
  handlers.push(createOle10NativeFormat());
  // Documents that carry files: PDF streams and attachments, RTF objects, HTML data URIs and
  // base64 blobs, VBA macro source in OLE2 module streams.
  handlers.push(pdfFormat);
  handlers.push(rtfFormat);
  handlers.push(htmlFormat);
  handlers.push(vbaFormat);
  // Objects embedded in a PowerPoint presentation's `PowerPoint Document` stream (records).
  handlers.push(pptFormat);
  // uuencode, yEnc and BinHex blocks in text: tried last, after every format with a magic.
  handlers.push(encodedTextFormat);
  return {
    handlers,
    close: async () => {
      await sevenZip.close();
    },
  };
}

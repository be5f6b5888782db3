import type { FormatHandler } from '../types.js';
import { encodedTextFormat } from './encoded-text.js';
import { mboxFormat } from './mbox.js';
import { mimeFormat } from './mime.js';
import { sisFormat } from './sis.js';
import { tnefFormat } from './tnef.js';

/**
 * The formats the built-in engine opens besides zip, gzip, zstd and tar, in the order they are
 * tried (the first whose `sniff` accepts the content opens it). Built once per engine: a handler
 * may hold resources (a worker pool), released by `close`.
 */
export interface FormatSet {
  readonly handlers: readonly FormatHandler[];
  close(): Promise<void>;
}

export function createFormatSet(): FormatSet {
  const handlers: FormatHandler[] = [];
  // Mail: an mbox (From_ separator lines) before a single message (a header block).
  handlers.push(mboxFormat);
  handlers.push(mimeFormat);
  // Outlook's winmail.dat (a magic number).
  handlers.push(tnefFormat);
  // Symbian installation packages (UIDs).
  handlers.push(sisFormat);
  // uuencode, yEnc and BinHex blocks in text: tried last, after every format with a magic.
  handlers.push(encodedTextFormat);
  return {
    handlers,
    close: async () => {},
  };
}

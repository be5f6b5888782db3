import type { FormatHandler } from '../format.js';
import { pdfFormat } from './pdf.js';
import { rtfFormat } from './rtf.js';
import { htmlFormat } from './html.js';
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

export function createFormatSet(): FormatSet {
  const handlers: FormatHandler[] = [];
  handlers.push(pdfFormat);
  handlers.push(rtfFormat);
  handlers.push(htmlFormat);
  handlers.push(vbaFormat);
  return {
    handlers,
    close: async () => {},
  };
}

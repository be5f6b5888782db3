import type { FormatHandler } from '../format.js';
import { createOle10NativeFormat } from './ole10native.js';
import { SevenZipPool } from './sevenzip-pool.js';
import { createSevenZipFormats } from './sevenzip.js';
import { createSfxFormat } from './sfx.js';

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
  const sevenZip = new SevenZipPool(options.sevenZip);
  handlers.push(...createSevenZipFormats(sevenZip));
  handlers.push(createSfxFormat(sevenZip));
  handlers.push(createOle10NativeFormat());
  return {
    handlers,
    close: async () => {
      await sevenZip.close();
    },
  };
}

const BLOCK = 512;

/** A tar's bytes split in two: what the tar reader gets, and what follows the archive. */
export interface TarSplit {
  tar: Buffer[];
  after: Buffer[];
}

/**
 * Follows a tar's 512-byte blocks (headers, entry data, zero blocks) as they stream by, to tell
 * where the archive really ends. GNU tar with `--ignore-zeros` reads on past the end-of-archive
 * zero blocks: a further header there is a further entry (concatenated tars), and the tar reader
 * gets it. A block there that is no header (other data appended to the archive) and everything
 * after it is handed out as `after` instead, to be scanned as content: it neither hides from the
 * scan nor makes a good archive corrupt. A bad header before any zero block stays the tar
 * reader's (a damaged archive). Holds at most one block.
 */
export class TarBlocks {
  /** Entry data bytes still to pass before the next header. */
  private data = 0;
  private held = Buffer.alloc(0);
  /** An end-of-archive zero block was seen. */
  private ended = false;
  private state: 'tar' | 'after' = 'tar';

  feed(chunk: Buffer): TarSplit {
    const split: TarSplit = { tar: [], after: [] };
    let rest = chunk;
    while (rest.length > 0) {
      if (this.state === 'after') {
        split.after.push(rest);
        break;
      }
      if (this.data > 0) {
        const passed = rest.subarray(0, this.data);
        this.data -= passed.length;
        split.tar.push(passed);
        rest = rest.subarray(passed.length);
        continue;
      }
      const need = BLOCK - this.held.length;
      this.held = Buffer.concat([this.held, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.held.length < BLOCK) break;
      this.block(this.held, split);
      this.held = Buffer.alloc(0);
    }
    return split;
  }

  /** The input is over: a partial block after the end is `after` (unless all zeros). */
  finish(): TarSplit {
    const held = this.held;
    this.held = Buffer.alloc(0);
    if (held.length === 0) return { tar: [], after: [] };
    if (this.ended && this.state === 'tar') {
      return { tar: [], after: held.some((byte) => byte !== 0) ? [held] : [] };
    }
    return this.state === 'after' ? { tar: [], after: [held] } : { tar: [held], after: [] };
  }

  private block(block: Buffer, split: TarSplit): void {
    if (block.every((byte) => byte === 0)) {
      this.ended = true;
      split.tar.push(block);
      return;
    }
    const size = headerDataSize(block);
    if (size === undefined && this.ended) {
      this.state = 'after';
      split.after.push(block);
      return;
    }
    split.tar.push(block);
    this.data = size === undefined ? 0 : Math.ceil(size / BLOCK) * BLOCK;
  }
}

/**
 * The data bytes that follow a tar header block, or undefined when the block is no header (its
 * checksum, the sum of its bytes with the checksum field read as spaces, does not match).
 */
export function headerDataSize(block: Buffer): number | undefined {
  const stored = octal(block.subarray(148, 156));
  if (stored === undefined) return undefined;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) return undefined;
  // A directory carries no data whatever its size field says (as the tar reader, tar-stream,
  // reads it: any other entry is followed by its size in data).
  if (block[156] === 0x35) return 0;
  return dataSize(block.subarray(124, 136));
}

/** A size field: octal digits, or base-256 when its first byte has the high bit (GNU). */
function dataSize(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  return octal(field) ?? 0;
}

function octal(field: Buffer): number | undefined {
  const digits = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(digits)) return undefined;
  return parseInt(digits, 8);
}

/**
 * A member's bytes handed from a handler that pushes them (it parses its input as it arrives)
 * to the walker that pulls them (`context.member` reads an async iterable): `push` resolves once
 * the chunk was taken, so the handler never runs ahead of the scan by more than one chunk. When
 * the reader stops early (a limit, the walk abandoned) pushes resolve at once and are dropped.
 */
export class MemberFeed implements AsyncIterable<Buffer> {
  private queued: Buffer | undefined;
  private ended = false;
  private failure: Error | undefined;
  private closed = false;
  private taken: (() => void) | undefined;
  private arrived: (() => void) | undefined;

  async push(chunk: Buffer): Promise<void> {
    if (this.closed || this.ended || chunk.length === 0) return;
    this.queued = chunk;
    this.wakeReader();
    await new Promise<void>((resolve) => (this.taken = resolve));
  }

  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  /** Ends the member with an error: the walker reports the member `corrupt` with `message`. */
  fail(error: Error): void {
    this.failure ??= error;
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        while (this.queued === undefined && !this.ended && !this.closed) {
          await new Promise<void>((resolve) => (this.arrived = resolve));
        }
        const chunk = this.queued;
        if (this.closed) return;
        if (chunk === undefined) {
          if (this.failure) throw this.failure;
          return;
        }
        this.queued = undefined;
        this.release();
        yield chunk;
      }
    } finally {
      this.closed = true;
      this.queued = undefined;
      this.release();
    }
  }

  private release(): void {
    const taken = this.taken;
    this.taken = undefined;
    taken?.();
  }

  private wakeReader(): void {
    const arrived = this.arrived;
    this.arrived = undefined;
    arrived?.();
  }
}

/**
 * Cuts a byte stream into lines (each with its line ending) without holding more than `maxLine`
 * bytes of an unfinished line: a longer line comes out in pieces, and only the first piece has
 * `start` set, so a parser looking for marker lines never mistakes the middle of one for a start.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialLength = 0;
  private partialIsStart = true;

  constructor(private readonly maxLine: number) {}

  /** The lines `chunk` completes (and pieces of overlong ones), in order. */
  push(chunk: Buffer): Line[] {
    const lines: Line[] = [];
    let at = 0;
    while (at < chunk.length) {
      const newline = chunk.indexOf(0x0a, at);
      const end = newline < 0 ? chunk.length : newline + 1;
      const piece = chunk.subarray(at, end);
      at = end;
      if (newline < 0) {
        this.hold(piece, lines);
        break;
      }
      if (this.partialLength === 0) {
        lines.push({ bytes: piece, start: this.partialIsStart });
      } else {
        lines.push({
          bytes: Buffer.concat([...this.partial, piece]),
          start: this.partialIsStart,
        });
        this.partial = [];
        this.partialLength = 0;
      }
      this.partialIsStart = true;
    }
    return lines;
  }

  /** What is left of an unfinished last line. */
  flush(): Line[] {
    if (this.partialLength === 0) return [];
    const line = { bytes: Buffer.concat(this.partial), start: this.partialIsStart };
    this.partial = [];
    this.partialLength = 0;
    this.partialIsStart = true;
    return [line];
  }

  private hold(piece: Buffer, lines: Line[]): void {
    this.partial.push(Buffer.from(piece)); // a copy: the chunk itself is not kept alive
    this.partialLength += piece.length;
    if (this.partialLength >= this.maxLine) {
      lines.push({ bytes: Buffer.concat(this.partial), start: this.partialIsStart });
      this.partial = [];
      this.partialLength = 0;
      this.partialIsStart = false;
    }
  }
}

export interface Line {
  /** The line's bytes, its line ending included when it has one. */
  bytes: Buffer;
  /** False for the second and later pieces of a line longer than the splitter's `maxLine`. */
  start: boolean;
}

/** A line without its line ending (LF or CRLF), as latin1 text. */
export function lineText(line: Buffer): string {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0a) end -= 1;
  if (end > 0 && line[end - 1] === 0x0d) end -= 1;
  return line.toString('latin1', 0, end);
}

/** A member name from a name found in the content: its last path part, printable, bounded. */
export function safeMemberName(name: string | undefined, fallback: string): string {
  const base = (name ?? '')
    .split(/[/\\]/)
    .pop()
    ?.replace(CONTROL_CHARACTERS, '')
    .trim()
    .slice(0, 255);
  return base && base !== '.' && base !== '..' ? base : fallback;
}

// eslint-disable-next-line no-control-regex -- exactly what is removed from names
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

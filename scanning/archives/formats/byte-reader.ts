/**
 * Reads a stream of chunks as a sequence of fields: small reads (`read`) are copied out,
 * large stretches are passed on chunk by chunk (`stretch`) or skipped, so a handler of a
 * binary format holds no more than one chunk and the fields it asked for.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private current: Buffer = Buffer.alloc(0);
  private offset = 0;
  private done = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Exactly `length` bytes; fewer only at the end of the stream (none: an empty buffer). */
  async read(length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let wanted = length;
    while (wanted > 0) {
      const piece = await this.next(wanted);
      if (!piece) break;
      parts.push(piece);
      wanted -= piece.length;
    }
    return parts.length === 1 ? Buffer.from(parts[0] ?? []) : Buffer.concat(parts);
  }

  /** `length` bytes read as they arrive; throws `truncated` if the stream ends first. */
  async *stretch(length: number, what: string): AsyncGenerator<Buffer> {
    let left = length;
    while (left > 0) {
      const piece = await this.next(Math.min(left, 64 * 1024));
      if (!piece) throw new Error(`${what} cut short (${left} of ${length} bytes missing)`);
      left -= piece.length;
      yield piece;
    }
  }

  /** Skips `length` bytes; false when the stream ended first. */
  async skip(length: number): Promise<boolean> {
    let left = length;
    while (left > 0) {
      const piece = await this.next(left);
      if (!piece) return false;
      left -= piece.length;
    }
    return true;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.offset < this.current.length) return false;
    return !(await this.fill());
  }

  /** Ends the reading: the source is told to stop. */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.iterator.return?.();
    }
  }

  /** Up to `most` bytes (a view into the current chunk); undefined at the end. */
  private async next(most: number): Promise<Buffer | undefined> {
    if (this.offset >= this.current.length && !(await this.fill())) return undefined;
    const end = Math.min(this.current.length, this.offset + most);
    const piece = this.current.subarray(this.offset, end);
    this.position += piece.length;
    this.offset = end;
    return piece;
  }

  private async fill(): Promise<boolean> {
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        return false;
      }
      if (next.value.length > 0) {
        this.current = next.value;
        this.offset = 0;
        return true;
      }
    }
    return false;
  }
}

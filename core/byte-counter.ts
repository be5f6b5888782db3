import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts and SHA-1-hashes the bytes passing through, and fails the stream with `tooLarge(bytes)`
 * as soon as more than `maxBytes` have passed: content is streamed to disk, never held in memory,
 * and an oversized body is cut off rather than read to its end.
 */
export class ByteCounter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha1');

  constructor(
    private readonly maxBytes: number,
    private readonly tooLarge: (bytes: number) => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(this.tooLarge(this.bytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  /** The hex SHA-1 of everything that passed; call once, at the end. */
  sha1(): string {
    return this.hash.digest('hex');
  }
}

import { Transform } from 'node:stream';
import { Decompress } from 'fzstd';

/**
 * Input bytes handed to the decoder at a time. fzstd decodes synchronously and hands out every
 * block it completes, and a zstd RLE block turns 4 bytes into 128 KiB: small slices keep what one
 * write can produce (and hold in memory before backpressure and the limits see it) to a few MiB.
 */
export const ZSTD_SLICE = 512;

/** A Zstandard stream decoder (concatenated and skippable frames included) as a Node transform. */
export function createZstdDecoder(): Transform {
  const output = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        decoder.push(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  // Each decoded block is copied out: fzstd may reuse its buffers once the handler returns.
  const decoder = new Decompress((data) => {
    if (data.length > 0) output.push(Buffer.from(data));
  });
  return output;
}

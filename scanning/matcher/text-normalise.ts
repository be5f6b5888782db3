/**
 * ClamAV's normalised copy of a text file, which it matches against its generic (target 0) and
 * ASCII text (target 7) signatures besides the file itself: upper-case letters lowered, every run
 * of whitespace (tab, line feed, vertical tab, form feed, carriage return, space) made one space,
 * other control characters and every byte from 0x80 up left out (so UTF-16 text loses its NULs).
 */

const SKIP = 0;
const SPACE = 1;
const COPY = 2;

const ACTION = Uint8Array.from({ length: 256 }, (_, byte) => {
  if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) return SPACE;
  if (byte < 0x20 || byte >= 0x80) return SKIP;
  return COPY;
});

const LOWER = Uint8Array.from({ length: 256 }, (_, byte) =>
  byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte,
);

/** clamd does not normalise text files larger than this (its MaxScriptNormalize default). */
export const MAX_NORMALISED_TEXT = 20 * 1024 * 1024;

export class TextNormaliser {
  private spaceWritten = false;
  private out = new Uint8Array(0);

  /** The normalised form of the next chunk (valid until the next call). */
  normalise(chunk: Uint8Array): Uint8Array {
    if (this.out.length < chunk.length) this.out = new Uint8Array(chunk.length);
    const out = this.out;
    let length = 0;
    for (const byte of chunk) {
      const action = ACTION[byte];
      if (action === COPY) {
        out[length++] = LOWER[byte]!;
        this.spaceWritten = false;
      } else if (action === SPACE) {
        if (!this.spaceWritten) out[length++] = 0x20;
        this.spaceWritten = true;
      }
    }
    return out.subarray(0, length);
  }
}

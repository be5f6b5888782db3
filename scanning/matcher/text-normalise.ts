/**
 * ClamAV's normalised copy of a text file, which it matches against its generic (target 0) and
 * ASCII text (target 7) signatures besides the file itself: upper-case letters lowered, every run
 * of whitespace (tab, line feed, vertical tab, form feed, carriage return, space) made one space,
 * other control characters and every byte from 0x80 up left out (so UTF-16 text loses its NULs).
 */

/** Per input byte, the byte written for it (lowered; a space for any whitespace). */
const OUTPUT = Uint8Array.from({ length: 256 }, (_, byte) => {
  if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) return 0x20;
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
});

const isSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
const isKept = (byte: number) => byte >= 0x21 && byte < 0x80;

/** Whether `byte` can occur in normalised text (a space, or a kept byte that is not A–Z). */
export function normalisedByte(byte: number): boolean {
  return byte === 0x20 || (isKept(byte) && !(byte >= 0x41 && byte <= 0x5a));
}

/**
 * Per input byte and "a space was just written" (index `byte << 1 | written`): bit 0, whether the
 * byte's output counts; bit 1, whether a space was just written after it. One table lookup per
 * byte and no branch: text of any mix normalises at the same speed.
 */
const STEP = Uint8Array.from({ length: 512 }, (_, index) => {
  const byte = index >> 1;
  const written = (index & 1) === 1;
  if (isSpace(byte)) return (written ? 0 : 1) | 2;
  if (isKept(byte)) return 1;
  return written ? 2 : 0;
});

/** clamd does not normalise text files larger than this (its MaxScriptNormalize default). */
export const MAX_NORMALISED_TEXT = 20 * 1024 * 1024;

export class TextNormaliser {
  private spaceWritten = false;
  private out = new Uint8Array(0);

  /** The normalised form of the next chunk (valid until the next call). */
  normalise(chunk: Uint8Array): Uint8Array {
    if (this.out.length < chunk.length) this.out = new Uint8Array(chunk.length);
    const out = this.out;
    const n = chunk.length;
    let length = 0;
    let written = this.spaceWritten ? 1 : 0;
    for (let i = 0; i < n; i += 1) {
      const byte = chunk[i]!;
      const step = STEP[(byte << 1) | written]!;
      // Written every time, kept only when the step says so (the next byte overwrites it if not).
      out[length] = OUTPUT[byte]!;
      length += step & 1;
      written = step >> 1;
    }
    this.spaceWritten = written === 1;
    return out.subarray(0, length);
  }
}

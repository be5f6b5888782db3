import { describe, expect, it } from 'vitest';
import { decodeBmp } from '../../scanning/analysis/images/bmp.js';
import { writeBmp } from '../support/bmp.js';

/**
 * The BMP decoder (scanning/analysis/images/bmp.ts), on bitmaps written here byte by byte the way
 * Windows lays them out: every pixel read back to the colour it was written with.
 */

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];

function pixelsOf(bmp: Buffer) {
  const decoded = decodeBmp(bmp, 1_000_000);
  if (decoded.kind !== 'decoded') throw new Error(`${decoded.kind}: ${decoded.detail}`);
  const { width, height } = decoded.image;
  return Array.from({ length: height }, (_, y) =>
    Array.from({ length: width }, (_, x) => [
      ...decoded.pixels.subarray((y * width + x) * 3, (y * width + x) * 3 + 3),
    ]),
  );
}

describe('decodeBmp', () => {
  it('reads 24-bit rows bottom-up, blue first, each padded to 4 bytes', () => {
    // Stored bottom row first: [blue, white] then [red, green] on top.
    const bmp = writeBmp({
      width: 2,
      height: 2,
      bits: 24,
      rows: [
        [255, 0, 0, 255, 255, 255],
        [0, 0, 255, 0, 255, 0],
      ],
    });
    expect(pixelsOf(bmp)).toEqual([
      [RED, GREEN],
      [BLUE, WHITE],
    ]);
  });

  it('reads top-down 32-bit rows with bit field masks, in a V5 header and after a 40-byte one', () => {
    const masks: [number, number, number] = [0x0000ff00, 0x00ff0000, 0xff000000];
    const rows = [[0, 0, 0, 255, 0, 0, 255, 0]];
    for (const headerSize of [40, 124]) {
      const bmp = writeBmp({
        width: 2,
        height: -1,
        bits: 32,
        compression: 3,
        headerSize,
        masks,
        rows,
      });
      expect(pixelsOf(bmp), `${headerSize}`).toEqual([[BLUE, GREEN]]);
    }
  });

  it('reads 16-bit 5-5-5 pixels, and 8-, 4- and 1-bit palette images', () => {
    // 0x7c00 red, 0x001f blue.
    expect(
      pixelsOf(writeBmp({ width: 2, height: 1, bits: 16, rows: [[0x00, 0x7c, 0x1f, 0x00]] })),
    ).toEqual([[RED, BLUE]]);
    const palette = [RED, GREEN, BLUE, WHITE];
    expect(
      pixelsOf(writeBmp({ width: 3, height: 1, bits: 8, palette, rows: [[3, 0, 2]] })),
    ).toEqual([[WHITE, RED, BLUE]]);
    expect(
      pixelsOf(writeBmp({ width: 3, height: 1, bits: 4, palette, rows: [[0x12, 0x30]] })),
    ).toEqual([[GREEN, BLUE, WHITE]]);
    expect(
      pixelsOf(
        writeBmp({
          width: 10,
          height: 1,
          bits: 1,
          palette: [RED, WHITE],
          rows: [[0b10000000, 0b01000000]],
        }),
      ),
    ).toEqual([[WHITE, RED, RED, RED, RED, RED, RED, RED, RED, WHITE]]);
    // OS/2's core header: 3-byte palette entries.
    expect(
      pixelsOf(writeBmp({ width: 2, height: 1, bits: 8, headerSize: 12, palette, rows: [[1, 2]] })),
    ).toEqual([[GREEN, BLUE]]);
  });

  it('reports run-length coding unsupported, missing rows corrupt, too many pixels over the limit', () => {
    const rle = writeBmp({
      width: 2,
      height: 1,
      bits: 8,
      compression: 1,
      palette: [RED],
      rows: [[0, 0, 0, 1]],
    });
    expect(decodeBmp(rle, 100)).toEqual({
      kind: 'unsupported-method',
      detail: 'BMP coding 1 at 8 bits a pixel is not decoded',
    });
    const whole = writeBmp({
      width: 4,
      height: 4,
      bits: 24,
      rows: Array.from({ length: 4 }, () => Array<number>(12).fill(9)),
    });
    expect(decodeBmp(whole.subarray(0, whole.length - 10), 100).kind).toBe('corrupt');
    expect(decodeBmp(whole, 15)).toEqual({
      kind: 'limits-exceeded',
      detail: '4×4 pixels, over the limit of 15',
    });
  });
});

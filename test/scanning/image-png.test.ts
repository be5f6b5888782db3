import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  encodePng,
  pngHolds,
  rowBytes,
  type RawImage,
} from '../../scanning/analysis/images/png.js';

/** encodePng (the image classifier's wrapper for a PDF's bare samples), read back by sharp. */

/** The PNG's scanlines: its IDAT data inflated (one filter byte, then the row, per row). */
function scanlines(png: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT')
      parts.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  return zlib.inflateSync(Buffer.concat(parts));
}

describe('encodePng', () => {
  it('holds 8-bit RGB samples as they are', async () => {
    const image: RawImage = { width: 3, height: 2, channels: 3, bitDepth: 8 };
    const pixels = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
    const { data, info } = await sharp(encodePng(image, pixels))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([3, 2, 3]);
    expect([...data]).toEqual([...pixels]);
  });

  it('holds 16-bit and packed 1-bit gray rows as they are, each behind a filter byte of 0', async () => {
    const wide: RawImage = { width: 2, height: 1, channels: 1, bitDepth: 16 };
    const widePng = encodePng(wide, Buffer.from([0x12, 0x34, 0xfe, 0xdc]));
    const wideMeta = await sharp(widePng).metadata();
    expect([wideMeta.width, wideMeta.height, wideMeta.channels, wideMeta.depth]).toEqual([
      2,
      1,
      1,
      'ushort',
    ]);
    expect([...scanlines(widePng)]).toEqual([0, 0x12, 0x34, 0xfe, 0xdc]);
    // 10 pixels a row: two bytes, the last 6 bits of each row's second byte unused.
    const bits: RawImage = { width: 10, height: 2, channels: 1, bitDepth: 1 };
    expect(rowBytes(bits)).toBe(2);
    const bitsPng = encodePng(bits, Buffer.from([0xa0, 0x7f, 0x01, 0x80]));
    const bitsMeta = await sharp(bitsPng).metadata();
    expect([bitsMeta.width, bitsMeta.height, bitsMeta.channels]).toEqual([10, 2, 1]);
    expect([...scanlines(bitsPng)]).toEqual([0, 0xa0, 0x7f, 0, 0x01, 0x80]);
    // It decodes: libspng checks every chunk's CRC and the rows' lengths.
    await expect(sharp(bitsPng).raw().toBuffer()).resolves.toBeDefined();
  });

  it('holds palette indices, the palette filled out to every index the depth allows', async () => {
    const image: RawImage = {
      width: 3,
      height: 1,
      channels: 1,
      bitDepth: 2,
      palette: Buffer.from([255, 0, 0, 0, 0, 255]),
    };
    // Indices 1, 0, 3: the last past the palette given, black.
    const { data, info } = await sharp(encodePng(image, Buffer.from([0b01001100])))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    expect([...data]).toEqual([0, 0, 255, 255, 0, 0, 0, 0, 0]);
    expect(pngHolds(1, 16, true)).toBe(false);
  });

  it('leaves out bytes past the last row, and says which layouts PNG holds', () => {
    const image: RawImage = { width: 1, height: 1, channels: 1, bitDepth: 8 };
    expect([...scanlines(encodePng(image, Buffer.from([200, 1, 2])))]).toEqual([0, 200]);
    expect(pngHolds(1, 4)).toBe(true);
    expect(pngHolds(3, 16)).toBe(true);
    expect(pngHolds(3, 4)).toBe(false);
    expect(pngHolds(4, 8)).toBe(false);
  });
});

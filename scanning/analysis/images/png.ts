import zlib from 'node:zlib';
import { crc32 } from '../../archives/crc32.js';

/** Bare samples, row after row, each row starting on a byte boundary (a PDF image's layout). */
export interface RawImage {
  width: number;
  height: number;
  /** 1 (gray, or a palette index) or 3 (RGB). */
  channels: 1 | 3;
  /**
   * Bits per sample: 1, 2, 4, 8 or 16 for gray; 8 or 16 for RGB; 1, 2, 4 or 8 for palette
   * indices (what PNG can hold).
   */
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Each sample is an index into these colours (RGB triples, at most 256). */
  palette?: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Bytes in one row of `image`. */
export function rowBytes(image: RawImage): number {
  return Math.ceil((image.width * image.channels * image.bitDepth) / 8);
}

/** Whether PNG holds samples of this layout as they are. */
export function pngHolds(channels: number, bitDepth: number, indexed = false): boolean {
  if (indexed) return channels === 1 && [1, 2, 4, 8].includes(bitDepth);
  if (channels === 1) return [1, 2, 4, 8, 16].includes(bitDepth);
  return channels === 3 && (bitDepth === 8 || bitDepth === 16);
}

/**
 * A PNG file holding `pixels` as they stand: PNG's rows are laid out as a PDF image's are (packed
 * samples, big-endian 16-bit ones, each row on a byte boundary), so each row is copied after a
 * filter byte of 0 (none). Lightly compressed: the file is decoded at once and thrown away.
 * `pixels` must hold at least `height` rows; bytes after them are left out.
 */
export function encodePng(image: RawImage, pixels: Uint8Array): Buffer {
  const row = rowBytes(image);
  const scanlines = Buffer.alloc((row + 1) * image.height);
  for (let y = 0; y < image.height; y++) {
    scanlines.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(image.width, 0);
  header.writeUInt32BE(image.height, 4);
  header[8] = image.bitDepth;
  // Colour type: greyscale, truecolour, indexed.
  header[9] = image.palette ? 3 : image.channels === 1 ? 0 : 2;
  // Bytes 10–12: deflate compression, adaptive filtering, no interlace (all 0).
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    ...(image.palette ? [chunk('PLTE', fullPalette(image.palette, image.bitDepth))] : []),
    chunk('IDAT', zlib.deflateSync(scanlines, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A palette with an entry for every index the samples can hold: PNG decoders refuse an index past
 * the palette's end, where a PDF reader takes the last colour; black is used there instead.
 */
function fullPalette(palette: Uint8Array, bitDepth: number): Buffer {
  const full = Buffer.alloc(3 * (1 << bitDepth));
  full.set(palette.subarray(0, full.length));
  return full;
}

function chunk(type: string, data: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0);
  return Buffer.concat([length, typed, crc]);
}

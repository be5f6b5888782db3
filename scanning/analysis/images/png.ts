import zlib from 'node:zlib';
import { crc32 } from '../../archives/crc32.js';

/** Bare samples, row after row, each row starting on a byte boundary (a PDF image's layout). */
export interface RawImage {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB). */
  channels: 1 | 3;
  /** Bits per sample: 1, 2, 4, 8 or 16 for gray; 8 or 16 for RGB (what PNG can hold). */
  bitDepth: 1 | 2 | 4 | 8 | 16;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Bytes in one row of `image`. */
export function rowBytes(image: RawImage): number {
  return Math.ceil((image.width * image.channels * image.bitDepth) / 8);
}

/** Whether PNG holds samples of this layout as they are. */
export function pngHolds(channels: number, bitDepth: number): boolean {
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
  header[9] = image.channels === 1 ? 0 : 2; // colour type: greyscale, truecolour
  // Bytes 10–12: deflate compression, adaptive filtering, no interlace (all 0).
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(scanlines, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0);
  return Buffer.concat([length, typed, crc]);
}

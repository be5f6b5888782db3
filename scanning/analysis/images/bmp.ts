import type { RawImage } from './png.js';

/**
 * Windows bitmaps (BMP), which sharp's build has no decoder for, decoded here into 8-bit RGB
 * samples for the classifier: uncompressed 1-, 4- and 8-bit palette images and 16-, 24- and
 * 32-bit ones (`BI_RGB`, and `BI_BITFIELDS` masks), bottom-up or top-down, with any of the
 * header versions (OS/2's 12-byte core header, `BITMAPINFOHEADER` and its V2–V5 successors).
 * That covers nearly every real file; run-length (`BI_RLE4`, `BI_RLE8`), embedded JPEG or PNG
 * and the rarer codings are reported unsupported rather than guessed at. Alpha is dropped: the
 * colour under it is what is judged.
 */
export type BmpDecoded =
  | { kind: 'decoded'; image: RawImage; pixels: Buffer }
  | { kind: 'unsupported-method' | 'corrupt' | 'limits-exceeded'; detail: string };

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const CORE_HEADER = 12;
const INFO_HEADER = 40;

interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  /** Palette entries declared (0: as many as the bit depth allows). */
  colorsUsed: number;
  headerSize: number;
  pixelsAt: number;
}

/** Red, green and blue masks of a 16- or 32-bit pixel. */
type Masks = readonly [number, number, number];

const DEFAULT_MASKS: Record<number, Masks> = {
  16: [0x7c00, 0x03e0, 0x001f],
  32: [0xff0000, 0x00ff00, 0x0000ff],
};

export function decodeBmp(bmp: Buffer, maxPixels: number): BmpDecoded {
  const header = readHeader(bmp);
  if (typeof header === 'string') return { kind: 'corrupt', detail: header };
  const { width, height, bitsPerPixel: bits, compression } = header;
  if (width * height > maxPixels)
    return {
      kind: 'limits-exceeded',
      detail: `${width}×${height} pixels, over the limit of ${maxPixels}`,
    };
  const rgb = compression === BI_RGB;
  const bitfields = compression === BI_BITFIELDS && (bits === 16 || bits === 32);
  if (!(rgb && [1, 4, 8, 16, 24, 32].includes(bits)) && !bitfields)
    return {
      kind: 'unsupported-method',
      detail: `BMP coding ${compression} at ${bits} bits a pixel is not decoded`,
    };
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  if (header.pixelsAt + stride * height > bmp.length)
    return {
      kind: 'corrupt',
      detail: `BMP pixel data truncated: ${bmp.length - header.pixelsAt} bytes, ${stride * height} expected`,
    };
  const pixels = Buffer.alloc(width * height * 3);
  const readRow = rowReader(bmp, header, bitfields ? masksOf(bmp, header) : DEFAULT_MASKS[bits]);
  for (let y = 0; y < height; y++) {
    const stored = header.topDown ? y : height - 1 - y;
    readRow(header.pixelsAt + stored * stride, pixels, y * width * 3);
  }
  return { kind: 'decoded', image: { width, height, channels: 3, bitDepth: 8 }, pixels };
}

function readHeader(bmp: Buffer): BmpHeader | string {
  if (bmp.length < 14 + CORE_HEADER) return 'BMP header truncated';
  const headerSize = bmp.readUInt32LE(14);
  const pixelsAt = bmp.readUInt32LE(10);
  if (bmp.length < 14 + headerSize) return 'BMP header truncated';
  if (headerSize === CORE_HEADER) {
    return {
      width: bmp.readUInt16LE(18),
      height: bmp.readUInt16LE(20),
      topDown: false,
      bitsPerPixel: bmp.readUInt16LE(24),
      compression: BI_RGB,
      colorsUsed: 0,
      headerSize,
      pixelsAt,
    };
  }
  if (headerSize < INFO_HEADER) return `BMP header of ${headerSize} bytes`;
  const height = bmp.readInt32LE(22);
  const header: BmpHeader = {
    width: bmp.readInt32LE(18),
    height: Math.abs(height),
    topDown: height < 0,
    bitsPerPixel: bmp.readUInt16LE(28),
    compression: bmp.readUInt32LE(30),
    colorsUsed: bmp.readUInt32LE(46),
    headerSize,
    pixelsAt,
  };
  if (header.width <= 0 || header.height === 0) return `BMP of ${header.width}×${height} pixels`;
  return header;
}

/** `BI_BITFIELDS` masks: in the header from V2 on, else right after the 40-byte header. */
function masksOf(bmp: Buffer, header: BmpHeader): Masks {
  const at = 14 + INFO_HEADER;
  if (bmp.length < at + 12) return DEFAULT_MASKS[header.bitsPerPixel]!;
  return [bmp.readUInt32LE(at), bmp.readUInt32LE(at + 4), bmp.readUInt32LE(at + 8)];
}

type RowReader = (from: number, out: Buffer, to: number) => void;

function rowReader(bmp: Buffer, header: BmpHeader, masks: Masks | undefined): RowReader {
  const { width, bitsPerPixel: bits } = header;
  if (bits <= 8) {
    const palette = paletteOf(bmp, header);
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    return (from, out, to) => {
      for (let x = 0; x < width; x++) {
        const byte = bmp[from + Math.floor(x / perByte)]!;
        const index = (byte >> (8 - bits * ((x % perByte) + 1))) & mask;
        out.set(palette[index] ?? BLACK, to + x * 3);
      }
    };
  }
  if (bits === 24) {
    return (from, out, to) => {
      for (let x = 0; x < width; x++) {
        const at = from + x * 3;
        out[to + x * 3] = bmp[at + 2]!;
        out[to + x * 3 + 1] = bmp[at + 1]!;
        out[to + x * 3 + 2] = bmp[at]!;
      }
    };
  }
  const channels = (masks ?? DEFAULT_MASKS[bits]!).map(maskScale);
  const bytes = bits / 8;
  return (from, out, to) => {
    for (let x = 0; x < width; x++) {
      const at = from + x * bytes;
      const pixel = bytes === 2 ? bmp.readUInt16LE(at) : bmp.readUInt32LE(at);
      for (let c = 0; c < 3; c++) out[to + x * 3 + c] = channels[c]!(pixel);
    }
  };
}

const BLACK = [0, 0, 0];

/** The palette's colours as RGB: 4-byte BGRA entries, 3-byte BGR ones after a core header. */
function paletteOf(bmp: Buffer, header: BmpHeader): number[][] {
  const entrySize = header.headerSize === CORE_HEADER ? 3 : 4;
  const masksSize =
    header.headerSize === INFO_HEADER && header.compression === BI_BITFIELDS ? 12 : 0;
  const start = 14 + header.headerSize + masksSize;
  const declared = header.colorsUsed || 1 << header.bitsPerPixel;
  const count = Math.min(declared, 256, Math.floor((bmp.length - start) / entrySize));
  const palette: number[][] = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * entrySize;
    palette.push([bmp[at + 2]!, bmp[at + 1]!, bmp[at]!]);
  }
  return palette;
}

/** A channel's 8-bit value out of a pixel, by its mask (5 bits of green scaled to 0–255). */
function maskScale(mask: number): (pixel: number) => number {
  if (mask === 0) return () => 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return (pixel) => Math.round((((pixel & mask) >>> shift) * 255) / max);
}

/** BMP files for the image classifier's tests, written byte by byte as Windows lays them out. */

export interface BmpSpec {
  width: number;
  /** Negative: top-down rows. */
  height: number;
  bits: number;
  compression?: number;
  /** The header's size: 12 (OS/2 core), 40 (info), 108 (V4), 124 (V5). */
  headerSize?: number;
  /** RGB entries. */
  palette?: number[][];
  /** After a 40-byte header (BI_BITFIELDS), or inside a V4/V5 one. */
  masks?: [number, number, number];
  /** Each stored row's bytes, in file order, without padding. */
  rows: number[][];
}

/** A BMP file: file header, DIB header, masks, palette, rows padded to 4 bytes. */
export function writeBmp(spec: BmpSpec): Buffer {
  const headerSize = spec.headerSize ?? 40;
  const header = Buffer.alloc(headerSize);
  header.writeUInt32LE(headerSize, 0);
  if (headerSize === 12) {
    header.writeUInt16LE(spec.width, 4);
    header.writeUInt16LE(spec.height, 6);
    header.writeUInt16LE(1, 8);
    header.writeUInt16LE(spec.bits, 10);
  } else {
    header.writeInt32LE(spec.width, 4);
    header.writeInt32LE(spec.height, 8);
    header.writeUInt16LE(1, 12);
    header.writeUInt16LE(spec.bits, 14);
    header.writeUInt32LE(spec.compression ?? 0, 16);
    header.writeUInt32LE(spec.palette?.length ?? 0, 32);
    if (spec.masks && headerSize > 40)
      spec.masks.forEach((m, i) => header.writeUInt32LE(m, 40 + i * 4));
  }
  const masks = Buffer.alloc(spec.masks && headerSize === 40 ? 12 : 0);
  if (masks.length) spec.masks!.forEach((m, i) => masks.writeUInt32LE(m, i * 4));
  const entry = headerSize === 12 ? 3 : 4;
  const palette = Buffer.concat(
    (spec.palette ?? []).map(([r, g, b]) => Buffer.from([b!, g!, r!, 0].slice(0, entry))),
  );
  const stride = Math.floor((spec.bits * spec.width + 31) / 32) * 4;
  const pixels = Buffer.concat(
    spec.rows.map((row) => Buffer.concat([Buffer.from(row), Buffer.alloc(stride - row.length)])),
  );
  const pixelsAt = 14 + headerSize + masks.length + palette.length;
  const file = Buffer.alloc(14);
  file.write('BM', 0, 'latin1');
  file.writeUInt32LE(pixelsAt + pixels.length, 2);
  file.writeUInt32LE(pixelsAt, 10);
  return Buffer.concat([file, header, masks, palette, pixels]);
}

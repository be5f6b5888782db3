/**
 * What an image file holds besides its pixels, read from its structure (segments, chunks,
 * blocks) without decoding it: whether it carries metadata sharp does not report (comments,
 * private chunks and segments, application extensions) and how many bytes follow the format's
 * end (a JPEG's EOI, a PNG's IEND, a GIF's trailer, a WebP's RIFF size) — where a polyglot keeps
 * its second format. Re-encoding drops all of it; this only tells what was there to report.
 * TIFF places its parts by offsets anywhere in the file, so it has no end to measure.
 */
export interface ImageStructure {
  /** Metadata found in the structure: comments, text chunks, EXIF, XMP, ICC, private parts. */
  readonly metadata: boolean;
  /** Bytes after the format's end. */
  readonly trailingBytes: number;
  /** WebP only: the image (or a frame of it) is losslessly coded. */
  readonly lossless: boolean;
}

const NONE: ImageStructure = { metadata: false, trailingBytes: 0, lossless: false };

/** The structure of an image of this type; NONE where the structure cannot be followed. */
export function readImageStructure(contentType: string, bytes: Buffer): ImageStructure {
  switch (contentType) {
    case 'image/jpeg':
      return readJpeg(bytes) ?? NONE;
    case 'image/png':
      return readPng(bytes) ?? NONE;
    case 'image/gif':
      return readGif(bytes) ?? NONE;
    case 'image/webp':
      return readWebp(bytes) ?? NONE;
    default:
      return NONE;
  }
}

const JPEG_EOI = 0xd9;
const JPEG_SOS = 0xda;
const JPEG_COM = 0xfe;
const JPEG_APP0 = 0xe0;
const JPEG_APP14 = 0xee;

/** Segments up to EOI; the entropy-coded data after each SOS runs to the next real marker. */
function readJpeg(bytes: Buffer): ImageStructure | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let metadata = false;
  let pos = 2;
  while (pos + 1 < bytes.length) {
    if (bytes[pos] !== 0xff) return undefined;
    const marker = bytes[pos + 1]!;
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === JPEG_EOI)
      return { metadata, trailingBytes: bytes.length - (pos + 2), lossless: false };
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    if (pos + 4 > bytes.length) return undefined;
    const length = bytes.readUInt16BE(pos + 2);
    if (length < 2) return undefined;
    if (isJpegMetadata(marker, bytes.subarray(pos + 4, pos + 2 + length))) metadata = true;
    pos += 2 + length;
    if (marker === JPEG_SOS) pos = entropyDataEnd(bytes, pos);
  }
  return undefined; // no EOI: truncated
}

/** APPn segments other than JFIF and Adobe's colour transform, and comments, are metadata. */
function isJpegMetadata(marker: number, payload: Buffer): boolean {
  if (marker === JPEG_COM) return true;
  if (marker < JPEG_APP0 || marker > 0xef) return false;
  const tag = payload.subarray(0, 5).toString('latin1');
  if (marker === JPEG_APP0) return !(tag.startsWith('JFIF') || tag.startsWith('JFXX'));
  if (marker === JPEG_APP14) return !tag.startsWith('Adobe');
  return true;
}

function entropyDataEnd(bytes: Buffer, from: number): number {
  let pos = from;
  while (pos + 1 < bytes.length) {
    if (bytes[pos] === 0xff) {
      const next = bytes[pos + 1]!;
      // 0xFF00 is an escaped 0xFF byte, RSTn markers sit inside the data, 0xFFFF is fill.
      if (next !== 0x00 && !(next >= 0xd0 && next <= 0xd7) && next !== 0xff) return pos;
    }
    pos += 1;
  }
  return bytes.length;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Ancillary chunks that only say how to render the pixels (or animate them). */
const PNG_RENDERING_CHUNKS = new Set([
  'gAMA',
  'cHRM',
  'sRGB',
  'sBIT',
  'bKGD',
  'hIST',
  'tRNS',
  'pHYs',
  'sPLT',
  'acTL',
  'fcTL',
  'fdAT',
  'cICP',
  'mDCV',
  'cLLI',
]);

/** Chunks up to IEND; text, EXIF, ICC, time and private ancillary chunks are metadata. */
function readPng(bytes: Buffer): ImageStructure | undefined {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  let metadata = false;
  let pos = 8;
  while (pos + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(pos);
    const type = bytes.subarray(pos + 4, pos + 8).toString('latin1');
    const end = pos + 12 + length;
    if (end > bytes.length) return undefined;
    if (type === 'IEND') return { metadata, trailingBytes: bytes.length - end, lossless: false };
    const ancillary = (type.charCodeAt(0) & 0x20) !== 0;
    if (ancillary && !PNG_RENDERING_CHUNKS.has(type)) metadata = true;
    pos = end;
  }
  return undefined;
}

const GIF_EXTENSION = 0x21;
const GIF_IMAGE = 0x2c;
const GIF_TRAILER = 0x3b;
const GIF_COMMENT = 0xfe;
const GIF_APPLICATION = 0xff;
/** Application extensions that only say how often an animation loops. */
const GIF_LOOP_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0']);

/** Blocks up to the trailer; comments and applications other than looping are metadata. */
function readGif(bytes: Buffer): ImageStructure | undefined {
  if (bytes.length < 13 || bytes.subarray(0, 3).toString('latin1') !== 'GIF') return undefined;
  let metadata = false;
  let pos = 13 + colourTableSize(bytes[10]!);
  while (pos < bytes.length) {
    const introducer = bytes[pos]!;
    if (introducer === GIF_TRAILER)
      return { metadata, trailingBytes: bytes.length - (pos + 1), lossless: false };
    if (introducer === GIF_EXTENSION) {
      const label = bytes[pos + 1];
      if (label === GIF_COMMENT) metadata = true;
      if (label === GIF_APPLICATION) {
        const identifier = bytes.subarray(pos + 3, pos + 14).toString('latin1');
        if (!GIF_LOOP_APPLICATIONS.has(identifier)) metadata = true;
      }
      pos = skipSubBlocks(bytes, pos + 2);
    } else if (introducer === GIF_IMAGE) {
      if (pos + 10 > bytes.length) return undefined;
      pos += 10 + colourTableSize(bytes[pos + 9]!);
      pos = skipSubBlocks(bytes, pos + 1); // after the LZW minimum code size
    } else {
      return undefined;
    }
  }
  return undefined;
}

function colourTableSize(flags: number): number {
  return flags & 0x80 ? 3 * (1 << ((flags & 0x07) + 1)) : 0;
}

function skipSubBlocks(bytes: Buffer, from: number): number {
  let pos = from;
  while (pos < bytes.length) {
    const size = bytes[pos]!;
    pos += 1 + size;
    if (size === 0) return pos;
  }
  return bytes.length;
}

/** The RIFF container's declared size; EXIF, XMP and ICC chunks are metadata. */
function readWebp(bytes: Buffer): ImageStructure | undefined {
  if (
    bytes.length < 12 ||
    bytes.subarray(0, 4).toString('latin1') !== 'RIFF' ||
    bytes.subarray(8, 12).toString('latin1') !== 'WEBP'
  )
    return undefined;
  const riffEnd = 8 + bytes.readUInt32LE(4);
  if (riffEnd > bytes.length) return undefined;
  let metadata = false;
  let lossless = false;
  const visit = (from: number, to: number) => {
    let pos = from;
    while (pos + 8 <= to) {
      const type = bytes.subarray(pos, pos + 4).toString('latin1');
      const size = bytes.readUInt32LE(pos + 4);
      if (type === 'EXIF' || type === 'XMP ' || type === 'ICCP') metadata = true;
      if (type === 'VP8L') lossless = true;
      // An animation frame holds its image's chunks after a 16-byte header.
      if (type === 'ANMF') visit(pos + 8 + 16, Math.min(to, pos + 8 + size));
      pos += 8 + size + (size % 2);
    }
  };
  visit(12, riffEnd);
  const paddedEnd = riffEnd + (riffEnd % 2); // RIFF pads an odd size with one byte
  return { metadata, trailingBytes: Math.max(0, bytes.length - paddedEnd), lossless };
}

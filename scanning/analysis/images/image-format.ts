/**
 * Which image formats the classifier recognises, told from a piece's first bytes: the formats the
 * bundled sharp (libvips) decodes (SVG rendered by librsvg), and the image formats it has no
 * decoder for, which are reported unscannable rather than passed over as if they were not images.
 */
export type ImageFormat =
  | 'jpeg'
  | 'png'
  | 'gif'
  | 'webp'
  | 'avif'
  | 'tiff'
  | 'svg'
  | 'heic'
  | 'bmp'
  | 'jpeg 2000'
  | 'jpeg xl'
  | 'ico'
  | 'cur'
  | 'psd';

/**
 * Images neither sharp's build (`sharp.format`: no jp2k, jxl or magick loader) nor this project
 * decodes: HEIF coded in HEVC (sharp decodes only the AV1 kind, AVIF), JPEG 2000 (a JP2 file or
 * a bare codestream), JPEG XL, Windows icons and cursors, Photoshop documents. BMP, which sharp
 * does not decode either, is decoded by bmp.ts.
 */
export const UNDECODABLE_FORMATS: ReadonlySet<ImageFormat> = new Set([
  'heic',
  'jpeg 2000',
  'jpeg xl',
  'ico',
  'cur',
  'psd',
]);

/** Little- and big-endian TIFF, and BigTIFF (version 43 instead of 42). */
const TIFF_STARTS = [
  [0x49, 0x49, 0x2a, 0x00],
  [0x4d, 0x4d, 0x00, 0x2a],
  [0x49, 0x49, 0x2b, 0x00],
  [0x4d, 0x4d, 0x00, 0x2b],
];

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEVC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);

export function sniffImage(head: Buffer): ImageFormat | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (startsWith(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  const ascii = head.toString('latin1', 0, Math.min(head.length, 12));
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return 'gif';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return 'webp';
  if (TIFF_STARTS.some((start) => startsWith(head, 0, start))) return 'tiff';
  return heifFormat(head) ?? undecodableFormat(head) ?? (isSvg(head) ? 'svg' : undefined);
}

const JP2_SIGNATURE = [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];
const JXL_CONTAINER = [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a];
/** BITMAPCOREHEADER, BITMAPINFOHEADER and its successors (V2–V5), OS/2's 64-byte header. */
const BMP_HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

function undecodableFormat(head: Buffer): ImageFormat | undefined {
  // A JPEG 2000 codestream starts with SOC then SIZ; a JP2 file with its signature box.
  if (startsWith(head, 0, JP2_SIGNATURE) || startsWith(head, 0, [0xff, 0x4f, 0xff, 0x51]))
    return 'jpeg 2000';
  // Its bare codestream's two bytes (FF 0A) are too weak a sign: the container alone is taken.
  if (startsWith(head, 0, JXL_CONTAINER)) return 'jpeg xl';
  // `8BPS`, version 1 (PSD) or 2 (PSB).
  if (startsWith(head, 0, [0x38, 0x42, 0x50, 0x53, 0x00]) && (head[5] === 1 || head[5] === 2))
    return 'psd';
  if (isBmp(head)) return 'bmp';
  return iconFormat(head);
}

/** `BM`, then the file size, reserved bytes, the pixels' offset and a known header's size. */
function isBmp(head: Buffer): boolean {
  if (head.length < 18 || head[0] !== 0x42 || head[1] !== 0x4d) return false;
  const pixelsAt = head.readUInt32LE(10);
  const headerSize = head.readUInt32LE(14);
  return BMP_HEADER_SIZES.has(headerSize) && pixelsAt >= 14 + headerSize;
}

/**
 * An icon or cursor directory: reserved 0, type 1 (icon) or 2 (cursor), a count, then 16-byte
 * entries. Four bytes of magic are weak (many files start with zeros), so every entry in the
 * head must be plausible: reserved byte 0, data of some size after the directory.
 */
function iconFormat(head: Buffer): ImageFormat | undefined {
  if (head.length < 22 || head.readUInt16LE(0) !== 0) return undefined;
  const type = head.readUInt16LE(2);
  const count = head.readUInt16LE(4);
  if ((type !== 1 && type !== 2) || count === 0) return undefined;
  const directoryEnd = 6 + 16 * count;
  for (let entry = 6; entry + 16 <= Math.min(head.length, directoryEnd); entry += 16) {
    const size = head.readUInt32LE(entry + 8);
    const offset = head.readUInt32LE(entry + 12);
    if (head[entry + 3] !== 0 || size === 0 || offset < directoryEnd) return undefined;
  }
  return type === 1 ? 'ico' : 'cur';
}

/**
 * An SVG document: its root element `<svg` comes first, after an optional byte order mark, XML
 * declaration, doctype (with its internal subset), comments, processing instructions and white
 * space. SVG is text, so nothing looser is taken: an HTML page with an inline `<svg>` is not one.
 */
export function isSvg(head: Buffer): boolean {
  let text = head.toString('utf8');
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  for (let at = 0; ;) {
    while (at < text.length && /\s/.test(text[at]!)) at++;
    if (text.startsWith('<svg', at)) return /^[\s>/]/.test(text.slice(at + 4, at + 5));
    const end = prologItemEnd(text, at);
    if (end === undefined) return false;
    at = end;
  }
}

/** Where the XML prolog item at `at` (declaration, comment, doctype) ends, if it is one. */
function prologItemEnd(text: string, at: number): number | undefined {
  const after = (close: string): number | undefined => {
    const found = text.indexOf(close, at);
    return found < 0 ? undefined : found + close.length;
  };
  if (text.startsWith('<?', at)) return after('?>');
  if (text.startsWith('<!--', at)) return after('-->');
  if (!text.startsWith('<!DOCTYPE', at)) return undefined;
  // The internal subset, in brackets, may hold `>` of its own declarations.
  const bracket = text.indexOf('[', at);
  const close = text.indexOf('>', at);
  if (close < 0) return undefined;
  if (bracket < 0 || bracket > close) return close + 1;
  const subsetEnd = text.indexOf(']', bracket);
  if (subsetEnd < 0) return undefined;
  const end = text.indexOf('>', subsetEnd);
  return end < 0 ? undefined : end + 1;
}

/**
 * An ISO-BMFF file's `ftyp` box (size, `ftyp`, major brand, minor version, compatible brands):
 * AVIF when any brand says AV1 images, HEIC when one says HEVC images; other ISO-BMFF files
 * (MP4 video, 3GP) are not images.
 */
function heifFormat(head: Buffer): ImageFormat | undefined {
  if (head.length < 16 || head.toString('latin1', 4, 8) !== 'ftyp') return undefined;
  const size = Math.min(head.readUInt32BE(0), head.length);
  const brands = [head.toString('latin1', 8, 12)];
  for (let offset = 16; offset + 4 <= size; offset += 4) {
    brands.push(head.toString('latin1', offset, offset + 4));
  }
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return 'avif';
  if (brands.some((brand) => HEVC_BRANDS.has(brand))) return 'heic';
  return undefined;
}

function startsWith(head: Buffer, offset: number, bytes: readonly number[]): boolean {
  return head.length >= offset + bytes.length && bytes.every((b, i) => head[offset + i] === b);
}

/**
 * Which image formats the classifier takes, told from a piece's first bytes: the formats the
 * bundled sharp (libvips) decodes. Others are not images to it: BMP (no decoder in sharp), SVG
 * (a drawing program rather than pixels), JPEG 2000 (no decoder either).
 */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'tiff' | 'heic';

/**
 * HEIF images coded in HEVC (`heic`): recognized, but sharp's build decodes only the AV1 kind
 * (AVIF), so they are reported unscannable rather than passed over as if they were not images.
 */
export const UNDECODABLE_FORMATS: ReadonlySet<ImageFormat> = new Set(['heic']);

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
  return heifFormat(head);
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

import type { EmbeddedImage } from '../../archives/index.js';
import { pngHolds, rowBytes, type RawImage } from './png.js';

/**
 * What the classifier is given for a piece: an image file as it stands (a JPEG in `DCTDecode`
 * too), samples to wrap in a PNG (a PDF image XObject's, `Member.image`), or why it cannot be
 * judged.
 */
export type EmbeddedImageInput =
  | { kind: 'file' }
  | { kind: 'raw'; raw: RawImage }
  | { kind: 'unsupported-method' | 'corrupt' | 'limits-exceeded'; detail: string };

/** JPEG's PDF filter: the stream's bytes are a JPEG file. */
const JPEG_CODECS = new Set(['DCTDecode', 'DCT']);

/** `length`: the bytes the container produced for it (its samples, once its filters are undone). */
export function embeddedImageInput(
  image: EmbeddedImage,
  length: number,
  maxPixels: number,
): EmbeddedImageInput {
  if (image.codec !== undefined) {
    if (JPEG_CODECS.has(image.codec)) return { kind: 'file' };
    // JPEG 2000, JBIG2, CCITT fax: no decoder here.
    return { kind: 'unsupported-method', detail: `${image.codec} images are not decoded` };
  }
  const { width, height, bitsPerComponent: bits } = image;
  if (!isDimension(width) || !isDimension(height) || !isDimension(bits))
    return { kind: 'corrupt', detail: 'an image without a valid width, height or sample size' };
  const palette = image.colors === 'indexed' ? image.palette : undefined;
  const channels = image.colors === 'gray' || palette ? 1 : image.colors === 'rgb' ? 3 : undefined;
  if (channels === undefined)
    return { kind: 'unsupported-method', detail: `images in ${image.colors} are not decoded` };
  if (!pngHolds(channels, bits, palette !== undefined))
    return {
      kind: 'unsupported-method',
      detail: `${bits}-bit ${image.colors} images are not decoded`,
    };
  if (width * height > maxPixels)
    return {
      kind: 'limits-exceeded',
      detail: `${width}×${height} pixels, over the limit of ${maxPixels}`,
    };
  const raw: RawImage = {
    width,
    height,
    channels,
    bitDepth: bits as RawImage['bitDepth'],
    ...(palette ? { palette } : {}),
  };
  const expected = rowBytes(raw) * height;
  // Fewer samples than the image has: what was not seen whole is not called clean.
  if (length < expected)
    return { kind: 'corrupt', detail: `${length} bytes of samples, ${expected} expected` };
  return { kind: 'raw', raw };
}

function isDimension(value: number | undefined): value is number {
  return value !== undefined && Number.isInteger(value) && value > 0;
}

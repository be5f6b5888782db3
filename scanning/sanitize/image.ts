import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { readImageStructure } from './image-structure.js';
import {
  DEFAULT_MAX_PIXELS,
  refused,
  removedList,
  type RemovedKind,
  type SanitizeInput,
  type SanitizeLimits,
  type SanitizeOutcome,
  type Sanitizer,
} from './sanitizer.js';

/**
 * JPEG, PNG, GIF, WebP and TIFF, decoded and encoded again in the same format with sharp. The
 * copy holds the pixels only (every frame of an animation, every page of a TIFF, with their
 * timing): no EXIF, XMP, IPTC, comments or text chunks, no ICC profile (colours are converted to
 * sRGB first, so they look the same), nothing after the format's end. A polyglot's second format
 * cannot survive that by construction; readImageStructure tells what was there to report.
 *
 * EXIF orientation is applied to the pixels before EXIF is dropped, so the copy shows the right
 * way up. The pixel count of all frames is checked against the limit from the header, before
 * any decoding, and sharp is given the same limit as a second guard.
 */
export function createImageSanitizer(): Sanitizer {
  return {
    format: 'image',
    accepts: (contentType) => IMAGE_TYPES.has(contentType),
    sanitize: sanitizeImage,
  };
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/tiff']);

/** JPEG is re-encoded lossily; at this quality the copy is visually the original. */
const JPEG_QUALITY = 90;
const WEBP_QUALITY = 90;

async function sanitizeImage(
  input: SanitizeInput,
  outPath: string,
  limits: SanitizeLimits,
  signal: AbortSignal,
): Promise<SanitizeOutcome> {
  const bytes = await readFile(input.path, { signal });
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const options = { limitInputPixels: maxPixels, pages: -1, failOn: 'error' as const };
  // The header alone, read without the pixel limit so that a bomb is refused with its size.
  const metadata = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0) * (metadata.pages ?? 1);
  if (pixels > maxPixels)
    return refused(
      `image of ${metadata.pages ?? 1} × ${metadata.width}×${metadata.height} pixels is over the limit of ${maxPixels} pixels`,
    );
  signal.throwIfAborted();

  const structure = readImageStructure(input.contentType, bytes);
  const removed: RemovedKind[] = [];
  if (structure.metadata || hasMetadata(metadata)) removed.push('metadata');
  if (structure.trailingBytes > 0) removed.push('trailing-data');

  let image = sharp(bytes, options).timeout({
    seconds: Math.max(1, Math.ceil(limits.timeoutMs / 1000)),
  });
  // Only a still image can carry an orientation to apply; frames are stacked in one tall image.
  if ((metadata.pages ?? 1) === 1 && (metadata.orientation ?? 1) > 1) image = image.autoOrient();
  await encodeAs(input.contentType, image, metadata, structure.lossless).toFile(outPath);
  return { available: true, contentType: input.contentType, removed: removedList(removed) };
}

function hasMetadata(metadata: Metadata): boolean {
  return Boolean(
    metadata.exif ??
    metadata.xmp ??
    metadata.iptc ??
    metadata.icc ??
    metadata.tifftagPhotoshop ??
    (metadata.comments && metadata.comments.length > 0),
  );
}

/** The same format again; without keepMetadata sharp writes no metadata and no ICC profile. */
function encodeAs(contentType: string, image: Sharp, metadata: Metadata, lossless: boolean): Sharp {
  const animation = { loop: metadata.loop, delay: metadata.delay };
  switch (contentType) {
    case 'image/jpeg':
      return image.jpeg({
        quality: JPEG_QUALITY,
        progressive: metadata.isProgressive ?? false,
        chromaSubsampling: metadata.chromaSubsampling === '4:4:4' ? '4:4:4' : '4:2:0',
      });
    case 'image/png':
      // Lossless: no palette quantisation, so every pixel keeps its value.
      return image.png({ compressionLevel: 6, palette: false });
    case 'image/gif':
      return image.gif(animation);
    case 'image/webp':
      return image.webp(
        lossless ? { lossless: true, ...animation } : { quality: WEBP_QUALITY, ...animation },
      );
    case 'image/tiff':
      return image.tiff({ compression: 'lzw' });
    default:
      throw new Error(`no image encoder for ${contentType}`);
  }
}

import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { IMAGE_TEST_TRIGGER } from '../../scanning/analysis/images/test-trigger.js';

/**
 * Images for the image classifier's tests, made at run time by sharp: smooth gradients and noise
 * (nothing a model could mistake for nudity, nothing offensive stored anywhere), and the
 * documented test trigger written into their metadata the way ordinary tools write it.
 */

export type ImageFormatName = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'tiff';

/** A width × height horizontal gradient, from dark blue to light grey, in `format`. */
export async function gradientImage(
  format: ImageFormatName,
  width = 64,
  height = 48,
): Promise<Buffer> {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = x / Math.max(1, width - 1);
      rgb.set(
        [Math.round(20 + 180 * t), Math.round(30 + 170 * t), 120 + Math.round(80 * t)],
        (y * width + x) * 3,
      );
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

/** A width × height image of grey noise, in `format` (a photograph's worth of detail). */
export function noiseImage(
  format: ImageFormatName,
  width: number,
  height: number,
): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  })
    .toFormat(format)
    .toBuffer();
}

/** A PNG with `text` in a `tEXt` chunk under `keyword`, right after its header (as tools put it). */
export function withPngText(png: Buffer, keyword: string, text: string): Buffer {
  const type = Buffer.from('tEXt', 'latin1');
  const body = Buffer.from(`${keyword}\0${text}`, 'latin1');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, body])));
  // Signature (8 bytes) and IHDR (25 bytes) first.
  return Buffer.concat([png.subarray(0, 33), length, type, body, crc, png.subarray(33)]);
}

/** A JPEG with `text` as a comment (`COM` segment) right after its start marker. */
export function withJpegComment(jpeg: Buffer, text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

/** An XMP packet whose description is `text`. */
export function xmpPacket(text: string): string {
  return (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">' +
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">' +
    `<dc:description>${text}</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>` +
    '<?xpacket end="w"?>'
  );
}

/** The documented test image as a PNG: a small gradient with the trigger in a `tEXt` chunk. */
export async function triggerPng(): Promise<Buffer> {
  return withPngText(await gradientImage('png'), 'Comment', IMAGE_TEST_TRIGGER);
}

/** The documented test image as a JPEG: the trigger in a comment segment. */
export async function triggerJpeg(): Promise<Buffer> {
  return withJpegComment(await gradientImage('jpeg'), IMAGE_TEST_TRIGGER);
}

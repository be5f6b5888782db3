import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { gradientImage, withJpegComment } from './images.js';
import { python } from './sanitize.js';

/**
 * Content for the tests of sanitized copies through the service: a photo with what a sanitized
 * copy must not keep, and an independent reader of what came back.
 */

/** Bytes appended after the JPEG's end marker: a script riding along (a polyglot). */
export const TRAILER = '<script>alert("after EOI")</script>';

/** A JPEG with a GPS position in its EXIF, a comment, and a script after its end marker. */
export async function photoWithGpsAndTrailer(): Promise<Buffer> {
  const tagged = await sharp(await gradientImage('jpeg', 96, 64))
    .withExif({
      IFD0: { Make: 'Arbiter Camera' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1', GPSLongitudeRef: 'E' },
    })
    .jpeg({ quality: 95 })
    .toBuffer();
  return Buffer.concat([withJpegComment(tagged, 'shot at home'), Buffer.from(TRAILER)]);
}

/** A JPEG as Python's standard library walks it: its segments (marker and first bytes) to EOI. */
export interface JpegLayout {
  markers: string[];
  /** Where EOI ends. */
  end: number;
  length: number;
}

const JPEG_LAYOUT = `
import sys, json
b = open(sys.argv[1], 'rb').read()
assert b[:2] == b'\\xff\\xd8', 'not a JPEG'
i, markers = 2, []
while True:
    assert b[i] == 0xff, 'lost in the segments'
    m = b[i + 1]
    if m == 0xd9:
        print(json.dumps({'markers': markers, 'end': i + 2, 'length': len(b)})); break
    n = int.from_bytes(b[i + 2:i + 4], 'big')
    markers.append('%02X' % m + ':' + b[i + 4:i + 8].decode('latin1'))
    i += 2 + n
    if m == 0xda:
        while not (b[i] == 0xff and b[i + 1] not in (0, 0xff) and not 0xd0 <= b[i + 1] <= 0xd7): i += 1
`;

/** Walks a JPEG's segments with Python (no code of the service's or of sharp's involved). */
export async function jpegLayout(bytes: Buffer): Promise<JpegLayout> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-jpeg-'));
  try {
    const file = path.join(dir, 'image.jpg');
    await writeFile(file, bytes);
    return JSON.parse(python(JPEG_LAYOUT, file)) as JpegLayout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Application segments (EXIF, XMP, ICC…) and comments among a JPEG's markers. */
export const metadataMarkers = (layout: JpegLayout): string[] =>
  layout.markers.filter((marker) => /^(E[1-9A-F]|FE)/.test(marker));

import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSanitizerSet } from '../../../scanning/sanitize/index.js';
import { gradientImage, withJpegComment, withPngText, xmpPacket } from '../../support/images.js';
import { python, sanitizeBench, type SanitizeBench } from '../../support/sanitize.js';

/**
 * Images are re-encoded in their own format: the copies are read back by Python (segments and
 * chunks walked by hand, zipfile for the polyglot) to prove metadata and trailing bytes gone,
 * and decoded to prove the pixels kept.
 */

const set = createSanitizerSet();
let bench: SanitizeBench;
beforeAll(async () => {
  bench = await sanitizeBench(set);
});
afterAll(async () => {
  await bench.dispose();
  set.close();
});

/** JPEG segments as Python reads them: each marker up to EOI, and where EOI ends. */
const JPEG_SEGMENTS = `
import sys, json
b = open(sys.argv[1], 'rb').read()
assert b[:2] == b'\\xff\\xd8'
i, markers = 2, []
while True:
    assert b[i] == 0xff
    m = b[i + 1]
    if m == 0xd9:
        print(json.dumps({'markers': markers, 'end': i + 2, 'length': len(b)})); break
    n = int.from_bytes(b[i + 2:i + 4], 'big')
    markers.append('%02X' % m + ':' + b[i + 4:i + 8].decode('latin1'))
    i += 2 + n
    if m == 0xda:
        while not (b[i] == 0xff and b[i + 1] not in (0, 0xff) and not 0xd0 <= b[i + 1] <= 0xd7): i += 1
`;

/** PNG chunk types as Python reads them, and where IEND ends. */
const PNG_CHUNKS = `
import sys, json, zipfile
b = open(sys.argv[1], 'rb').read()
i, types = 8, []
while True:
    n = int.from_bytes(b[i:i + 4], 'big'); t = b[i + 4:i + 8].decode('latin1'); types.append(t)
    i += 12 + n
    if t == 'IEND': break
print(json.dumps({'types': types, 'end': i, 'length': len(b), 'zip': zipfile.is_zipfile(sys.argv[1])}))
`;

function jpegSegments(file: string) {
  return JSON.parse(python(JPEG_SEGMENTS, file)) as {
    markers: string[];
    end: number;
    length: number;
  };
}

function pngChunks(file: string) {
  return JSON.parse(python(PNG_CHUNKS, file)) as {
    types: string[];
    end: number;
    length: number;
    zip: boolean;
  };
}

async function raw(image: Buffer, animated = false) {
  const { data, info } = await sharp(image, { animated })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** The largest difference of any sample between two decoded images of the same size. */
async function largestDifference(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([raw(a), raw(b)]);
  expect([y.width, y.height, y.channels]).toEqual([x.width, x.height, x.channels]);
  let largest = 0;
  for (let i = 0; i < x.data.length; i++)
    largest = Math.max(largest, Math.abs(x.data[i]! - y.data[i]!));
  return largest;
}

function zipOf(name: string, text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(text), name);
    zip.end();
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

function pngChunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
  return Buffer.concat([head, body, crc]);
}

describe('JPEG', () => {
  it('drops GPS EXIF, comments and the bytes after the end marker, and keeps the pixels', async () => {
    const clean = await gradientImage('jpeg', 96, 64);
    const tagged = await sharp(clean)
      .withExif({
        IFD0: { Make: 'Arbiter Camera', Copyright: 'Someone' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1', GPSLongitudeRef: 'E' },
      })
      .jpeg({ quality: 95 })
      .toBuffer();
    const input = Buffer.concat([
      withJpegComment(tagged, 'shot at home'),
      Buffer.from('<script>alert(1)</script>'),
    ]);
    const inputFile = await bench.write('gps.jpg', input);
    expect(jpegSegments(inputFile).markers.some((m) => m.startsWith('E1:Exif'))).toBe(true);

    const { outcome, copy, copyPath } = await bench.run(input, 'image/jpeg');

    expect(outcome).toEqual({
      available: true,
      contentType: 'image/jpeg',
      removed: ['metadata', 'trailing-data'],
    });
    const segments = jpegSegments(copyPath!);
    expect(segments.end).toBe(segments.length);
    expect(segments.markers.filter((m) => /^(E[1-9A-F]|FE)/.test(m))).toEqual([]);
    expect(copy!.includes('GPS')).toBe(false);
    expect(copy!.includes('shot at home')).toBe(false);
    expect(copy!.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect(await largestDifference(input, copy!)).toBeLessThanOrEqual(12);
  });

  it('lists nothing removed from a JPEG with neither metadata nor trailing bytes', async () => {
    const { outcome } = await bench.run(await gradientImage('jpeg'), 'image/jpeg');
    expect(outcome).toEqual({ available: true, contentType: 'image/jpeg', removed: [] });
  });

  it('turns the pixels by the EXIF orientation before dropping it', async () => {
    const upright = await gradientImage('jpeg', 80, 40);
    const rotated = await sharp(upright).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const { outcome, copy } = await bench.run(rotated, 'image/jpeg');
    expect(outcome).toMatchObject({ available: true, removed: ['metadata'] });
    const metadata = await sharp(copy).metadata();
    expect([metadata.width, metadata.height, metadata.orientation, metadata.exif]).toEqual([
      40,
      80,
      undefined,
      undefined,
    ]);
  });

  it('refuses a truncated JPEG, leaving nothing behind', async () => {
    const jpeg = await gradientImage('jpeg', 256, 256);
    const { outcome, leftovers } = await bench.run(jpeg.subarray(0, jpeg.length / 2), 'image/jpeg');
    expect(outcome.available).toBe(false);
    expect(!outcome.available && outcome.reason).toMatch(/^could not sanitize image\/jpeg: /);
    expect(leftovers).toEqual([]);
  });
});

describe('PNG', () => {
  it('drops text chunks and a zip appended after IEND (a polyglot), keeping every pixel', async () => {
    const png = withPngText(await gradientImage('png', 50, 30), 'Comment', 'hidden note');
    const polyglot = Buffer.concat([png, await zipOf('payload.js', 'WScript.Echo(1)')]);
    const inputFile = await bench.write('polyglot.png', polyglot);
    expect(pngChunks(inputFile)).toMatchObject({ zip: true });

    const { outcome, copy, copyPath } = await bench.run(polyglot, 'image/png');

    expect(outcome).toEqual({
      available: true,
      contentType: 'image/png',
      removed: ['metadata', 'trailing-data'],
    });
    const chunks = pngChunks(copyPath!);
    expect(chunks.zip).toBe(false);
    expect(chunks.end).toBe(chunks.length);
    expect(
      chunks.types.filter((t) => ['tEXt', 'zTXt', 'iTXt', 'eXIf', 'iCCP'].includes(t)),
    ).toEqual([]);
    expect(copy!.includes('hidden note')).toBe(false);
    expect(await largestDifference(png, copy!)).toBe(0);
  });

  it('drops XMP and ICC profiles that sharp reports', async () => {
    const png = await sharp(await gradientImage('png'))
      .withIccProfile('p3')
      .withXmp(xmpPacket('private'))
      .png()
      .toBuffer();
    const { outcome, copy, copyPath } = await bench.run(png, 'image/png');
    expect(outcome).toMatchObject({ available: true, removed: ['metadata'] });
    expect(
      pngChunks(copyPath!).types.filter((t) => !['IHDR', 'pHYs', 'IDAT', 'IEND'].includes(t)),
    ).toEqual([]);
    expect(copy!.includes('private')).toBe(false);
  });

  it('refuses a decompression bomb by its declared size, before decoding', async () => {
    const header = Buffer.alloc(13);
    header.writeUInt32BE(100_000, 0);
    header.writeUInt32BE(100_000, 4);
    header.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
    // A few rows of zeros: the file is tiny, the image it claims is 10 gigapixels.
    const rows = deflateSync(Buffer.alloc(100_001 * 16));
    const bomb = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', header),
      pngChunk('IDAT', rows),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
    const { outcome, leftovers } = await bench.run(bomb, 'image/png');
    expect(outcome).toEqual({
      available: false,
      reason: expect.stringMatching(/over the limit of \d+ pixels/) as unknown,
    });
    expect(leftovers).toEqual([]);
  });
});

describe('GIF, WebP and TIFF', () => {
  async function frames(format: 'gif' | 'webp' | 'tiff') {
    const colours = ['#c03020', '#20a040', '#3040c0'];
    const stills = await Promise.all(
      colours.map((background) =>
        sharp({ create: { width: 16, height: 12, channels: 3, background } })
          .png()
          .toBuffer(),
      ),
    );
    const joined = sharp(stills, { join: { animated: true } });
    if (format === 'gif') return joined.gif({ delay: [100, 200, 300], loop: 2 }).toBuffer();
    if (format === 'webp')
      return joined.webp({ lossless: true, delay: [100, 200, 300], loop: 2 }).toBuffer();
    return joined.tiff().toBuffer();
  }

  it('keeps a GIF animated, with its timing, and drops its comment and trailing bytes', async () => {
    const gif = await frames('gif');
    const comment = Buffer.from([0x21, 0xfe, 11, ...Buffer.from('hidden note'), 0]);
    // The comment goes right before the trailer; junk follows the trailer.
    const input = Buffer.concat([
      gif.subarray(0, -1),
      comment,
      gif.subarray(-1),
      Buffer.from('MZ junk'),
    ]);
    const { outcome, copy } = await bench.run(input, 'image/gif');
    expect(outcome).toEqual({
      available: true,
      contentType: 'image/gif',
      removed: ['metadata', 'trailing-data'],
    });
    expect(copy!.includes('hidden note')).toBe(false);
    expect(copy!.at(-1)).toBe(0x3b);
    const metadata = await sharp(copy).metadata();
    expect([metadata.pages, metadata.delay, metadata.loop]).toEqual([3, [100, 200, 300], 2]);
  });

  it('keeps a lossless animated WebP lossless and animated, without its EXIF', async () => {
    const webp = await sharp(await frames('webp'), { animated: true })
      .withExif({ IFD0: { Copyright: 'Someone' } })
      .webp({ lossless: true })
      .toBuffer();
    expect((await sharp(webp).metadata()).exif).toBeDefined();
    const { outcome, copy } = await bench.run(webp, 'image/webp');
    expect(outcome).toEqual({ available: true, contentType: 'image/webp', removed: ['metadata'] });
    const metadata = await sharp(copy).metadata();
    expect([metadata.pages, metadata.delay, metadata.exif]).toEqual([
      3,
      [100, 200, 300],
      undefined,
    ]);
    const [before, after] = await Promise.all([raw(webp, true), raw(copy!, true)]);
    expect(after.data.equals(before.data)).toBe(true);
  });

  it('keeps every page of a TIFF, without its XMP', async () => {
    const tiff = await sharp(await frames('tiff'), { pages: -1 })
      .withXmp(xmpPacket('Someone'))
      .tiff()
      .toBuffer();
    const { outcome, copy } = await bench.run(tiff, 'image/tiff');
    expect(outcome).toEqual({ available: true, contentType: 'image/tiff', removed: ['metadata'] });
    expect(copy!.includes('Someone')).toBe(false);
    expect((await sharp(copy).metadata()).pages).toBe(3);
  });
});

describe('limits and refusals', () => {
  it('refuses content of a type no sanitizer takes, naming the type', async () => {
    const { outcome, leftovers } = await bench.run(
      Buffer.from('MZ\x90\x00'),
      'application/x-msdownload',
    );
    expect(outcome).toEqual({
      available: false,
      reason: 'no sanitizer for application/x-msdownload',
    });
    expect(leftovers).toEqual([]);
  });

  it('refuses an input over the byte limit without reading it', async () => {
    const jpeg = await gradientImage('jpeg');
    const { outcome } = await bench.run(jpeg, 'image/jpeg', { maxBytes: jpeg.length - 1 });
    expect(outcome).toEqual({
      available: false,
      reason: `image/jpeg content of ${jpeg.length} bytes is over the limit of ${jpeg.length - 1} bytes`,
    });
  });

  it('refuses a copy that would be over the byte limit', async () => {
    // A palette PNG grows when written back as RGB, past a limit the input is under.
    const png = await sharp(await gradientImage('png', 200, 200))
      .png({ palette: true, colours: 4 })
      .toBuffer();
    const { outcome, leftovers } = await bench.run(png, 'image/png', { maxBytes: png.length });
    expect(outcome).toEqual({
      available: false,
      reason: expect.stringMatching(
        /^the sanitized image\/png of \d+ bytes is over the limit of \d+ bytes$/,
      ) as unknown,
    });
    expect(leftovers).toEqual([]);
  });

  it('refuses when the work takes longer than the time limit, leaving nothing behind', async () => {
    const big = await sharp({
      create: {
        width: 3000,
        height: 3000,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .png()
      .toBuffer();
    const { outcome, leftovers, leftoversNow } = await bench.run(big, 'image/png', {
      timeoutMs: 1,
    });
    expect(outcome).toEqual({
      available: false,
      reason: 'sanitizing image/png took longer than the limit of 1 ms',
    });
    expect(leftovers.filter((name) => name === 'copy')).toEqual([]);
    await expect.poll(leftoversNow, { timeout: 30_000 }).toEqual([]);
  });
});

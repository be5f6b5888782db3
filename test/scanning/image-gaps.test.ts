import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream/promises';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import { ImageAnalyzer } from '../../scanning/analysis/images/image-analyzer.js';
import { isSvg, sniffImage } from '../../scanning/analysis/images/image-format.js';
import { IMAGE_TEST_TRIGGER } from '../../scanning/analysis/images/test-trigger.js';
import { pdfFormat } from '../../scanning/archives/formats/pdf.js';
import { walkContent } from '../../scanning/archives/index.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { DEFAULT_LIMITS, formatWorkspace, zip } from '../support/archives.js';
import { gradientImage } from '../support/images.js';
import { writeBmp } from '../support/bmp.js';
import { qpdf, writePdf, type PdfBody } from '../support/pdf.js';

/**
 * Images the classifier once passed over without a word: PDF images stored as bare samples or in
 * codecs without a file format, image formats sharp has no decoder for, SVG drawings. Each is
 * now classified or reported unscannable. Fixtures are made at run time (gradients: nothing
 * offensive); threshold 0 proves an image was classified, threshold 1 that it is clean.
 */

const NUDITY = 'content.image.nsfw.nudity';
const UNSUPPORTED = 'content.unscannable.image.unsupported-method';
const CORRUPT = 'content.unscannable.image.corrupt';

const imagePlan = (imageThreshold: number): ScanPlan => ({
  ...defaultPlan('t1'),
  categories: ['malware', 'unsafe_image'],
  imageThreshold,
});

const WIDTH = 64;
const HEIGHT = 48;

/** A WIDTH × HEIGHT gradient's bare samples: `channels` bytes a pixel, rows one after another. */
function gradientSamples(channels: 1 | 3 | 4): Buffer {
  const samples = Buffer.alloc(WIDTH * HEIGHT * channels);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const value = Math.round((255 * x) / (WIDTH - 1));
      for (let c = 0; c < channels; c++)
        samples[(y * WIDTH + x) * channels + c] = (value + 40 * c) & 0xff;
    }
  }
  return samples;
}

/** A one-page PDF drawing image object 4; `extra` objects follow it, numbered from 5. */
function imagePdf(image: PdfBody, ...extra: PdfBody[]): Buffer {
  return writePdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${WIDTH} ${HEIGHT}] /Resources << /XObject << /Im1 4 0 R >> >> >>`,
    image,
    ...extra,
  ]);
}

const imageDict = (entries: string) =>
  `/Type /XObject /Subtype /Image /Width ${WIDTH} /Height ${HEIGHT} ${entries}`;

/** Rows each behind a PNG filter byte of 0, as a `/Predictor 15` stream holds them. */
function withPngPredictor(samples: Buffer, rowBytes: number): Buffer {
  const rows: Buffer[] = [];
  for (let at = 0; at < samples.length; at += rowBytes)
    rows.push(Buffer.from([0]), samples.subarray(at, at + rowBytes));
  return Buffer.concat(rows);
}

describe('images the classifier used to pass over', () => {
  const { ws, formats } = formatWorkspace();
  const analyzer = new ImageAnalyzer({
    threads: 1,
    timeoutMs: 60_000,
    maxBytes: 32 * 1024 * 1024,
    maxPixels: 64_000_000,
  });
  const engine = new AnalysisEngine([analyzer], {
    archive: DEFAULT_LIMITS,
    formats,
    scratchDir: ws.scratchDir,
  });
  afterAll(() => analyzer.close());

  async function analyze(content: Buffer, plan: ScanPlan, name = 'upload') {
    const path = ws.write(content);
    return engine.scan({ path, size: content.length, name }, plan);
  }

  /** Each detection as [last path element, finding, signature]. */
  async function judged(content: Buffer, threshold: number, name = 'document.pdf') {
    const [verdict] = await analyze(content, imagePlan(threshold), name);
    return verdict?.detections?.map((d) => [d.path.at(-1), d.finding, d.signature]);
  }

  describe('PDF images', () => {
    const flateRgb = imagePdf({
      dict: imageDict('/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode'),
      data: zlib.deflateSync(gradientSamples(3)),
    });

    it('classifies an RGB image stored as deflated samples, and finds it clean at threshold 1', async () => {
      expect(await judged(flateRgb, 0)).toEqual([
        ['stream-4-0.bin', NUDITY, expect.stringMatching(/^nudity /)],
      ]);
      expect(await judged(flateRgb, 1)).toEqual([]);
    });

    it('classifies gray, 16-bit, predicted and palette samples, a stencil mask, indirect colour spaces', async () => {
      const rgb = gradientSamples(3);
      const rgb16 = Buffer.alloc(rgb.length * 2);
      rgb.forEach((value, i) => rgb16.writeUInt16BE(value * 257, i * 2));
      const mask = Buffer.alloc((WIDTH / 8) * HEIGHT, 0b10110010);
      const pdf = writePdf([
        '<< /Type /Catalog >>',
        {
          dict: imageDict('/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode'),
          data: zlib.deflateSync(gradientSamples(1)),
        },
        {
          dict: imageDict('/ColorSpace /DeviceRGB /BitsPerComponent 16 /Filter /FlateDecode'),
          data: zlib.deflateSync(rgb16),
        },
        {
          dict: imageDict(
            `/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 3 /Columns ${WIDTH} >>`,
          ),
          data: zlib.deflateSync(withPngPredictor(rgb, WIDTH * 3)),
        },
        { dict: imageDict('/ImageMask true /Filter /FlateDecode'), data: zlib.deflateSync(mask) },
        // `/ColorSpace 7 0 R`, object 7 being `[/ICCBased 8 0 R]` and 8 the profile (N 3).
        {
          dict: imageDict('/ColorSpace 7 0 R /BitsPerComponent 8 /Filter /FlateDecode'),
          data: zlib.deflateSync(rgb),
        },
        '[/ICCBased 8 0 R]',
        { dict: '/N 3 /Alternate /DeviceRGB', data: Buffer.from('not a real profile') },
        // Palette images: 8-bit on RGB, inline; 4-bit on gray, through an indirect colour space.
        {
          dict: imageDict(
            `/ColorSpace [/Indexed /DeviceRGB 2 <${'ff0000' + '00ff00' + '2040c0'}>] /BitsPerComponent 8`,
          ),
          data: Buffer.from(gradientSamples(1).map((value) => value % 3)),
        },
        {
          dict: imageDict('/ColorSpace 11 0 R /BitsPerComponent 4 /Filter /FlateDecode'),
          data: zlib.deflateSync(Buffer.alloc((WIDTH / 2) * HEIGHT, 0x5a)),
        },
        '[/I /DeviceGray 15 <00112233445566778899aabbccddeeff>]',
      ]);
      expect((await judged(pdf, 0))?.map(([name, finding]) => [name, finding])).toEqual(
        // Sorted by path: stream-10 before stream-2.
        ['10', '2', '3', '4', '5', '6', '9'].map((num) => [`stream-${num}-0.bin`, NUDITY]),
      );
    });

    it('reports JPEG 2000, JBIG2, CCITT, CMYK images and palettes it cannot read as unsupported', async () => {
      const pdf = writePdf([
        '<< /Type /Catalog >>',
        {
          dict: imageDict('/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /JPXDecode'),
          data: Buffer.from([0xff, 0x4f, 0xff, 0x51, 0, 0x29]),
        },
        {
          dict: imageDict('/BitsPerComponent 1 /ColorSpace /DeviceGray /Filter /JBIG2Decode'),
          data: Buffer.from('jbig2 data'),
        },
        {
          dict: imageDict(
            '/BitsPerComponent 1 /ColorSpace /DeviceGray /Filter [/FlateDecode /CCITTFaxDecode]',
          ),
          data: zlib.deflateSync(Buffer.from('fax data')),
        },
        {
          dict: imageDict('/ColorSpace /DeviceCMYK /BitsPerComponent 8 /Filter /FlateDecode'),
          data: zlib.deflateSync(gradientSamples(4)),
        },
        {
          dict: imageDict('/ColorSpace [/Indexed /DeviceRGB 1 7 0 R] /BitsPerComponent 8'),
          data: gradientSamples(1),
        },
        {
          dict: imageDict('/ColorSpace [/Indexed /DeviceCMYK 0 <00000000>] /BitsPerComponent 8'),
          data: gradientSamples(1),
        },
        { dict: '', data: Buffer.from('000000ffffff', 'hex') },
      ]);
      expect(await judged(pdf, 0)).toEqual([
        ['stream-2-0.bin', UNSUPPORTED, 'JPXDecode images are not decoded'],
        ['stream-3-0.bin', UNSUPPORTED, 'JBIG2Decode images are not decoded'],
        ['stream-4-0.bin', UNSUPPORTED, 'CCITTFaxDecode images are not decoded'],
        ['stream-5-0.bin', UNSUPPORTED, 'images in DeviceCMYK are not decoded'],
        [
          'stream-6-0.bin',
          UNSUPPORTED,
          'images in Indexed with its palette in a stream are not decoded',
        ],
        ['stream-7-0.bin', UNSUPPORTED, 'images in Indexed on DeviceCMYK are not decoded'],
      ]);
    });

    it('reads a palette inline, decrypted in an encrypted document, directly or through an object', async () => {
      // qpdf keeps only what the page uses.
      const pdf = writePdf([
        '<< /Type /Catalog /Pages 2 0 R >>',
        '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
        '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 64 48] /Resources << /XObject << /Im1 4 0 R /Im2 5 0 R >> >> >>',
        {
          dict: imageDict('/ColorSpace [/Indexed /DeviceRGB 1 <ff00000000ff>] /BitsPerComponent 8'),
          data: gradientSamples(1),
        },
        {
          dict: imageDict('/ColorSpace 6 0 R /BitsPerComponent 8'),
          data: gradientSamples(1),
        },
        '[/Indexed /DeviceGray 1 <40c0>]',
      ]);
      const palettes = async (document: Buffer) => {
        const found: string[] = [];
        const path = ws.write(document);
        await walkContent(
          { path, size: document.length, name: 'doc.pdf' },
          DEFAULT_LIMITS,
          async (member) => {
            member.stream.resume();
            await finished(member.stream);
            if (member.image?.palette) found.push(member.image.palette.toString('hex'));
          },
          { formats: [pdfFormat] },
        );
        return found.sort();
      };
      const expected = ['404040c0c0c0', 'ff00000000ff'];
      expect(await palettes(pdf)).toEqual(expected);
      // RC4 (strings decrypted with a key of the object holding them) and AES-256.
      for (const bits of ['128', '256']) {
        const weak = bits === '128';
        const encrypted = qpdf(pdf, [
          ...(weak ? ['--allow-weak-crypto'] : []),
          '--encrypt',
          '',
          'owner',
          bits,
          ...(weak ? ['--use-aes=n'] : []),
          '--',
        ]);
        expect(encrypted.toString('latin1')).toContain('/Encrypt');
        expect(await palettes(encrypted), bits).toEqual(expected);
      }
    });

    it('reports an image with fewer samples than its size calls for as corrupt', async () => {
      const pdf = imagePdf({
        dict: imageDict('/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode'),
        data: zlib.deflateSync(gradientSamples(3).subarray(0, 1000)),
      });
      expect(await judged(pdf, 0)).toEqual([
        ['stream-4-0.bin', CORRUPT, `1000 bytes of samples, ${WIDTH * HEIGHT * 3} expected`],
      ]);
    });

    it('changes nothing for a scan without the category: the same members, nothing found', async () => {
      const jpx = imagePdf({
        dict: imageDict('/ColorSpace /DeviceCMYK /BitsPerComponent 8 /Filter /JPXDecode'),
        data: Buffer.from([0xff, 0x4f, 0xff, 0x51, 0, 0x29]),
      });
      for (const pdf of [flateRgb, jpx]) {
        const walked = await ws.walk(pdf, 'doc.pdf', DEFAULT_LIMITS, [pdfFormat]);
        expect(walked.visited.map((member) => member.path)).toEqual([
          'doc.pdf',
          'doc.pdf/stream-4-0.bin',
        ]);
        expect(walked.unscannable).toEqual([]);
        // The member is the stream's bytes as the walker decodes them: the samples themselves.
        if (pdf === flateRgb) expect(walked.visited[1]?.data).toEqual(gradientSamples(3));
        const idle = new ImageAnalyzer({
          threads: 1,
          timeoutMs: 1000,
          maxBytes: 1e6,
          maxPixels: 1e6,
        });
        const idleEngine = new AnalysisEngine([idle], { archive: DEFAULT_LIMITS, formats });
        const path = ws.write(pdf);
        expect(await idleEngine.scan({ path, size: pdf.length }, defaultPlan('t1'))).toEqual([]);
        expect(idle.started).toBe(false);
        await idle.close();
      }
    });
  });

  describe('image formats sharp has no decoder for', () => {
    it('recognises BMP, JPEG 2000, JPEG XL, icons, cursors and Photoshop documents', () => {
      const bmp = Buffer.alloc(54);
      bmp.write('BM', 0, 'latin1');
      bmp.writeUInt32LE(54, 2);
      bmp.writeUInt32LE(54, 10);
      bmp.writeUInt32LE(40, 14);
      const icon = (type: number) => {
        const head = Buffer.alloc(22 + 40);
        head.writeUInt16LE(type, 2);
        head.writeUInt16LE(1, 4);
        head.writeUInt32LE(40, 6 + 8);
        head.writeUInt32LE(22, 6 + 12);
        return head;
      };
      const box = (type: string) =>
        Buffer.concat([
          Buffer.from([0, 0, 0, 12]),
          Buffer.from(type, 'latin1'),
          Buffer.from([13, 10, 0x87, 10]),
        ]);
      const cases: [Buffer, string][] = [
        [bmp, 'bmp'],
        [box('jP  '), 'jpeg 2000'],
        [Buffer.from([0xff, 0x4f, 0xff, 0x51, 0, 0x29]), 'jpeg 2000'],
        [box('JXL '), 'jpeg xl'],
        [icon(1), 'ico'],
        [icon(2), 'cur'],
        [Buffer.from('8BPS\0\x01\0\0\0\0\0\0', 'latin1'), 'psd'],
      ];
      for (const [head, format] of cases) expect(sniffImage(head), format).toBe(format);
      // Zeros, and a directory whose entry points inside itself, are not icons.
      expect(sniffImage(Buffer.alloc(64))).toBeUndefined();
      const bad = icon(1);
      bad.writeUInt32LE(4, 6 + 12);
      expect(sniffImage(bad)).toBeUndefined();
    });

    it('reports a JPEG 2000 image as unsupported, and classifies a BMP unless run-length coded', async () => {
      const jp2 = Buffer.concat([
        Buffer.from([0, 0, 0, 12]),
        Buffer.from('jP  ', 'latin1'),
        Buffer.from([13, 10, 0x87, 10]),
        Buffer.alloc(100),
      ]);
      const samples = gradientSamples(3);
      const rows = Array.from({ length: HEIGHT }, (_, y) => [
        ...samples.subarray(y * WIDTH * 3, (y + 1) * WIDTH * 3),
      ]);
      const bmp = writeBmp({ width: WIDTH, height: HEIGHT, bits: 24, rows });
      const rle = writeBmp({
        width: 2,
        height: 1,
        bits: 8,
        compression: 1,
        palette: [[0, 0, 0]],
        rows: [[2, 0, 0, 1]],
      });
      const archive = await zip([
        { name: 'photo.jp2', data: jp2 },
        { name: 'photo.bmp', data: bmp },
        { name: 'packed.bmp', data: rle },
      ]);
      expect(await judged(archive, 0, 'photos.zip')).toEqual([
        ['packed.bmp', UNSUPPORTED, 'BMP coding 1 at 8 bits a pixel is not decoded'],
        ['photo.bmp', NUDITY, expect.stringMatching(/^nudity /)],
        ['photo.jp2', UNSUPPORTED, 'jpeg 2000 images are not decoded'],
      ]);
      expect(await judged(bmp, 1, 'photo.bmp')).toEqual([]);
    });
  });

  describe('SVG drawings', () => {
    let server: Server;
    let requests: string[];
    let origin: string;
    beforeAll(async () => {
      requests = [];
      server = createServer((request, response) => {
        requests.push(request.url ?? '');
        void gradientImage('png').then((png) => response.end(png));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const svg = (body: string, prolog = '') =>
      Buffer.from(
        `${prolog}<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="48">${body}</svg>`,
      );
    const shapes =
      '<rect width="64" height="48" fill="#336"/><circle cx="32" cy="24" r="12" fill="#cc8"/>';

    it('is recognised after a declaration, doctype and comments, and not inside HTML', () => {
      const prolog =
        '\uFEFF<?xml version="1.0"?>\n<!DOCTYPE svg [ <!ENTITY x "y"> ]>\n<!-- drawn by hand -->\n';
      expect(isSvg(svg(shapes, prolog))).toBe(true);
      expect(isSvg(Buffer.from('<html><body><svg width="1"></svg></body></html>'))).toBe(false);
      expect(isSvg(Buffer.from('<svgfoo/>'))).toBe(false);
    });

    it('renders and classifies an SVG, and a drawing declared huge still fits', async () => {
      expect(await judged(svg(shapes), 0, 'drawing.svg')).toEqual([
        ['drawing.svg', NUDITY, expect.stringMatching(/^nudity /)],
      ]);
      expect(await judged(svg(shapes), 1, 'drawing.svg')).toEqual([]);
      const huge = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="200000" height="150000" viewBox="0 0 64 48">${shapes}</svg>`,
      );
      expect((await judged(huge, 0, 'huge.svg'))?.map(([, finding]) => finding)).toEqual([NUDITY]);
    });

    it('draws an embedded data: image but never loads an external one, from the network or a file', async () => {
      const png = (await gradientImage('png')).toString('base64');
      const onDisk = ws.write(await gradientImage('png'));
      const drawing = svg(
        `<image href="file://${onDisk}" width="64" height="48"/>` +
          `<image href="${origin}/remote.png" width="64" height="48"/>` +
          `<image xlink:href="${origin}/old-style.png" width="64" height="48"/>` +
          `<image href="data:image/png;base64,${png}" x="16" y="12" width="32" height="24"/>`,
      );
      const rendered = await sharp(drawing).raw().toBuffer({ resolveWithObject: true });
      // The data: image is drawn: the centre pixel is not transparent; the external images,
      // over the whole drawing, are not: its corner is.
      const centre = (24 * rendered.info.width + 32) * rendered.info.channels;
      expect(rendered.data[centre + 3]).toBe(255);
      expect(rendered.data[3]).toBe(0);
      // The drawing is rendered and classified, and the walker hands its data: image over as a
      // member of its own, classified too: the one detection is named at the innermost place.
      expect(await judged(drawing, 0, 'drawing.svg')).toEqual([
        ['data-uri-1.png', NUDITY, expect.stringMatching(/^nudity /)],
      ]);
      expect(requests).toEqual([]);
    });

    it('carries the test trigger anywhere in its text', async () => {
      const marked = svg(`<!-- ${IMAGE_TEST_TRIGGER} -->${shapes}`);
      expect(await judged(marked, 1, 'drawing.svg')).toEqual([
        ['drawing.svg', NUDITY, 'test trigger'],
      ]);
    });
  });
});

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import type {
  ClassifyOutcome,
  ClassifyTask,
} from '../../scanning/analysis/images/classify-task.js';
import {
  ImageAnalyzer,
  type ImageAnalyzerOptions,
} from '../../scanning/analysis/images/image-analyzer.js';
import { sniffImage } from '../../scanning/analysis/images/image-format.js';
import { wasmDirectory } from '../../scanning/analysis/images/model-files.js';
import { NSFW_CLASSES } from '../../scanning/analysis/images/nudity.js';
import { IMAGE_TEST_TRIGGER } from '../../scanning/analysis/images/test-trigger.js';
import { ThreadPool } from '../../scanning/analysis/thread-pool.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { DEFAULT_LIMITS, formatWorkspace, zip } from '../support/archives.js';
import {
  gradientImage,
  noiseImage,
  triggerJpeg,
  triggerPng,
  withPngText,
  xmpPacket,
  type ImageFormatName,
} from '../support/images.js';
import { emlMessage } from '../support/mail-formats.js';
import { writePdf } from '../support/pdf.js';
import sharp from 'sharp';

/**
 * The image classifier (`unsafe_image`) on real images made by sharp at run time (gradients,
 * noise: nothing offensive anywhere), through the real analysis engine, thread pool, sharp and
 * nsfwjs model: what it finds, where, and what it reports for what it cannot classify.
 */

const NUDITY = 'content.image.nsfw.nudity';

/** The 8×8 test PNG docs/engines.md gives clients ("The test image"). */
const DOCUMENTED_TEST_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAQHRFWHRDb21tZW50AEFSQklURVItVEVTVC1OVURJVFktMDM1QzkyRTQtQTIxQi00OTUzLThCRkEtQTAwQkZBQkY4NUM56ClVHgAAAAlwSFlzAAAD6AAAA+gBtXtSawAAAA9JREFUCNdjaMABGIaWBACC82ABlDMZlAAAAABJRU5ErkJggg==';
const VERSION = /^nsfwjs \d+\.\d+\.\d+ MobileNetV2$/;

const imagePlan = (imageThreshold = 0.7): ScanPlan => ({
  ...defaultPlan('t1'),
  categories: ['malware', 'unsafe_image'],
  imageThreshold,
});

const OPTIONS: ImageAnalyzerOptions = {
  threads: 1,
  timeoutMs: 60_000,
  maxBytes: 32 * 1024 * 1024,
  maxPixels: 64_000_000,
};

describe('the image analyzer', () => {
  const { ws, formats } = formatWorkspace();
  const analyzer = new ImageAnalyzer(OPTIONS);
  const engine = new AnalysisEngine([analyzer], {
    archive: DEFAULT_LIMITS,
    formats,
    scratchDir: ws.scratchDir,
  });
  afterAll(() => analyzer.close());

  async function analyze(content: Buffer, plan = imagePlan(), name = 'upload') {
    const path = ws.write(content);
    return engine.scan({ path, size: content.length, name }, plan);
  }

  it('runs the model on a real image: every class scored, the scores a distribution', async () => {
    const pool = new ThreadPool<ClassifyTask, ClassifyOutcome>(
      new URL('../../scanning/analysis/images/classifier-worker.js', import.meta.url),
      {
        name: 'classifier',
        threads: 1,
        timeoutMs: 60_000,
        workerData: { wasmDir: wasmDirectory() },
      },
    );
    try {
      const image = new Uint8Array(await noiseImage('jpeg', 640, 480));
      const outcome = await pool.run({ image, maxPixels: 1_000_000 });
      expect(outcome.kind).toBe('classified');
      if (outcome.kind !== 'classified') return;
      expect(Object.keys(outcome.scores).sort()).toEqual([...NSFW_CLASSES].sort());
      const sum = Object.values(outcome.scores).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 3);
      expect(outcome.testTrigger).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('reports an image whose nudity score reaches the threshold, with the score and the model', async () => {
    const [verdict] = await analyze(await gradientImage('jpeg'), imagePlan(0));
    expect(verdict?.engine).toBe('nsfwjs');
    expect(verdict?.version).toMatch(VERSION);
    expect(verdict?.findings).toEqual([NUDITY]);
    expect(verdict?.detections?.[0]?.signature).toMatch(
      /^nudity \d\.\d\d \(Porn \d\.\d\d, Hentai \d\.\d\d\)$/,
    );
  });

  it('reports nothing below the threshold', async () => {
    const [verdict] = await analyze(await gradientImage('jpeg'), imagePlan(1));
    expect(verdict?.version).toMatch(VERSION);
    expect(verdict?.findings).toEqual([]);
  });

  it('classifies JPEG, PNG, GIF, WebP, AVIF and TIFF images', async () => {
    const names: ImageFormatName[] = ['jpeg', 'png', 'gif', 'webp', 'avif', 'tiff'];
    const members = await Promise.all(
      names.map(async (name) => ({ name: `image.${name}`, data: await gradientImage(name) })),
    );
    const [verdict] = await analyze(await zip(members), imagePlan(0), 'images.zip');
    // Detections come sorted by path.
    expect(verdict?.detections?.map((d) => [d.path.at(-1), d.finding])).toEqual(
      [...names].sort().map((name) => [`image.${name}`, NUDITY]),
    );
  });

  it('classifies an animated GIF (its first frame) and an image with transparency', async () => {
    const frames = await Promise.all(
      ['png', 'jpeg', 'png'].map((f) => gradientImage(f as ImageFormatName)),
    );
    const animated = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(animated).metadata()).pages).toBe(3);
    const transparent = await sharp({
      create: { width: 32, height: 32, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const archive = await zip([
      { name: 'animated.gif', data: animated },
      { name: 'transparent.png', data: transparent },
    ]);
    const [verdict] = await analyze(archive, imagePlan(0));
    expect(verdict?.detections?.map((d) => d.finding)).toEqual([NUDITY, NUDITY]);
  });

  it('reports the documented test image, whatever the threshold', async () => {
    for (const image of [await triggerPng(), await triggerJpeg()]) {
      const [verdict] = await analyze(image, imagePlan(1));
      expect(verdict?.findings).toEqual([NUDITY]);
      expect(verdict?.detections?.[0]?.signature).toBe('test trigger');
    }
  });

  it('reports the ready-made test image given in docs/engines.md', async () => {
    expect(readFileSync(new URL('../../docs/engines.md', import.meta.url), 'utf8')).toContain(
      DOCUMENTED_TEST_PNG,
    );
    const [verdict] = await analyze(Buffer.from(DOCUMENTED_TEST_PNG, 'base64'), imagePlan());
    expect(verdict?.detections?.[0]?.signature).toBe('test trigger');
  });

  it('finds the trigger in an XMP packet (WebP) and in a PNG text chunk under any keyword', async () => {
    const webp = await sharp(await gradientImage('png'))
      .withXmp(xmpPacket(IMAGE_TEST_TRIGGER))
      .webp()
      .toBuffer();
    const png = withPngText(await gradientImage('png'), 'Description', `see ${IMAGE_TEST_TRIGGER}`);
    for (const image of [webp, png]) {
      const [verdict] = await analyze(image, imagePlan(1));
      expect(verdict?.detections?.[0]?.signature).toBe('test trigger');
    }
  });

  it('does not take a near miss of the trigger text for the trigger', async () => {
    const png = withPngText(await gradientImage('png'), 'Comment', IMAGE_TEST_TRIGGER.slice(0, -1));
    const [verdict] = await analyze(png, imagePlan(1));
    expect(verdict?.findings).toEqual([]);
  });

  it('finds the test image inside a zip, a mail attachment and a PDF', async () => {
    const jpeg = await triggerJpeg();
    const inZip = await zip([{ name: 'photos/beach.jpg', data: jpeg }]);
    const inMail = emlMessage({
      attachments: [{ name: 'beach.jpg', data: jpeg, type: 'image/jpeg' }],
    });
    // A PDF's JPEG image is a DCTDecode stream: its bytes are the JPEG file itself.
    const inPdf = writePdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 64 48] /Resources << /XObject << /Im1 4 0 R >> >> >>',
      {
        dict: '/Type /XObject /Subtype /Image /Width 64 /Height 48 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode',
        data: jpeg,
      },
    ]);
    for (const [content, name] of [
      [inZip, 'photos.zip'],
      [inMail, 'message.eml'],
      [inPdf, 'document.pdf'],
    ] as const) {
      const [verdict] = await analyze(content, imagePlan(1), name);
      expect(verdict?.findings, name).toEqual([NUDITY]);
      expect(verdict?.detections?.[0]?.path[0]).toBe(name);
      expect(verdict?.detections?.[0]?.path.length, name).toBeGreaterThan(1);
    }
  });

  it('reports an image it cannot decode as corrupt', async () => {
    const png = await gradientImage('png');
    const [verdict] = await analyze(png.subarray(0, 60));
    expect(verdict?.findings).toEqual(['content.unscannable.image.corrupt']);
  });

  it('reports a truncated image as corrupt, and classifies one a decoder merely warns about', async () => {
    const jpeg = await noiseImage('jpeg', 320, 240);
    const [truncated] = await analyze(jpeg.subarray(0, jpeg.length >> 1));
    expect(truncated?.findings).toEqual(['content.unscannable.image.corrupt']);
    expect(truncated?.detections?.[0]?.signature).toMatch(/premature end/i);
    // Two stray bytes after the first segment: libjpeg warns and decodes on.
    const firstEnd = 4 + jpeg.readUInt16BE(4);
    const stray = Buffer.concat([
      jpeg.subarray(0, firstEnd),
      Buffer.from([0, 0]),
      jpeg.subarray(firstEnd),
    ]);
    const [warned] = await analyze(stray, imagePlan(0));
    expect(warned?.findings).toEqual([NUDITY]);
  });

  it('reports an HEVC-coded HEIF image, which it has no decoder for, as unsupported', async () => {
    const heic = Buffer.concat([
      Buffer.from([0, 0, 0, 24]),
      Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'),
      Buffer.alloc(64),
    ]);
    const [verdict] = await analyze(heic);
    expect(verdict?.findings).toEqual(['content.unscannable.image.unsupported-method']);
  });

  it('leaves what is not an image alone', async () => {
    const mp4 = Buffer.concat([
      Buffer.from([0, 0, 0, 20]),
      Buffer.from('ftypisom\0\0\0\0mp41', 'latin1'),
    ]);
    expect(sniffImage(mp4)).toBeUndefined();
    expect(sniffImage(Buffer.from('BM\x36\0\0\0\0\0\0\0\x36\0\0\0(', 'latin1'))).toBeUndefined();
    const [verdict] = await analyze(Buffer.from('just some text, GIF89a later'));
    expect(verdict?.findings).toEqual([]);
  });

  it('reports an image past its byte, pixel or time limit as limits exceeded', async () => {
    const image = await gradientImage('png', 400, 300);
    const limited = async (options: Partial<ImageAnalyzerOptions>) => {
      const strict = new ImageAnalyzer({ ...OPTIONS, ...options });
      try {
        const path = ws.write(image);
        const strictEngine = new AnalysisEngine([strict], { archive: DEFAULT_LIMITS, formats });
        const [verdict] = await strictEngine.scan({ path, size: image.length }, imagePlan());
        return verdict?.detections?.map((d) => [d.finding, d.signature]);
      } finally {
        await strict.close();
      }
    };
    expect(await limited({ maxBytes: 1000 })).toEqual([
      ['content.unscannable.image.limits-exceeded', 'larger than the image limit of 1000 bytes'],
    ]);
    expect(await limited({ maxPixels: 100_000 })).toEqual([
      ['content.unscannable.image.limits-exceeded', '400×300 pixels, over the limit of 100000'],
    ]);
    // The first image of a thread loads the model: far longer than 1 ms.
    expect(await limited({ timeoutMs: 1 })).toEqual([
      [
        'content.unscannable.image.limits-exceeded',
        'image classifier: the task took longer than 1 ms',
      ],
    ]);
  });

  it('does nothing, and loads no model, for a scan without the category', async () => {
    const idle = new ImageAnalyzer(OPTIONS);
    const idleEngine = new AnalysisEngine([idle], { archive: DEFAULT_LIMITS, formats });
    const image = await triggerPng();
    const path = ws.write(image);
    expect(await idleEngine.scan({ path, size: image.length }, defaultPlan('t1'))).toEqual([]);
    expect(idle.started).toBe(false);
    await idle.close();
  });
});

import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { poolWorkerData } from '../thread-pool.js';
import type { ClassifierWorkerData, ClassifyOutcome, ClassifyTask } from './classify-task.js';
import { loadClassifier, type Classifier } from './classifier.js';
import { decodeBmp } from './bmp.js';
import { sniffImage } from './image-format.js';
import { MODEL_INPUT_SIZE } from './model-files.js';
import { encodePng } from './png.js';
import { carriesTestTrigger } from './test-trigger.js';

/**
 * A thread of the image classifier's pool (image-analyzer.ts): decodes one image with sharp and
 * classifies it. The model is loaded once per thread, at its first image, and kept for the
 * thread's life: this module is the thread's own root, so the promise lives here.
 */
let classifier: Promise<Classifier> | undefined;

// libvips keeps recent operations and their images for reuse (50 MB by default): every image here
// is decoded once, so that cache would only hold memory.
sharp.cache(false);

function threadClassifier(): Promise<Classifier> {
  classifier ??= loadClassifier(poolWorkerData<ClassifierWorkerData>().wasmDir).catch(
    (error: unknown) => {
      // The next image tries again rather than failing for the rest of the thread's life.
      classifier = undefined;
      throw error;
    },
  );
  return classifier;
}

export default async function classifyImage(task: ClassifyTask): Promise<ClassifyOutcome> {
  const decoded = await decode(task);
  if (decoded.kind !== 'decoded') return decoded;
  const scores = await (await threadClassifier()).classify(decoded.rgb);
  return { kind: 'classified', scores, testTrigger: decoded.testTrigger };
}

type Decoded =
  | { kind: 'decoded'; rgb: Uint8Array; testTrigger: boolean }
  | Exclude<ClassifyOutcome, { kind: 'classified' }>;

/**
 * An SVG is rendered no larger than this many pixels a side: the model sees 224, and a drawing
 * declared a metre wide is not refused for its size.
 */
const SVG_LONGEST_SIDE = 2048;
/** An SVG's size in its metadata is at 72 dots per inch, sharp's default density. */
const SVG_DENSITY = 72;

/**
 * The image's first frame (of an animation) or page (of a TIFF), oriented as its EXIF says,
 * transparency over white, squeezed to the model's input: RGB bytes. The header is read first,
 * so an image too large is refused before anything is decoded. Bare samples (a PDF's image) and
 * a BMP's pixels (which sharp has no decoder for) are wrapped in a PNG first, here rather than
 * on the event loop.
 */
async function decode(task: ClassifyTask): Promise<Decoded> {
  const bytes = Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength);
  let input = bytes;
  if (task.raw) input = encodePng(task.raw, bytes);
  else if (sniffImage(bytes) === 'bmp') {
    const bmp = decodeBmp(bytes, task.maxPixels);
    if (bmp.kind !== 'decoded') return bmp;
    input = encodePng(bmp.image, bmp.pixels);
  }
  // A truncated image or damaged pixel data fails (what was not seen whole is not called clean);
  // what a decoder merely warns about (stray bytes between JPEG segments) does not.
  const options: SharpOptions = { failOn: 'error', limitInputPixels: task.maxPixels };
  let metadata: Metadata;
  try {
    // The header alone, without the pixel bound: an image over it is told so, with its size.
    metadata = await sharp(input, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (error) {
    return failure(error);
  }
  const scale =
    metadata.format === 'svg'
      ? Math.min(1, SVG_LONGEST_SIDE / Math.max(metadata.width, metadata.height))
      : 1;
  const width = Math.round(metadata.width * scale);
  const height = Math.round((metadata.pageHeight ?? metadata.height) * scale);
  if (width * height > task.maxPixels) {
    return {
      kind: 'limits-exceeded',
      detail: `${width}×${height} pixels, over the limit of ${task.maxPixels}`,
    };
  }
  try {
    // An SVG is rendered by librsvg (in sharp's libvips) from memory, with no base address: it
    // loads no external file or URL the drawing refers to; only its `data:` images are drawn.
    const density = scale < 1 ? { density: Math.max(1, SVG_DENSITY * scale) } : {};
    const { data, info } = await sharp(input, { ...options, ...density, autoOrient: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3)
      return { kind: 'corrupt', detail: `${info.channels} channels decoded` };
    return { kind: 'decoded', rgb: data, testTrigger: carriesTestTrigger(metadata, input) };
  } catch (error) {
    return failure(error);
  }
}

function failure(error: unknown): Exclude<ClassifyOutcome, { kind: 'classified' }> {
  const detail = error instanceof Error ? error.message.trim() : String(error);
  // sharp's own check of the header's dimensions, should the two readings disagree.
  if (/exceeds pixel limit/i.test(detail)) return { kind: 'limits-exceeded', detail };
  return { kind: 'corrupt', detail: detail || 'undecodable' };
}

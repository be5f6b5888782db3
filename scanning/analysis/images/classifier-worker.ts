import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { poolWorkerData } from '../thread-pool.js';
import type { ClassifierWorkerData, ClassifyOutcome, ClassifyTask } from './classify-task.js';
import { loadClassifier, type Classifier } from './classifier.js';
import { MODEL_INPUT_SIZE } from './model-files.js';
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
 * The image's first frame (of an animation) or page (of a TIFF), oriented as its EXIF says,
 * transparency over white, squeezed to the model's input: RGB bytes. The header is read first,
 * so an image too large is refused before anything is decoded.
 */
async function decode(task: ClassifyTask): Promise<Decoded> {
  const input = Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength);
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
  const width = metadata.width;
  const height = metadata.pageHeight ?? metadata.height;
  if (width * height > task.maxPixels) {
    return {
      kind: 'limits-exceeded',
      detail: `${width}×${height} pixels, over the limit of ${task.maxPixels}`,
    };
  }
  try {
    const { data, info } = await sharp(input, { ...options, autoOrient: true })
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

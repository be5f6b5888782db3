import type { ClassScores } from './nudity.js';
import type { RawImage } from './png.js';

/** What the image classifier's threads (classifier-worker.ts) are given once, at their start. */
export interface ClassifierWorkerData {
  /** The folder of tfjs-backend-wasm's `.wasm` files, read from disk (never fetched). */
  wasmDir: string;
}

/** One image to classify: its bytes (moved to the thread, not copied) and the pixel bound. */
export interface ClassifyTask {
  image: Uint8Array;
  maxPixels: number;
  /** Set when `image` holds bare samples (a PDF's image) rather than an image file. */
  raw?: RawImage;
}

export type ClassifyOutcome =
  | { kind: 'classified'; scores: ClassScores; testTrigger: boolean }
  /** sharp could not decode it: `detail` is why. */
  | { kind: 'corrupt'; detail: string }
  /** Larger than the pixel bound: it was not decoded. */
  | { kind: 'limits-exceeded'; detail: string }
  /** A coding of its format not decoded here (a run-length BMP). */
  | { kind: 'unsupported-method'; detail: string };

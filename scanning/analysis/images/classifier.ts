import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { NSFWJS } from 'nsfwjs/core';
import { MobileNetV2Model } from 'nsfwjs/models/mobilenet_v2';
import { MODEL_INPUT_SIZE } from './model-files.js';
import { NSFW_CLASSES, type ClassScores, type NsfwClass } from './nudity.js';

/**
 * nsfwjs's MobileNetV2 model on TensorFlow.js's WebAssembly backend, inside one classifier
 * thread. Imported by the thread's module only: the main thread never loads TensorFlow.js.
 */
export interface Classifier {
  /** `rgb`: MODEL_INPUT_SIZE² pixels, 3 bytes each, row by row. */
  classify(rgb: Uint8Array): Promise<ClassScores>;
}

/**
 * Starts the WebAssembly backend from the `.wasm` files in `wasmDir` (read from disk: with a
 * folder and no `usePlatformFetch`, Emscripten reads the file rather than fetching it) and the
 * model from the modules nsfwjs bundles, then warms it up once.
 */
export async function loadClassifier(wasmDir: string): Promise<Classifier> {
  // One WebAssembly thread per classifier thread: the pool's size is the one knob of parallelism.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
  setWasmPaths(wasmDir.endsWith(path.sep) ? wasmDir : wasmDir + path.sep);
  if (!(await tf.setBackend('wasm')))
    throw new Error('the TensorFlow.js wasm backend did not start');
  tf.enableProdMode();
  const model = new NSFWJS(await bundledModel(), { size: MODEL_INPUT_SIZE });
  // Loads the weights and runs one prediction (nsfwjs warms the model up).
  await model.load();
  return {
    async classify(rgb) {
      const image = tf.tensor3d(rgb, [MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3], 'int32');
      try {
        const predictions = await model.classify(image, NSFW_CLASSES.length);
        const scores = Object.fromEntries(NSFW_CLASSES.map((name) => [name, 0])) as ClassScores;
        for (const { className, probability } of predictions as Prediction[])
          scores[className] = probability;
        return scores;
      } finally {
        image.dispose();
      }
    },
  };
}

/** nsfwjs's model definition (its published types do not resolve under NodeNext). */
interface BundledModel {
  modelJson(): Promise<{ default: unknown }>;
  weightBundles: (() => Promise<{ default: string }>)[];
}

interface Prediction {
  className: NsfwClass;
  probability: number;
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * The model out of nsfwjs's own modules (its topology and base64 weights), given to TensorFlow.js
 * from memory. nsfwjs's `load('MobileNetV2')` would do the same but logs an advertisement on
 * stdout, which is the service's JSON log stream.
 */
async function bundledModel(): Promise<tf.io.IOHandler> {
  const bundled = MobileNetV2Model as BundledModel;
  const json = (await bundled.modelJson()).default as ModelJson;
  const shards = await Promise.all(
    bundled.weightBundles.map(async (bundle) => (await bundle()).default),
  );
  // The manifest names the shards in the order nsfwjs bundles them.
  const weights = Buffer.concat(shards.map((shard) => Buffer.from(shard, 'base64')));
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  });
}

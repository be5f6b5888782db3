import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Where the image classifier's files are on disk: nsfwjs (whose models are bundled inside the
 * package as JavaScript modules) and the TensorFlow.js WebAssembly backend's `.wasm` binaries.
 * Nothing is downloaded at run time: both come with the npm packages.
 */

/** The nsfwjs model the classifier runs: the smallest bundled one (2.6 MB, 224×224 input). */
export const MODEL_NAME = 'MobileNetV2';

/** Its input: a square of this many pixels a side, RGB. */
export const MODEL_INPUT_SIZE = 224;

const require = createRequire(import.meta.url);

/** `nsfwjs 4.3.0 MobileNetV2`: recorded with each result as an engine's version is. */
export function classifierVersion(): string {
  return `nsfwjs ${packageVersion('nsfwjs')} ${MODEL_NAME}`;
}

/** The folder holding `tfjs-backend-wasm*.wasm` (the package's `dist`). */
export function wasmDirectory(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

/** The version in a package's package.json, found above its entry point (not exported). */
function packageVersion(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === name && manifest.version) return manifest.version;
    }
    dir = path.dirname(dir);
  }
  throw new Error(`the version of ${name} was not found`);
}

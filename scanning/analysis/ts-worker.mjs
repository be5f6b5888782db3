// Runs a ThreadPool's TypeScript worker module from the sources (tests, `npm run dev`). Node 20
// does not apply a loader given to a worker thread with `--import`, so the module is loaded
// through tsx's API instead, on the first task. The build runs the compiled `.js` worker directly
// and never this file.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

let loading;

async function load() {
  const loaded = await tsImport(workerData.source, import.meta.url);
  // tsx may hand the module over wrapped once more (CommonJS interop).
  return typeof loaded.default === 'function' ? loaded.default : loaded.default.default;
}

export default async function run(task) {
  loading ??= load();
  const handler = await loading;
  return handler(task);
}

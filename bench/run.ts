import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFetchAccept } from './fetch-accept.js';
import { runFetchThroughput } from './fetch-throughput.js';
import { runHostileNeighbour } from './hostile-neighbour.js';
import { runCategories } from './categories.js';
import { runConsole } from './console.js';
import { runEngines } from './engines.js';
import { runEnginesOfficial } from './engines-official.js';
import { assembleReport, machineInfo, writeSectionResult, type BenchSection } from './report.js';
import { runS3Events } from './s3-events.js';
import { runS3Retro } from './s3-retro.js';
import { runSensitive } from './sensitive.js';
import { runSanitize } from './sanitize.js';
import { runScaleOut } from './scale-out.js';
import { runServeProcesses } from './serve-processes.js';
import { runSignatureUpdate } from './signature-update.js';
import { runVerdictApi } from './verdict-api.js';
import { runWebhooks } from './webhooks.js';
import { runZipReader } from './zip-reader.js';
import { benchEnvOverrides, envInt, log, runCleanups } from './support.js';

/**
 * `npm run bench`: runs each benchmark in turn, keeps each one's result in bench/results/<id>.md
 * (written as soon as it finishes) and assembles docs/benchmarks.md from the results of every
 * benchmark listed below, so running a subset keeps the other sections' last results.
 *
 * Settings (environment):
 *   BENCH_ONLY=fetch-accept,fetch-throughput   run a subset (the report keeps the others' last
 *                                              results); ids: fetch-accept, fetch-throughput
 *                                              (with the minimal-pipeline floor), serve-processes,
 *                                              webhooks, verdict-api, s3-events, s3-retro,
 *                                              engines, engines-official, zip-reader,
 *                                              hostile-neighbour, signature-update, categories,
 *                                              scale-out, console, sensitive,
 *                                              sanitize
 *   BENCH_OUTPUT=docs/benchmarks.md            where to write the report
 *   BENCH_RESULTS_DIR=bench/results            where each benchmark's result is kept (default:
 *                                              bench/results for the default output, else a
 *                                              `<output name>-results` folder beside the output)
 *   BENCH_DEADLINE=300                         seconds one benchmark may take before the run is
 *                                              abandoned (default: 300, or the benchmark's own
 *                                              deadline below)
 *   plus each benchmark's own settings (see fetch-accept.ts, fetch-throughput.ts, webhooks.ts,
 *   s3-events.ts, hostile-neighbour.ts, engines-official.ts, zip-reader.ts, scale-out.ts,
 *   console.ts, sensitive.ts, sanitize.ts).
 *
 * To add a benchmark: write a module whose `run…()` returns a BenchSection and list it here.
 */
const BENCHMARKS: {
  id: string;
  run: () => Promise<BenchSection>;
  /** Its own deadline when BENCH_DEADLINE is not set (default 300 s). */
  deadlineSeconds?: number;
}[] = [
  { id: 'fetch-accept', run: () => runFetchAccept() },
  { id: 'fetch-throughput', run: () => runFetchThroughput() },
  { id: 'serve-processes', run: () => runServeProcesses() },
  { id: 'webhooks', run: () => runWebhooks() },
  { id: 'verdict-api', run: () => runVerdictApi() },
  { id: 's3-events', run: () => runS3Events() },
  { id: 's3-retro', run: () => runS3Retro() },
  { id: 'engines', run: () => runEngines() },
  { id: 'engines-official', run: () => runEnginesOfficial(), deadlineSeconds: 480 },
  { id: 'zip-reader', run: () => runZipReader(), deadlineSeconds: 900 },
  { id: 'hostile-neighbour', run: () => runHostileNeighbour() },
  { id: 'signature-update', run: () => runSignatureUpdate() },
  { id: 'categories', run: () => runCategories(), deadlineSeconds: 600 },
  { id: 'scale-out', run: () => runScaleOut(), deadlineSeconds: 900 },
  { id: 'console', run: () => runConsole() },
  { id: 'sensitive', run: () => runSensitive() },
  { id: 'sanitize', run: () => runSanitize() },
];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<number> {
  const started = performance.now();
  const deadlineOf = (benchmark: (typeof BENCHMARKS)[number]) =>
    process.env.BENCH_DEADLINE ? envInt('BENCH_DEADLINE', 300) : (benchmark.deadlineSeconds ?? 300);
  // The run must end by itself: past a benchmark's deadline, kill what we started and give up.
  let deadline: NodeJS.Timeout | undefined;
  const armDeadline = (benchmark: (typeof BENCHMARKS)[number]) => {
    const deadlineSeconds = deadlineOf(benchmark);
    clearTimeout(deadline);
    deadline = setTimeout(() => {
      log(`deadline of ${deadlineSeconds} s reached in ${benchmark.id}: stopping`);
      void runCleanups().finally(() => process.exit(2));
    }, deadlineSeconds * 1000);
    deadline.unref();
  };

  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((id) => !BENCHMARKS.some((b) => b.id === id));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}`);
  const selected = only.length > 0 ? BENCHMARKS.filter((b) => only.includes(b.id)) : BENCHMARKS;

  const output = path.resolve(root, process.env.BENCH_OUTPUT ?? 'docs/benchmarks.md');
  const defaultOutput = path.resolve(root, 'docs/benchmarks.md');
  const resultsDir = path.resolve(
    root,
    process.env.BENCH_RESULTS_DIR ??
      (output === defaultOutput
        ? 'bench/results'
        : path.join(path.dirname(output), `${path.basename(output, '.md')}-results`)),
  );
  const command = [...benchEnvOverrides(), 'npm run bench'].join(' ');
  const machine = machineInfo();
  for (const benchmark of selected) {
    log(`running ${benchmark.id}`);
    armDeadline(benchmark);
    const benchStarted = performance.now();
    const loadAtStart = loadavg()[0] ?? 0;
    const section = await benchmark.run();
    const file = await writeSectionResult(resultsDir, benchmark.id, section, {
      date: new Date(),
      machine,
      command,
      totalSeconds: (performance.now() - benchStarted) / 1000,
      load: { start: loadAtStart, end: loadavg()[0] ?? 0 },
    });
    log(`wrote ${path.relative(process.cwd(), file)}`);
  }
  clearTimeout(deadline);

  const { included, missing } = await assembleReport(
    output,
    resultsDir,
    BENCHMARKS.map((b) => b.id),
  );
  log(
    `wrote ${path.relative(process.cwd(), output)} (${included.join(', ')}) in ${Math.round((performance.now() - started) / 1000)} s` +
      (missing.length > 0 ? `; no result yet for ${missing.join(', ')}` : ''),
  );
  return 0;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch(async (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await runCleanups();
    process.exitCode = 1;
  });

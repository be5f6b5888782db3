import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFetchAccept } from './fetch-accept.js';
import { runFetchThroughput } from './fetch-throughput.js';
import { machineInfo, writeReport, type BenchSection } from './report.js';
import { benchEnvOverrides, envInt, log, runCleanups } from './support.js';

/**
 * `npm run bench`: runs each benchmark in turn and writes docs/benchmarks.md.
 *
 * Settings (environment):
 *   BENCH_ONLY=fetch-accept,fetch-throughput   run a subset (the report then holds only those)
 *   BENCH_OUTPUT=docs/benchmarks.md            where to write the report
 *   BENCH_DEADLINE=300                         seconds after which the run is abandoned
 *   plus each benchmark's own settings (see fetch-accept.ts, fetch-throughput.ts).
 *
 * To add a benchmark: write a module whose `run…()` returns a BenchSection and list it here.
 */
const BENCHMARKS: { id: string; run: () => Promise<BenchSection> }[] = [
  { id: 'fetch-accept', run: () => runFetchAccept() },
  { id: 'fetch-throughput', run: () => runFetchThroughput() },
];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<number> {
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const deadlineSeconds = envInt('BENCH_DEADLINE', 300);
  // The run must end by itself: past the deadline, kill what we started and give up.
  const deadline = setTimeout(() => {
    log(`deadline of ${deadlineSeconds} s reached: stopping`);
    void runCleanups().finally(() => process.exit(2));
  }, deadlineSeconds * 1000);
  deadline.unref();

  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((id) => !BENCHMARKS.some((b) => b.id === id));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}`);
  const selected = only.length > 0 ? BENCHMARKS.filter((b) => only.includes(b.id)) : BENCHMARKS;

  const sections: BenchSection[] = [];
  for (const benchmark of selected) {
    log(`running ${benchmark.id}`);
    sections.push(await benchmark.run());
  }

  const output = path.resolve(root, process.env.BENCH_OUTPUT ?? 'docs/benchmarks.md');
  const command = [...benchEnvOverrides(), 'npm run bench'].join(' ');
  await writeReport(output, sections, {
    date: new Date(),
    machine: machineInfo(),
    command,
    totalSeconds: (performance.now() - started) / 1000,
    load: { start: loadAtStart, end: loadavg()[0] ?? 0 },
  });
  log(
    `wrote ${path.relative(process.cwd(), output)} in ${Math.round((performance.now() - started) / 1000)} s`,
  );
  clearTimeout(deadline);
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

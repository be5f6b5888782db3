import { readFileSync } from 'node:fs';
import { createLogger } from '../core/logger.js';
import { BuiltinEngine } from '../scanning/builtin-engine.js';

/**
 * A fresh Node process for the engine benchmarks (bench/engines.ts, bench/engines-official.ts): loads the built-in engine
 * from a signature folder and scans the files it is given one after the other, printing one JSON
 * line per step with the time taken and the process's memory high-water mark (VmHWM, the peak
 * resident set size the kernel saw), so the parent can tell load cost from scanning cost.
 *
 *   node --import tsx bench/engine-scan-process.ts '{"signaturesDir": "...", "scratchDir": "...", "files": ["..."]}'
 */

interface Job {
  signaturesDir: string;
  scratchDir: string;
  files: Array<{ path: string; size: number; name?: string }>;
  /** The zip benchmark's baseline reader (bench/zip-reader.ts). */
  zipCentralDirectoryOnly?: boolean;
}

export interface MemoryStep {
  step: string;
  ms: number;
  /** VmHWM and VmRSS from /proc/self/status, bytes. */
  hwm: number;
  rss: number;
  findings?: string[];
}

function memory(): { hwm: number; rss: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
}

const report = (step: MemoryStep) => process.stdout.write(`${JSON.stringify(step)}\n`);

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
report({ step: 'start', ms: 0, ...memory() });
let started = performance.now();
const engine = await BuiltinEngine.load(job.signaturesDir, createLogger('silent'), {
  scratchDir: job.scratchDir,
  ...(job.zipCentralDirectoryOnly ? { zipCentralDirectoryOnly: true } : {}),
});
report({ step: 'load', ms: performance.now() - started, ...memory() });
for (const file of job.files) {
  started = performance.now();
  const verdict = await engine.scan({
    path: file.path,
    size: file.size,
    name: file.name ?? 'bench.bin',
  });
  report({
    step: `scan ${file.size}`,
    ms: performance.now() - started,
    ...memory(),
    findings: verdict.findings,
  });
}

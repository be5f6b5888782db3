import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type {
  SanitizeLimits,
  SanitizeOutcome,
  SanitizerSet,
} from '../../scanning/sanitize/index.js';

/**
 * Sanitizer tests' plumbing: files written to a private folder, a sanitizer set run on them,
 * and independent readers (Python's standard library, qpdf) to check the copies with.
 */

export const TEST_LIMITS: SanitizeLimits = { maxBytes: 64 * 1024 * 1024, timeoutMs: 60_000 };

export interface SanitizeRun {
  outcome: SanitizeOutcome;
  /** The copy's bytes, when available. */
  copy?: Buffer;
  /** The copy's path, when available. */
  copyPath?: string;
  /** Every file left in the folder of the copy besides the input, when the call returned. */
  leftovers: string[];
  /** The same, read again now (a timed-out sanitizer's partial file goes when it stops). */
  leftoversNow: () => Promise<string[]>;
}

export interface SanitizeBench {
  run(
    bytes: Buffer | string,
    contentType: string,
    limits?: Partial<SanitizeLimits>,
  ): Promise<SanitizeRun>;
  /** Writes bytes to a file of the folder and gives its path. */
  write(name: string, bytes: Buffer | string): Promise<string>;
  dispose(): Promise<void>;
}

export async function sanitizeBench(set: SanitizerSet): Promise<SanitizeBench> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-sanitize-'));
  let runs = 0;
  const write = async (name: string, bytes: Buffer | string) => {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return file;
  };
  return {
    write,
    async run(bytes, contentType, limits = {}) {
      const runDir = path.join(dir, `run-${++runs}`);
      await mkdir(runDir);
      const inputPath = path.join(runDir, 'input');
      await writeFile(inputPath, bytes);
      const outPath = path.join(runDir, 'copy');
      const outcome = await set.sanitizeFile(
        { path: inputPath, size: Buffer.byteLength(bytes), contentType, name: 'input' },
        outPath,
        { ...TEST_LIMITS, ...limits },
      );
      const leftoversNow = async () => (await readdir(runDir)).filter((name) => name !== 'input');
      const leftovers = await leftoversNow();
      if (!outcome.available) return { outcome, leftovers, leftoversNow };
      return { outcome, copy: await readFile(outPath), copyPath: outPath, leftovers, leftoversNow };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs a Python 3 script (standard library only) on the given arguments; gives its stdout. */
export function python(script: string, ...args: string[]): string {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return result.stdout;
}

/** Runs qpdf with the arguments; gives its exit status and output. */
export function qpdf(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('qpdf', args, { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SevenZipPool } from '../../scanning/archives/formats/sevenzip-pool.js';

// The pool of worker threads that runs 7-Zip (scanning/archives/formats/sevenzip-pool.ts).

const dir = mkdtempSync(join(tmpdir(), 'arbiter-7zpool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `i` lists 7-Zip's formats at once; `b` (its benchmark) runs for many seconds. */
const quick = { args: ['i'], input: dir, budget: 0 };
const slow = { args: ['b', '-mmt1'], input: dir, budget: 0 };

describe('the 7-Zip worker pool', () => {
  it('runs commands side by side, each on a fresh instance', async () => {
    const pool = new SevenZipPool({ workers: 2 });
    try {
      const results = await Promise.all([pool.run(quick), pool.run(quick), pool.run(quick)]);
      for (const result of results) {
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, crashed: undefined });
        expect(result.stdout).toMatch(/\b7z\b.*7z/);
        expect(result.stdout).toMatch(/Rar5/);
      }
    } finally {
      await pool.close();
    }
  });

  it('stops a command past its time limit and runs the next one on a new worker', async () => {
    const pool = new SevenZipPool({ workers: 1, timeoutMs: 3000 });
    try {
      const started = Date.now();
      const [overrun, next] = await Promise.all([pool.run(slow), pool.run(quick)]);
      expect(overrun.timedOut).toBe(true);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(next).toMatchObject({ exitCode: 0, timedOut: false });
    } finally {
      await pool.close();
    }
  });

  it('refuses commands once closed, and fails those running or queued', async () => {
    const pool = new SevenZipPool({ workers: 1 });
    const running = pool.run(slow).then(
      () => 'finished',
      (err: Error) => err.message,
    );
    const queued = pool.run(quick).then(
      () => 'finished',
      (err: Error) => err.message,
    );
    await pool.close();
    expect(await running).toMatch(/closed/);
    expect(await queued).toMatch(/closed/);
    await expect(pool.run(quick)).rejects.toThrow(/closed/);
  });
});

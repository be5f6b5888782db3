import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ThreadPool, ThreadTimeoutError } from '../../scanning/analysis/thread-pool.js';

interface EchoTask {
  n: number;
  spin?: boolean;
  busyMs?: number;
}

describe('the analysis thread pool', () => {
  const pool = new ThreadPool<EchoTask, number>(
    new URL('../fixtures/echo-worker.js', import.meta.url),
    {
      name: 'echo',
      threads: 1,
      timeoutMs: 1500,
      workerData: { factor: 2 },
    },
  );
  afterAll(() => pool.close());

  it('runs a TypeScript worker module from the sources, with the data the pool was given', async () => {
    expect(await pool.run({ n: 21 })).toBe(42);
  });

  it('times a task from its start, not from when it was queued behind another', async () => {
    // One thread: the second task waits about 1 s, then runs 1 s, within its 1.5 s of its own.
    const both = await Promise.all([
      pool.run({ n: 1, busyMs: 1000 }),
      pool.run({ n: 2, busyMs: 1000 }),
    ]);
    expect(both).toEqual([2, 4]);
  });

  it('ends a task that overruns its time limit and goes on with a fresh worker', async () => {
    await expect(pool.run({ n: 1, spin: true })).rejects.toBeInstanceOf(ThreadTimeoutError);
    expect(await pool.run({ n: 2 })).toBe(4);
  });

  it('runs TypeScript workers from a process itself run by tsx (`npm run dev`)', () => {
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const script = fileURLToPath(new URL('../fixtures/pool-under-tsx.ts', import.meta.url));
    expect(execFileSync(tsx, [script], { encoding: 'utf8', timeout: 60_000 }).trim()).toBe('42');
  });
});

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';

/**
 * A pool of worker threads for analysis that would block the event loop (an image classifier, a
 * YARA scan): each task gets a time limit, and a worker that overruns it is terminated and
 * replaced, so one pathological input never holds a thread for good. Built on piscina.
 */
export interface ThreadPoolOptions {
  /** Names the pool in errors (`image classifier: the task took longer than …`). */
  name: string;
  threads: number;
  /** Longest a task may run; past it the task fails with ThreadTimeoutError. */
  timeoutMs: number;
  /** Given to every worker (`workerData`): what it loads once (a model, a rule folder). */
  workerData?: unknown;
  /** Tasks waiting beyond the running ones; past it `run` fails at once. Default: unbounded. */
  maxQueue?: number;
}

/** A task overran the pool's time limit; its worker was terminated. */
export class ThreadTimeoutError extends Error {
  override name = 'ThreadTimeoutError';
}

export class ThreadPool<Task, Result> {
  private readonly piscina: Piscina<Task, Result>;
  /** Tasks given to piscina and not yet settled: at most `threads`. */
  private running = 0;
  /** Tasks waiting for a thread, first come first served. */
  private readonly waiting: (() => void)[] = [];

  /**
   * `worker`: the worker module beside the caller, as `new URL('./x-worker.js', import.meta.url)`.
   * From the TypeScript sources (tests, `npm run dev`) the `.ts` file beside it is run through
   * tsx instead; from the build, the `.js` file itself.
   */
  constructor(
    worker: URL,
    private readonly options: ThreadPoolOptions,
  ) {
    const { filename, source } = workerEntry(worker);
    const data: PoolWorkerData = { source, data: options.workerData };
    this.piscina = new Piscina<Task, Result>({
      filename,
      ...(source === undefined ? {} : withoutTsxLoader(process.execArgv)),
      minThreads: 0,
      maxThreads: options.threads,
      // A worker keeps what it loaded (a model takes seconds) while there is work.
      idleTimeout: 60_000,
      workerData: data,
    });
  }

  /** `timeoutMs`: this task's own time limit, instead of the pool's. */
  async run(task: Task, transferList?: ArrayBuffer[], timeoutMs?: number): Promise<Result> {
    // A task waits here for a free thread, so that its time limit counts its own run only: one
    // queued behind slow ones must not be cut off for the time it spent waiting.
    const release = await this.acquireThread();
    const limit = timeoutMs ?? this.options.timeoutMs;
    const signal = AbortSignal.timeout(limit);
    try {
      return await this.piscina.run(task, { signal, ...(transferList ? { transferList } : {}) });
    } catch (error) {
      if (signal.aborted)
        throw new ThreadTimeoutError(`${this.options.name}: the task took longer than ${limit} ms`);
      throw error;
    } finally {
      release();
    }
  }

  private async acquireThread(): Promise<() => void> {
    if (this.running < this.options.threads) this.running += 1;
    else {
      const { maxQueue } = this.options;
      if (maxQueue !== undefined && this.waiting.length >= maxQueue)
        throw new Error(`${this.options.name}: ${maxQueue} tasks are already waiting`);
      // The thread is handed over by the task that frees it (`running` stays as it is).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    };
  }

  get threads(): number {
    return this.options.threads;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** What every pool worker gets as `workerData`: read it with `poolWorkerData()`. */
interface PoolWorkerData {
  /** The TypeScript module ts-worker.mjs loads, when running from the sources. */
  source: string | undefined;
  data: unknown;
}

/** In a pool's worker module: the `workerData` its pool was given. */
export function poolWorkerData<T>(): T {
  return (workerData as PoolWorkerData).data as T;
}

function workerEntry(worker: URL): { filename: string; source: string | undefined } {
  const compiled = fileURLToPath(worker);
  if (existsSync(compiled)) return { filename: compiled, source: undefined };
  const source = compiled.replace(/\.js$/, '.ts');
  if (!existsSync(source)) throw new Error(`worker module not found: ${compiled}`);
  return { filename: fileURLToPath(new URL('./ts-worker.mjs', import.meta.url)), source };
}

/**
 * For a worker run from the sources in a process itself run by tsx (`npm run dev`): Node's flags
 * without tsx's loader. A worker inherits the flags but not the loader's state, and what the
 * flags half install breaks the tsx that ts-worker.mjs loads the module with. Nothing (the flags
 * inherited as Node filters them for workers) when the process is not under tsx.
 */
function withoutTsxLoader(execArgv: readonly string[]): { execArgv?: string[] } {
  const isTsx = (value: string) => /[/\\]tsx[/\\]|^tsx(\/|$)/.test(value);
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i] ?? '';
    if (
      ['--require', '-r', '--import', '--loader'].includes(flag) &&
      isTsx(execArgv[i + 1] ?? '')
    ) {
      i += 1;
      continue;
    }
    if (/^--(require|import|loader)=/.test(flag) && isTsx(flag.slice(flag.indexOf('=') + 1)))
      continue;
    kept.push(flag);
  }
  return kept.length === execArgv.length ? {} : { execArgv: kept };
}

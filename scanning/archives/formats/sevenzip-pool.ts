import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * 7-Zip (the `7z-wasm` package: 7-Zip 24.09 compiled to WebAssembly) run off the event loop.
 * Its `callMain` is synchronous and can take seconds on a large archive, so every command runs in
 * a worker thread of a small pool; the main thread gives each command a time limit and replaces
 * a worker that overruns it. The WebAssembly module is compiled once and shared with every
 * worker; each command gets a fresh instance (a few milliseconds), because this build of 7-Zip
 * cannot catch C++ exceptions: one thrown (a wrong password, a failed write) escapes `callMain`
 * as a bare number and leaves that instance unusable.
 */

export interface SevenZipPoolOptions {
  /** Worker threads (commands run at once); default 2. */
  workers?: number;
  /** Longest a command may run before its worker is terminated; default 120 s. */
  timeoutMs?: number;
}

/** One 7-Zip command. Paths in `args` are inside the mounts (`/in/…`, `/out/…`). */
export interface SevenZipJob {
  args: string[];
  /** Host folders mounted (NODEFS) at `/in` (read) and `/out` (written; optional). */
  input: string;
  output?: string;
  /** Bytes 7-Zip may write under `/out`; a write past it fails (ENOSPC) and sets `overBudget`. */
  budget: number;
}

export interface SevenZipResult {
  /** 7-Zip's exit code (0 ok, 1 warning, 2 fatal error, 7 bad command line, 8 out of memory). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Standard output went past MAX_OUTPUT characters and was cut there. */
  outputTruncated: boolean;
  /** 7-Zip stopped on an uncaught exception (or the runtime aborted): why, as far as known. */
  crashed: string | undefined;
  /** A write under `/out` was refused because it went past `budget`. */
  overBudget: boolean;
  /** The command overran the pool's time limit and its worker was terminated. */
  timedOut: boolean;
}

/** A listing of a hostile archive with millions of entries stops here (about 50,000 entries). */
export const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * The worker's code, evaluated in a worker thread (CommonJS): a file would need its own build
 * step, and this is the whole of it. It answers each `{ job }` message with a `SevenZipResult`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const factory = require(workerData.modulePath);
const MAX_OUTPUT = workerData.maxOutput;
const ENOSPC = 51; // emscripten's errno numbering
const EACCES = 2;

/**
 * Refuses to change anything outside /out: 7-Zip already drops '..' and absolute names and
 * ignores links that point out, and this holds even if it did not (the input's folder, mounted
 * at /in, is never written). Paths are resolved as the module's FS resolves them, links included.
 */
function confineWrites(FS) {
  const resolve = (path) => {
    const absolute = path.startsWith('/') ? path : FS.cwd() + '/' + path;
    try {
      return FS.lookupPath(absolute, { follow: true }).path;
    } catch {
      const cut = absolute.lastIndexOf('/');
      try {
        return FS.lookupPath(absolute.slice(0, cut) || '/', { follow: true }).path + absolute.slice(cut);
      } catch {
        return absolute;
      }
    }
  };
  // FS calls itself with nodes as well as paths (FS.open truncates through FS.truncate(node)).
  const pathOf = (target) =>
    typeof target === 'string' ? resolve(target) : target && typeof target === 'object' ? FS.getPath(target) : '';
  const inside = (target) => (pathOf(target) + '/').startsWith('/out/');
  const guard = (name, pathArgs) => {
    const original = FS[name];
    FS[name] = function (...args) {
      for (const at of pathArgs) {
        if (!inside(args[at])) throw new FS.ErrnoError(EACCES);
      }
      return original.apply(this, args);
    };
  };
  const open = FS.open;
  FS.open = function (path, flags, mode) {
    const writes = typeof flags === 'string' ? /[wa+]/.test(flags) : (flags & 3) !== 0 || (flags & 576) !== 0;
    if (writes && !inside(path)) throw new FS.ErrnoError(EACCES);
    return open.call(this, path, flags, mode);
  };
  guard('mkdir', [0]);
  guard('symlink', [1]);
  guard('unlink', [0]);
  guard('rmdir', [0]);
  guard('rename', [0, 1]);
  guard('truncate', [0]);
  guard('chmod', [0]);
  guard('utime', [0]);
}

async function run(job) {
  const result = { exitCode: undefined, stdout: '', stderr: '', outputTruncated: false,
    crashed: undefined, overBudget: false, timedOut: false };
  let stdoutLength = 0;
  const stdout = [];
  const stderr = [];
  try {
    const module = await factory({
      print: (line) => {
        if (stdoutLength > MAX_OUTPUT) { result.outputTruncated = true; return; }
        stdoutLength += line.length + 1;
        stdout.push(line);
      },
      printErr: (line) => { if (stderr.length < 1000) stderr.push(line); },
      stdin: () => null,
      instantiateWasm(imports, ready) {
        WebAssembly.instantiate(workerData.wasm, imports).then((instance) => ready(instance));
        return {};
      },
    });
    const FS = module.FS;
    FS.mkdir('/in');
    FS.mount(module.NODEFS, { root: job.input }, '/in');
    if (job.output !== undefined) {
      FS.mkdir('/out');
      FS.mount(module.NODEFS, { root: job.output }, '/out');
    }
    confineWrites(FS);
    // Every byte 7-Zip extracts goes through FS.write: counted here, refused past the budget.
    let written = 0;
    const write = FS.write;
    FS.write = function (stream, buffer, offset, length, position, canOwn) {
      if (typeof stream.path === 'string' && stream.path.startsWith('/out/')) {
        written += length;
        if (written > job.budget) {
          result.overBudget = true;
          throw new FS.ErrnoError(ENOSPC);
        }
      }
      return write.call(this, stream, buffer, offset, length, position, canOwn);
    };
    try {
      result.exitCode = module.callMain(job.args);
    } catch (err) {
      result.crashed = typeof err === 'number' ? 'uncaught 7-Zip exception' : String(err && err.message || err);
    }
  } catch (err) {
    result.crashed = String(err && err.message || err);
  }
  result.stdout = stdout.join('\\n');
  result.stderr = stderr.join('\\n');
  return result;
}

parentPort.on('message', (job) => {
  run(job).then((result) => parentPort.postMessage(result));
});
`;

interface Slot {
  worker: LazyWorker;
  busy: boolean;
  /** Fails the command running on it (the pool is closing). */
  abort?: (err: Error) => void;
}

interface Queued {
  job: SevenZipJob;
  resolve: (result: SevenZipResult) => void;
  reject: (err: Error) => void;
}

export class SevenZipPool {
  private readonly size: number;
  private readonly timeoutMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private wasm: Promise<unknown> | undefined;
  private closed = false;

  constructor(options: SevenZipPoolOptions = {}) {
    this.size = Math.max(1, options.workers ?? 2);
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** How long a command may run (named in the `limits-exceeded` detail). */
  get timeLimitMs(): number {
    return this.timeoutMs;
  }

  run(job: SevenZipJob): Promise<SevenZipResult> {
    if (this.closed) return Promise.reject(new Error('the 7-Zip pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const queued of this.queue.splice(0)) {
      queued.reject(new Error('the 7-Zip pool is closed'));
    }
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.abort?.(new Error('the 7-Zip pool is closed'));
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    // A worker that died while idle is dropped rather than handed the next command.
    for (const slot of this.slots.filter((s) => !s.busy && s.worker.broken)) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      void slot.worker.terminate();
    }
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const queued = this.queue.shift();
      if (queued) this.start(slot, queued);
    }
  }

  private spawn(): Slot {
    // The module is compiled once, on first use, and handed to each worker (a compiled
    // WebAssembly.Module is shared between threads, not copied).
    this.wasm ??= readFile(join(dirname(sevenZipModulePath()), '7zz.wasm')).then((bytes) =>
      wasmApi().compile(bytes),
    );
    const thread = this.wasm.then((wasm) => {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { wasm, modulePath: sevenZipModulePath(), maxOutput: MAX_OUTPUT },
      });
      return worker;
    });
    const slot: Slot = { worker: new LazyWorker(thread), busy: false };
    this.slots.push(slot);
    return slot;
  }

  private start(slot: Slot, queued: Queued): void {
    slot.busy = true;
    const lazy = slot.worker;
    let settled = false;
    const finish = (outcome: () => void, replace: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      lazy.off();
      slot.abort = undefined;
      if (replace) {
        void lazy.terminate();
        const at = this.slots.indexOf(slot);
        if (at >= 0) this.slots.splice(at, 1);
      } else {
        slot.busy = false;
      }
      outcome();
      if (!this.closed) this.dispatch();
    };
    const timer = setTimeout(() => {
      finish(() => queued.resolve(timedOut()), true);
    }, this.timeoutMs);
    slot.abort = (err) => finish(() => queued.reject(err), true);
    lazy.post(queued.job, {
      message: (result) => finish(() => queued.resolve(result), false),
      failure: (err) => finish(() => queued.reject(err), true),
    });
  }
}

/** A worker whose thread starts once the WebAssembly module is compiled. */
class LazyWorker {
  private listeners:
    { message: (m: SevenZipResult) => void; failure: (e: Error) => void } | undefined;
  private worker: Worker | undefined;
  private failed: Error | undefined;

  constructor(private readonly ready: Promise<Worker>) {
    ready.then(
      (worker) => {
        this.worker = worker;
        worker.on('message', (result: SevenZipResult) => this.listeners?.message(result));
        worker.on('error', (err) => this.fail(err));
        worker.on('exit', (code) => this.fail(new Error(`7-Zip worker exited (${code})`)));
        // An idle worker does not keep the process alive (a running command's timer does).
        // After the listeners: adding a 'message' listener refs the worker's port again.
        worker.unref();
      },
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  post(
    job: SevenZipJob,
    listeners: { message: (m: SevenZipResult) => void; failure: (e: Error) => void },
  ): void {
    this.listeners = listeners;
    if (this.failed) {
      listeners.failure(this.failed);
      return;
    }
    this.ready.then(
      (worker) => worker.postMessage(job),
      () => {},
    );
  }

  off(): void {
    this.listeners = undefined;
  }

  /** The thread failed to start or died. */
  get broken(): boolean {
    return this.failed !== undefined;
  }

  async terminate(): Promise<void> {
    this.listeners = undefined;
    const worker = await this.ready.catch(() => undefined);
    await worker?.terminate();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.listeners?.failure(err);
  }
}

function timedOut(): SevenZipResult {
  return {
    exitCode: undefined,
    stdout: '',
    stderr: '',
    outputTruncated: false,
    crashed: undefined,
    overBudget: false,
    timedOut: true,
  };
}

/** Node's WebAssembly global (the project's `lib` setting leaves its value untyped). */
function wasmApi(): { compile(bytes: Uint8Array): Promise<unknown> } {
  return (
    globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<unknown> } }
  ).WebAssembly;
}

/** The package's CommonJS entry (7zz.umd.js), which the worker `require`s. */
function sevenZipModulePath(): string {
  return createRequire(import.meta.url).resolve('7z-wasm');
}

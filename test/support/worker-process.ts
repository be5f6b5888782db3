import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

/**
 * Arbiter as a separate OS process (`node --import tsx cli/main.ts <command>`), so a test can
 * kill it without warning (SIGKILL, as a crash or an OOM kill would) or ask it to stop (SIGTERM,
 * as an orchestrator would), and see what the rest of the system makes of it.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface LogLine {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

export interface ArbiterProcess {
  child: ChildProcess;
  pid: number;
  /** JSON log lines printed so far (the child logs at `info`, or `debug`/`trace` if asked). */
  logs: LogLine[];
  /** Everything printed so far, stdout and stderr, for failure messages. */
  output(): string;
  /** Resolves when the process has exited, with its code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until a log line satisfying `match` (or with that `msg`) appears. */
  waitForLog(match: string | ((line: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and waits for the exit. */
  signal(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills it without warning, as a crash would. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ArbiterProcess>();

/**
 * Spawns `arbiter <command>` with exactly `env` (plus PATH/HOME so node and redis-server are
 * found). Nothing is inherited from the test runner's environment: the child sees what an
 * operator would have configured and nothing else.
 */
export function spawnArbiter(command: string[], env: Record<string, string>): ArbiterProcess {
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    // Worker metrics on any free port (the default 9091 would collide between test processes).
    ARBITER_WORKER_METRICS_PORT: '0',
    // `serve` as one process unless a test asks for a group (test/resilience/serve-group.test.ts).
    ARBITER_PROCESSES: '1',
    ...env,
    // Readiness and shutdown are read from the child's log lines, so it logs at least at info.
    LOG_LEVEL: env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace' ? env.LOG_LEVEL : 'info',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...command], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn arbiter ${command.join(' ')}`);
  let text = '';
  let partial = '';
  const logs: LogLine[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line (e.g. the demo banner)
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: ArbiterProcess = {
    child,
    pid: child.pid,
    logs,
    output: () => text,
    exited,
    waitForLog: (match, timeoutMs = 15_000) => {
      const predicate = typeof match === 'string' ? (line: LogLine) => line.msg === match : match;
      return waitFor(
        () => {
          const found = logs.find(predicate);
          if (found) return found;
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`arbiter ${command.join(' ')} exited early:\n${text}`);
          }
          return undefined;
        },
        {
          timeoutMs,
          what: `log line ${typeof match === 'string' ? `"${match}"` : 'matching'} from arbiter ${command.join(' ')}`,
        },
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n--- output ---\n${text}`);
      });
    },
    signal: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    kill: () => proc.signal('SIGKILL'),
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** A worker process (`arbiter worker`), ready once it says its workers started. */
export async function startWorkerProcess(env: Record<string, string>): Promise<ArbiterProcess> {
  const worker = spawnArbiter(['worker'], env);
  await worker.waitForLog('workers started');
  return worker;
}

/** For afterAll/afterEach: SIGKILLs every child this helper started that is still running. */
export async function killAllArbiterProcesses(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.kill()));
}

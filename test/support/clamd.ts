import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SIGNATURES_DIR } from './corpus.js';

/**
 * A real clamd (Debian's clamav-daemon) for one test file: its own folder, config, unix socket
 * and optionally a 127.0.0.1 TCP port; a copy of the signature folder as its database (so a test
 * may add signatures and RELOAD); heuristics on so unscannable content is never reported clean.
 */
export interface TestClamdOptions {
  /** Signature folder to copy in as the database (default test/fixtures/signatures). */
  databaseDir?: string;
  /** Also listen on a TCP port on 127.0.0.1. */
  tcp?: boolean;
  /** clamd size settings (clamd.conf syntax: `8M`, `100M`). */
  streamMaxLength?: string;
  maxFileSize?: string;
  maxScanSize?: string;
  maxRecursion?: number;
  maxThreads?: number;
  /** More clamd.conf lines (e.g. `DisableCache yes` for benchmarks that rescan the same files). */
  extraConfig?: string[];
  /** How long clamd may take to load its database and answer PING (default 20 s). */
  startTimeoutMs?: number;
}

export interface TestClamd {
  dir: string;
  /** The database folder clamd reads (a copy: add files, then RELOAD). */
  databaseDir: string;
  socketPath: string;
  /** `unix:///…/clamd.sock` */
  unixAddress: string;
  /** `tcp://127.0.0.1:<port>` when started with `tcp: true`. */
  tcpAddress: string | undefined;
  /** The clamd log so far (stdout and stderr), for failure messages. */
  log(): Promise<string>;
  /** Stops clamd (SIGTERM) and starts it again on the same socket, port and database. */
  restart(): Promise<void>;
  /** Kills clamd without warning (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again after kill()/stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The clamd process id (undefined while it is not running). */
  pid(): number | undefined;
  /** Milliseconds from the last spawn to the first PONG (the database load, mostly). */
  lastStartMs(): number;
}

export const CLAMD_BINARY =
  ['/usr/sbin/clamd', '/usr/local/sbin/clamd'].find((candidate) => existsSync(candidate)) ??
  'clamd';

export async function startTestClamd(options: TestClamdOptions = {}): Promise<TestClamd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-clamd-'));
  const databaseDir = path.join(dir, 'db');
  const tempDir = path.join(dir, 'tmp');
  await mkdir(tempDir);
  await cp(options.databaseDir ?? SIGNATURES_DIR, databaseDir, { recursive: true });
  const socketPath = path.join(dir, 'clamd.sock');
  const logPath = path.join(dir, 'clamd.log');
  const port = options.tcp ? await freePort() : undefined;
  const confPath = path.join(dir, 'clamd.conf');
  const lines = [
    'Foreground yes',
    `LogFile ${logPath}`,
    'LogTime yes',
    `PidFile ${path.join(dir, 'clamd.pid')}`,
    `TemporaryDirectory ${tempDir}`,
    `DatabaseDirectory ${databaseDir}`,
    `LocalSocket ${socketPath}`,
    'LocalSocketMode 600',
    ...(port ? [`TCPSocket ${port}`, 'TCPAddr 127.0.0.1'] : []),
    `StreamMaxLength ${options.streamMaxLength ?? '16M'}`,
    `MaxFileSize ${options.maxFileSize ?? '64M'}`,
    `MaxScanSize ${options.maxScanSize ?? '64M'}`,
    `MaxRecursion ${options.maxRecursion ?? 17}`,
    'MaxFiles 10000',
    'AlertExceedsMax yes',
    'AlertEncrypted yes',
    `MaxThreads ${options.maxThreads ?? 4}`,
    'SelfCheck 0',
    'ReadTimeout 30',
    'CommandReadTimeout 5',
    ...(options.extraConfig ?? []),
  ];
  await writeFile(confPath, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let exitInfo = '';
  let startMs = 0;

  const log = async () => (await readFile(logPath, 'utf8').catch(() => '')) + exitInfo;

  const start = async () => {
    exitInfo = '';
    const spawnedAt = performance.now();
    const spawned = spawn(CLAMD_BINARY, ['-c', confPath], { stdio: 'ignore' });
    child = spawned;
    let failure: Error | undefined;
    spawned.once('error', (error) => {
      failure = new Error(
        `could not start ${CLAMD_BINARY} (install the Debian package clamav-daemon; scripts/setup does): ${error.message}`,
      );
    });
    spawned.once('exit', (code, signal) => {
      exitInfo = `\n[clamd exited: code ${code}, signal ${signal}]`;
    });
    const startTimeoutMs = options.startTimeoutMs ?? 20_000;
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (failure) throw failure;
      if (spawned.exitCode !== null || spawned.signalCode !== null) {
        throw new Error(`clamd exited during startup:\n${(await log()).slice(-3000)}`);
      }
      if (
        (await probe({ path: socketPath })) &&
        (port === undefined || (await probe({ host: '127.0.0.1', port })))
      ) {
        startMs = performance.now() - spawnedAt;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    spawned.kill('SIGKILL');
    throw new Error(
      `clamd did not answer PING within ${startTimeoutMs / 1000} s:\n${(await log()).slice(-3000)}`,
    );
  };

  const stopWith = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
    // After SIGKILL the socket file stays behind; clamd refuses to start on top of a live one only.
    await rm(socketPath, { force: true });
  };

  await start();
  return {
    dir,
    databaseDir,
    socketPath,
    unixAddress: `unix://${socketPath}`,
    tcpAddress: port ? `tcp://127.0.0.1:${port}` : undefined,
    log,
    async restart() {
      await stopWith('SIGTERM');
      await start();
    },
    kill: () => stopWith('SIGKILL'),
    start,
    async stop() {
      await stopWith('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    pid: () =>
      child && child.exitCode === null && child.signalCode === null ? child.pid : undefined,
    lastStartMs: () => startMs,
  };
}

/** True when clamd at `target` answers zPING with PONG. */
function probe(target: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(target);
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('connect', () => socket.write('zPING\0'));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      if (reply.includes('\0')) done(reply.startsWith('PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(reply.startsWith('PONG')));
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every signature clamd names for a file (ALLMATCHSCAN), without the `.UNOFFICIAL` suffix. */
export function clamdAllMatches(socketPath: string, file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => (reply += data));
    socket.on('error', reject);
    socket.on('end', () => {
      const names: string[] = [];
      for (const line of reply.split('\n')) {
        const match = / (\S+) FOUND$/.exec(line.trim());
        if (match) names.push(match[1]!.replace(/\.UNOFFICIAL$/, ''));
        else if (line.includes('ERROR')) reject(new Error(line));
      }
      resolve([...new Set(names)].sort());
    });
    socket.write(`nALLMATCHSCAN ${file}\n`);
  });
}

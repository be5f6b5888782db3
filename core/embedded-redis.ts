import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';

/**
 * A private `redis-server` child process for the embedded default: no REDIS_URL, one command.
 * It listens only on a unix socket inside the data folder (no TCP port, so nothing else on the
 * machine can reach it), keeps an append-only file so results survive a restart, and refuses to
 * evict keys (an evicted queue entry would be a lost job).
 */
export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  dataDir: string;
  binary?: string;
  startTimeoutMs?: number;
}

export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const dir = path.join(options.dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const socket = path.join(dir, 'redis.sock');
  await rm(socket, { force: true });
  const child = spawn(
    options.binary ?? 'redis-server',
    [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--unixsocketperm',
      '700',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(
              'redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL',
            )
          : error,
      ),
    );
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with code ${code}: ${stderr.trim()}`)),
    );
  });
  spawnError.catch(() => undefined);
  await Promise.race([waitForPing(socket, options.startTimeoutMs ?? 10_000), spawnError]);
  return { url: `unix://${socket}`, stop: () => stopChild(child) };
}

async function waitForPing(socket: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await redisAnswersPing(socket)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server did not answer PING within ${timeoutMs} ms`);
}

/** Whether a redis-server answers PING on this unix socket now (one attempt, no retries). */
export async function redisAnswersPing(socket: string): Promise<boolean> {
  const probe = new Redis({
    path: socket,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false; // not listening yet
  } finally {
    // Not on a client that already ended (a failed attempt): ioredis would arm a 2 s timer to
    // destroy a stream that is long closed, and that timer holds the process open at exit.
    if (probe.status !== 'end') probe.disconnect();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

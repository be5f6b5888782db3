import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLAMD_BINARY } from '../support/clamd.js';
import { fileForm } from '../support/content.js';
import { SIGNATURES_DIR, hashSample } from '../support/corpus.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { scaniiRequest, startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, spawnArbiter } from '../support/worker-process.js';

/**
 * The embedded default: with neither ARBITER_ENGINES nor CLAMD_ADDRESS set, the service starts a
 * private clamd (the real one scripts/setup installs) on a database in its data folder, restarts
 * it when it dies and stops it on exit; without clamd or without a database it scans with the
 * built-in engine alone and says so. The harness sets ARBITER_ENGINES=builtin for every other
 * test; these pass '' (unset).
 */

/** A body signature only the private clamd's database has (the built-in engine never loads it). */
const CLAMD_ONLY_MARKER = 'arbiter-embedded-clamd-only-marker-7f3a';
const CLAMD_ONLY_FINDING = 'content.malicious.arbiter.test.clamd-only';
const CLAMD_ONLY_NDB = `Arbiter.Test.Clamd-Only:0:*:${Buffer.from(CLAMD_ONLY_MARKER).toString('hex')}\n`;

interface Result {
  findings: string[];
  engines: Array<{ name: string; version: string }>;
  error?: string;
}

interface Readiness {
  status: string;
  checks: Record<string, string>;
  warnings?: string[];
}

interface Account {
  name: string;
  engines: Array<{ name: string; version: string }>;
  warnings: string[];
}

/** Log lines the service writes, parsed (pino JSON). */
function logCollector(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

/** A data folder whose `clamav/` holds the test database plus the clamd-only signature. */
async function dataDirWithDatabase(): Promise<string> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-embedded-'));
  const clamav = path.join(dataDir, 'clamav');
  await cp(SIGNATURES_DIR, clamav, { recursive: true });
  await writeFile(path.join(clamav, 'clamd-only.ndb'), CLAMD_ONLY_NDB);
  return dataDir;
}

/** No such process, or only its zombie (killed, waiting for a reaper). */
function processGone(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/** Processes (not zombies) whose command line names a folder of `dataDir`: its clamds. */
async function clamdsRunningIn(dataDir: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const found: number[] = [];
  for (const pid of pids) {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (commandLine.includes(path.join(dataDir, 'clamd')) && !processGone(pid)) found.push(pid);
  }
  return found;
}

const uidOf = async (pid: number) =>
  Number(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);

const clamavUid = async () => {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith('clamav:'));
  return line ? Number(line.split(':')[2]) : undefined;
};

describe('a private clamd when neither ARBITER_ENGINES nor CLAMD_ADDRESS is set', () => {
  let redis: TestRedis;
  let service: TestService | undefined;
  const folders: string[] = [];

  afterEach(async () => {
    await stopService();
    await killAllArbiterProcesses();
  });
  afterAll(async () => {
    await redis?.stop();
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  const stopService = async () => {
    const running = service;
    service = undefined;
    await running?.stop();
  };

  /** A data folder with a database, and the environment of `arbiter` commands spawned on it. */
  const spawnedSetup = async () => {
    redis ??= await startTestRedis();
    const dataDir = await dataDirWithDatabase();
    folders.push(dataDir);
    const env = {
      REDIS_URL: redis.url,
      ARBITER_DATA_DIR: dataDir,
      PORT: '0',
      ARBITER_LISTEN_HOST: '127.0.0.1',
    };
    return { dataDir, env };
  };

  const start = async (env: Record<string, string>) => {
    redis ??= await startTestRedis();
    const logs = logCollector();
    service = await startTestService(
      { ARBITER_ENGINES: '', LOG_LEVEL: 'info', ...env },
      { redis, logDestination: logs.stream },
    );
    const tenant = await service.createTenant('embedded');
    const scan = async (content: Buffer): Promise<Result> => {
      const response = await scaniiRequest(service!, tenant, '/files', {
        method: 'POST',
        body: fileForm(content),
      });
      expect(response.status).toBe(201);
      return (await response.json()) as Result;
    };
    const readiness = async () => {
      const response = await fetch(`${service!.url}/readyz`);
      return { status: response.status, body: (await response.json()) as Readiness };
    };
    const account = async () =>
      (await (await scaniiRequest(service!, tenant, '/account.json')).json()) as Account;
    return { service, logs, scan, readiness, account };
  };

  it('starts it on the data folder’s database, scans with builtin and clamd, restarts it after a crash', async () => {
    const dataDir = await dataDirWithDatabase();
    folders.push(dataDir);
    // Open to the clamav user, as a data folder outside a private home is: clamd drops root.
    await chmod(dataDir, 0o755);
    const { service, scan, readiness, account } = await start({
      ARBITER_DATA_DIR: dataDir,
      ARBITER_SIGNATURES_DIR: SIGNATURES_DIR,
    });
    const clamd = service.service.runtime.embeddedClamd;
    const firstPid = clamd?.pid();
    expect(firstPid).toBeGreaterThan(0);

    const ready = await readiness();
    expect(ready).toEqual({
      status: 200,
      body: { status: 'ready', checks: { redis: 'ok', engines: 'ok' } },
    });
    const described = await account();
    expect(described.engines.map((e) => e.name)).toEqual(['builtin', 'clamd']);
    expect(described.engines[1]?.version).toMatch(/^ClamAV \d+\.\d+\.\d+/);
    expect(described.warnings).toEqual([]);

    // Only clamd's database has this signature: found, so clamd really scanned it.
    const marked = await scan(Buffer.from(`some text ${CLAMD_ONLY_MARKER} more text`));
    expect(marked.findings).toEqual([CLAMD_ONLY_FINDING]);
    expect(marked.engines.map((e) => e.name)).toEqual(['builtin', 'clamd']);
    // One the built-in engine has too: both report it, united.
    const sample = await scan(hashSample('md5'));
    expect(sample.findings).toEqual(['content.malicious.arbiter.test.md5-hdb']);

    // Its folder: mode 700, a unix socket, limits from Arbiter's, no TCP.
    const own = path.join(dataDir, 'clamd', String(process.pid));
    const conf = await readFile(path.join(own, 'clamd.conf'), 'utf8');
    expect(conf).toContain(`LocalSocket ${path.join(own, 'clamd.sock')}`);
    expect(conf).toContain(`DatabaseDirectory ${path.join(dataDir, 'clamav')}`);
    expect(conf).toContain(`StreamMaxLength ${2 * 1024 ** 3}`); // ARBITER_MAX_FETCH_SIZE, 2GB
    expect(conf).toMatch(/^AlertExceedsMax yes$/m);
    expect(conf).toMatch(/^AlertEncrypted yes$/m);
    expect(conf).not.toMatch(/TCPSocket/);
    expect((statSync(own).mode & 0o777).toString(8)).toBe('700');
    const clamav = await clamavUid();
    if (process.getuid?.() === 0 && clamav !== undefined) {
      expect(conf).toMatch(/^User clamav$/m);
      expect(await uidOf(firstPid!)).toBe(clamav);
    }

    // A crash: the clamd is started again, and scans work again.
    process.kill(firstPid!, 'SIGKILL');
    const secondPid = await waitFor(
      () => {
        const pid = clamd?.pid();
        return pid !== undefined && pid !== firstPid ? pid : undefined;
      },
      { timeoutMs: 30_000, what: 'a new clamd process' },
    );
    await waitFor(async () => (await readiness()).status === 200, {
      timeoutMs: 30_000,
      what: 'readyz to be 200 again',
    });
    expect((await scan(Buffer.from(CLAMD_ONLY_MARKER))).findings).toEqual([CLAMD_ONLY_FINDING]);

    await stopService();
    expect(processGone(secondPid)).toBe(true);
    expect(processGone(firstPid!)).toBe(true);
  });

  it('`arbiter serve` stops its clamd on SIGTERM, and a clamd left by a killed process is stopped at the next start', async () => {
    const { dataDir, env } = await spawnedSetup();
    const clamdPidOf = async (arbiter: ReturnType<typeof spawnArbiter>) =>
      (await arbiter.waitForLog('private clamd answers PING', 60_000)).clamdPid as number;

    const first = spawnArbiter(['serve'], env);
    const firstClamd = await clamdPidOf(first);
    await first.waitForLog('API listening', 60_000);
    await first.signal('SIGTERM');
    expect(processGone(firstClamd)).toBe(true);
    expect(await clamdsRunningIn(dataDir)).toEqual([]);
    expect(await readdir(path.join(dataDir, 'clamd'))).toEqual([]);

    // Killed without warning, Arbiter cannot stop its clamd: the next start does.
    const second = spawnArbiter(['serve'], env);
    const orphan = await clamdPidOf(second);
    await second.kill();
    expect(processGone(orphan)).toBe(false);
    const third = spawnArbiter(['serve'], env);
    await third.waitForLog(
      'stopping a private clamd left running by an earlier Arbiter process',
      60_000,
    );
    const thirdClamd = await clamdPidOf(third);
    await waitFor(() => processGone(orphan), { what: 'the orphaned clamd to be gone' });
    await third.waitForLog('API listening', 60_000);
    await third.signal('SIGTERM');
    expect(processGone(thirdClamd)).toBe(true);

    // Stopped while its clamd is still starting: no clamd is left either.
    const fourth = spawnArbiter(['serve'], env);
    await fourth.waitForLog('starting a private clamd (no ARBITER_ENGINES or CLAMD_ADDRESS set)');
    expect(await fourth.signal('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(fourth.output()).toContain('stopped during start-up');
    expect(await clamdsRunningIn(dataDir)).toEqual([]);
  }, 180_000);

  it('`arbiter api` and `arbiter worker` on one data folder each run their own clamd', async () => {
    const { dataDir, env } = await spawnedSetup();
    const api = spawnArbiter(['api'], env);
    const worker = spawnArbiter(['worker'], env);
    const [apiClamd, workerClamd] = await Promise.all(
      [api, worker].map(
        async (arbiter) =>
          (await arbiter.waitForLog('private clamd answers PING', 60_000)).clamdPid as number,
      ),
    );
    expect(apiClamd).not.toBe(workerClamd);
    expect((await readdir(path.join(dataDir, 'clamd'))).sort()).toEqual(
      [String(api.pid), String(worker.pid)].sort(),
    );
    await api.waitForLog('API listening', 60_000);
    await worker.waitForLog('workers started', 60_000);
    await Promise.all([api.signal('SIGTERM'), worker.signal('SIGTERM')]);
    expect(await clamdsRunningIn(dataDir)).toEqual([]);
  }, 120_000);

  it('does not start when clamd cannot load the database or does not answer in time, and leaves no clamd', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-embedded-'));
    folders.push(dataDir);
    await mkdir(path.join(dataDir, 'clamav'));
    await writeFile(path.join(dataDir, 'clamav', 'broken.hdb'), 'not a hash line\n');
    await expect(start({ ARBITER_DATA_DIR: dataDir })).rejects.toThrow(
      /the private clamd exited during start-up[\s\S]*Malformed database[\s\S]*ARBITER_ENGINES=builtin/,
    );
    expect(await clamdsRunningIn(dataDir)).toEqual([]);

    await rm(path.join(dataDir, 'clamav', 'broken.hdb'));
    await cp(SIGNATURES_DIR, path.join(dataDir, 'clamav'), { recursive: true });
    // Enough hashes that clamd cannot possibly answer within the 1 ms allowed (the small test
    // database alone loads in a few milliseconds, and a first PING could win the race).
    await writeFile(path.join(dataDir, 'clamav', 'slow.hdb'), manyHashLines(200_000));
    await expect(
      start({ ARBITER_DATA_DIR: dataDir, ARBITER_CLAMD_START_TIMEOUT_MS: '1' }),
    ).rejects.toThrow(
      /the private clamd did not answer PING within 1 ms \(ARBITER_CLAMD_START_TIMEOUT_MS\)/,
    );
    await waitFor(async () => (await clamdsRunningIn(dataDir)).length === 0, {
      what: 'no clamd left',
    });
  });

  it('runs the built-in engine alone, and says so, when clamd is not installed', async () => {
    const dataDir = await dataDirWithDatabase();
    folders.push(dataDir);
    const missing = path.join(dataDir, 'no-such-clamd');
    const { service, logs, scan, readiness, account } = await start({
      ARBITER_DATA_DIR: dataDir,
      ARBITER_SIGNATURES_DIR: SIGNATURES_DIR,
      ARBITER_CLAMD_BINARY: missing,
    });
    expect(service.service.runtime.embeddedClamd).toBeUndefined();
    const warning = `clamd is not installed (${missing} does not run): only the built-in engine's signatures (${service.service.runtime.engines.engines[0]?.describe?.().signatures} loaded) are used; real-world malware is not detected — install clamav-daemon and run \`arbiter signatures update\``;
    expect(logs.lines.filter((line) => line.level === 40).map((line) => line.msg)).toContain(
      warning,
    );
    expect(await readiness()).toEqual({
      status: 200,
      body: { status: 'ready', checks: { redis: 'ok', engines: 'ok' }, warnings: [warning] },
    });
    const described = await account();
    expect(described.engines.map((e) => e.name)).toEqual(['builtin']);
    expect(described.warnings).toEqual([warning]);
    const marked = await scan(Buffer.from(CLAMD_ONLY_MARKER));
    expect(marked.findings).toEqual([]);
    expect(marked.engines.map((e) => e.name)).toEqual(['builtin']);
  });

  it('runs the built-in engine alone, and says so, when there is no ClamAV database', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-embedded-'));
    folders.push(dataDir);
    // Files clamd would not load signatures from do not count.
    await mkdir(path.join(dataDir, 'clamav'));
    await writeFile(path.join(dataDir, 'clamav', 'freshclam.dat'), 'state');
    await writeFile(path.join(dataDir, 'clamav', 'empty.hdb'), '');
    const { service, logs, readiness, account } = await start({
      ARBITER_DATA_DIR: dataDir,
      ARBITER_CLAMD_BINARY: CLAMD_BINARY,
    });
    expect(service.service.runtime.embeddedClamd).toBeUndefined();
    const warning = `no ClamAV database in ${path.join(dataDir, 'clamav')}: clamd was not started, so only the built-in engine's signatures (0 loaded) are used; real-world malware is not detected — run \`arbiter signatures update\``;
    expect(logs.lines.filter((line) => line.level === 40).map((line) => line.msg)).toContain(
      warning,
    );
    expect((await readiness()).body.warnings).toEqual([warning]);
    expect((await readiness()).status).toBe(200);
    expect((await account()).warnings).toEqual([warning]);
  });

  it('starts no clamd, and warns of nothing, with ARBITER_ENGINES=builtin', async () => {
    const dataDir = await dataDirWithDatabase();
    folders.push(dataDir);
    const { service, logs, readiness, account } = await start({
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ENGINES: 'builtin',
    });
    expect(service.service.runtime.embeddedClamd).toBeUndefined();
    expect(logs.lines.filter((line) => line.level === 40)).toEqual([]);
    expect((await readiness()).body.warnings).toBeUndefined();
    expect(await account()).toMatchObject({ engines: [{ name: 'builtin' }], warnings: [] });
  });
});

/** `count` distinct MD5 lines that match nothing. */
function manyHashLines(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(`${createHash('md5').update(`slow-${i}`).digest('hex')}:${1000 + i}:Slow.Load-${i}`);
  }
  return `${lines.join('\n')}\n`;
}

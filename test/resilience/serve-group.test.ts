import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/clamd.js';
import { fileForm, randomContent } from '../support/content.js';
import { SIGNATURES_DIR } from '../support/corpus.js';
import { ADMIN_TOKEN, basic } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, spawnArbiter, type LogLine } from '../support/worker-process.js';

/**
 * `arbiter serve` with ARBITER_PROCESSES=2: a primary starts the private redis-server and the
 * private clamd once, and two processes serve the API and run the workers on one port; a process
 * killed is started again, and SIGTERM stops the whole group.
 */

/** No such process, or only its zombie. */
function processGone(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/** Live processes whose command line names a path under `dataDir` (its redis-server, clamd). */
async function processesUsing(dataDir: string): Promise<Array<{ pid: number; command: string }>> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const command = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(dataDir) && !processGone(Number(name)))
      found.push({ pid: Number(name), command: command.replaceAll('\0', ' ') });
  }
  return found;
}

describe('arbiter serve with ARBITER_PROCESSES=2', () => {
  const folders: string[] = [];
  afterAll(async () => {
    await killAllArbiterProcesses();
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  it('serves one port from two processes on one Redis and one clamd, prints the demo banner once, restarts a killed process, and stops everything on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-group-'));
    folders.push(dataDir);
    // The private clamd's database (no ARBITER_ENGINES, no CLAMD_ADDRESS: the embedded default).
    await cp(SIGNATURES_DIR, path.join(dataDir, 'clamav'), { recursive: true });
    const port = await freePort();
    const serve = spawnArbiter(['serve', '--demo'], {
      PORT: String(port),
      ARBITER_LISTEN_HOST: '127.0.0.1',
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
      ARBITER_PROCESSES: '2',
    });
    const url = `http://127.0.0.1:${port}`;
    const listeningPids = () =>
      new Set(
        serve.logs
          .filter((line) => line.msg === 'API listening' && line.url === url)
          .map((line) => line.pid as number),
      );
    await waitFor(() => listeningPids().size === 2, {
      timeoutMs: 90_000,
      what: `two processes listening on ${url}\n${serve.output()}`,
    });
    // The demo tenant's banner, once for the group.
    const banners = () => serve.output().split('Demo tenant credentials').length - 1;
    await waitFor(() => banners() >= 1, { what: 'the demo banner' });
    expect(serve.output()).toContain(`${url}/v2.2/ping`);
    expect(serve.output()).toContain(`open the console, ${url}/console, and sign in`);
    const started = serve.logs.filter((line) => line.msg === 'started a serve process');
    const children = started.map((line) => line.childPid as number);
    expect(new Set(children)).toEqual(listeningPids());
    expect(children).not.toContain(serve.pid);

    // Redis and clamd were started once, by the primary; the children use them.
    const startedBy = (msg: string) =>
      serve.logs.filter((line) => line.msg === msg).map((line) => line.pid);
    expect(startedBy('started a private redis-server (no REDIS_URL set)')).toHaveLength(1);
    expect(startedBy('private clamd answers PING')).toHaveLength(1);
    const shared = await processesUsing(dataDir);
    expect(shared.filter((p) => p.command.startsWith('redis-server'))).toHaveLength(1);
    expect(shared.filter((p) => p.command.includes(path.join(dataDir, 'clamd')))).toHaveLength(1);

    // A tenant created through one process is known to the other: one Redis. Synchronous scans
    // (each logged by the process that served it) reach both processes through the one port,
    // and use the shared clamd beside the built-in engine.
    const tenant = (await (
      await fetch(`${url}/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'group' }),
      })
    ).json()) as { key: string; secret: string };
    const auth = basic(tenant.key, tenant.secret);
    const servedBy = () =>
      new Set(serve.logs.filter((line) => line.msg === 'scan finished').map((line) => line.pid));
    const engines = new Set<string>();
    await waitFor(
      async () => {
        for (let i = 0; i < 4; i += 1) {
          // A new connection each time: the cluster hands connections out in turn.
          const response = await fetch(`${url}/v2.2/files`, {
            method: 'POST',
            headers: { authorization: auth, connection: 'close' },
            body: fileForm(randomContent(1024)),
          });
          expect(response.status).toBe(201);
          const result = (await response.json()) as { engines: Array<{ name: string }> };
          for (const engine of result.engines) engines.add(engine.name);
        }
        return servedBy().size === 2;
      },
      { timeoutMs: 60_000, what: 'scans served by both processes' },
    );
    expect(servedBy()).toEqual(new Set(children));
    expect([...engines].sort()).toEqual(['builtin', 'clamd']);

    // A process killed without warning is logged and started again, on the same port.
    const victim = children[0] ?? 0;
    process.kill(victim, 'SIGKILL');
    const died = await serve.waitForLog(
      (line: LogLine) =>
        line.msg === 'a serve process exited unexpectedly; restarting it' &&
        line.childPid === victim,
      30_000,
    );
    expect(died.signal).toBe('SIGKILL');
    await waitFor(() => listeningPids().size === 3, {
      timeoutMs: 60_000,
      what: 'the replacement process listening',
    });
    const replacement = [...listeningPids()].find((pid) => !children.includes(pid));
    expect(replacement).toBeDefined();
    expect((await fetch(`${url}/v2.2/ping`, { headers: { authorization: auth } })).status).toBe(
      200,
    );

    // SIGTERM on the primary: every process drains and exits, then clamd and Redis stop.
    expect(banners()).toBe(1);
    expect(await serve.signal('SIGTERM')).toEqual({ code: 0, signal: null });
    // Each process drained and exited by itself, not at its shutdown deadline.
    expect(serve.output()).not.toContain('shutdown deadline reached');
    expect(serve.output()).not.toContain('still running past the shutdown deadline');
    for (const pid of [children[1] ?? 0, replacement ?? 0]) expect(processGone(pid)).toBe(true);
    expect(await processesUsing(dataDir)).toEqual([]);
  }, 240_000);
});

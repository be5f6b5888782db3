import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import { readContainerHeader } from '../../scanning/signatures/cvd.js';
import type { FreshclamSettings } from '../../scanning/signatures/freshclam.js';
import { tryLock } from '../../scanning/signatures/update-lock.js';
import {
  describeFolder,
  updateDatabases,
  type UpdateReport,
} from '../../scanning/signatures/update.js';
import { buildUnsignedDatabase, markerSignature } from '../support/clamav-databases.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { fileForm } from '../support/content.js';
import { startHttpServer, type Handler, type TestHttpServer } from '../support/http-servers.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * `arbiter signatures update` and the workers' schedule, against Debian's real freshclam, a real
 * clamd whose database folder is the one being updated, and a mirror on 127.0.0.1 serving
 * databases built at run time with sigtool from generated signatures (no EICAR, nothing stored).
 *
 * WHAT IS REPLACED, AND WHY. freshclam takes ClamAV's official databases (main, daily, bytecode)
 * only as signed by ClamAV: a `.cvd` whose header carries ClamAV's RSA signature of its MD5, or
 * a `.cld` whose `.info` ends with ClamAV's `DSIG` line; it never asks a mirror for an unsigned
 * `.cud`. A test cannot sign, so the last test below shows freshclam refusing a locally built
 * `daily.cvd` through `PrivateMirror` (the production path). For a good update the other tests
 * use the seam `FreshclamSettings.customDatabaseUrls`: the same freshclam, with the same
 * generated config and private mirror, is told to skip the official databases
 * (`ExcludeDatabase`) and fetch `daily.cud` from the mirror as a custom database
 * (`DatabaseCustomURL`), which it downloads into its temporary folder, test-loads and renames
 * into place just the same. Everything around freshclam — the staging folder, the checks, the
 * atomic swap, the lock, clamd's RELOAD, versions and metrics — runs as in production.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const logger = createLogger('silent');

const one = markerSignature('Arbiter.Test.Update-One', 'arbiter-update-marker-one-7c1d');
const two = markerSignature('Arbiter.Test.Update-Two', 'arbiter-update-marker-two-94ae');
const three = markerSignature('Arbiter.Test.Update-Three', 'arbiter-update-marker-three-2b3f');

/** What the mirror answers for daily.cud / daily.cvd: the file, or the file cut off halfway. */
type Serving = { body: Buffer; cut?: boolean } | undefined;

describe("ClamAV's database update (real freshclam and clamd, a loopback mirror)", () => {
  let clamd: TestClamd;
  let mirror: TestHttpServer;
  let engine: ClamdEngine;
  let samples: string;
  const serving: Record<string, Serving> = {};

  const serve =
    (name: string): Handler =>
    (_req, res) => {
      const file = serving[name];
      if (!file) return void res.writeHead(404).end('not found');
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': file.body.length,
        // freshclam asks for a custom database If-Modified-Since its local copy's time: each
        // file offered is "newer" than any copy made before it (HTTP dates have whole seconds).
        'last-modified': new Date(Date.now() + 3_600_000).toUTCString(),
      });
      if (!file.cut) return void res.end(file.body);
      // Half of it, then the connection dies: a download cut off mid-way.
      res.write(file.body.subarray(0, Math.floor(file.body.length / 2)), () => res.destroy());
    };

  const seam = (): FreshclamSettings => ({
    mirror: mirror.url,
    customDatabaseUrls: [`${mirror.url}/daily.cud`],
  });
  const update = (): Promise<UpdateReport> =>
    updateDatabases({ databaseDir: clamd.databaseDir, freshclam: seam() });

  const scanFindings = async (sample: Buffer): Promise<string[]> => {
    const file = path.join(samples, `sample-${Date.now()}-${Math.random()}`);
    await writeFile(file, sample);
    return (await engine.scan({ path: file, size: sample.length })).findings;
  };
  const reloadedTo = async (version: number) => {
    await engine.reload();
    return waitFor(
      async () => (await engine.refreshVersion()).includes(`/${version}/`) && engine.currentVersion,
      { timeoutMs: 60_000, intervalMs: 200, what: `clamd to report daily ${version}` },
    );
  };

  beforeAll(async () => {
    samples = await mkdtemp(path.join(tmpdir(), 'arbiter-update-samples-'));
    clamd = await startTestClamd();
    mirror = await startHttpServer({
      '/daily.cud': serve('daily.cud'),
      '/daily.cvd': serve('daily.cvd'),
      // Never answers: a download in progress when the process shuts down.
      '/hang.cud': () => undefined,
    });
    engine = await ClamdEngine.create(
      { address: clamd.unixAddress, timeoutMs: 30_000, poolSize: 4 },
      logger,
    );
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
    await mirror?.close();
    await clamd?.stop();
    await rm(samples, { recursive: true, force: true });
  });

  it('lands a good update; clamd, reloaded, reports its version and detects what only it has', async () => {
    serving['daily.cud'] = {
      body: await buildUnsignedDatabase('daily', 101, { 'daily.ndb': one.ndb }),
    };
    const first = await update();
    expect(first.outcome, first.error).toBe('updated');
    expect(first.changed).toEqual(['daily.cud']);
    expect(first.databases).toContainEqual(
      expect.objectContaining({
        database: 'daily',
        file: 'daily.cud',
        version: 101,
        signatures: 1,
      }),
    );
    expect(await reloadedTo(101)).toMatch(/^ClamAV [\d.]+\/101\//);
    expect(await scanFindings(one.sample)).toEqual(['content.malicious.arbiter.test.update-one']);
    expect(await scanFindings(two.sample)).toEqual([]);

    serving['daily.cud'] = {
      body: await buildUnsignedDatabase('daily', 102, { 'daily.ndb': one.ndb + two.ndb }),
    };
    const second = await update();
    expect(second.outcome, second.error).toBe('updated');
    expect(second.databases).toContainEqual(
      expect.objectContaining({ database: 'daily', version: 102, signatures: 2 }),
    );
    await reloadedTo(102);
    expect(await scanFindings(two.sample)).toEqual(['content.malicious.arbiter.test.update-two']);

    // The mirror has nothing newer: nothing changes.
    const third = await update();
    expect(third.outcome, third.error).toBe('current');
    expect(third.changed).toEqual([]);
  }, 180_000);

  it('keeps the previous database when the mirror serves a corrupt file', async () => {
    const before = await readFile(path.join(clamd.databaseDir, 'daily.cud'));
    const good = await buildUnsignedDatabase('daily', 103, { 'daily.ndb': three.ndb });
    const corrupt = Buffer.from(good);
    for (let at = 600; at < corrupt.length; at += 7) corrupt[at] = (corrupt[at] ?? 0) ^ 0xa5;
    serving['daily.cud'] = { body: corrupt };
    const report = await update();
    expect(report.outcome).toBe('failed');
    expect(report.error).toMatch(/freshclam exited with \d+/);
    expect(report.databases).toContainEqual(
      expect.objectContaining({ database: 'daily', version: 102 }),
    );
    expect(await readFile(path.join(clamd.databaseDir, 'daily.cud'))).toEqual(before);
    await engine.reload();
    expect(await scanFindings(two.sample)).toEqual(['content.malicious.arbiter.test.update-two']);
  }, 120_000);

  it('keeps the previous database when the download is cut off halfway', async () => {
    const before = await readFile(path.join(clamd.databaseDir, 'daily.cud'));
    serving['daily.cud'] = {
      body: await buildUnsignedDatabase('daily', 103, { 'daily.ndb': three.ndb }),
      cut: true,
    };
    const report = await update();
    expect(report.outcome).toBe('failed');
    expect(report.error).toMatch(/freshclam exited with \d+/);
    expect(await readFile(path.join(clamd.databaseDir, 'daily.cud'))).toEqual(before);
    expect(report.databases).toContainEqual(
      expect.objectContaining({ database: 'daily', version: 102 }),
    );
  }, 120_000);

  it("refuses a file whose content does not match its header's MD5, which freshclam let through", async () => {
    const before = await readFile(path.join(clamd.databaseDir, 'daily.cud'));
    const good = await buildUnsignedDatabase('daily', 103, { 'daily.ndb': three.ndb });
    // freshclam does not check the MD5 of an unsigned database, only that it loads: this one
    // loads, but is not what its header says it is. Arbiter's own check before the swap stops it.
    const header = good.subarray(0, 512).toString('latin1');
    const md5 = header.split(':')[5] ?? '';
    const forged = Buffer.concat([
      Buffer.from(
        header.replace(
          md5,
          md5.replace(/^./, (c) => (c === '0' ? '1' : '0')),
        ),
        'latin1',
      ),
      good.subarray(512),
    ]);
    serving['daily.cud'] = { body: forged };
    const report = await update();
    expect(report.outcome).toBe('failed');
    expect(report.error).toMatch(
      /^daily\.cud is damaged: its content's MD5 is [0-9a-f]{32}, its header says/,
    );
    expect(report.freshclamOutput).toMatch(/daily\.cud updated/);
    expect(await readFile(path.join(clamd.databaseDir, 'daily.cud'))).toEqual(before);
  }, 120_000);

  it('runs one update per host at a time, and takes over a lock a dead process left', async () => {
    const lockPath = path.join(clamd.databaseDir, '.update.lock');
    const held = await tryLock(lockPath, 60_000);
    expect(held).toBeDefined();
    try {
      const report = await update();
      expect(report.outcome).toBe('busy');
      expect(report.databases).toContainEqual(expect.objectContaining({ version: 102 }));
    } finally {
      await held?.release();
    }
    // A lock file no process of this host holds any more.
    await writeFile(lockPath, JSON.stringify({ pid: 2 ** 22 + 1, host: 'elsewhere' }));
    const old = new Date(Date.now() - 2 * 60_000);
    await utimes(lockPath, old, old);
    serving['daily.cud'] = {
      body: await readFile(path.join(clamd.databaseDir, 'daily.cud')),
    };
    const report = await updateDatabases({
      databaseDir: clamd.databaseDir,
      freshclam: seam(),
      lockStaleMs: 60_000,
    });
    expect(report.outcome, report.error).toBe('current');
    await expect(stat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  describe('the workers’ schedule', () => {
    let service: TestService;
    let tenant: TestTenant;

    beforeAll(async () => {
      // The schedule only updates a folder Arbiter made its own with a first update.
      serving['daily.cud'] = {
        body: await buildUnsignedDatabase('daily', 103, { 'daily.ndb': one.ndb + two.ndb }),
      };
      expect((await update()).outcome).not.toBe('failed');
      service = await startTestService(
        {
          ARBITER_ENGINES: 'clamd',
          CLAMD_ADDRESS: clamd.unixAddress,
          ARBITER_CLAMAV_DATABASE_DIR: clamd.databaseDir,
          ARBITER_SIGNATURES_UPDATE_INTERVAL: '1',
        },
        { seams: { freshclam: seam() } },
      );
      tenant = await service.createTenant('updates');
    }, 60_000);
    afterAll(async () => {
      await service?.stop();
    });

    const upload = async (sample: Buffer) => {
      const response = await fetch(`${service.url}/v2.2/files`, {
        method: 'POST',
        headers: { authorization: tenant.auth },
        body: fileForm(sample),
      });
      const body = (await response.json()) as {
        findings: string[];
        engines?: Array<{ name: string; version: string }>;
      };
      return { status: response.status, ...body };
    };

    it('updates, reloads the running service without failing scans in flight, and reports the version', async () => {
      expect((await upload(three.sample)).findings).toEqual([]);
      serving['daily.cud'] = {
        body: await buildUnsignedDatabase('daily', 104, {
          'daily.ndb': one.ndb + two.ndb + three.ndb,
        }),
      };
      // Scans keep coming while the schedule updates and clamd reloads: every one is answered.
      const statuses: number[] = [];
      let detected: Awaited<ReturnType<typeof upload>> | undefined;
      while (!detected) {
        const results = await Promise.all([upload(two.sample), upload(three.sample)]);
        statuses.push(...results.map((r) => r.status));
        if (results[1]?.findings.length) detected = results[1];
        if (statuses.length > 2000) throw new Error('the new signature never showed up');
      }
      expect(new Set(statuses)).toEqual(new Set([201]));
      expect(detected.findings).toEqual(['content.malicious.arbiter.test.update-three']);
      expect(detected.engines?.[0]?.version).toMatch(/\/104\//);

      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/arbiter_signatures_version\{engine="clamd",database="daily"\} 104/);
      expect(metrics).toMatch(/arbiter_signatures_update_total\{outcome="updated"\} [1-9]/);
      expect(metrics).toMatch(/arbiter_signatures_updated_timestamp_seconds \d/);
    }, 180_000);

    it('counts a failed scheduled update and keeps scanning with the database it has', async () => {
      const good = await buildUnsignedDatabase('daily', 105, { 'daily.ndb': one.ndb });
      serving['daily.cud'] = {
        body: Buffer.concat([good.subarray(0, 512), Buffer.from('not a tar.gz')]),
      };
      const failures = async () => {
        const text = await (await fetch(`${service.url}/metrics`)).text();
        return Number(
          /arbiter_signatures_update_total\{outcome="failed"\} (\d+)/.exec(text)?.[1] ?? 0,
        );
      };
      await waitFor(async () => (await failures()) >= 1, {
        timeoutMs: 60_000,
        what: 'a failed scheduled update to be counted',
      });
      const result = await upload(three.sample);
      expect(result.status).toBe(201);
      expect(result.findings).toEqual(['content.malicious.arbiter.test.update-three']);
      expect(result.engines?.[0]?.version).toMatch(/\/104\//);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/arbiter_signatures_version\{engine="clamd",database="daily"\} 104/);
    }, 120_000);
  });

  it('stops freshclam at shutdown, leaving the folder as it was and unlocked', async () => {
    const before = await describeFolder(clamd.databaseDir);
    const hits = mirror.hits.get('/hang.cud') ?? 0;
    const shutdown = new AbortController();
    const running = updateDatabases({
      databaseDir: clamd.databaseDir,
      freshclam: { mirror: mirror.url, customDatabaseUrls: [`${mirror.url}/hang.cud`] },
      signal: shutdown.signal,
    });
    await waitFor(() => (mirror.hits.get('/hang.cud') ?? 0) > hits, {
      what: 'the download to start',
    });
    shutdown.abort();
    await expect(running).rejects.toThrow('freshclam was stopped: the process is shutting down');
    expect(await describeFolder(clamd.databaseDir)).toEqual(before);
    await expect(stat(path.join(clamd.databaseDir, '.update.lock'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(stat(path.join(clamd.databaseDir, '.update'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  }, 60_000);

  it('the official path: freshclam refuses a daily.cvd ClamAV did not sign; the CLI exits 1 and says why', async () => {
    const before = await readFile(path.join(clamd.databaseDir, 'daily.cud'));
    const { version } = await readContainerHeader(path.join(clamd.databaseDir, 'daily.cud'));
    // A locally built database offered as the official daily.cvd through PrivateMirror.
    serving['daily.cvd'] = {
      body: await buildUnsignedDatabase('daily', 200, { 'daily.ndb': three.ndb }),
    };
    const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-cli-'));
    try {
      const result = await runCli(['signatures', 'update'], {
        ARBITER_DATA_DIR: dataDir,
        ARBITER_CLAMAV_DATABASE_DIR: clamd.databaseDir,
        ARBITER_CLAMAV_MIRROR: mirror.url,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "The update of ClamAV's database failed; the previous database stays",
      );
      expect(result.stderr).toMatch(/Verification: Can't verify database integrity/);
      const printed = JSON.parse(result.stdout) as { outcome: string; databases: unknown[] };
      expect(printed.outcome).toBe('failed');
      expect(printed.databases).toContainEqual(
        expect.objectContaining({ database: 'daily', version }),
      );
      expect(await readFile(path.join(clamd.databaseDir, 'daily.cud'))).toEqual(before);
      await expect(stat(path.join(clamd.databaseDir, 'daily.cvd'))).rejects.toMatchObject({
        code: 'ENOENT',
      });

      const status = await runCli(['signatures', 'status'], {
        ARBITER_DATA_DIR: dataDir,
        ARBITER_CLAMAV_DATABASE_DIR: clamd.databaseDir,
      });
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toEqual({
        databaseDir: clamd.databaseDir,
        databases: [expect.objectContaining({ database: 'daily', file: 'daily.cud', version })],
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'silent',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

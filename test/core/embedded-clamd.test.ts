import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import { EngineError } from '../../scanning/engine.js';
import {
  clamdConfigText,
  clamdSettings,
  findClamdBinary,
  holdsClamdDatabase,
  startEmbeddedClamd,
} from '../../core/embedded-clamd.js';
import { CLAMD_BINARY } from '../support/clamd.js';
import { SIGNATURES_DIR } from '../support/corpus.js';
import { waitFor } from '../support/wait.js';

describe('the private clamd’s settings and what it needs', () => {
  const work = mkdtemp(path.join(tmpdir(), 'arbiter-clamd-unit-'));
  afterAll(async () => rm(await work, { recursive: true, force: true }));

  it('takes its limits from Arbiter’s, within what clamd accepts', () => {
    const defaults = clamdSettings(loadConfig({}), undefined);
    expect(defaults).toEqual({
      streamMaxLength: 2 * 1024 ** 3, // ARBITER_MAX_FETCH_SIZE, the larger
      maxFileSize: 2 ** 31 - 1, // clamd scans no file above 2 GiB − 1
      maxScanSize: 2 ** 32 - 1, // ARBITER_ARCHIVE_MAX_EXPANDED (4 GB), capped at 4 GiB − 1
      maxRecursion: 17, // reaches what ARBITER_ARCHIVE_MAX_DEPTH 16 reaches (clamd counts the top)
      maxFiles: 10_000,
      maxThreads: 6, // CLAMD_POOL_SIZE + 2
      detectPua: false, // ARBITER_SIGNATURES_DETECT_PUA
      user: undefined,
    });
    const small = clamdSettings(
      loadConfig({
        ARBITER_MAX_FILE_SIZE: '300MB',
        ARBITER_MAX_FETCH_SIZE: '100MB',
        ARBITER_ARCHIVE_MAX_EXPANDED: '50MB',
        ARBITER_ARCHIVE_MAX_DEPTH: '5',
        ARBITER_ARCHIVE_MAX_MEMBERS: '200',
        ARBITER_SIGNATURES_DETECT_PUA: 'true',
      }),
      'clamav',
    );
    expect(small).toMatchObject({
      streamMaxLength: 300 * 1024 ** 2,
      maxFileSize: 300 * 1024 ** 2,
      maxScanSize: 300 * 1024 ** 2, // never below the largest content it is sent
      maxRecursion: 6,
      maxFiles: 200,
    });
    const text = clamdConfigText({ dir: '/d/clamd/1', databaseDir: '/d/clamav', settings: small });
    expect(text).toMatch(/^LocalSocket \/d\/clamd\/1\/clamd\.sock$/m);
    expect(text).toMatch(/^User clamav$/m);
    expect(text).toMatch(/^AlertExceedsMax yes$/m);
    expect(text).toMatch(/^AlertEncrypted yes$/m);
    expect(text).toMatch(/^AlertBrokenExecutables yes$/m);
    expect(text).toMatch(/^AlertPartitionIntersection yes$/m);
    expect(text).toMatch(/^DetectPUA yes$/m);
    const defaultText = clamdConfigText({ dir: '/d', databaseDir: '/d/db', settings: defaults });
    expect(defaultText).toMatch(/^DetectPUA no$/m);
    expect(text).not.toMatch(/^TCP/m);
  });

  it('counts a folder as a database only with a non-empty file clamd loads signatures from', async () => {
    const dir = path.join(await work, 'db');
    expect(await holdsClamdDatabase(dir)).toBe(false); // missing
    expect(await holdsClamdDatabase(undefined)).toBe(false);
    await mkdir(dir);
    await writeFile(path.join(dir, 'freshclam.dat'), 'state');
    await writeFile(path.join(dir, 'local.ign2'), 'Some.Signature\n');
    await writeFile(path.join(dir, 'empty.ndb'), '');
    expect(await holdsClamdDatabase(dir)).toBe(false);
    await writeFile(path.join(dir, 'daily.CVD'), 'ClamAV-VDB:…');
    expect(await holdsClamdDatabase(dir)).toBe(true);
  });

  it('finds the installed clamd, and none where the configured binary does not run', async () => {
    expect(await findClamdBinary(undefined)).toBeDefined();
    expect(await findClamdBinary(CLAMD_BINARY)).toBe(CLAMD_BINARY);
    expect(await findClamdBinary(path.join(await work, 'no-clamd'))).toBeUndefined();
    expect(await findClamdBinary('/bin/true')).toBeUndefined(); // runs, but is no clamd
  });

  it('while a crashed clamd waits to be restarted, clamd scans fail as transient errors; then it is back', async () => {
    const root = await work;
    const databaseDir = path.join(root, 'restart-db');
    await cp(SIGNATURES_DIR, databaseDir, { recursive: true });
    const content = path.join(root, 'content.txt');
    await writeFile(content, 'nothing to see');
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger(
      'info',
      'arbiter',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const clamd = await startEmbeddedClamd({
      binary: CLAMD_BINARY,
      databaseDir,
      dir: path.join(root, 'clamd', '1'),
      settings: clamdSettings(loadConfig({}), undefined),
      startTimeoutMs: 30_000,
      logger,
      // Long enough that the scan below certainly runs while clamd is down.
      restartBackoffMs: { first: 600_000, max: 600_000 },
    });
    const engine = await ClamdEngine.create(
      { address: clamd.address, timeoutMs: 5_000, poolSize: 1 },
      logger,
    );
    try {
      const target = { path: content, size: 14 };
      expect((await engine.scan(target)).findings).toEqual([]);
      const pid = clamd.pid()!;
      process.kill(pid, 'SIGKILL');
      await waitFor(() => clamd.pid() === undefined, { what: 'the crash to be noticed' });
      const failure = await engine.scan(target).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).retryable).toBe(true); // retried, never clean
      expect(lines.map((line) => line.msg)).toContain(
        'the private clamd exited; clamd scans fail (and are retried) until it is back',
      );
    } finally {
      await engine.close();
      await clamd.stop();
    }
  });

  it('starts a crashed clamd again, with a log line each time', async () => {
    const root = await work;
    const databaseDir = path.join(root, 'restart-db-2');
    await cp(SIGNATURES_DIR, databaseDir, { recursive: true });
    const messages: string[] = [];
    const logger = createLogger(
      'info',
      'arbiter',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
          done();
        },
      }),
    );
    const clamd = await startEmbeddedClamd({
      binary: CLAMD_BINARY,
      databaseDir,
      dir: path.join(root, 'clamd', '2'),
      settings: clamdSettings(loadConfig({}), undefined),
      startTimeoutMs: 30_000,
      logger,
      restartBackoffMs: { first: 10, max: 100 },
    });
    try {
      for (let crash = 1; crash <= 2; crash += 1) {
        const pid = await waitFor(() => clamd.pid(), { what: 'a running clamd' });
        process.kill(pid, 'SIGKILL');
        await waitFor(
          () => messages.filter((msg) => msg === 'private clamd restarted').length === crash,
          { timeoutMs: 30_000, what: `restart ${crash}` },
        );
      }
      expect(messages.filter((msg) => msg.startsWith('the private clamd exited'))).toHaveLength(2);
    } finally {
      await clamd.stop();
    }
  });
});

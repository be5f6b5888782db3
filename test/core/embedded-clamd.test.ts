import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import {
  clamdConfigText,
  clamdSettings,
  findClamdBinary,
  holdsClamdDatabase,
} from '../../core/embedded-clamd.js';
import { CLAMD_BINARY } from '../support/clamd.js';

describe('the private clamd’s settings and what it needs', () => {
  const work = mkdtemp(path.join(tmpdir(), 'arbiter-clamd-unit-'));
  afterAll(async () => rm(await work, { recursive: true, force: true }));

  it('takes its limits from Arbiter’s, within what clamd accepts', () => {
    const defaults = clamdSettings(loadConfig({}), undefined);
    expect(defaults).toEqual({
      streamMaxLength: 2 * 1024 ** 3, // ARBITER_MAX_FETCH_SIZE, the larger
      maxFileSize: 2 ** 31 - 1, // clamd scans no file above 2 GiB − 1
      maxScanSize: 2 ** 32 - 1, // ARBITER_ARCHIVE_MAX_EXPANDED (4 GB), capped at 4 GiB − 1
      maxRecursion: 16,
      maxFiles: 10_000,
      maxThreads: 6, // CLAMD_POOL_SIZE + 2
      user: undefined,
    });
    const small = clamdSettings(
      loadConfig({
        ARBITER_MAX_FILE_SIZE: '300MB',
        ARBITER_MAX_FETCH_SIZE: '100MB',
        ARBITER_ARCHIVE_MAX_EXPANDED: '50MB',
        ARBITER_ARCHIVE_MAX_DEPTH: '5',
        ARBITER_ARCHIVE_MAX_MEMBERS: '200',
      }),
      'clamav',
    );
    expect(small).toMatchObject({
      streamMaxLength: 300 * 1024 ** 2,
      maxFileSize: 300 * 1024 ** 2,
      maxScanSize: 300 * 1024 ** 2, // never below the largest content it is sent
      maxRecursion: 5,
      maxFiles: 200,
    });
    const text = clamdConfigText({ dir: '/d/clamd/1', databaseDir: '/d/clamav', settings: small });
    expect(text).toMatch(/^LocalSocket \/d\/clamd\/1\/clamd\.sock$/m);
    expect(text).toMatch(/^User clamav$/m);
    expect(text).toMatch(/^AlertExceedsMax yes$/m);
    expect(text).toMatch(/^AlertEncrypted yes$/m);
    expect(text).toMatch(/^AlertBrokenExecutables yes$/m);
    expect(text).toMatch(/^AlertPartitionIntersection yes$/m);
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
});

import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm } from '../support/content.js';
import {
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import {
  TEST_EXECUTABLE_FINDING,
  TEST_EXECUTABLE_SIGNATURE,
  buildExtraFormats,
  clamavTestfiles,
  clamscanVerdicts,
  writeTestExecutableDatabase,
} from '../support/test-executable-corpus.js';

/**
 * The engines a user gets by default (ARBITER_ENGINES and CLAMD_ADDRESS unset, clamd installed,
 * a database in the data folder: the built-in engine plus a private clamd) find ClamAV's test
 * executable in every container, encoding and packer format clamd itself opens — the 44 files of
 * Debian's clamav-testfiles and more built here with Debian's tools. clamscan, run on the same
 * files with the same one-line database, is the judge of which formats clamd opens.
 */

interface Result {
  findings: string[];
  engines: Array<{ name: string }>;
  error?: string;
}

describe('the default engines on the test executable in every format clamd opens', () => {
  let service: TestService;
  let tenant: TestTenant;
  let work: string;
  let databaseDir: string;
  let files: string[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'arbiter-formats-'));
    // Open to the clamav user: clamd drops root and must read its database.
    await chmod(work, 0o755);
    const dataDir = path.join(work, 'data');
    databaseDir = path.join(dataDir, 'clamav');
    await writeTestExecutableDatabase(databaseDir);
    await chmod(dataDir, 0o755);
    files = [...(await clamavTestfiles()), ...(await buildExtraFormats(path.join(work, 'built')))];
    service = await startTestService({ ARBITER_ENGINES: '', ARBITER_DATA_DIR: dataDir });
    tenant = await service.createTenant('formats');
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const scan = async (file: string): Promise<Result> => {
    const form = fileForm(await readFile(file), {}, path.basename(file));
    const response = await scaniiRequest(service, tenant, '/files', { method: 'POST', body: form });
    expect(response.status, path.basename(file)).toBe(201);
    return (await response.json()) as Result;
  };

  it('runs the built-in engine and the private clamd', async () => {
    const result = await scan(files[0]!);
    expect(result.engines.map((engine) => engine.name)).toEqual(['builtin', 'clamd']);
  });

  it('finds it wherever clamscan finds it, and clamscan finds it in every file here', async () => {
    const judge = await clamscanVerdicts(databaseDir, files);
    const openedByClamd = files.filter((file) =>
      judge.get(file)?.startsWith(TEST_EXECUTABLE_SIGNATURE),
    );
    // Every file is one clamd opens: a recipe clamd cannot open would test nothing here.
    expect(files.filter((file) => !openedByClamd.includes(file))).toEqual([]);
    expect(openedByClamd.length).toBeGreaterThanOrEqual(44 + 13);

    const missed: Array<{ file: string; findings: string[]; error?: string }> = [];
    for (const file of openedByClamd) {
      const result = await scan(file);
      if (!result.findings.includes(TEST_EXECUTABLE_FINDING))
        missed.push({ file: path.basename(file), findings: result.findings, error: result.error });
    }
    expect(missed).toEqual([]);
  }, 300_000);
});

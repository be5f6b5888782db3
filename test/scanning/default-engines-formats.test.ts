import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undecodableZip } from '../support/archives.js';
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

const run = promisify(execFile);

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

  it('opens what clamd decodes too, and reports what neither engine decodes', async () => {
    // Clean text in bzip2, xz, bare LZMA and zip members in bzip2, Deflate64 or LZMA: the
    // built-in engine decodes them all (through 7-Zip): clean. A zip member in WavPack (97),
    // which neither engine decodes: content.unscannable.unsupported-method, never clean.
    const dir = path.join(work, 'undecoded');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'notes.txt'), 'nothing to see here\n'.repeat(200));
    const sh = (command: string) => run('sh', ['-c', command], { cwd: dir });
    await sh('bzip2 -k -c notes.txt > notes.txt.bz2 && xz -k -c notes.txt > notes.txt.xz');
    await sh('tar -cJf notes.tar.xz notes.txt && zip -q -Z bzip2 notes-bzip2.zip notes.txt');
    await sh('7z a -bd -y -tzip -mm=Deflate64 notes-deflate64.zip notes.txt > /dev/null');
    await sh('xz --format=lzma -k -c notes.txt > notes.txt.lzma');
    await sh('7z a -bd -y -tzip -mm=LZMA notes-lzma.zip notes.txt > /dev/null');
    await writeFile(
      path.join(dir, 'notes-wavpack.zip'),
      undecodableZip('notes.wav', Buffer.from('nothing to see here\n')),
    );
    for (const name of [
      'notes.txt.bz2',
      'notes.txt.xz',
      'notes.tar.xz',
      'notes-bzip2.zip',
      'notes-deflate64.zip',
      'notes.txt.lzma',
      'notes-lzma.zip',
    ]) {
      expect((await scan(path.join(dir, name))).findings, name).toEqual([]);
    }
    expect((await scan(path.join(dir, 'notes-wavpack.zip'))).findings).toEqual([
      'content.unscannable.unsupported-method',
    ]);
  }, 120_000);
});

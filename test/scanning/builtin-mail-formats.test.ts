import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { eicar } from '../support/content.js';
import {
  binhexed,
  emlMessage,
  mboxFile,
  mpackMessage,
  oldSisFile,
  sis9File,
  tnefFile,
  uuencoded,
  yencoded,
} from '../support/mail-formats.js';
import {
  CLAMAV_TESTFILES_DIR,
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  writeTestExecutableDatabase,
} from '../support/test-executable-corpus.js';

/**
 * The built-in engine ALONE (no clamd in the set) finds ClamAV's test executable in mail and
 * in the transfer encodings mail carries, each written at run time by the tool a user would
 * use (python3's email and mailbox modules, mpack, uuencode) or, for formats no Debian tool
 * writes, by the builders of test/support/mail-formats.ts; and in Debian's clamav-testfiles of
 * the same formats. A real clamd with the same one-line database judges the same files: it
 * agrees wherever it decodes the format, and the few it does not decode are listed.
 */

describe('the built-in engine alone on the test executable in mail and its encodings', () => {
  let work: string;
  let engine: BuiltinEngine;
  let clamd: TestClamd;
  let clamdEngine: ClamdEngine;
  let exe: Buffer;
  const files = new Map<string, string>();

  /**
   * Files in which clamd 1.4.6 does not find it (this test checks that it still does not): a
   * binary attachment in quoted-printable, yEnc (neither in a text file nor in a mail part),
   * the SIS 9.x package built here (a controller holding only its install block, then the file data), and a
   * uuencoded block that does not start the file.
   */
  const CLAMD_DOES_NOT_DECODE = new Set([
    'clam.qp.eml',
    'clam.yenc',
    'clam.yenc.eml',
    'clam.sisx',
    'clam.late.uu.txt',
  ]);

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'arbiter-mail-formats-'));
    exe = await readFile(TEST_EXECUTABLE);
    const databaseDir = path.join(work, 'db');
    await writeTestExecutableDatabase(databaseDir);
    engine = await BuiltinEngine.load(databaseDir, createLogger('silent'));
    clamd = await startTestClamd({ databaseDir });
    clamdEngine = await ClamdEngine.create(
      { address: clamd.unixAddress, timeoutMs: 20_000, poolSize: 2 },
      createLogger('silent'),
    );
    const built = path.join(work, 'built');
    await mkdir(built);
    const uu = uuencoded('clam.exe', exe);
    const add = async (name: string, content: Buffer) => {
      await writeFile(path.join(built, name), content);
      files.set(name, path.join(built, name));
    };
    await add('clam.base64.eml', emlMessage({ attachments: [{ name: 'clam.exe', data: exe }] }));
    await add(
      'clam.qp.eml',
      emlMessage({ attachments: [{ name: 'clam.exe', data: exe, encoding: 'quoted-printable' }] }),
    );
    await add(
      'clam.mbox',
      mboxFile([
        { subject: 'first', text: 'nothing here\n' },
        { subject: 'second', attachments: [{ name: 'clam.exe', data: exe }] },
      ]),
    );
    await add(
      'clam.nested.eml',
      emlMessage({
        attachedMessages: [{ attachments: [{ name: 'clam.exe', data: exe }] }],
      }),
    );
    await add('clam.mpack.eml', mpackMessage('clam.exe', exe));
    await add('clam.uu', uu);
    await add('clam.uu.eml', emlMessage({ text: `The file:\n\n${uu.toString('latin1')}\nbye\n` }));
    await add(
      'clam.late-uu.eml',
      emlMessage({ text: `${'A long letter.\n'.repeat(8000)}\n${uu.toString('latin1')}\nbye\n` }),
    );
    await add('clam.late.uu.txt', Buffer.concat([Buffer.from('A note first.\n\n'), uu]));
    await add('clam.yenc', yencoded('clam.exe', exe));
    await add(
      'clam.yenc.eml',
      emlMessage({
        attachments: [{ name: 'clam.ync', data: yencoded('clam.exe', exe), type: 'text/plain' }],
      }),
    );
    await add('clam.hqx', binhexed('clam.exe', exe));
    await add(
      'clam.hqx.eml',
      emlMessage({
        attachments: [
          { name: 'clam.hqx', data: binhexed('clam.exe', exe), type: 'application/mac-binhex40' },
        ],
      }),
    );
    await add('clam.tnef', tnefFile([{ title: 'clam.exe', data: exe }]));
    await add(
      'clam.tnef.eml',
      emlMessage({
        attachments: [{ name: 'winmail.dat', data: tnefFile([{ title: 'clam.exe', data: exe }]) }],
      }),
    );
    await add('clam.sis', oldSisFile([{ target: '!:\\system\\apps\\clam\\clam.exe', data: exe }]));
    await add('clam.sisx', sis9File([exe], { names: ['clam.exe'] }));
    for (const name of [
      'clam.mail',
      'clam.exe.mbox.base64',
      'clam.exe.mbox.uu',
      'clam.exe.binhex',
      'clam.tnef',
      'clam.sis',
    ]) {
      const copy = path.join(built, `testfiles-${name}`);
      await copyFile(path.join(CLAMAV_TESTFILES_DIR, name), copy);
      files.set(`testfiles-${name}`, copy);
    }
  }, 120_000);

  afterAll(async () => {
    await clamdEngine?.close();
    await clamd?.stop();
    await engine?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const target = async (file: string) => ({
    path: file,
    size: (await stat(file)).size,
    name: path.basename(file),
  });

  it('finds it in every file, with nothing reported unscannable', async () => {
    const missed: Array<{ name: string; findings: string[] }> = [];
    for (const [name, file] of files) {
      const verdict = await engine.scan(await target(file));
      if (verdict.findings.join() !== TEST_EXECUTABLE_FINDING) {
        missed.push({ name, findings: verdict.findings });
      }
    }
    expect(missed).toEqual([]);
  }, 60_000);

  it('agrees with clamd wherever clamd decodes the format', async () => {
    const clamdFinds: string[] = [];
    for (const [name, file] of files) {
      const verdict = await clamdEngine.scan(await target(file));
      if (verdict.findings.includes(TEST_EXECUTABLE_FINDING)) clamdFinds.push(name);
    }
    const expected = [...files.keys()].filter((name) => !CLAMD_DOES_NOT_DECODE.has(name));
    expect(clamdFinds.sort()).toEqual(expected.sort());
  }, 60_000);

  it('reports EICAR attached base64 to a message as the EICAR test signature', async () => {
    const file = path.join(work, 'eicar.eml');
    await writeFile(file, emlMessage({ attachments: [{ name: 'eicar.com', data: eicar() }] }));
    const verdict = await engine.scan(await target(file));
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    expect(verdict.detections).toContainEqual(
      expect.objectContaining({ path: ['eicar.eml', 'eicar.com'], finding: EICAR_FINDING }),
    );
  });
});

import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { zip } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { attachmentPdf, qpdfAttachment, writePdf } from '../support/pdf.js';
import { ole1Object, packageNative, rtfWithBin, rtfWithObject } from '../support/rtf.js';
import {
  CLAMAV_TESTFILES_DIR,
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  TEST_EXECUTABLE_SIGNATURE,
  clamscanVerdicts,
  writeTestExecutableDatabase,
} from '../support/test-executable-corpus.js';

/**
 * The built-in engine ALONE (no clamd in the set) finds ClamAV's test executable and EICAR
 * embedded in documents: PDF attachments (plain, in object streams, encrypted with an empty user
 * password), RTF embedded objects and binary runs, HTML and SVG data URIs and script base64. clamscan, with the same one-line database, is
 * run on the same files: where it opens the format, both must agree. ClamAV 1.x misses the
 * attachments qpdf writes: their dictionary holds a nested `/Params << … >>` before `/Filter`,
 * which its dictionary scan does not get past (the stream is then scanned still deflated), and a
 * decrypted stream with no other filter is handed on undecrypted; those cases are the built-in
 * engine's alone.
 */

interface Case {
  name: string;
  content: Buffer;
  /** The finding the built-in engine must report. */
  finding: string;
  /** clamscan opens this too (it must then find the test executable). */
  clamd: boolean;
}

describe('the built-in engine alone on documents with embedded executables', () => {
  let dir: string;
  let databaseDir: string;
  let engine: BuiltinEngine;
  const cases: Case[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-documents-'));
    databaseDir = path.join(dir, 'db');
    await writeTestExecutableDatabase(databaseDir);
    engine = await BuiltinEngine.load(databaseDir, createLogger('silent'));
    const clamExe = await readFile(TEST_EXECUTABLE);
    const found = TEST_EXECUTABLE_FINDING;
    const b64 = clamExe.toString('base64');
    const encrypt = (bits: string[]) => [
      '--allow-weak-crypto',
      '--encrypt',
      '',
      'owner',
      ...bits,
      '--',
    ];
    cases.push(
      {
        name: 'clam.pdf',
        content: await readFile(path.join(CLAMAV_TESTFILES_DIR, 'clam.pdf')),
        finding: found,
        clamd: true,
      },
      {
        name: 'attached.pdf',
        content: writePdf(attachmentPdf('clam.exe', clamExe)),
        finding: found,
        clamd: true,
      },
      {
        name: 'objstm.pdf',
        content: qpdfAttachment('clam.exe', clamExe),
        finding: found,
        clamd: false,
      },
      {
        name: 'rc4.pdf',
        content: qpdfAttachment('clam.exe', clamExe, encrypt(['128', '--use-aes=n'])),
        finding: found,
        clamd: false,
      },
      {
        name: 'aes256.pdf',
        content: qpdfAttachment('clam.exe', clamExe, encrypt(['256'])),
        finding: found,
        clamd: false,
      },
      {
        name: 'eicar.pdf',
        content: writePdf(attachmentPdf('eicar.com', eicar())),
        finding: 'content.malicious.eicar-test-signature',
        clamd: false,
      },
      {
        name: 'clam.exe.rtf',
        content: await readFile(path.join(CLAMAV_TESTFILES_DIR, 'clam.exe.rtf')),
        finding: found,
        clamd: true,
      },
      {
        name: 'package.rtf',
        content: rtfWithObject(ole1Object('Package', packageNative('clam.exe', clamExe))),
        finding: found,
        clamd: true,
      },
      // ClamAV extracts Package objects only: raw \bin runs and objects of other classes whose
      // native data is no OLE2 file are the built-in engine's alone.
      { name: 'bin.rtf', content: rtfWithBin(clamExe), finding: found, clamd: false },
      {
        name: 'eicar.rtf',
        content: rtfWithObject(ole1Object('Package', packageNative('eicar.com', eicar()))),
        finding: 'content.malicious.eicar-test-signature',
        clamd: false,
      },
      {
        name: 'clam.exe.html',
        content: await readFile(path.join(CLAMAV_TESTFILES_DIR, 'clam.exe.html')),
        finding: found,
        clamd: true,
      },
      {
        name: 'style.html',
        content: Buffer.from(
          `<!DOCTYPE html><html><head><style>body { background: url(data:application/octet-stream;base64,${b64}) }</style></head></html>`,
        ),
        finding: found,
        clamd: true,
      },
      // ClamAV decodes base64 data URIs only, and only in what it takes for HTML (a page with
      // tags such as <a href> or <script>: an SVG of images alone is not): percent-encoded URIs,
      // base64 in scripts and that SVG are the built-in engine's alone.
      {
        name: 'image.svg',
        content: Buffer.from(
          `<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,${b64}"/></svg>`,
        ),
        finding: found,
        clamd: false,
      },
      {
        name: 'atob.html',
        content: Buffer.from(`<html><script>var x = atob("${b64}");</script></html>`),
        finding: found,
        clamd: false,
      },
      {
        name: 'eicar.html',
        content: Buffer.from(
          `<html><body><a href="data:text/plain,${encodeURIComponent(eicar().toString('latin1'))}">x</a></body></html>`,
        ),
        finding: 'content.malicious.eicar-test-signature',
        clamd: false,
      },
    );
    // Handlers nest: a zip holding an RTF whose packaged PDF carries the executable.
    const pdf = writePdf(attachmentPdf('clam.exe', clamExe));
    const rtf = rtfWithObject(ole1Object('Package', packageNative('report.pdf', pdf)));
    cases.push({
      name: 'nested.zip',
      content: await zip([{ name: 'letter.rtf', data: rtf }]),
      finding: found,
      clamd: true,
    });
    for (const c of cases) await writeFile(path.join(dir, c.name), c.content);
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const scan = (c: Case) =>
    engine.scan({ path: path.join(dir, c.name), size: c.content.length, name: c.name });

  it('finds the embedded test executable and EICAR in every document', async () => {
    const missed: Array<{ name: string; findings: string[] }> = [];
    for (const c of cases) {
      const verdict = await scan(c);
      if (!verdict.findings.includes(c.finding))
        missed.push({ name: c.name, findings: verdict.findings });
    }
    expect(missed).toEqual([]);
  });

  it('agrees with clamscan wherever clamscan opens the format', async () => {
    const opened = cases.filter((c) => c.clamd);
    const verdicts = await clamscanVerdicts(
      databaseDir,
      opened.map((c) => path.join(dir, c.name)),
    );
    const disagreements = opened
      .map((c) => ({ name: c.name, clamscan: verdicts.get(path.join(dir, c.name)) }))
      .filter((v) => !v.clamscan?.startsWith(TEST_EXECUTABLE_SIGNATURE));
    expect(disagreements).toEqual([]);
  }, 60_000);
});

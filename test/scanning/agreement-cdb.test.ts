import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { encryptedZip, infoZip, tar, zip, type ZipEntry } from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { randomContent } from '../support/content.js';

/**
 * Container metadata signatures (`.cdb`) given to the built-in engine and to a real clamd in the
 * same folder. Each sample matches at most one signature (clamd stops at the first), and both
 * engines must find the same one, or none.
 */
const CDB = [
  'Cdb.Agree.Name:CL_TYPE_ZIP:*:(^|/)cdbname-[a-z]+\\.pdf\\.exe$:*:*:*:*:*:*',
  'Cdb.Agree.Size:CL_TYPE_ZIP:*:^cdbsize\\.bin$:*:1000-2000:*:*:*:*',
  'Cdb.Agree.Packed:CL_TYPE_ZIP:*:^cdbpacked\\.txt$:0-200:5000:*:*:*:*',
  'Cdb.Agree.Position:CL_TYPE_ZIP:*:cdbpos\\.txt$:*:*:*:2:*:*',
  'Cdb.Agree.Encrypted:CL_TYPE_ZIP:*:^cdbenc\\.txt$:*:*:1:*:*:*',
  'Cdb.Agree.Plain:CL_TYPE_ZIP:*:^cdbplain\\.txt$:*:*:0:*:*:*',
  'Cdb.Agree.ContainerSize:CL_TYPE_ZIP:1-4000:^cdbcsize\\.bin$:*:*:*:*:*:*',
  'Cdb.Agree.Tar:CL_TYPE_POSIX_TAR:*:^cdbtar/payload\\.js$:*:10-0:*:2:*:*',
  'Cdb.Agree.Any:*:*:(?i)^cdbany\\.VBS$:*:*:*:*:*:*',
  'Cdb.Agree.SevenZip:CL_TYPE_7Z:*:(^|/)cdb7z\\.bin$:0:100-200:0:*:*:*',
];

const text = (s: string) => Buffer.from(s);
const filler = (bytes: number) => Buffer.alloc(bytes, 0x61);

/** The entries of a minimal Word document, with `extra` last. */
function wordDocument(extra: string): ZipEntry[] {
  return [
    { name: '[Content_Types].xml', data: text('<Types/>') },
    { name: 'word/document.xml', data: text('<w:document/>') },
    { name: extra, data: text('hi') },
  ];
}

/** A .7z made by p7zip's `7z a`, entries in the order given. */
async function sevenZip(entries: ZipEntry[]): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-agree-7z-'));
  try {
    for (const entry of entries) {
      await mkdir(path.dirname(path.join(dir, entry.name)), { recursive: true });
      await writeFile(path.join(dir, entry.name), entry.data);
    }
    execFileSync('7z', ['a', '-bd', '-t7z', 'out.7z', ...entries.map((e) => e.name)], {
      cwd: dir,
      stdio: 'ignore',
    });
    return await readFile(path.join(dir, 'out.7z'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Each sample and the one signature both engines must name (undefined: clean for both). */
const SAMPLES: Record<string, { build: () => Promise<Buffer>; expected: string | undefined }> = {
  'name.zip': {
    build: () => zip([{ name: 'docs/cdbname-invoice.pdf.exe', data: text('hi') }]),
    expected: 'Cdb.Agree.Name',
  },
  'name-not-at-end.zip': {
    build: () => zip([{ name: 'cdbname-invoice.pdf.exe.txt', data: text('hi') }]),
    expected: undefined,
  },
  'name-nested.zip': {
    build: async () =>
      zip([
        {
          name: 'inner.zip',
          data: await zip([{ name: 'cdbname-report.pdf.exe', data: text('hi') }]),
        },
      ]),
    expected: 'Cdb.Agree.Name',
  },
  'size-in-range.zip': {
    build: () => zip([{ name: 'cdbsize.bin', data: filler(1500) }]),
    expected: 'Cdb.Agree.Size',
  },
  'size-out-of-range.zip': {
    build: () => zip([{ name: 'cdbsize.bin', data: filler(2500) }]),
    expected: undefined,
  },
  'packed-deflated.zip': {
    build: () => zip([{ name: 'cdbpacked.txt', data: filler(5000) }]),
    expected: 'Cdb.Agree.Packed',
  },
  'packed-stored.zip': {
    build: () => zip([{ name: 'cdbpacked.txt', data: filler(5000), compress: false }]),
    expected: undefined,
  },
  'position-second.zip': {
    build: () =>
      zip([
        { name: 'first.txt', data: text('one') },
        { name: 'cdbpos.txt', data: text('two') },
      ]),
    expected: 'Cdb.Agree.Position',
  },
  'position-after-directory.zip': {
    build: () =>
      zip([
        { name: 'dir/', data: Buffer.alloc(0) },
        { name: 'dir/cdbpos.txt', data: text('two') },
      ]),
    expected: 'Cdb.Agree.Position',
  },
  'position-first.zip': {
    build: () =>
      zip([
        { name: 'cdbpos.txt', data: text('one') },
        { name: 'second.txt', data: text('two') },
      ]),
    expected: undefined,
  },
  'encrypted.zip': {
    build: () => Promise.resolve(encryptedZip([{ name: 'cdbenc.txt', data: text('secret') }])),
    expected: 'Cdb.Agree.Encrypted',
  },
  'encrypted-flag-off.zip': {
    build: () => Promise.resolve(infoZip([{ name: 'cdbenc.txt', data: text('secret') }])),
    expected: undefined,
  },
  'plain-but-encrypted.zip': {
    build: () => Promise.resolve(encryptedZip([{ name: 'cdbplain.txt', data: text('secret') }])),
    expected: undefined,
  },
  'plain.zip': {
    build: () => Promise.resolve(infoZip([{ name: 'cdbplain.txt', data: text('secret') }])),
    expected: 'Cdb.Agree.Plain',
  },
  'container-small.zip': {
    build: () => zip([{ name: 'cdbcsize.bin', data: text('small') }]),
    expected: 'Cdb.Agree.ContainerSize',
  },
  'container-large.zip': {
    build: () =>
      zip([
        { name: 'cdbcsize.bin', data: text('small') },
        { name: 'random.bin', data: randomContent(8000), compress: false },
      ]),
    expected: undefined,
  },
  'second-file.tar': {
    build: () =>
      tar([
        { name: 'cdbtar/', type: 'directory' },
        { name: 'cdbtar/readme.txt', data: text('read me') },
        { name: 'cdbtar/payload.js', data: filler(100) },
      ]),
    expected: 'Cdb.Agree.Tar',
  },
  'first-file.tar': {
    build: () =>
      tar([
        { name: 'cdbtar/payload.js', data: filler(100) },
        { name: 'cdbtar/readme.txt', data: text('read me') },
      ]),
    expected: undefined,
  },
  'too-small.tar': {
    build: () =>
      tar([
        { name: 'cdbtar/readme.txt', data: text('read me') },
        { name: 'cdbtar/payload.js', data: filler(5) },
      ]),
    expected: undefined,
  },
  // ClamAV types a zip laid out as a Word document as one: zip signatures do not apply to its
  // members as listed. It also opens each local header past the first as a zip embedded there,
  // whose one member is at position 0: zip signatures apply to that.
  'document-embedded.docx': {
    build: () => Promise.resolve(infoZip(wordDocument('word/cdbname-invoice.pdf.exe'))),
    expected: 'Cdb.Agree.Name',
  },
  'document-first.docx': {
    build: () => Promise.resolve(infoZip(wordDocument('word/cdbname-invoice.pdf.exe').reverse())),
    expected: undefined,
  },
  'document-position.docx': {
    build: () => {
      const [types, body, extra] = wordDocument('cdbpos.txt') as [ZipEntry, ZipEntry, ZipEntry];
      return Promise.resolve(infoZip([types, extra, body]));
    },
    expected: undefined,
  },
  // Document hints (`mimetype`) but no document part: clamd keeps it a zip.
  'epub-like.zip': {
    build: () =>
      Promise.resolve(
        infoZip([
          { name: 'mimetype', data: text('application/epub+zip') },
          { name: 'cdbpos.txt', data: text('two') },
          { name: 'META-INF/container.xml', data: text('<container/>') },
        ]),
      ),
    expected: 'Cdb.Agree.Position',
  },
  'document-any.docx': {
    build: () => Promise.resolve(infoZip(wordDocument('CDBANY.vbs'))),
    expected: 'Cdb.Agree.Any',
  },
  'in-range.7z': {
    build: () =>
      sevenZip([
        { name: 'readme.txt', data: text('read me') },
        { name: 'dir/cdb7z.bin', data: filler(150) },
      ]),
    expected: 'Cdb.Agree.SevenZip',
  },
  'out-of-range.7z': {
    build: () => sevenZip([{ name: 'cdb7z.bin', data: filler(300) }]),
    expected: undefined,
  },
  'any-in-7z.7z': {
    build: () => sevenZip([{ name: 'cdbany.vbs', data: text('x') }]),
    expected: 'Cdb.Agree.Any',
  },
  'any-in-zip.zip': {
    build: () => zip([{ name: 'CDBANY.vbs', data: text('x') }]),
    expected: 'Cdb.Agree.Any',
  },
  'any-in-tar.tar': {
    build: () => tar([{ name: 'cdbany.vbs', data: text('x') }]),
    expected: 'Cdb.Agree.Any',
  },
  'any-not-first.tar': {
    build: () => tar([{ name: 'dir/cdbany.vbs', data: text('x') }]),
    expected: undefined,
  },
};

describe('the built-in engine and clamd agree on .cdb container metadata signatures', () => {
  let dir: string;
  let clamd: TestClamd;
  let builtin: BuiltinEngine;
  let clamdEngine: ClamdEngine;
  const sizes = new Map<string, number>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-agree-cdb-'));
    const db = path.join(dir, 'db');
    await mkdir(db);
    await writeFile(path.join(db, 'agree.cdb'), `${CDB.join('\n')}\n`);
    for (const [name, sample] of Object.entries(SAMPLES)) {
      const content = await sample.build();
      sizes.set(name, content.length);
      await writeFile(path.join(dir, name), content);
    }
    const logger = createLogger('silent');
    [clamd, builtin] = await Promise.all([
      startTestClamd({ databaseDir: db }),
      BuiltinEngine.load(db, logger),
    ]);
    clamdEngine = await ClamdEngine.create(
      {
        address: clamd.unixAddress,
        timeoutMs: 20_000,
        poolSize: 2,
        databaseDir: clamd.databaseDir,
      },
      logger,
    );
  }, 60_000);

  afterAll(async () => {
    await clamdEngine?.close();
    await builtin?.close();
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const malicious = (verdict: EngineVerdict) =>
    verdict.findings.filter((finding) => finding.startsWith('content.malicious.'));
  const findingOf = (signature: string | undefined) =>
    signature === undefined ? [] : [`content.malicious.${signature.toLowerCase()}`];

  it('loads every signature', () => {
    expect(builtin.loadReport().types).toContainEqual(
      expect.objectContaining({ type: 'cdb', loaded: CDB.length, skipped: 0 }),
    );
  });

  it.each(Object.keys(SAMPLES))('%s: both engines give the same verdict', async (name) => {
    const target = { path: path.join(dir, name), size: sizes.get(name) ?? 0, name };
    const [fromBuiltin, fromClamd] = await Promise.all([
      builtin.scan(target),
      clamdEngine.scan(target),
    ]);
    const expected = findingOf(SAMPLES[name]?.expected);
    expect({ builtin: malicious(fromBuiltin), clamd: malicious(fromClamd) }).toEqual({
      builtin: expected,
      clamd: expected,
    });
  });
});

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { ole2 } from '../support/ole2.js';
import { installShieldLauncher, installShieldSetup } from '../support/installshield.js';
import { buildPe } from '../support/pe-builder.js';
import { documentStream, packageObject, presentation, storageRecord } from '../support/ppt.js';
import { storedRar, storedRar5 } from '../support/rar.js';
import {
  CLAMAV_TESTFILES_DIR,
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  writeTestExecutableDatabase,
} from '../support/test-executable-corpus.js';

/**
 * The built-in engine alone finds ClamAV's test executable in every format it opens through
 * 7-Zip (and in objects embedded in PowerPoint presentations, OLE2 files 7-Zip opens), each file
 * written by the tool a user would use (scripts/setup installs them); a real clamd with the same
 * one-line database agrees wherever it opens the format.
 */

const run = promisify(execFile);

/** Shell lines run in a folder holding `clam.exe`; each writes the file named. */
const RECIPES: Array<{ name: string; command: string }> = [
  { name: 'clam.7z', command: '7z a -bd clam.7z clam.exe' },
  { name: 'clam.bcj2.7z', command: '7z a -bd -m0=BCJ2 -m1=LZMA -m2=LZMA clam.bcj2.7z clam.exe' },
  { name: 'clam.newc.cpio', command: 'echo clam.exe | cpio -o -H newc > clam.newc.cpio' },
  { name: 'clam.odc.cpio', command: 'echo clam.exe | cpio -o -H odc > clam.odc.cpio' },
  { name: 'clam.bin.cpio', command: 'echo clam.exe | cpio -o -H bin > clam.bin.cpio' },
  {
    name: 'clam.iso',
    command: 'mkdir iso && cp clam.exe iso/ && genisoimage -quiet -R -J -o clam.iso iso',
  },
  { name: 'clam.cab', command: 'gcab -c clam.cab clam.exe' },
  { name: 'clam.mszip.cab', command: 'gcab -c -z clam.mszip.cab clam.exe' },
  { name: 'clam.arj', command: 'arj a clam.arj clam.exe > /dev/null' },
  { name: 'clam.wim', command: '7z a -bd -twim clam.wim clam.exe' },
  { name: 'clam.exe.bz2', command: 'bzip2 -c clam.exe > clam.exe.bz2' },
  { name: 'clam.exe.xz', command: 'xz -c clam.exe > clam.exe.xz' },
  { name: 'clam.exe.lzma', command: 'xz --format=lzma -c clam.exe > clam.exe.lzma' },
  { name: 'clam.exe.Z', command: 'compress -c clam.exe > clam.exe.Z' },
  { name: 'clam.ex_', command: 'cp clam.exe sz.exe && mscompress sz.exe && mv sz.exe_ clam.ex_' },
  { name: 'clam.bzip2.zip', command: 'zip -q -Z bzip2 clam.bzip2.zip clam.exe' },
  {
    name: 'clam.deflate64.zip',
    command: '7z a -bd -tzip -mm=Deflate64 clam.deflate64.zip clam.exe',
  },
  { name: 'clam.lzma.zip', command: '7z a -bd -tzip -mm=LZMA clam.lzma.zip clam.exe' },
  { name: 'clam.ppmd.zip', command: '7z a -bd -tzip -mm=PPMd clam.ppmd.zip clam.exe' },
  {
    name: 'clam.msi',
    command: 'msibuild clam.msi -s Clam && msibuild clam.msi -a Binary.payload clam.exe',
  },
  {
    name: 'clam-setup.exe',
    command:
      'printf \'OutFile "clam-setup.exe"\\nRequestExecutionLevel user\\nSection\\nSetOutPath $TEMP\\nFile clam.exe\\nSectionEnd\\n\' > s.nsi && makensis -V1 s.nsi',
  },
  {
    // An RPM package: 7-Zip reads the header and hands on the gzip-compressed cpio payload.
    name: 'clam.rpm',
    command: [
      'mkdir -p rpm/SOURCES rpm/SPECS && cp clam.exe rpm/SOURCES/',
      "printf 'Name: clam\\nVersion: 1\\nRelease: 1\\nSummary: test\\nLicense: none\\nBuildArch: noarch\\nSource0: clam.exe\\n%%description\\ntest\\n%%install\\ninstall -D -m 644 %%{SOURCE0} %%{buildroot}/opt/clam/clam.exe\\n%%files\\n/opt/clam/clam.exe\\n' > rpm/SPECS/clam.spec",
      'rpmbuild --quiet --define "_topdir $PWD/rpm" -bb rpm/SPECS/clam.spec',
      'cp rpm/RPMS/noarch/clam-1-1.noarch.rpm clam.rpm',
    ].join(' && '),
  },
  // Self-extracting archives: a PE stub (the test executable itself) with an archive appended.
  {
    name: 'clam.7z-sfx.exe',
    command: '7z a -bd s.7z clam.exe && cat clam.exe s.7z > clam.7z-sfx.exe',
  },
  {
    name: 'clam.zip-sfx.exe',
    command:
      'zip -q s.zip clam.exe && cat clam.exe s.zip > clam.zip-sfx.exe && zip -qA clam.zip-sfx.exe',
  },
  {
    name: 'clam.cab-sfx.exe',
    command: 'gcab -c s.cab clam.exe && cat clam.exe s.cab > clam.cab-sfx.exe',
  },
];

/**
 * Debian's clamav-testfiles the built-in engine alone opens through 7-Zip or alongside it (mail,
 * PDF, … are tested elsewhere; executable packers, AutoIt and the other InstallShield files need
 * decoders it does not have: docs/engines.md lists them).
 */
const OPENED_FROM_TESTFILES = [
  'clam-nsis.exe',
  'clam.7z',
  'clam.arj',
  'clam.bin-be.cpio',
  'clam.bin-le.cpio',
  'clam.bz2.zip',
  'clam.cab',
  'clam.chm',
  'clam.d64.zip',
  'clam.exe.bz2',
  'clam.exe.szdd',
  'clam.impl.zip',
  'clam.newc.cpio',
  'clam.odc.cpio',
  'clam.ole.doc',
  // PowerPoint: an ExOleObjStg record of the PowerPoint Document stream (formats/ppt.ts).
  'clam.ppt',
  // An InstallShield launcher whose file table holds the executable (formats/installshield.ts).
  'clam_IScab_ext.exe',
  // InstallShield MSI setups: obfuscated zlib streams after an `InstallShield` marker.
  'clam_ISmsi_ext.exe',
  'clam_ISmsi_int.exe',
];

/**
 * Files built here that clamd 1.4 does not open (it answers OK): a 7z with the BCJ2 filter, .Z,
 * bare LZMA, zip members in LZMA or PPMd, WIM, a PowerPoint object stored uncompressed. The
 * built-in engine opens them.
 */
const NOT_OPENED_BY_CLAMD = [
  'clam.bcj2.7z',
  // Debian builds ClamAV without its (non-free) unRAR library.
  'clam.rar',
  'clam.rar5.rar',
  'clam.exe.Z',
  'clam.exe.lzma',
  'clam.lzma.zip',
  'clam.ppmd.zip',
  'clam.wim',
  'clam.rpm',
  // ClamAV inflates every ExOleObjStg record: it misses an object stored uncompressed.
  'clam.stored.ppt',
];

describe('the built-in engine alone on the test executable in formats 7-Zip opens', () => {
  let work: string;
  let files: string[];
  let builtin: BuiltinEngine;
  let clamd: TestClamd;
  let clamdEngine: ClamdEngine;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'arbiter-7zformats-'));
    await chmod(work, 0o755);
    const databaseDir = path.join(work, 'db');
    await writeTestExecutableDatabase(databaseDir);
    const built = path.join(work, 'built');
    await mkdir(built);
    await copyFile(TEST_EXECUTABLE, path.join(built, 'clam.exe'));
    files = [];
    for (const recipe of RECIPES) {
      await run('sh', ['-c', recipe.command], { cwd: built }).catch((error: unknown) => {
        throw new Error(`could not build ${recipe.name} (scripts/setup installs its tool)`, {
          cause: error,
        });
      });
      files.push(path.join(built, recipe.name));
    }
    // OLE2 (a Word document with a VBA project): no Debian tool writes one with chosen streams.
    const doc = path.join(built, 'clam.doc');
    await writeFile(
      doc,
      ole2([
        { path: 'WordDocument', data: Buffer.alloc(4096, 0x20) },
        { path: 'Macros/VBA/Module1', data: await readFile(TEST_EXECUTABLE) },
      ]),
    );
    files.push(doc);
    // PowerPoint with the executable embedded as an OLE package: no Debian tool writes one.
    for (const compressed of [true, false]) {
      const ppt = path.join(built, `clam.${compressed ? 'compressed' : 'stored'}.ppt`);
      const object = packageObject('clam.exe', await readFile(TEST_EXECUTABLE));
      await writeFile(ppt, presentation(documentStream([storageRecord(object, { compressed })])));
      files.push(ppt);
    }
    // InstallShield launchers (a PE, then a file table or an MSI setup's streams): no Debian tool
    // writes one.
    const launcher = path.join(built, 'clam.installshield.exe');
    const stub = buildPe({
      sections: [{ data: Buffer.alloc(64, 0xc3) }],
      entry: { section: 0, offset: 0 },
    });
    await writeFile(
      launcher,
      installShieldLauncher(stub.bytes, [
        { name: 'setup.ini', data: Buffer.from('[Startup]\r\n') },
        { name: 'clam.exe', data: await readFile(TEST_EXECUTABLE) },
      ]),
    );
    files.push(launcher);
    const setup = path.join(built, 'clam.issetup.exe');
    await writeFile(
      setup,
      installShieldSetup(stub.bytes, [{ name: 'clam.exe', data: await readFile(TEST_EXECUTABLE) }]),
    );
    files.push(setup);
    // RAR: no free tool writes one; a RAR 4 and a RAR 5 with a stored member are written by hand.
    const rar = path.join(built, 'clam.rar');
    await writeFile(rar, storedRar([{ name: 'clam.exe', data: await readFile(TEST_EXECUTABLE) }]));
    files.push(rar);
    const rar5 = path.join(built, 'clam.rar5.rar');
    const rar5Members = [
      { name: 'readme.txt', data: Buffer.from('nothing to see') },
      { name: 'bin/clam.exe', data: await readFile(TEST_EXECUTABLE) },
    ];
    await writeFile(rar5, storedRar5(rar5Members));
    files.push(rar5);
    files.push(...OPENED_FROM_TESTFILES.map((name) => path.join(CLAMAV_TESTFILES_DIR, name)));
    const logger = createLogger('silent');
    builtin = await BuiltinEngine.load(databaseDir, logger, {
      scratchDir: path.join(work, 'scratch'),
    });
    clamd = await startTestClamd({ databaseDir });
    clamdEngine = await ClamdEngine.create(
      { address: clamd.unixAddress, timeoutMs: 20_000, poolSize: 2 },
      logger,
    );
  }, 120_000);

  afterAll(async () => {
    await builtin?.close();
    await clamdEngine?.close();
    await clamd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const target = async (file: string) => ({
    path: file,
    size: (await stat(file)).size,
    name: path.basename(file),
  });

  it('finds it in every one, and clamd agrees wherever it opens the format', async () => {
    const missed: Array<{ file: string; findings: string[] }> = [];
    const clamdMissed: string[] = [];
    for (const file of files) {
      const verdict = await builtin.scan(await target(file));
      if (!verdict.findings.includes(TEST_EXECUTABLE_FINDING)) {
        missed.push({ file: path.basename(file), findings: verdict.findings });
      }
      const fromClamd = await clamdEngine.scan(await target(file));
      if (!fromClamd.findings.includes(TEST_EXECUTABLE_FINDING)) {
        clamdMissed.push(path.basename(file));
      }
    }
    expect(missed).toEqual([]);
    expect(clamdMissed.sort()).toEqual([...NOT_OPENED_BY_CLAMD].sort());
  }, 120_000);

  it('calls the plain test executable what it is, without opening it', async () => {
    const verdict = await builtin.scan(await target(TEST_EXECUTABLE));
    expect(verdict.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    expect(verdict.detections?.map((d) => d.path.join('/'))).toEqual(['clam.exe']);
  });
});

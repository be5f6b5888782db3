import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { archiveStartIn, EmbeddedArchiveWatch } from '../../scanning/archives/embedded-archives.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { describeVerdict } from '../../scanning/engines.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { builtWith, DEFAULT_LIMITS, formatWorkspace, zip } from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';
import { writePdf } from '../support/pdf.js';
import { storedRar, storedRar5 } from '../support/rar.js';
import {
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  testExecutableDatabase,
} from '../support/test-executable-corpus.js';

// A 7z or RAR archive inside other content — behind a PDF's %%EOF, appended to a JPEG, after
// any data — which 7-Zip and WinRAR find by its signature and open: found and opened by the
// walker too, its signature checked against the header CRC that follows it.

const { ws, formats } = formatWorkspace();

/** A 7z archive of one file, written by Debian's 7z. */
const sevenZip = (name: string, data: Buffer): Buffer =>
  builtWith({ [name]: data }, `7z a -bd out.7z ${name}`, 'out.7z');

/** The start and end markers of a JPEG around some bytes: what an image viewer shows. */
const jpeg = () =>
  Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
    randomContent(3000),
    Buffer.from([0xff, 0xd9]),
  ]);
const pdf = () => writePdf(['<< /Type /Catalog >>']);

const ARCHIVES = {
  '7z': (data: Buffer) => sevenZip('payload.com', data),
  'RAR 4': (data: Buffer) => storedRar([{ name: 'payload.com', data }]),
  'RAR 5': (data: Buffer) => storedRar5([{ name: 'payload.com', data }]),
} as const;
const HOSTS = { 'a JPEG': jpeg, 'a PDF': pdf, 'random data': () => randomContent(5000) } as const;

const walk = (content: Buffer, name: string) =>
  ws.walk(content, name, DEFAULT_LIMITS, formats.handlers);
const payloadIn = (visited: Array<{ path: string; data?: Buffer }>) =>
  visited.find((v) => v.data?.equals(eicar()));

describe('a 7z or RAR archive inside other content', () => {
  for (const [archiveName, archive] of Object.entries(ARCHIVES)) {
    for (const [hostName, host] of Object.entries(HOSTS)) {
      it(`opens a ${archiveName} behind ${hostName}`, async () => {
        const front = host();
        const result = await walk(Buffer.concat([front, archive(eicar())]), 'upload.bin');
        expect(result.unscannable).toEqual([]);
        const format = archiveName === '7z' ? '7z' : 'rar';
        expect(payloadIn(result.visited)?.path).toBe(
          `upload.bin/(${format} at byte ${front.length})/payload.com`,
        );
        const clean = await walk(Buffer.concat([front, archive(randomContent(500))]), 'clean.bin');
        expect(clean.unscannable).toEqual([]);
      });
    }
  }

  it('opens one inside an archive member (a stream, not a file on disk)', async () => {
    const member = Buffer.concat([jpeg(), ARCHIVES['7z'](eicar())]);
    const result = await walk(await zip([{ name: 'photo.jpg', data: member }]), 'photos.zip');
    expect(result.unscannable).toEqual([]);
    expect(payloadIn(result.visited)?.path).toMatch(
      /^photos\.zip\/photo\.jpg\/\(7z at byte \d+\)\/payload\.com$/,
    );
  });

  it('reports one past the depth limit, never taking it for data', async () => {
    const member = Buffer.concat([jpeg(), ARCHIVES['7z'](eicar())]);
    const content = await zip([{ name: 'photo.jpg', data: member }]);
    const result = await ws.walk(
      content,
      'photos.zip',
      { ...DEFAULT_LIMITS, maxDepth: 1 },
      formats.handlers,
    );
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
  });

  it('finds a signature across two chunks of the stream', () => {
    const archive = ARCHIVES['RAR 5'](eicar());
    const content = Buffer.concat([randomContent(1000), archive]);
    for (const cut of [1001, 1004, 1010, 1030, 1050]) {
      const watch = new EmbeddedArchiveWatch();
      const found = watch.search(content.subarray(0, cut)) ?? watch.search(content.subarray(cut));
      expect(found?.archive, `cut at ${cut}`).toEqual({ format: 'rar', offset: 1000 });
      expect(found?.bytes.subarray(0, 32)).toEqual(archive.subarray(0, 32));
    }
  });

  it('leaves a signature whose header CRC does not match alone', async () => {
    for (const archive of Object.values(ARCHIVES)) {
      const broken = Buffer.from(archive(eicar()));
      broken[12] = (broken[12] ?? 0) ^ 0xff; // inside the header its CRC covers
      expect(archiveStartIn(Buffer.concat([randomContent(100), broken]))).toBeUndefined();
      const result = await walk(Buffer.concat([jpeg(), broken]), 'broken.bin');
      expect(result.unscannable).toEqual([]);
      expect(result.visited.map((v) => v.path)).toEqual(['broken.bin']);
    }
  });

  it('does not open an archive twice: a 7z file, and a 7z holding a stored 7z', async () => {
    const single = await walk(ARCHIVES['7z'](eicar()), 'a.7z');
    expect(single.visited.map((v) => v.path).sort()).toEqual(['a.7z', 'a.7z/payload.com']);
    const inner = ARCHIVES['7z'](eicar());
    const outer = builtWith({ 'inner.7z': inner }, '7z a -bd -mx0 out.7z inner.7z', 'out.7z');
    const nested = await walk(outer, 'outer.7z');
    expect(nested.visited.map((v) => v.path).sort()).toEqual([
      'outer.7z',
      'outer.7z/inner.7z',
      'outer.7z/inner.7z/payload.com',
    ]);
  });

  it('is what 7-Zip itself opens: 7z x on the JPEG hands out the payload', () => {
    const photo = Buffer.concat([jpeg(), ARCHIVES['7z'](eicar())]);
    const extracted = builtWith({ 'photo.jpg': photo }, '7z e -bd photo.jpg', 'payload.com');
    expect(extracted).toEqual(eicar());
  });
});

describe('the built-in engine alone on embedded archives', () => {
  let dir: string;
  let engine: BuiltinEngine;
  let seq = 0;
  const scan = async (content: Buffer, name: string) => {
    const file = join(dir, `content-${++seq}`);
    await writeFile(file, content);
    return engine.scan({ path: file, size: content.length, name });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arbiter-embedded-engine-'));
    const sigs = join(dir, 'sigs');
    await mkdir(sigs);
    await writeFile(join(sigs, 'test.hdb'), await testExecutableDatabase());
    engine = await BuiltinEngine.load(sigs, createLogger('silent'), {
      scratchDir: join(dir, 'scratch'),
    });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds the test executable (by hash) in a RAR behind a JPEG and a 7z behind a PDF', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const rar = await scan(Buffer.concat([jpeg(), ARCHIVES['RAR 4'](exe)]), 'photo.jpg');
    expect(rar.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    const sevenZipped = await scan(Buffer.concat([pdf(), ARCHIVES['7z'](exe)]), 'doc.pdf');
    expect(sevenZipped.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    expect(describeVerdict(sevenZipped)).toMatch(/7z archive found at byte \d+, opened/);
    const eicarRar5 = await scan(Buffer.concat([jpeg(), ARCHIVES['RAR 5'](eicar())]), 'e.jpg');
    expect(eicarRar5.findings).toEqual([EICAR_FINDING]);
    const clean = await scan(Buffer.concat([jpeg(), ARCHIVES['7z'](randomContent(300))]), 'c.jpg');
    expect(clean.findings).toEqual([]);
  });
});

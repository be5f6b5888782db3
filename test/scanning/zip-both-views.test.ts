import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { describeVerdict } from '../../scanning/engines.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import {
  craftedZip,
  infoZip,
  localRecord,
  localRecords,
  nestedZips,
  overlappingZip,
  rawEntry,
  rawZip,
  streamedZip,
  zip,
} from '../support/archives.js';
import {
  buildZip,
  executableStub,
  plainZip,
  tarMember,
  type ZipSpec,
} from '../support/container-generators.js';
import { eicar, randomContent } from '../support/content.js';
import { SIGNATURES_DIR } from '../support/corpus.js';
import { buildPe } from '../support/pe-builder.js';
import { ZIP_SHAPES as SHAPES } from '../support/zip-shapes.js';

/**
 * Zips read both ways (central directory and local headers): the shapes that hide a payload from
 * a reader trusting one view, each around the EICAR test file (deflated, so only a member's own
 * scan can see it) and around clean bytes.
 */

/** Where a generated zip hides its one member (each of the shapes, reduced to one zip). */
const HIDING_PLACES: ReadonlyArray<(payload: Buffer) => Buffer> = [
  (payload) => rawZip([rawEntry('a.com', payload)]),
  SHAPES['directory name holding data, sizes 0 in the directory']!,
  SHAPES['directory name holding data in a streamed entry, sizes 0 in the directory']!,
  SHAPES['an unlisted local entry in front of a listed one']!,
  SHAPES['the directory names it x/, the local header ab']!,
  SHAPES['stored in the local header, deflated in the directory']!,
  SHAPES['deflated in the local header, stored in the directory']!,
  SHAPES['a local entry after the end record']!,
];

type Wrap = 'none' | 'text' | 'stub' | 'zip';

/**
 * `inner` behind a prefix and before a suffix (a clean zip of `siblings` + 1 members, text, a
 * stub), itself a member of another zip when `nested`.
 */
async function wrapped(
  inner: Buffer,
  wrap: { prefix: Wrap; suffix: Wrap; siblings: number; nested: boolean },
): Promise<Buffer> {
  const piece = async (kind: Wrap): Promise<Buffer> => {
    if (kind === 'text') return Buffer.from('some text around the archive\r\n');
    if (kind === 'stub') return executableStub();
    if (kind === 'zip') {
      const files = Array.from({ length: wrap.siblings + 1 }, (_, i) => ({
        name: `s${i}.txt`,
        data: randomContent(500),
      }));
      return zip(files);
    }
    return Buffer.alloc(0);
  };
  const whole = Buffer.concat([await piece(wrap.prefix), inner, await piece(wrap.suffix)]);
  // Nested: a member of a plain zip, which the walker streams rather than reads from disk.
  return wrap.nested ? zip([{ name: 'inner.bin', data: whole }]) : whole;
}

describe('zips read both ways', () => {
  let dir: string;
  let engine: BuiltinEngine;
  let seq = 0;

  const write = async (content: Buffer) => {
    const file = path.join(dir, `content-${++seq}.zip`);
    await writeFile(file, content);
    return file;
  };
  const scan = async (content: Buffer) => {
    const file = await write(content);
    return engine.scan({ path: file, size: content.length, name: 'upload.zip' });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-zip-views-'));
    engine = await BuiltinEngine.load(SIGNATURES_DIR, createLogger('silent'), {
      archive: { maxDepth: 4, maxMembers: 100, maxExpandedBytes: 64 * 1024 ** 2, maxRatio: 200 },
      scratchDir: path.join(dir, 'scratch'),
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [shape, build] of Object.entries(SHAPES)) {
    it(`finds the payload: ${shape}`, async () => {
      const verdict = await scan(build(eicar()));
      expect(verdict.findings).toEqual([EICAR_FINDING]);
    });
    it(`is clean around clean bytes: ${shape}`, async () => {
      const verdict = await scan(build(randomContent(5000)));
      expect(verdict.detections ?? []).toEqual([]);
    });
  }

  it('finds a zip behind a prefix inside another zip, and leaves its clean twin clean', async () => {
    for (const shape of ['behind an executable stub (offsets not adjusted)', 'text in front']) {
      const nest = async (payload: Buffer) =>
        zip([
          { name: 'readme.txt', data: Buffer.from('read me') },
          { name: 'setup.exe', data: SHAPES[shape]!(payload) },
        ]);
      const infected = await scan(await nest(eicar()));
      expect(infected.detections?.map((d) => d.path)).toEqual([
        ['upload.zip', 'setup.exe', 'a.com'],
      ]);
      const clean = await scan(await nest(randomContent(5000)));
      expect(clean.detections ?? []).toEqual([]);
    }
  });

  it('finds a zip whose first local header straddles two chunks of the member holding it', async () => {
    // Stored, the member is read 64 KiB at a time from its first byte.
    const inner = Buffer.concat([
      Buffer.alloc(64 * 1024 - 10, 0x20),
      rawZip([rawEntry('a.com', eicar())]),
    ]);
    const verdict = await scan(await zip([{ name: 'x.bin', data: inner, compress: false }]));
    expect(verdict.detections?.map((d) => d.path)).toEqual([['upload.zip', 'x.bin', 'a.com']]);
  });

  it('leaves members holding a local header signature and no zip alone', async () => {
    const lookalike = Buffer.concat([
      randomContent(1000),
      localRecord(rawEntry('a.txt', Buffer.from('a'))).subarray(0, 40),
      randomContent(1000),
    ]);
    const verdict = await scan(await zip([{ name: 'data.bin', data: lookalike }]));
    expect(verdict.detections ?? []).toEqual([]);
  });

  it('notes an entry listed again and a directory method that does not decode, reporting neither', async () => {
    const twice = await scan(
      SHAPES['the same entry listed three times in the central directory']!(randomContent(100)),
    );
    expect(describeVerdict(twice)).toContain(
      "upload.zip: zip: 2 entries listed again over another entry's data, read once",
    );
    const bzip2 = await scan(
      SHAPES['deflated in the local header, bzip2 in the directory']!(randomContent(100)),
    );
    expect(describeVerdict(bzip2)).toMatch(/the entry's other reading decoded/);
  });

  it('still reports many entries listed over the same data as a zip bomb', async () => {
    const verdict = await scan(overlappingZip(60, 1024 ** 2));
    expect(verdict.findings).toEqual(['content.unscannable.limits-exceeded']);
  });

  it('reports a bzip2 member only a local header describes, cut short, as corrupt', async () => {
    const hidden = localRecord(rawEntry('hidden.bin', randomContent(4000), 0));
    hidden.writeUInt16LE(12, 8); // bzip2, which 7-Zip decodes for the walker
    const listed = rawZip([rawEntry('a.txt', Buffer.from('listed'))]);
    const verdict = await scan(Buffer.concat([listed, hidden.subarray(0, 1000)]));
    expect(verdict.findings).toEqual(['content.unscannable.corrupt']);
  });

  it('names both readings of an entry whose views disagree in the trace', async () => {
    const verdict = await scan(SHAPES['the directory names it x/, the local header ab']!(eicar()));
    expect(verdict.detections?.map((d) => d.path)).toEqual([
      [
        'upload.zip',
        'ab (local header at byte 0: named "x/" in the central directory, "ab" here; 0 → 0 bytes in the central directory, 70 → 68 here)',
      ],
    ]);
  });

  it('says in the trace line how a clean zip was read where the views disagree or data surrounds it', async () => {
    const disagreeing = await scan(
      SHAPES['stored in the local header, deflated in the directory']!(randomContent(100)),
    );
    expect(disagreeing.findings).toEqual([]);
    expect(describeVerdict(disagreeing)).toBe(
      `scanned by builtin (${engine.version}): no findings (read: upload.zip/a.com: zip: the local header differs (method 8 in the central directory, 0 here); read both ways)`,
    );
    const surrounded = await scan(
      Buffer.concat([
        Buffer.from('text'),
        rawZip([rawEntry('a.txt', Buffer.from('a'))]),
        Buffer.from('junk'),
      ]),
    );
    expect(describeVerdict(surrounded)).toBe(
      `scanned by builtin (${engine.version}): no findings (read: upload.zip: zip: 4 bytes in front of the archive, swept too; upload.zip: zip: 4 bytes after the archive, swept too)`,
    );
    const plain = await scan(await zip([{ name: 'a.txt', data: Buffer.from('a') }]));
    expect(describeVerdict(plain)).toBe(`scanned by builtin (${engine.version}): no findings`);
  });

  it('reads both views of a zip larger than the MiB kept from its end, and long local names', async () => {
    // Headers and data far from the end of the file are read from disk, not from the kept MiB;
    // a local name longer than one header read takes a second read.
    const filler = (name: string) => rawEntry(name, randomContent(2 * 1024 ** 2), 0);
    const longName = `${'long-name-'.repeat(150)}.com`;
    const build = (payload: Buffer) => {
      const listed = rawEntry(longName, payload);
      const hidden = rawEntry('hidden.com', payload);
      const entries = [listed, filler('a.bin'), hidden, filler('b.bin')];
      const { bytes, offsets } = localRecords(entries);
      const listedOnly = [0, 1, 3].map((i) => ({ ...entries[i]!, offset: offsets[i] ?? 0 }));
      return craftedZip(bytes, listedOnly);
    };
    const infected = await scan(build(eicar()));
    const hiddenAt = localRecords([rawEntry(longName, eicar()), filler('a.bin')]).bytes.length;
    expect(infected.detections?.map((d) => d.path.at(-1)).sort()).toEqual([
      `hidden.com (local header only, at byte ${hiddenAt})`,
      longName,
    ]);
    const clean = await scan(build(randomContent(5000)));
    expect(clean.detections ?? []).toEqual([]);
  });

  it('leaves clean look-alikes clean: directories, zip64, data descriptors, a self-extractor', async () => {
    const files = [
      { name: 'dir/', data: Buffer.alloc(0) },
      { name: 'dir/a.txt', data: randomContent(3000) },
    ];
    const descriptor = rawEntry('b.bin', randomContent(3000));
    const withDescriptor = localRecord(descriptor, { descriptor: true });
    const shapes = [
      await zip(files),
      await zip(files, { forceZip64: true }),
      await streamedZip(files.filter((file) => !file.name.endsWith('/'))),
      craftedZip(withDescriptor, [{ ...descriptor, offset: 0 }]),
      Buffer.concat([executableStub(), await zip(files)]),
      Buffer.concat([executableStub(), await zip(files, { forceZip64: true })]),
      Buffer.concat([await zip(files), Buffer.from('trailing')]),
    ];
    for (const content of shapes) expect((await scan(content)).findings).toEqual([]);
  });

  it('decodes bzip2 and LZMA members only a local header describes: unlisted, or in a zip another follows', async () => {
    // 7-Zip finds members through a central directory: such a member's record is handed to it
    // under one written for it (found by a property of test/scanning/container-properties.test.ts).
    for (const method of ['bzip2', 'lzma'] as const) {
      const member = { method, descriptor: false, zip64: false };
      const base: ZipSpec = {
        payload: member,
        lie: 'none',
        dirName: false,
        before: [{ ...member, size: 300 }],
        after: [],
        zip64End: false,
        prefix: 'none',
        suffix: 'none',
      };
      for (const spec of [
        { ...base, lie: 'unlisted' as const },
        { ...base, lie: 'after-end' as const },
        { ...base, suffix: 'zip' as const },
      ]) {
        const infected = await scan(buildZip(spec, eicar()));
        expect(infected.findings, JSON.stringify(spec)).toEqual([EICAR_FINDING]);
        const clean = await scan(buildZip(spec, randomContent(2000)));
        expect(clean.detections ?? [], JSON.stringify(spec)).toEqual([]);
      }
    }
  });

  it('decodes the bzip2 and LZMA members of a zip whose directory lies about an entry', async () => {
    // 7-Zip refuses such a zip: the members are handed to it as their local records instead.
    for (const method of ['bzip2', 'lzma'] as const) {
      for (const lie of ['name', 'sizes', 'method'] as const) {
        const spec: ZipSpec = {
          payload: { method, descriptor: false, zip64: false },
          lie,
          dirName: false,
          before: [{ method, descriptor: false, zip64: false, size: 300 }],
          after: [{ method: 'deflate', descriptor: true, zip64: false, size: 300 }],
          zip64End: false,
          prefix: 'none',
          suffix: 'none',
        };
        const infected = await scan(buildZip(spec, eicar()));
        expect(infected.findings, JSON.stringify(spec)).toEqual([EICAR_FINDING]);
        const clean = await scan(buildZip(spec, randomContent(2000)));
        expect(clean.detections ?? [], JSON.stringify(spec)).toEqual([]);
      }
    }
  });

  it('leaves a self-extractor around clean files clean: a real executable, offsets as written and as zip -A adjusts them', async () => {
    const exe = buildPe({
      sections: [{ data: Buffer.alloc(512, 0x90) }],
      entry: { section: 0, offset: 0 },
    }).bytes;
    const sfx = async (files: Array<{ name: string; data: Buffer }>) => {
      const written = Buffer.concat([exe, infoZip(files)]);
      const adjusted = await write(written);
      execFileSync('zip', ['-qA', adjusted]);
      return [written, await readFile(adjusted)];
    };
    const clean = [
      { name: 'setup/readme.txt', data: Buffer.from('read me\n'.repeat(50)) },
      { name: 'setup/data.bin', data: randomContent(5000) },
    ];
    for (const content of await sfx(clean)) {
      const verdict = await scan(content);
      expect(verdict.findings).toEqual([]);
      expect(verdict.detections ?? []).toEqual([]);
    }
    for (const content of await sfx([...clean, { name: 'setup/a.com', data: eicar() }])) {
      expect((await scan(content)).findings).toEqual([EICAR_FINDING]);
    }
  });

  it('decodes the bzip2 and LZMA members of a zip that follows another zip', async () => {
    // 7-Zip decodes those members; it reads a file from its first archive, so the second zip is
    // handed to it alone (found by a property of test/scanning/container-properties.test.ts).
    for (const method of ['bzip2', 'lzma'] as const) {
      const spec: ZipSpec = {
        payload: { method, descriptor: false, zip64: false },
        lie: 'none',
        dirName: false,
        before: [{ method, descriptor: false, zip64: false, size: 100 }],
        after: [],
        zip64End: false,
        prefix: 'zip',
        suffix: 'none',
      };
      const infected = await scan(buildZip(spec, eicar()));
      expect(infected.findings).toEqual([EICAR_FINDING]);
      const clean = await scan(buildZip(spec, randomContent(2000)));
      expect(clean.detections ?? []).toEqual([]);
    }
  });

  it('reads a streamed stored entry from its local header alone to its own data descriptor', async () => {
    // Unlisted, the entry's end is known only from the data descriptor whose sizes match: the
    // tar inside holds a zip, with local headers and descriptors of its own (found by a property
    // of test/scanning/container-properties.test.ts; libarchive's streaming reader reads it so).
    const spec: ZipSpec = {
      payload: { method: 'stored', descriptor: true, zip64: false },
      lie: 'unlisted',
      dirName: false,
      before: [],
      after: [{ method: 'deflate', descriptor: false, zip64: false, size: 100 }],
      zip64End: false,
      prefix: 'none',
      suffix: 'none',
    };
    const inner = plainZip([{ name: 'inner.txt', data: Buffer.from('inner') }]);
    const tarOf = (payload: Buffer) =>
      Buffer.concat([tarMember('c.zip', inner), tarMember('a.com', payload), Buffer.alloc(1024)]);
    for (const zip64 of [false, true]) {
      const outer = (payload: Buffer) =>
        buildZip({ ...spec, payload: { ...spec.payload, zip64 } }, tarOf(payload));
      const file = await write(outer(eicar()));
      const streamed = spawnSync('sh', ['-c', 'cat "$0" | bsdtar -xOf -', file], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      expect(streamed.stdout.includes(tarOf(eicar()))).toBe(true);
      const infected = await scan(outer(eicar()));
      expect(infected.findings).toEqual([EICAR_FINDING]);
      const clean = await scan(outer(randomContent(3000)));
      expect(clean.detections ?? []).toEqual([]);
    }
  });

  it('calls a zip behind text past the depth limit limits-exceeded, never clean', async () => {
    // The engine opens 4 levels: a member at depth 4 is scanned as data only. One starting as
    // text holds no format the walker knows, but a zip behind the text is one more level
    // (found by a property of test/scanning/container-properties.test.ts).
    for (const payload of [eicar(), randomContent(3000)]) {
      const leaf = SHAPES['text in front']!(payload);
      const { content } = await nestedZips(4, { name: 'setup.bin', data: leaf });
      const verdict = await scan(content);
      expect(verdict.findings).toEqual(['content.unscannable.limits-exceeded']);
    }
  });

  // Info-ZIP's `unzip -p` hands the payload out of each of these (it warns, and exits 1 or 2,
  // about the prefixes and the lies, but prints the data): what the shapes are worth testing.
  const READ_BY_UNZIP = [
    'directory name holding data, sizes 0 in the directory',
    'the directory names it x/, the local header ab',
    'behind an executable stub (offsets not adjusted)',
    'two zips back to back, the payload in the second',
    'text in front',
    'stored in the local header, deflated in the directory',
    'the same entry listed three times in the central directory',
    'deflated in the local header, bzip2 in the directory',
  ];
  for (const shape of READ_BY_UNZIP) {
    it(`builds a shape unzip -p reads the payload from: ${shape}`, async () => {
      const file = await write(SHAPES[shape]!(eicar()));
      const unzip = spawnSync('unzip', ['-p', file], { stdio: ['ignore', 'pipe', 'ignore'] });
      expect(unzip.stdout.includes(eicar())).toBe(true);
    });
  }

  // libarchive's bsdtar (seeking: central directory first) hands it out of these.
  const READ_BY_BSDTAR = [
    'the directory names it x/, the local header ab',
    'behind an executable stub (offsets not adjusted)',
    'text in front',
    'stored in the local header, deflated in the directory',
    'two zips back to back, the payload in the second',
  ];
  for (const shape of READ_BY_BSDTAR) {
    it(`builds a shape bsdtar reads the payload from: ${shape}`, async () => {
      const file = await write(SHAPES[shape]!(eicar()));
      const bsdtar = spawnSync('bsdtar', ['-xOf', file], { stdio: ['ignore', 'pipe', 'ignore'] });
      expect(bsdtar.stdout.includes(eicar())).toBe(true);
    });
  }

  it('builds shapes python3 zipfile reads the payload from: a prefix, two zips', async () => {
    for (const shape of ['text in front', 'two zips back to back, the payload in the second']) {
      const file = await write(SHAPES[shape]!(eicar()));
      const python = spawnSync(
        'python3',
        [
          '-c',
          'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); sys.stdout.buffer.write(z.read(z.infolist()[0]))',
          file,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      expect(python.stdout).toEqual(eicar());
    }
  });
  it('finds the payload in any combination of prefix, hiding place and suffix, and nothing around clean bytes', async () => {
    const hiding = fc.constantFrom(...HIDING_PLACES);
    const wrapping = fc.record({
      prefix: fc.constantFrom<Wrap>('none', 'text', 'stub', 'zip'),
      suffix: fc.constantFrom<Wrap>('none', 'text', 'zip'),
      siblings: fc.integer({ min: 0, max: 3 }),
      nested: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(hiding, wrapping, async (hide, wrap) => {
        const infected = await scan(await wrapped(hide(eicar()), wrap));
        expect(infected.findings).toEqual([EICAR_FINDING]);
        const clean = await scan(await wrapped(hide(randomContent(3000)), wrap));
        expect(clean.detections ?? []).toEqual([]);
      }),
      { seed: 19, numRuns: 40 },
    );
  });
});

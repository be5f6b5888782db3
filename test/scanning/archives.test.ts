import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { walkContent, type ArchiveLimits } from '../../scanning/archives/index.js';
import {
  craftedZip,
  DEFAULT_LIMITS,
  deflatedZeros,
  encryptedZip,
  infoZip,
  localRecord,
  localRecords,
  overlappingZip,
  rawEntry,
  streamedZip,
  gzip,
  nestedZips,
  rawGzip,
  rawZip,
  readMember,
  sevenZipZip,
  tar,
  v7tar,
  Workspace,
  zip,
  type Visited,
} from '../support/archives.js';
import { eicar, randomContent, sha1 } from '../support/content.js';

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const paths = (visited: { path: string }[]) => visited.map((v) => v.path).sort();
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** One inflate chunk: how far past a limit the count may go before the walk stops. */
const CHUNK = 64 * 1024;

describe('plain content', () => {
  it('visits a non-archive once, at depth 0, and reports nothing', async () => {
    const content = randomContent(300_000);
    content[0] = 0x41; // not a magic byte
    const result = await ws.walk(content, 'data.bin');
    expect(result.visited).toHaveLength(1);
    expect(result.visited[0]).toMatchObject({
      path: 'data.bin',
      depth: 0,
      size: 300_000,
      length: 300_000,
    });
    expect(result.visited[0]?.sha1).toBe(sha1(content));
    expect(result).toMatchObject({ unscannable: [], members: 0, expandedBytes: 0 });
  });

  it('visits an empty file', async () => {
    const result = await ws.walk(Buffer.alloc(0), 'empty');
    expect(result.visited).toMatchObject([{ path: 'empty', length: 0 }]);
    expect(result.unscannable).toEqual([]);
  });

  it('scans formats it does not open (7z, rar, bzip2) as plain data', async () => {
    for (const magic of ['377abcaf271c', '526172211a0700', '425a6839']) {
      const content = Buffer.concat([Buffer.from(magic, 'hex'), randomContent(2000)]);
      const result = await ws.walk(content, 'blob');
      expect(result.visited).toHaveLength(1);
      expect(result.unscannable).toEqual([]);
    }
  });
});

describe('zip', () => {
  it('reads stored and deflated members and reports their paths and sizes', async () => {
    const text = Buffer.from('hello '.repeat(10_000));
    const noise = randomContent(200_000);
    const content = await zip([
      { name: 'docs/readme.txt', data: text, compress: true },
      { name: 'noise.bin', data: noise, compress: false },
      { name: 'eicar.com', data: eicar() },
    ]);
    const result = await ws.walk(content, 'bundle.zip');
    expect(result.unscannable).toEqual([]);
    expect(result.members).toBe(3);
    expect(result.expandedBytes).toBe(text.length + noise.length + eicar().length);
    const byPath = new Map(result.visited.map((v) => [v.path, v]));
    expect([...byPath.keys()].sort()).toEqual([
      'bundle.zip',
      'bundle.zip/docs/readme.txt',
      'bundle.zip/eicar.com',
      'bundle.zip/noise.bin',
    ]);
    expect(byPath.get('bundle.zip')).toMatchObject({ depth: 0, sha1: sha1(content) });
    expect(byPath.get('bundle.zip/docs/readme.txt')).toMatchObject({
      depth: 1,
      size: text.length,
      sha1: sha1(text),
    });
    expect(byPath.get('bundle.zip/noise.bin')).toMatchObject({
      size: noise.length,
      sha1: sha1(noise),
    });
    expect(byPath.get('bundle.zip/eicar.com')?.data).toEqual(eicar());
  });

  it.each([1, 2, 3, 4, 5])(
    'finds a member in zips nested %i deep, by its full path',
    async (depth) => {
      const { content, leafPath } = await nestedZips(depth, { name: 'eicar.com', data: eicar() });
      const result = await ws.walk(content, 'outer.zip');
      expect(result.unscannable).toEqual([]);
      expect(result.visited).toHaveLength(depth + 1);
      const leaf = result.visited.find((v) => v.path === leafPath.join('/'));
      expect(leaf).toMatchObject({ depth, data: eicar() });
      // every container on the way is visited too (hash signatures apply to containers)
      for (let level = 0; level < depth; level++) {
        expect(
          result.visited.find((v) => v.path === leafPath.slice(0, level + 1).join('/'))?.depth,
        ).toBe(level);
      }
    },
  );

  it('reads zip64 archives', async () => {
    const data = randomContent(100_000);
    const content = await zip(
      [
        { name: 'a.bin', data, compress: false },
        { name: 'b.txt', data: Buffer.from('zip64 '.repeat(1000)) },
      ],
      { forceZip64: true },
    );
    const result = await ws.walk(content, 'z64.zip');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual(['z64.zip', 'z64.zip/a.bin', 'z64.zip/b.txt']);
    expect(result.visited.find((v) => v.path === 'z64.zip/a.bin')?.sha1).toBe(sha1(data));
  });

  it('walks an empty zip and skips directory entries', async () => {
    const empty = Buffer.from('504b0506' + '00'.repeat(18), 'hex');
    expect((await ws.walk(empty, 'empty.zip')).unscannable).toEqual([]);
    const withDir = await zip([{ name: 'dir/', data: Buffer.alloc(0), compress: false }]);
    const result = await ws.walk(withDir, 'd.zip');
    expect(result).toMatchObject({ unscannable: [], members: 1 });
    expect(paths(result.visited)).toEqual(['d.zip']);
  });

  it('scans an entry named like a directory that holds data, stored or deflated', async () => {
    const payload = eicar();
    const deflated = deflateRawSync(payload);
    const content = rawZip([
      { name: 'stored/', method: 0, data: payload, crc: crc32(payload), size: payload.length },
      { name: 'deflated/', method: 8, data: deflated, crc: crc32(payload), size: payload.length },
    ]);
    const result = await ws.walk(content, 'dirs.zip');
    expect(result.unscannable).toEqual([]);
    // `unzip -p` and Java's ZipInputStream hand out these bytes: they are files, whatever the name.
    const scanned = result.visited.filter((v) => v.sha1 === sha1(payload)).map((v) => v.path);
    expect(scanned.sort()).toEqual(['dirs.zip/deflated/', 'dirs.zip/stored/']);
  });

  it('scans members whose names an extractor would refuse (../, absolute, backslashes)', async () => {
    const content = rawZip(
      ['../../etc/evil.sh', '/abs.txt', 'win\\path.txt'].map((name) => ({
        name,
        method: 0,
        data: Buffer.from(name),
        crc: crc32(Buffer.from(name)),
        size: name.length,
      })),
    );
    const result = await ws.walk(content, 'slip.zip');
    expect(result.unscannable).toEqual([]);
    // (backslashes are read as separators, as yauzl does for zips made on Windows)
    expect(paths(result.visited)).toEqual([
      'slip.zip',
      'slip.zip/../../etc/evil.sh',
      'slip.zip//abs.txt',
      'slip.zip/win/path.txt',
    ]);
  });

  it('reports an encrypted member as encrypted without reading it', async () => {
    const content = encryptedZip([
      { name: 'secret.com', data: eicar() },
      { name: 'other.txt', data: Buffer.from('more') },
    ]);
    const result = await ws.walk(content, 'locked.zip');
    expect(result.unscannable).toMatchObject([
      { reason: 'encrypted', path: ['locked.zip', 'secret.com'] },
      { reason: 'encrypted', path: ['locked.zip', 'other.txt'] },
    ]);
    expect(paths(result.visited)).toEqual(['locked.zip']);
  });

  it('reports a truncated zip as corrupt and still scans its bytes', async () => {
    const data = randomContent(50_000);
    const content = await zip([{ name: 'a.txt', data, compress: false }]);
    const truncated = content.subarray(0, content.length - 40);
    const result = await ws.walk(truncated, 'cut.zip');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.zip'] }]);
    // Without its central directory, the member is one only a local header describes.
    expect(result.visited).toEqual([
      expect.objectContaining({ path: 'cut.zip', depth: 0, sha1: sha1(truncated) }),
      expect.objectContaining({
        path: 'cut.zip/a.txt (local header only, at byte 0)',
        sha1: sha1(data),
      }),
    ]);
  });

  it('scans the members of a zip cut short, and reports the member cut in the middle', async () => {
    const content = await zip([
      { name: 'eicar.com', data: eicar() },
      { name: 'big.bin', data: randomContent(50_000) },
    ]);
    const truncated = content.subarray(0, 20_000);
    const result = await ws.walk(truncated, 'cut.zip');
    expect(result.unscannable).toEqual([
      expect.objectContaining({ reason: 'corrupt', path: ['cut.zip'] }),
      expect.objectContaining({
        reason: 'corrupt',
        path: ['cut.zip', expect.stringMatching(/^big\.bin \(local header only, at byte \d+\)$/)],
      }),
    ]);
    expect(
      result.visited.find((v) => v.path === 'cut.zip/eicar.com (local header only, at byte 0)')
        ?.data,
    ).toEqual(eicar());
  });

  it('reports a corrupted byte in deflate data as corrupt', async () => {
    const text = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join(''));
    const content = await zip([{ name: 'log.txt', data: text }]);
    const damaged = Buffer.from(content);
    const at = 30 + 'log.txt'.length + 40; // inside the member's deflate data
    damaged.writeUInt8(damaged.readUInt8(at) ^ 0x55, at);
    const result = await ws.walk(damaged, 'bad.zip');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['bad.zip', 'log.txt'] }]);
  });

  it('reports a CRC mismatch as corrupt', async () => {
    const data = Buffer.from('the stored bytes');
    const content = rawZip([
      { name: 'x.txt', method: 0, data, crc: crc32(data) ^ 1, size: data.length },
    ]);
    const result = await ws.walk(content, 'crc.zip');
    expect(result.unscannable).toEqual([
      { reason: 'corrupt', path: ['crc.zip', 'x.txt'], detail: 'zip: CRC-32 mismatch' },
    ]);
  });

  it('reports a member with a compression method it cannot decode as unsupported-method', async () => {
    const data = Buffer.from('implode would go here');
    const content = rawZip([{ name: 'x.imp', method: 6, data, crc: crc32(data), size: 100 }]);
    const result = await ws.walk(content, 'm.zip');
    expect(result.unscannable).toEqual([
      {
        reason: 'unsupported-method',
        path: ['m.zip', 'x.imp'],
        detail: 'zip: unsupported compression method 6',
        method: 'zip:6', // what an engine set matches against what another engine decodes
      },
    ]);
  });

  it('reports a PPMd zip member (made by 7z) as unsupported-method, not corrupt', async () => {
    const content = sevenZipZip([{ name: 'eicar.com', data: eicar() }], 'PPMd');
    const result = await ws.walk(content, 'p.zip');
    expect(result.unscannable).toMatchObject([
      { reason: 'unsupported-method', path: ['p.zip', 'eicar.com'] },
    ]);
  });

  it('scans random bytes behind a PK header as data and reports the container corrupt', async () => {
    const content = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), randomContent(10_000)]);
    const result = await ws.walk(content, 'junk.bin');
    expect(result.visited).toMatchObject([{ path: 'junk.bin', depth: 0, sha1: sha1(content) }]);
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['junk.bin'] }]);
  });
});

describe('zip layout: overlapping entries', () => {
  const overlapping = /^zip: overlapping zip entries/;

  it('reads data that 1,000 directory entries share once, and reports the overlap', async () => {
    // 1,000 × 1 MiB of zeros from about 1 KiB: no member crosses the ratio floor, so every
    // member on its own is fine; only the sharing gives the bomb away.
    const content = overlappingZip(1000, 1 * MiB);
    expect(content.length).toBeLessThan(100 * 1024);
    const result = await ws.walk(content, 'bomb.zip');
    expect(result.unscannable).toEqual([
      {
        reason: 'limits-exceeded',
        path: ['bomb.zip'],
        detail: expect.stringMatching(overlapping) as string,
      },
    ]);
    expect(result.unscannable[0]?.detail).toContain('999 of 1000 not read');
    // One member's worth was inflated, not 1,000.
    expect(result.expandedBytes).toBe(1 * MiB);
    expect(paths(result.visited)).toEqual(['bomb.zip', 'bomb.zip/zeros-0.bin']);
    expect(result.members).toBe(1000);
  });

  it('still scans a member that overlaps nothing next to the shared data', async () => {
    const zeros = deflatedZeros(1 * MiB);
    const shared = {
      name: 'zeros.bin',
      method: 8,
      data: zeros.deflated,
      crc: zeros.crc,
      size: zeros.size,
    };
    const { bytes, offsets } = localRecords([shared, rawEntry('eicar.com', eicar())]);
    const content = craftedZip(bytes, [
      ...Array.from({ length: 200 }, (_, i) => ({ ...shared, name: `z${i}`, offset: 0 })),
      { ...rawEntry('eicar.com', eicar()), offset: offsets[1] ?? 0 },
    ]);
    const result = await ws.walk(content, 'mixed.zip');
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['mixed.zip'] }]);
    expect(result.visited.find((v) => v.path === 'mixed.zip/eicar.com')?.data).toEqual(eicar());
    expect(result.expandedBytes).toBe(1 * MiB + eicar().length);
  });

  it('reports an entry whose local header lies inside another entry’s data', async () => {
    const inner = localRecord(rawEntry('inner.txt', Buffer.from('quoted '.repeat(500))));
    const prefix = Buffer.from('outer text before the quoted entry\n');
    const outerData = Buffer.concat([prefix, inner, Buffer.from('and after\n')]);
    const outer = rawEntry('outer.txt', outerData, 0);
    const innerOffset = 30 + outer.name.length + prefix.length;
    const content = craftedZip(localRecord(outer), [
      { ...outer, offset: 0 },
      {
        ...rawEntry('inner.txt', Buffer.from('quoted '.repeat(500))),
        offset: innerOffset,
      },
    ]);
    const result = await ws.walk(content, 'quoted.zip');
    expect(result.unscannable).toEqual([
      {
        reason: 'limits-exceeded',
        path: ['quoted.zip'],
        detail: expect.stringMatching(overlapping) as string,
      },
    ]);
    expect(paths(result.visited)).toEqual(['quoted.zip', 'quoted.zip/outer.txt']);
  });

  it('reports an entry whose data reaches into the central directory', async () => {
    const entry = rawEntry('a.txt', Buffer.from('a'.repeat(100)));
    const body = localRecord(entry);
    const reaching = entry.data.length + 20;
    body.writeUInt32LE(reaching, 18); // the local header says so too
    const content = craftedZip(body, [{ ...entry, offset: 0, compressedSize: reaching }]);
    const result = await ws.walk(content, 'reach.zip');
    expect(result.unscannable).toEqual([
      {
        reason: 'limits-exceeded',
        path: ['reach.zip'],
        detail: expect.stringMatching(overlapping) as string,
      },
      {
        reason: 'limits-exceeded',
        path: ['reach.zip', 'a.txt (local header only, at byte 0)'],
        detail: expect.stringMatching(overlapping) as string,
      },
    ]);
    expect(paths(result.visited)).toEqual(['reach.zip']);
  });

  it('does not let an entry that reaches into the central directory hide those after it', async () => {
    const first = rawEntry('first.txt', Buffer.from('first'));
    const second = rawEntry('eicar.com', eicar());
    const { bytes, offsets } = localRecords([first, second]);
    const content = craftedZip(bytes, [
      { ...first, offset: 0, compressedSize: 2 ** 31 },
      { ...second, offset: offsets[1] ?? 0 },
    ]);
    const result = await ws.walk(content, 'long.zip');
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['long.zip'] }]);
    expect(result.visited.find((v) => v.path === 'long.zip/eicar.com')?.data).toEqual(eicar());
    // Its local header says where its data really ends: read as a streaming extractor would.
    expect(
      result.visited.find((v) => v.path === 'long.zip/first.txt (local header only, at byte 0)')
        ?.data,
    ).toEqual(Buffer.from('first'));
  });

  it('leaves ordinary zips alone: empty members, directories, zip64, any directory order', async () => {
    const files = [
      { name: 'empty-1', data: Buffer.alloc(0) },
      { name: 'dir/', data: Buffer.alloc(0) },
      { name: 'empty-2', data: Buffer.alloc(0), compress: false },
      { name: 'dir/a.txt', data: Buffer.from('a'.repeat(1000)) },
      { name: 'empty-3', data: Buffer.alloc(0) },
    ];
    for (const forceZip64 of [false, true]) {
      const result = await ws.walk(await zip(files, { forceZip64 }), 'plain.zip');
      expect(result.unscannable).toEqual([]);
      expect(result.members).toBe(5);
      expect(paths(result.visited)).toEqual([
        'plain.zip',
        'plain.zip/dir/a.txt',
        'plain.zip/empty-1',
        'plain.zip/empty-2',
        'plain.zip/empty-3',
      ]);
    }
    // The central directory lists the entries backwards.
    const entries = ['one', 'two', 'three'].map((name) => rawEntry(name, Buffer.from(name)));
    const { bytes, offsets } = localRecords(entries);
    const backwards = craftedZip(
      bytes,
      entries.map((entry, i) => ({ ...entry, offset: offsets[i] ?? 0 })).reverse(),
    );
    const result = await ws.walk(backwards, 'backwards.zip');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual([
      'backwards.zip',
      'backwards.zip/one',
      'backwards.zip/three',
      'backwards.zip/two',
    ]);
  });
});

describe('zip layout: members only a local header describes', () => {
  const localOnly = (name: string, offset: number) =>
    `${name} (local header only, at byte ${offset})`;

  it('scans a local-only member in front of the listed ones, named by its local name', async () => {
    const { bytes, offsets } = localRecords([
      rawEntry('hidden.com', eicar()),
      rawEntry('readme.txt', Buffer.from('nothing to see')),
    ]);
    const content = craftedZip(bytes, [
      { ...rawEntry('readme.txt', Buffer.from('nothing to see')), offset: offsets[1] ?? 0 },
    ]);
    const result = await ws.walk(content, 'x.zip');
    expect(result.unscannable).toEqual([]);
    expect(result.members).toBe(2);
    expect(paths(result.visited)).toEqual([
      'x.zip',
      `x.zip/${localOnly('hidden.com', 0)}`,
      'x.zip/readme.txt',
    ]);
    expect(result.visited.find((v) => v.path.includes('hidden.com'))?.data).toEqual(eicar());
  });

  it('scans a local-only member between two listed ones', async () => {
    const entries = [
      rawEntry('a.txt', Buffer.from('first')),
      rawEntry('hidden.com', eicar(), 0),
      rawEntry('b.txt', Buffer.from('last')),
    ];
    const { bytes, offsets } = localRecords(entries);
    const content = craftedZip(bytes, [
      { ...entries[0]!, offset: offsets[0]! },
      { ...entries[2]!, offset: offsets[2]! },
    ]);
    const result = await ws.walk(content, 'x.zip');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual([
      'x.zip',
      'x.zip/a.txt',
      'x.zip/b.txt',
      `x.zip/${localOnly('hidden.com', offsets[1]!)}`,
    ]);
    expect(result.visited.find((v) => v.path.includes('hidden.com'))?.data).toEqual(eicar());
  });

  it('scans local-only members with data descriptors, deflated and stored', async () => {
    const listed = rawEntry('listed.txt', Buffer.from('listed'));
    const records = [
      localRecord(rawEntry('deflated.com', eicar()), { descriptor: true }),
      localRecord(rawEntry('stored.bin', Buffer.from('stored, size unknown')), {
        descriptor: true,
      }),
    ];
    const body = Buffer.concat([...records, localRecord(listed)]);
    const listedAt = records[0]!.length + records[1]!.length;
    const result = await ws.walk(craftedZip(body, [{ ...listed, offset: listedAt }]), 'd.zip');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual([
      'd.zip',
      `d.zip/${localOnly('deflated.com', 0)}`,
      'd.zip/listed.txt',
      `d.zip/${localOnly('stored.bin', records[0]!.length)}`,
    ]);
    const find = (part: string) => result.visited.find((v) => v.path.includes(part))?.data;
    expect(find('deflated.com')).toEqual(eicar());
    expect(find('stored.bin')?.toString()).toBe('stored, size unknown');
  });

  it('passes over the signature where no believable header follows it', async () => {
    // Bytes in front of the first listed entry holding the signature as data: a version needed
    // no archiver writes, code after it, a header without a name.
    const junk = Buffer.concat([
      Buffer.from('PK\x03\x04\xff\xff', 'latin1'),
      randomContent(3000).map((b) => (b === 0x50 ? 0x51 : b)),
      Buffer.from('PK\x03\x04', 'latin1'),
      Buffer.from('8b4508ffd0c3' + '90'.repeat(40), 'hex'),
      Buffer.from('PK\x03\x04\x14\x00\x00\x00\x00\x00', 'latin1'),
      Buffer.alloc(40),
    ]);
    const entry = rawEntry('payload.txt', Buffer.from('the archive'));
    const content = craftedZip(Buffer.concat([junk, localRecord(entry)]), [
      { ...entry, offset: junk.length },
    ]);
    const result = await ws.walk(content, 'odd.zip');
    expect(result.unscannable).toEqual([]);
    expect(result.members).toBe(1);
    expect(paths(result.visited)).toEqual(['odd.zip', 'odd.zip/payload.txt']);
  });

  it('reports a local-only member that fails its CRC as corrupt', async () => {
    const bad = { ...rawEntry('bad.txt', Buffer.from('damaged')), crc: 1 };
    const listed = rawEntry('ok.txt', Buffer.from('fine'));
    const { bytes, offsets } = localRecords([bad, listed]);
    const result = await ws.walk(craftedZip(bytes, [{ ...listed, offset: offsets[1]! }]), 'c.zip');
    expect(result.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['c.zip', localOnly('bad.txt', 0)],
        detail: 'zip: CRC-32 mismatch',
      },
    ]);
  });

  it('leaves zips from yazl and Info-ZIP unchanged, and reads streamed members once', async () => {
    const files = [
      { name: 'a.txt', data: Buffer.from('alpha '.repeat(2000)) },
      { name: 'sub/b.bin', data: randomContent(70_000) },
      { name: 'sub/c.zip', data: await zip([{ name: 'd.txt', data: Buffer.from('d') }]) },
    ];
    const expected = (name: string) =>
      [
        name,
        `${name}/a.txt`,
        `${name}/sub/b.bin`,
        `${name}/sub/c.zip`,
        `${name}/sub/c.zip/d.txt`,
      ].sort();
    const made = {
      'yazl.zip': await zip(files),
      'infozip.zip': infoZip(files),
      'streamed.zip': await streamedZip(files),
      'streamed-stored.zip': await streamedZip(files.map((f) => ({ ...f, compress: false }))),
    };
    // yazl's streaming path puts sizes and CRC-32 in data descriptors.
    expect(made['streamed.zip'].readUInt16LE(6) & 0x08).toBe(0x08);
    for (const [name, content] of Object.entries(made)) {
      const result = await ws.walk(content, name);
      expect(result.unscannable, name).toEqual([]);
      expect(result.members, name).toBe(4);
      expect(paths(result.visited), name).toEqual(expected(name));
    }
  });
});

describe('gzip and tar', () => {
  it('gunzips a plain file, naming it after the .gz', async () => {
    const text = Buffer.from('gzip me '.repeat(5000));
    const result = await ws.walk(gzip(text), 'notes.txt.gz');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual(['notes.txt.gz', 'notes.txt.gz/notes.txt']);
    expect(result.visited.find((v) => v.depth === 1)).toMatchObject({
      size: undefined,
      sha1: sha1(text),
    });
  });

  it('reads a tar: files visited, directories and links counted but not visited', async () => {
    const a = randomContent(1000);
    const content = await tar([
      { name: 'dir', type: 'directory' },
      { name: 'dir/a.bin', data: a },
      { name: 'dir/link', type: 'symlink' },
      { name: 'empty.txt', data: Buffer.alloc(0) },
      { name: 'eicar.com', data: eicar() },
    ]);
    const result = await ws.walk(content, 'files.tar');
    expect(result.unscannable).toEqual([]);
    expect(result.members).toBe(5);
    expect(paths(result.visited)).toEqual([
      'files.tar',
      'files.tar/dir/a.bin',
      'files.tar/eicar.com',
      'files.tar/empty.txt',
    ]);
    expect(result.visited.find((v) => v.path.endsWith('a.bin'))).toMatchObject({
      size: 1000,
      sha1: sha1(a),
    });
  });

  it('reads an old-style (v7) tar by its header checksum', async () => {
    const content = await v7tar([{ name: 'old.txt', data: Buffer.from('from 1979') }]);
    expect(content.toString('latin1', 257, 262)).not.toBe('ustar');
    const result = await ws.walk(content, 'old.tar');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === 'old.tar/old.txt')?.data?.toString()).toBe(
      'from 1979',
    );
  });

  it('reads a tar.gz holding a zip, with every level in the path', async () => {
    const inner = await zip([{ name: 'eicar.com', data: eicar() }]);
    const content = gzip(await tar([{ name: 'pkg/inner.zip', data: inner }]));
    const result = await ws.walk(content, 'bundle.tar.gz');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.map((v) => [v.path, v.depth]).sort()).toEqual([
      ['bundle.tar.gz', 0],
      ['bundle.tar.gz/bundle.tar', 1],
      ['bundle.tar.gz/bundle.tar/pkg/inner.zip', 2],
      ['bundle.tar.gz/bundle.tar/pkg/inner.zip/eicar.com', 3],
    ]);
    const tgz = await ws.walk(content, 'bundle.tgz');
    expect(paths(tgz.visited)).toContain('bundle.tgz/bundle.tar/pkg/inner.zip/eicar.com');
  });

  it('reads gzip and tar members of a zip', async () => {
    const content = await zip([
      { name: 'a.gz', data: gzip(eicar()), compress: false },
      { name: 'b.tar', data: await tar([{ name: 'c.com', data: eicar() }]) },
    ]);
    const result = await ws.walk(content, 'mix.zip');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual([
      'mix.zip',
      'mix.zip/a.gz',
      'mix.zip/a.gz/a',
      'mix.zip/b.tar',
      'mix.zip/b.tar/c.com',
    ]);
  });

  it('reports truncated gzip and tar as corrupt', async () => {
    const gz = gzip(randomContent(100_000));
    const cutGz = await ws.walk(gz.subarray(0, 50_000), 'x.gz');
    expect(cutGz.unscannable).toMatchObject([{ reason: 'corrupt', path: ['x.gz'] }]);
    expect(cutGz.visited[0]).toMatchObject({ path: 'x.gz', length: 50_000 });

    const archive = await tar([{ name: 'a.bin', data: randomContent(10_000) }]);
    const cutTar = await ws.walk(archive.subarray(0, 5000), 'x.tar');
    expect(cutTar.unscannable.map((u) => u.reason)).toContain('corrupt');
    expect(cutTar.unscannable.every((u) => u.reason === 'corrupt')).toBe(true);
  });

  it('reports a tar header with a bad checksum as corrupt', async () => {
    const archive = await tar([{ name: 'a.txt', data: Buffer.from('a') }]);
    archive[0] = 0x5a; // name changes, checksum no longer matches; "ustar" is still there
    const result = await ws.walk(archive, 'x.tar');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['x.tar'] }]);
  });
});

describe('limits', () => {
  it('opens archives down to maxDepth and reports deeper nesting', async () => {
    const limits = { ...DEFAULT_LIMITS, maxDepth: 16 };
    const sixteen = await nestedZips(16, { name: 'eicar.com', data: eicar() });
    const ok = await ws.walk(sixteen.content, 'outer.zip', limits);
    expect(ok.unscannable).toEqual([]);
    expect(ok.visited.find((v) => v.path === sixteen.leafPath.join('/'))?.depth).toBe(16);

    const seventeen = await nestedZips(17, { name: 'eicar.com', data: eicar() });
    const deep = await ws.walk(seventeen.content, 'outer.zip', limits);
    expect(deep.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: seventeen.leafPath.slice(0, 17) },
    ]);
    expect(deep.visited).toHaveLength(17); // depths 0-16; the leaf at 17 is not reached
  });

  it('reports more members than maxMembers, counted over nested archives', async () => {
    const limits = { ...DEFAULT_LIMITS, maxMembers: 10 };
    const flat = await zip(
      Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: Buffer.from(`${i}`) })),
    );
    const result = await ws.walk(flat, 'many.zip', limits);
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['many.zip'] }]);
    expect(result.members).toBe(10);
    expect(result.visited).toHaveLength(11);

    const inner = await tar(
      Array.from({ length: 6 }, (_, i) => ({ name: `t${i}`, data: Buffer.from('x') })),
    );
    const nested = await zip([
      { name: 'a.tar', data: inner },
      { name: 'b.tar', data: inner },
    ]);
    const spread = await ws.walk(nested, 'nested.zip', limits);
    expect(spread.members).toBe(10);
    expect(spread.unscannable.map((u) => u.reason)).toEqual(['limits-exceeded']);
  });

  it('stops a single 1 GiB zip bomb member at the ratio limit, after little work', async () => {
    const bomb = deflatedZeros(1 * GiB);
    const content = rawZip([
      { name: 'zeros.bin', method: 8, data: bomb.deflated, crc: bomb.crc, size: bomb.size },
    ]);
    const before = process.memoryUsage().rss;
    const result = await ws.walk(content, 'bomb.zip');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['bomb.zip', 'zeros.bin'] },
    ]);
    expect(result.expandedBytes).toBeLessThan(32 * MiB);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * MiB);
  });

  it('stops a 1 GiB zip bomb member at maxExpandedBytes when the ratio allows it', async () => {
    const bomb = deflatedZeros(1 * GiB);
    const content = rawZip([
      { name: 'zeros.bin', method: 8, data: bomb.deflated, crc: bomb.crc, size: bomb.size },
    ]);
    const limits: ArchiveLimits = { ...DEFAULT_LIMITS, maxRatio: 1e9, maxExpandedBytes: 64 * MiB };
    const result = await ws.walk(content, 'bomb.zip', limits);
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['bomb.zip', 'zeros.bin'] },
    ]);
    expect(result.expandedBytes).toBeGreaterThan(64 * MiB);
    expect(result.expandedBytes).toBeLessThanOrEqual(64 * MiB + CHUNK);
    // the visitor never gets more than the limit
    const leaf = result.visited.find((v) => v.depth === 1);
    expect(leaf?.length).toBeLessThanOrEqual(64 * MiB);
  });

  it('stops nested (42.zip-style) bombs within the expanded-bytes limit', async () => {
    const bomb = deflatedZeros(1 * GiB);
    const leaf = rawZip([
      { name: 'zeros.bin', method: 8, data: bomb.deflated, crc: bomb.crc, size: bomb.size },
    ]);
    const layer1 = await zip(
      Array.from({ length: 16 }, (_, i) => ({ name: `l1-${i}.zip`, data: leaf })),
    );
    const layer2 = await zip(
      Array.from({ length: 16 }, (_, i) => ({ name: `l2-${i}.zip`, data: layer1 })),
    );
    expect(layer2.length).toBeLessThan(2 * MiB); // 256 GiB of zeros once fully unpacked

    const limits: ArchiveLimits = { ...DEFAULT_LIMITS, maxRatio: 1e9, maxExpandedBytes: 128 * MiB };
    const capped = await ws.walk(layer2, '42.zip', limits);
    expect(capped.unscannable.map((u) => u.reason)).toEqual(['limits-exceeded']);
    expect(capped.expandedBytes).toBeLessThanOrEqual(128 * MiB + CHUNK);

    const byRatio = await ws.walk(layer2, '42.zip');
    expect(byRatio.unscannable.length).toBeGreaterThan(0);
    expect(byRatio.unscannable.every((u) => u.reason === 'limits-exceeded')).toBe(true);
    expect(byRatio.expandedBytes).toBeLessThan(16 * 16 * 32 * MiB);
  });

  it('stops a gzip bomb', async () => {
    const bomb = deflatedZeros(1 * GiB);
    const content = rawGzip(bomb.deflated, bomb.crc, bomb.size);
    const result = await ws.walk(content, 'zeros.gz');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['zeros.gz', 'zeros'] },
    ]);
    expect(result.expandedBytes).toBeLessThan(32 * MiB);
  });

  it('allows small members that compress very well', async () => {
    const content = await zip([{ name: 'zeros', data: Buffer.alloc(512 * 1024) }]);
    const result = await ws.walk(content, 'small.zip', { ...DEFAULT_LIMITS, maxRatio: 10 });
    expect(result.unscannable).toEqual([]);
  });
});

describe('visitor contract', () => {
  it('finishes when the visitor does not read the streams, still visiting every member', async () => {
    const content = gzip(
      await tar([
        { name: 'a.zip', data: await zip([{ name: 'b', data: randomContent(300_000) }]) },
      ]),
    );
    const path = ws.write(content);
    const seen: string[] = [];
    const result = await walkContent(
      { path, size: content.length, name: 'x.tgz' },
      DEFAULT_LIMITS,
      (member) => {
        seen.push(member.path.join('/'));
        return Promise.resolve();
      },
      { scratchDir: ws.scratchDir },
    );
    expect(result.unscannable).toEqual([]);
    expect(seen.sort()).toEqual([
      'x.tgz',
      'x.tgz/x.tar',
      'x.tgz/x.tar/a.zip',
      'x.tgz/x.tar/a.zip/b',
    ]);
  });

  it('rethrows a visitor failure after cleaning up', async () => {
    const { content } = await nestedZips(3, { name: 'x', data: randomContent(100_000) });
    const path = ws.write(content);
    const failing = walkContent(
      { path, size: content.length, name: 'outer.zip' },
      DEFAULT_LIMITS,
      async (member) => {
        if (member.depth === 2) throw new Error('visitor broke');
        for await (const _ of member.stream) void _;
      },
      { scratchDir: ws.scratchDir },
    );
    await expect(failing).rejects.toThrow('visitor broke');
  });

  it('reads the top-level file to its end whatever size it was said to have', async () => {
    const content = randomContent(3 * 1024 * 1024 + 17);
    const path = ws.write(content);
    for (const size of [content.length, 0, 1000, content.length - 1, content.length + 1, 5e6]) {
      const seen: Visited[] = [];
      await walkContent(
        { path, size, name: 'f' },
        DEFAULT_LIMITS,
        async (member) => {
          seen.push(await readMember(member));
        },
        { scratchDir: ws.scratchDir },
      );
      expect(
        seen.map((v) => v.length),
        `declared ${size}`,
      ).toEqual([content.length]);
      expect(seen[0]?.sha1).toBe(sha1(content));
    }
  });

  it('throws when the local file cannot be read', async () => {
    await expect(
      walkContent(
        { path: `${ws.dir}/missing`, size: 1, name: 'm' },
        DEFAULT_LIMITS,
        async () => {},
        {
          scratchDir: ws.scratchDir,
        },
      ),
    ).rejects.toThrow(/ENOENT/);
  });
});

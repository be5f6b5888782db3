import { crc32 } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  compressedZeros,
  compressWith,
  infoZip,
  rawZip,
  sevenZipZip,
  tar,
  Workspace,
} from '../support/archives.js';
import { eicar, randomContent, sha1 } from '../support/content.js';

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const paths = (visited: { path: string }[]) => visited.map((v) => v.path).sort();
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const zstd = (data: Buffer) => compressWith('zstd', ['-q', '-c'], data);
/** Compressible enough that zip tools do not fall back to storing it. */
const text = Buffer.from('a line of compressible text\n'.repeat(1000));

describe('zstd streams', () => {
  it('opens a .zst and finds EICAR by its member path', async () => {
    const result = await ws.walk(zstd(eicar()), 'eicar.com.zst');
    expect(paths(result.visited)).toEqual(['eicar.com.zst', 'eicar.com.zst/eicar.com']);
    const member = result.visited.find((v) => v.depth === 1);
    expect(member?.data).toEqual(eicar());
    expect(result.unscannable).toEqual([]);
  });

  it('reads a clean stream whole and reports nothing', async () => {
    const data = randomContent(3 * MiB);
    const result = await ws.walk(zstd(data), 'data.bin.zst');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.depth === 1)).toMatchObject({
      path: 'data.bin.zst/data.bin',
      length: data.length,
      sha1: sha1(data),
    });
  });

  it('opens a tar inside a .tar.zst', async () => {
    const archive = await tar([{ name: 'dir/eicar.com', data: eicar() }]);
    const result = await ws.walk(zstd(archive), 'pkg.tar.zst');
    expect(paths(result.visited)).toEqual([
      'pkg.tar.zst',
      'pkg.tar.zst/pkg.tar',
      'pkg.tar.zst/pkg.tar/dir/eicar.com',
    ]);
    expect(result.unscannable).toEqual([]);
  });

  it('reports a truncated stream as corrupt', async () => {
    const content = zstd(randomContent(200_000));
    const result = await ws.walk(content.subarray(0, 100_000), 'cut.zst');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.zst'] }]);
  });

  it('stops a 1 GiB zstd bomb at the ratio limit with little memory', async () => {
    const bomb = compressedZeros(GiB, 'zstd -q -c');
    expect(bomb.length).toBeLessThan(1 * MiB);
    const before = process.memoryUsage().rss;
    const result = await ws.walk(bomb, 'zeros.zst');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['zeros.zst', 'zeros'] },
    ]);
    expect(result.expandedBytes).toBeLessThan(64 * MiB);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * MiB);
  });

  it('stops a 1 GiB zstd bomb at maxExpandedBytes when the ratio allows it', async () => {
    const bomb = compressedZeros(GiB, 'zstd -q -c');
    const limits = { maxDepth: 8, maxMembers: 1000, maxRatio: 1e9, maxExpandedBytes: 64 * MiB };
    const result = await ws.walk(bomb, 'zeros.zst', limits);
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['zeros.zst', 'zeros'] },
    ]);
    expect(result.visited.find((v) => v.depth === 1)?.length).toBeLessThanOrEqual(64 * MiB);
  });

  it('reads concatenated frames with a skippable frame between them as one stream', async () => {
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a57, 0);
    skippable.writeUInt32LE(5, 4);
    const content = Buffer.concat([zstd(Buffer.from('first ')), skippable, zstd(eicar())]);
    const result = await ws.walk(content, 'two.zst');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.depth === 1)?.data).toEqual(
      Buffer.concat([Buffer.from('first '), eicar()]),
    );
  });

  it('refuses a frame asking for a window over 8 MiB as a limit, allocating nothing', async () => {
    const data = randomContent(100_000);
    const wide = compressWith('zstd', ['-q', '-c', '--ultra', '-22', '--long=30'], data);
    const result = await ws.walk(wide, 'wide.zst');
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['wide.zst'] }]);
    expect(result.unscannable[0]?.detail).toMatch(/window/);
  });

  it('opens a stream made with a large level but a default window', async () => {
    const data = Buffer.concat([eicar(), randomContent(2 * MiB)]);
    const result = await ws.walk(compressWith('zstd', ['-q', '-c', '-19'], data), 'big.zst');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.depth === 1)?.sha1).toBe(sha1(data));
  });
});

describe('zip members in zstd (method 93)', () => {
  it('decodes a zstd member and finds EICAR in it', async () => {
    const data = eicar();
    const content = rawZip([
      { name: 'eicar.com', method: 93, data: zstd(data), crc: crc32(data), size: data.length },
    ]);
    const result = await ws.walk(content, 'z.zip');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.depth === 1)).toMatchObject({
      path: 'z.zip/eicar.com',
      data,
    });
  });

  it('reports a damaged zstd member as corrupt', async () => {
    const data = randomContent(100_000);
    const packed = zstd(data);
    const content = rawZip([
      {
        name: 'x.bin',
        method: 93,
        data: packed.subarray(0, 50_000),
        crc: crc32(data),
        size: data.length,
      },
    ]);
    const result = await ws.walk(content, 'z.zip');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['z.zip', 'x.bin'] }]);
  });

  it('stops a zstd bomb member at the ratio limit', async () => {
    const bomb = compressedZeros(GiB, 'zstd -q -c');
    const content = rawZip([
      { name: 'zeros.bin', method: 93, data: bomb, crc: 0, size: 0xffff_fffe },
    ]);
    const before = process.memoryUsage().rss;
    const result = await ws.walk(content, 'bomb.zip');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['bomb.zip', 'zeros.bin'] },
    ]);
    expect(result.expandedBytes).toBeLessThan(64 * MiB);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * MiB);
  });
});

describe('formats recognised but not decoded: unsupported-method, never clean', () => {
  const cases: Array<[string, string, string[]]> = [
    ['eicar.com.bz2', 'bzip2', ['-c']],
    ['eicar.com.xz', 'xz', ['-c']],
    ['eicar.com.lzma', 'xz', ['--format=lzma', '-c']],
  ];
  for (const [name, command, args] of cases) {
    it(`reports ${name} as unsupported-method and still scans its bytes`, async () => {
      const content = compressWith(command, args, eicar());
      const result = await ws.walk(content, name);
      expect(result.unscannable).toMatchObject([{ reason: 'unsupported-method', path: [name] }]);
      expect(result.visited).toMatchObject([{ path: name, depth: 0, sha1: sha1(content) }]);
    });
  }

  it('reports a zip member in bzip2 (zip -Z bzip2) as unsupported-method', async () => {
    const content = infoZip([{ name: 'notes.txt', data: text }], ['-Z', 'bzip2']);
    const result = await ws.walk(content, 'b.zip');
    expect(result.unscannable).toMatchObject([
      { reason: 'unsupported-method', path: ['b.zip', 'notes.txt'] },
    ]);
  });

  for (const method of ['LZMA', 'Deflate64']) {
    it(`reports a zip member in ${method} (7z) as unsupported-method`, async () => {
      const content = sevenZipZip([{ name: 'notes.txt', data: text }], method);
      const result = await ws.walk(content, 'm.zip');
      expect(result.unscannable).toMatchObject([
        { reason: 'unsupported-method', path: ['m.zip', 'notes.txt'] },
      ]);
    });
  }

  it('does not take plain text for a compressed stream', async () => {
    const result = await ws.walk(Buffer.from('just some text\n'.repeat(100)), 'notes.txt');
    expect(result.unscannable).toEqual([]);
  });
});

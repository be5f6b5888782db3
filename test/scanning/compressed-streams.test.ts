import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { compressWith, DEFAULT_LIMITS, Workspace } from '../support/archives.js';
import { gzipFlagsArb, gzipMember, type GzipHeaderFlags } from '../support/container-generators.js';
import { eicar, randomContent, sha1 } from '../support/content.js';
import {
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  testExecutableDatabase,
} from '../support/test-executable-corpus.js';

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const gzip = (data: Buffer) => compressWith('gzip', ['-c', '-n'], data);
const zcat = (data: Buffer) =>
  execFileSync('sh', ['-c', 'gzip -dc 2>/dev/null; true'], { input: data });
const text = (line: string, times: number) => Buffer.from(line.repeat(times));
const byPath = <T extends { path: string }>(visited: T[]) =>
  new Map(visited.map((v) => [v.path, v]));
const paths = (visited: { path: string }[]) => visited.map((v) => v.path).sort();

const ALL_FLAGS: GzipHeaderFlags = {
  text: true,
  hcrc: true,
  extra: true,
  name: 'inner.txt',
  comment: 'a comment',
};

describe('gzip read to the end, member by member', () => {
  it('scans the whole output and each member alone when there is more than one', async () => {
    const first = text('first member\n', 100);
    const content = Buffer.concat([gzip(first), gzip(eicar())]);
    const result = await ws.walk(content, 'm.gz');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual([
      'm.gz',
      'm.gz/m',
      'm.gz/m (member 1)',
      'm.gz/m (member 2)',
    ]);
    const visited = byPath(result.visited);
    expect(visited.get('m.gz/m')?.data).toEqual(zcat(content));
    expect(visited.get('m.gz/m (member 1)')?.data).toEqual(first);
    expect(visited.get('m.gz/m (member 2)')?.data).toEqual(eicar());
    // The members read alone are the same bytes again: counted once against the limit.
    expect(result.expandedBytes).toBe(first.length + eicar().length);
  });

  it('scans a single member once, as before', async () => {
    const result = await ws.walk(gzip(eicar()), 'eicar.com.gz');
    expect(paths(result.visited)).toEqual(['eicar.com.gz', 'eicar.com.gz/eicar.com']);
    expect(result.unscannable).toEqual([]);
  });

  it('scans the first member alone in a nested gzip too (from its kept bytes)', async () => {
    const inner = Buffer.concat([gzip(eicar()), gzip(text('clean\n', 10))]);
    const result = await ws.walk(gzip(inner), 'outer.gz');
    expect(result.unscannable).toEqual([]);
    expect(byPath(result.visited).get('outer.gz/outer/(gzip content) (member 1)')?.data).toEqual(
      eicar(),
    );
  });

  it('scans a nested first member over 4 MiB alone too (from a scratch copy)', async () => {
    const big = randomContent(5 * 1024 * 1024);
    const inner = Buffer.concat([gzip(big), gzip(eicar())]);
    const result = await ws.walk(gzip(inner), 'big.gz');
    expect(result.unscannable).toEqual([]);
    const visited = byPath(result.visited);
    expect(visited.get('big.gz/big/(gzip content) (member 1)')?.sha1).toBe(sha1(big));
    expect(visited.get('big.gz/big/(gzip content) (member 2)')?.data).toEqual(eicar());
  });

  it.each([
    ['FTEXT', { text: true }],
    ['FHCRC', { hcrc: true }],
    ['FEXTRA', { extra: true }],
    ['FNAME', { name: 'stored-name.txt' }],
    ['FCOMMENT', { comment: 'a comment' }],
    ['all flags', ALL_FLAGS],
  ] as [string, GzipHeaderFlags][])(
    'parses a header with %s, as gzip does',
    async (_flag, flags) => {
      const payload = text('flagged member\n', 50);
      const content = Buffer.concat([
        gzipMember(text('lead\n', 3), flags),
        gzipMember(payload, flags),
      ]);
      // GNU gzip accepts the crafted members (it checks the header CRC too).
      expect(zcat(content)).toEqual(Buffer.concat([text('lead\n', 3), payload]));
      execFileSync('gzip', ['-t'], { input: content });
      const result = await ws.walk(content, 'flags.gz');
      expect(result.unscannable).toEqual([]);
      expect(byPath(result.visited).get('flags.gz/flags (member 2)')?.data).toEqual(payload);
    },
  );

  it('refuses a header whose FHCRC does not match, as gzip does', async () => {
    const content = gzipMember(eicar(), { hcrc: true });
    content[10] = (content[10] ?? 0) ^ 0xff;
    expect(() => execFileSync('gzip', ['-t'], { input: content, stdio: 'pipe' })).toThrow();
    const result = await ws.walk(content, 'bad.gz');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['bad.gz'] }]);
  });

  it('ignores zero padding after the last member', async () => {
    const content = Buffer.concat([gzip(eicar()), Buffer.alloc(4096)]);
    const result = await ws.walk(content, 'padded.gz');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual(['padded.gz', 'padded.gz/padded']);
  });

  it('scans other bytes after the last member as content, never unscannable', async () => {
    const content = Buffer.concat([gzip(text('clean\n', 20)), Buffer.alloc(16), eicar()]);
    const result = await ws.walk(content, 'junk.gz');
    expect(result.unscannable).toEqual([]);
    expect(byPath(result.visited).get('junk.gz/(after the gzip data)')?.data).toEqual(eicar());
  });

  it('opens an archive found after the last member', async () => {
    const content = Buffer.concat([
      gzip(text('clean\n', 20)),
      compressWith('zstd', ['-q', '-c'], eicar()),
    ]);
    const result = await ws.walk(content, 'then-zstd.gz');
    expect(result.unscannable).toEqual([]);
    expect(
      result.visited.find((v) => v.path.startsWith('then-zstd.gz/(after the gzip data)/'))?.data,
    ).toEqual(eicar());
  });

  it('reports a damaged later member as corrupt, after scanning what decoded', async () => {
    const second = gzip(randomContent(100_000));
    const content = Buffer.concat([gzip(eicar()), second.subarray(0, 50_000)]);
    const result = await ws.walk(content, 'cut.gz');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.gz'] }]);
    expect(byPath(result.visited).get('cut.gz/cut (member 1)')?.data).toEqual(eicar());
  });

  it('reads bgzip and pigz output (many members) as clean, with every member decoded', async () => {
    const data = randomContent(300_000).toString('base64');
    const bgzip = compressWith('bgzip', ['-c'], Buffer.from(data));
    const pigz = Buffer.concat([
      compressWith('pigz', ['-c'], Buffer.from(data)),
      compressWith('pigz', ['-c', '-i', '-b', '32'], Buffer.from(data)),
    ]);
    for (const [name, content] of [
      ['data.txt.gz', bgzip],
      ['both.txt.gz', pigz],
    ] as const) {
      const result = await ws.walk(content, name);
      expect(result.unscannable).toEqual([]);
      const whole = result.visited.find((v) => v.depth === 1 && !v.path.includes('(member'));
      expect(whole?.length).toBe(zcat(content).length);
      expect(result.visited.filter((v) => v.path.includes('(member')).length).toBeGreaterThan(1);
    }
  });

  it('does not count members scanned alone against the member limit (bgzip writes one per 64 KiB)', async () => {
    const data = Buffer.from(randomContent(1_500_000).toString('base64'));
    const bgzip = compressWith('bgzip', ['-c'], data);
    const limits = { ...DEFAULT_LIMITS, maxMembers: 5 };
    const result = await ws.walk(bgzip, 'big.txt.gz', limits);
    expect(result.unscannable).toEqual([]);
    const alone = result.visited.filter((v) => v.path.includes('(member'));
    expect(alone.length).toBeGreaterThan(limits.maxMembers);
  });

  it('finds a payload in any member of a generated multi-member gzip, and nothing in clean ones', async () => {
    const member = fc.record({
      data: fc.uint8Array({ minLength: 0, maxLength: 2000 }).map((a) => Buffer.from(a)),
      flags: gzipFlagsArb,
    });
    const shape = fc.record({
      members: fc.array(member, { minLength: 1, maxLength: 5 }),
      at: fc.nat(),
      padding: fc.nat({ max: 600 }),
    });
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(shape, async ({ members, at, padding }) => {
        const index = at % (members.length + 1);
        const built = members.map((m) => gzipMember(m.data, m.flags));
        const parts = [...built.slice(0, index), gzipMember(eicar()), ...built.slice(index)];
        const content = Buffer.concat([...parts, Buffer.alloc(padding)]);
        if (checked++ < 5) expect(zcat(content).includes(eicar())).toBe(true);
        const infected = await ws.walk(content, 'gen.gz');
        expect(infected.unscannable).toEqual([]);
        const alone = parts.length === 1 ? 'gen.gz/gen' : `gen.gz/gen (member ${index + 1})`;
        expect(byPath(infected.visited).get(alone)?.data).toEqual(eicar());
        const clean = await ws.walk(Buffer.concat(built), 'clean.gz');
        expect(clean.unscannable).toEqual([]);
        expect(clean.visited.filter((v) => v.depth === 1).length).toBe(
          built.length === 1 ? 1 : built.length + 1,
        );
      }),
      { seed: 19, numRuns: 40, interruptAfterTimeLimit: 20_000 },
    );
  });
});

describe('parts scanned alone, nested in parts scanned alone', () => {
  // Each level a gzip of two members, the first holding the level below: that level is scanned
  // whole and as member 1, so the work doubles per level. It is bounded like the expansion.
  const chain = (levels: number) => {
    let content = randomContent(2000);
    for (let level = 0; level < levels; level++) {
      content = Buffer.concat([gzip(content), gzip(text('second member\n', 4))]);
    }
    return content;
  };
  const limits = { ...DEFAULT_LIMITS, maxDepth: 16, maxExpandedBytes: 1024 * 1024 };

  it('reads a shallow chain whole and part by part', async () => {
    const result = await ws.walk(chain(3), 'c.gz', limits);
    expect(result.unscannable).toEqual([]);
  });

  it('stops a deep chain at the expanded-bytes limit: limits-exceeded, not hours of work', async () => {
    const content = chain(14);
    expect(content.length).toBeLessThan(64 * 1024);
    const result = await ws.walk(content, 'c.gz', limits);
    expect(result.unscannable.map((u) => u.reason)).toEqual(['limits-exceeded']);
    // What nests in a part counts as expanded bytes.
    expect(result.unscannable[0]?.detail).toBe('archive content exceeds 1048576 expanded bytes');
    expect(result.visited.length).toBeLessThan(3000);
  });
});

describe('xz and bzip2 read to the end, stream by stream (through 7-Zip)', () => {
  const formats = createFormatSet({ sevenZip: { workers: 1 } });
  afterAll(() => formats.close());
  const walk = (content: Buffer, name: string) =>
    ws.walk(content, name, DEFAULT_LIMITS, formats.handlers);
  const xz = (data: Buffer) => compressWith('xz', ['-c'], data);
  const bzip2 = (data: Buffer) => compressWith('bzip2', ['-c'], data);

  it.each([
    ['xz', xz, 'm.xz', 'xzcat'],
    ['bzip2', bzip2, 'm.bz2', 'bzcat'],
  ] as const)('scans every %s stream alone and the whole output', async (_k, pack, name, cat) => {
    const lead = text('a clean first stream\n', 20);
    const padding = name.endsWith('.xz') ? Buffer.alloc(8) : Buffer.alloc(0);
    const content = Buffer.concat([pack(lead), pack(eicar()), padding, pack(lead)]);
    expect(execFileSync(cat, [], { input: content })).toEqual(Buffer.concat([lead, eicar(), lead]));
    const result = await walk(content, name);
    expect(result.unscannable).toEqual([]);
    const visited = byPath(result.visited);
    expect(visited.get(`${name}/m`)?.data).toEqual(Buffer.concat([lead, eicar(), lead]));
    expect(visited.get(`${name}/m (stream 1)`)?.data).toEqual(lead);
    expect(visited.get(`${name}/m (stream 2)`)?.data).toEqual(eicar());
    expect(visited.get(`${name}/m (stream 3)`)?.data).toEqual(lead);
    expect(result.expandedBytes).toBe(2 * lead.length + eicar().length);
  });

  it('scans every stream of concatenated .lzma files alone and the whole output', async () => {
    const lzma = (data: Buffer) => compressWith('xz', ['--format=lzma', '-c'], data);
    const lead = text('a clean first stream\n', 20);
    // An LZMA header look-alike after the last stream: no stream, passed over.
    const lookAlike = Buffer.from('5d0000800000000000000000000102030405', 'hex');
    const content = Buffer.concat([lzma(lead), lzma(eicar()), lzma(lead), lookAlike]);
    const result = await walk(content, 'm.lzma');
    expect(result.unscannable).toEqual([]);
    const visited = byPath(result.visited);
    expect(visited.get('m.lzma/m (stream 1)')?.data).toEqual(lead);
    expect(visited.get('m.lzma/m (stream 2)')?.data).toEqual(eicar());
    expect(visited.get('m.lzma/m (stream 3)')?.data).toEqual(lead);
    expect(visited.has('m.lzma/m (stream 4)')).toBe(false);
    // 7-Zip hands out every stream (lzcat only the first): the whole output is all of them.
    expect(visited.get('m.lzma/m')?.data?.subarray(0, 2 * lead.length + eicar().length)).toEqual(
      Buffer.concat([lead, eicar(), lead]),
    );
    const single = await walk(lzma(eicar()), 'eicar.com.lzma');
    expect(paths(single.visited)).toEqual(['eicar.com.lzma', 'eicar.com.lzma/eicar.com']);
  });

  it('scans a single-stream file once, as before', async () => {
    const result = await walk(xz(eicar()), 'eicar.com.xz');
    expect(paths(result.visited)).toEqual(['eicar.com.xz', 'eicar.com.xz/eicar.com']);
  });

  it('reads pbzip2 output (a stream per block) as clean, every stream decoded', async () => {
    const data = Buffer.from(randomContent(1_500_000).toString('base64'));
    const content = compressWith('pbzip2', ['-c', '-b1'], data);
    const result = await walk(content, 'data.txt.bz2');
    expect(result.unscannable).toEqual([]);
    expect(byPath(result.visited).get('data.txt.bz2/data.txt')?.length).toBe(data.length);
    const streams = result.visited.filter((v) => v.path.includes('(stream '));
    expect(streams.length).toBeGreaterThan(1);
    expect(streams.reduce((sum, v) => sum + v.length, 0)).toBe(data.length);
  });
});

describe('payload at a random stream of a generated xz, bzip2 or zstd file', () => {
  const formats = createFormatSet({ sevenZip: { workers: 1 } });
  afterAll(() => formats.close());
  const tools = {
    xz: { suffix: 'xz', args: ['-c'], cat: 'xzcat' },
    bzip2: { suffix: 'bz2', args: ['-c'], cat: 'bzcat' },
    zstd: { suffix: 'zst', args: ['-q', '-c'], cat: 'zstdcat' },
  } as const;

  it('finds it alone in its stream, and the same file around clean bytes is clean', async () => {
    const shape = fc.record({
      tool: fc.constantFrom('xz' as const, 'bzip2' as const, 'zstd' as const),
      members: fc.array(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((a) => Buffer.from(a)),
        { minLength: 1, maxLength: 4 },
      ),
      at: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(shape, async ({ tool, members, at }) => {
        const { suffix, args, cat } = tools[tool];
        const pack = (data: Buffer) => compressWith(tool, [...args], data);
        const index = at % (members.length + 1);
        const plain = [...members.slice(0, index), eicar(), ...members.slice(index)];
        const content = Buffer.concat(plain.map(pack));
        expect(execFileSync(cat, [], { input: content })).toEqual(Buffer.concat(plain));
        const name = `gen.${suffix}`;
        const infected = await ws.walk(content, name, DEFAULT_LIMITS, formats.handlers);
        expect(infected.unscannable).toEqual([]);
        const unit = tool === 'zstd' ? 'frame' : 'stream';
        const alone = `${name}/gen (${unit} ${index + 1})`;
        expect(byPath(infected.visited).get(alone)?.data).toEqual(eicar());
        const cleanContent = Buffer.concat(members.map(pack));
        const clean = await ws.walk(cleanContent, name, DEFAULT_LIMITS, formats.handlers);
        expect(clean.unscannable).toEqual([]);
        expect(clean.visited.some((v) => v.data?.includes(eicar()))).toBe(false);
      }),
      { seed: 1919, numRuns: 12, interruptAfterTimeLimit: 30_000 },
    );
  });
});

describe('zstd read to the end, frame by frame', () => {
  const zstd = (data: Buffer) => compressWith('zstd', ['-q', '-c'], data);
  /** A skippable frame (magic 0x184D2A5?, then its length and bytes). */
  const skippable = (bytes: Buffer) => {
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0x184d2a53, 0);
    header.writeUInt32LE(bytes.length, 4);
    return Buffer.concat([header, bytes]);
  };

  it('scans every frame alone and the whole output', async () => {
    const lead = text('a clean first frame\n', 30);
    const content = Buffer.concat([zstd(lead), skippable(eicar()), zstd(eicar()), zstd(lead)]);
    expect(compressWith('zstd', ['-dc'], content)).toEqual(Buffer.concat([lead, eicar(), lead]));
    for (const [name, bytes] of [
      ['m.zst', content],
      ['nested.gz', gzip(content)],
    ] as const) {
      const result = await ws.walk(bytes, name);
      expect(result.unscannable).toEqual([]);
      const base = name === 'm.zst' ? 'm.zst/m' : 'nested.gz/nested/(zstd content)';
      const visited = byPath(result.visited);
      expect(visited.get(base)?.data).toEqual(Buffer.concat([lead, eicar(), lead]));
      expect(visited.get(`${base} (frame 1)`)?.data).toEqual(lead);
      expect(visited.get(`${base} (frame 2)`)?.data).toEqual(eicar());
      expect(visited.get(`${base} (frame 3)`)?.data).toEqual(lead);
      const outer = name === 'm.zst' ? 0 : content.length;
      expect(result.expandedBytes).toBe(outer + 2 * lead.length + eicar().length);
    }
  });

  it('scans a single frame once, as before', async () => {
    const result = await ws.walk(zstd(eicar()), 'eicar.com.zst');
    expect(paths(result.visited)).toEqual(['eicar.com.zst', 'eicar.com.zst/eicar.com']);
  });

  it('reads pzstd output (many frames) as clean, every frame decoded', async () => {
    // At level 1, pzstd cuts 8 MB into four frames (each behind a skippable frame).
    const data = Buffer.from(randomContent(6_000_000).toString('base64'));
    const content = compressWith('pzstd', ['-q', '-c', '-p', '2', '-1'], data);
    const result = await ws.walk(content, 'data.txt.zst');
    expect(result.unscannable).toEqual([]);
    expect(byPath(result.visited).get('data.txt.zst/data.txt')?.length).toBe(data.length);
    const frames = result.visited.filter((v) => v.path.includes('(frame '));
    expect(frames.length).toBeGreaterThan(1);
    expect(frames.reduce((sum, v) => sum + v.length, 0)).toBe(data.length);
  });
});

/** A tar of one file, written by GNU tar. */
async function gnuTarOf(name: string, data: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-tar-'));
  try {
    await writeFile(path.join(dir, name), data);
    execFileSync('tar', ['-cf', 'out.tar', name], { cwd: dir });
    return await readFile(path.join(dir, 'out.tar'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('tar read past its end-of-archive blocks (tar --ignore-zeros)', () => {
  const gnuTar = (name: 'a.txt' | 'eicar.com') =>
    gnuTarOf(name, name === 'a.txt' ? Buffer.from('hello\n') : eicar());

  it('reads a second tar behind the first one’s end blocks and padding', async () => {
    const content = Buffer.concat([
      await gnuTar('a.txt'),
      Buffer.alloc(4096),
      await gnuTar('eicar.com'),
      Buffer.alloc(1024),
    ]);
    const listed = execFileSync('tar', ['--ignore-zeros', '-tf', '-'], { input: content });
    expect(listed.toString()).toBe('a.txt\neicar.com\n');
    const result = await ws.walk(content, 'two.tar');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual(['two.tar', 'two.tar/a.txt', 'two.tar/eicar.com']);
    expect(byPath(result.visited).get('two.tar/eicar.com')?.data).toEqual(eicar());
  });

  it('scans data appended after the end blocks as content, not calling the tar corrupt', async () => {
    const tar = await gnuTar('a.txt');
    for (const [name, tail] of [
      ['eicar.tar', eicar()],
      ['short.tar', Buffer.from('a few words after the archive\n')],
      ['zipped.tar', gzip(eicar())],
    ] as const) {
      const result = await ws.walk(Buffer.concat([tar, tail]), name);
      expect(result.unscannable).toEqual([]);
      const after = byPath(result.visited).get(`${name}/(after the tar data)`);
      expect(after?.data).toEqual(tail);
    }
    const zipped = await ws.walk(Buffer.concat([tar, gzip(eicar())]), 'zipped.tar');
    expect(
      zipped.visited.some((v) => v.path.endsWith('(gzip content)') && v.data?.equals(eicar())),
    ).toBe(true);
  });

  it('still calls a tar whose entries are broken before any end block corrupt', async () => {
    const tar = await gnuTar('a.txt');
    const broken = Buffer.concat([
      tar.subarray(0, 1024),
      Buffer.from('x'.repeat(512)),
      tar.subarray(1024),
    ]);
    const result = await ws.walk(broken, 'broken.tar');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['broken.tar'] }]);
  });

  it('reads concatenated clean tars as clean', async () => {
    const content = Buffer.concat([await gnuTar('a.txt'), await gnuTar('a.txt')]);
    const result = await ws.walk(content, 'clean.tar');
    expect(result.unscannable).toEqual([]);
    expect(paths(result.visited)).toEqual(['clean.tar', 'clean.tar/a.txt', 'clean.tar/a.txt']);
  });
});

describe('the built-in engine alone on streams read to the end', () => {
  let dir: string;
  let engine: BuiltinEngine;
  let seq = 0;
  const scan = async (content: Buffer, name: string) => {
    const file = path.join(dir, `content-${++seq}`);
    await writeFile(file, content);
    return engine.scan({ path: file, size: content.length, name });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-streams-engine-'));
    const sigs = path.join(dir, 'sigs');
    await import('node:fs/promises').then((fs) => fs.mkdir(sigs));
    await writeFile(path.join(sigs, 'test.hdb'), await testExecutableDatabase());
    engine = await BuiltinEngine.load(sigs, createLogger('silent'), {
      scratchDir: path.join(dir, 'scratch'),
    });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds the test executable (by hash) and EICAR in a second gzip member', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const lead = gzip(text('a clean first member\n', 10));
    const byHash = await scan(Buffer.concat([lead, gzip(exe)]), 'm.gz');
    expect(byHash.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    const eicarSecond = await scan(Buffer.concat([lead, gzip(eicar())]), 'e.gz');
    expect(eicarSecond.findings).toEqual([EICAR_FINDING]);
    const eicarFirst = await scan(Buffer.concat([gzip(eicar()), lead]), 'f.gz');
    expect(eicarFirst.findings).toEqual([EICAR_FINDING]);
    const behind = await scan(Buffer.concat([lead, Buffer.alloc(8), exe]), 'behind.gz');
    expect(behind.findings).toEqual([TEST_EXECUTABLE_FINDING]);
  });

  it('finds the test executable (by hash) and EICAR in any xz, lzma, bzip2 or zstd stream', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const lead = text('a clean first stream\n', 10);
    for (const [tool, suffix, args] of [
      ['xz', 'xz', ['-c']],
      ['xz', 'lzma', ['--format=lzma', '-c']],
      ['bzip2', 'bz2', ['-c']],
      ['zstd', 'zst', ['-c']],
    ] as const) {
      const pack = (data: Buffer) => compressWith(tool, [...args], data);
      const byHash = await scan(Buffer.concat([pack(lead), pack(exe)]), `m.${suffix}`);
      expect(byHash.findings).toEqual([TEST_EXECUTABLE_FINDING]);
      const first = await scan(Buffer.concat([pack(eicar()), pack(lead)]), `e.${suffix}`);
      expect(first.findings).toEqual([EICAR_FINDING]);
    }
    const pbzip2 = compressWith(
      'pbzip2',
      ['-c', '-b1'],
      Buffer.from(randomContent(300_000).toString('base64')),
    );
    expect((await scan(pbzip2, 'clean.bz2')).findings).toEqual([]);
  });

  it('finds the test executable behind a tar’s end blocks, alone or as a second tar', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const first = await gnuTarOf('readme.txt', text('hello\n', 3));
    const second = await gnuTarOf('clam.exe', exe);
    const appended = await scan(Buffer.concat([first, exe]), 'appended.tar');
    expect(appended.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    const concatenated = await scan(Buffer.concat([first, Buffer.alloc(2048), second]), 'two.tar');
    expect(concatenated.findings).toEqual([TEST_EXECUTABLE_FINDING]);
    const clean = await scan(Buffer.concat([first, first]), 'clean.tar');
    expect(clean.findings).toEqual([]);
  });

  it('finds the test executable in a tar behind an empty tar (tar --ignore-zeros reads it)', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const empty = execFileSync('tar', ['-cf', '-', '-T', '/dev/null']);
    expect(empty.every((byte) => byte === 0)).toBe(true);
    const content = Buffer.concat([empty, await gnuTarOf('clam.exe', exe)]);
    const listed = execFileSync('tar', ['--ignore-zeros', '-tf', '-'], { input: content });
    expect(listed.toString()).toBe('clam.exe\n');
    expect((await scan(content, 'two.tar')).findings).toEqual([TEST_EXECUTABLE_FINDING]);
    const clean = Buffer.concat([empty, await gnuTarOf('readme.txt', text('hello\n', 3))]);
    expect((await scan(clean, 'clean.tar')).findings).toEqual([]);
    expect((await scan(Buffer.alloc(20_480), 'zeros.bin')).findings).toEqual([]);
  });

  it('scans what follows a zstd stream’s last frame, never calling it corrupt', async () => {
    const exe = await readFile(TEST_EXECUTABLE);
    const frame = compressWith('zstd', ['-q', '-c'], text('a clean frame\n', 10));
    const cases: Array<[Buffer, string[]]> = [
      [Buffer.concat([frame, exe]), [TEST_EXECUTABLE_FINDING]],
      [Buffer.concat([frame, Buffer.from('junk')]), []],
      [Buffer.concat([frame, Buffer.from('a few words of junk after the frame')]), []],
      [Buffer.concat([frame, frame, gzip(eicar())]), [EICAR_FINDING]],
    ];
    for (const [content, findings] of cases) {
      expect((await scan(content, 'm.zst')).findings).toEqual(findings);
    }
    // zstdcat (zstd -dcf) hands out the frame's output, then passes the other bytes through.
    const cat = spawnSync('zstdcat', [], { input: Buffer.concat([frame, exe]) });
    expect(cat.stdout).toEqual(Buffer.concat([text('a clean frame\n', 10), exe]));
  });

  it('calls bgzip, pigz and concatenated clean tars clean', async () => {
    const data = Buffer.from(randomContent(200_000).toString('base64'));
    expect((await scan(compressWith('bgzip', ['-c'], data), 'd.gz')).findings).toEqual([]);
    const pigz = Buffer.concat([
      compressWith('pigz', ['-c'], data),
      compressWith('pigz', ['-c'], data),
    ]);
    expect((await scan(pigz, 'p.gz')).findings).toEqual([]);
  });
});

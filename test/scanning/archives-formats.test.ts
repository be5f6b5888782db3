import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  UnpackError,
  type FormatHandler,
  type UnpackContext,
  type UnpackInput,
} from '../../scanning/archives/index.js';
import { DEFAULT_LIMITS, Workspace, zip } from '../support/archives.js';
import { eicar } from '../support/content.js';

// The walker's side of format handlers (scanning/archives/format.ts), checked with two toy
// formats: what a handler hands over is scanned, nested, limited and reported like any member.

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

/** "LINES\n" then `== name` lines, each starting a member made of the lines that follow. */
const streamed: FormatHandler = {
  name: 'lines',
  input: 'stream',
  sniff: (head) => head.subarray(0, 6).toString('latin1') === 'LINES\n',
  async unpack(input: UnpackInput, context: UnpackContext) {
    if (input.kind !== 'stream') throw new Error('stream input expected');
    const text = await collect(input.chunks);
    for (const [name, body] of parseLines(text)) {
      if (name === 'THROW') throw new Error('a damaged member table');
      if (name === 'LOCKED') throw new UnpackError('encrypted', 'the member table is encrypted');
      if (!(await context.member(name, once(body), { size: body.length }))) return;
    }
  },
};

/** The same layout after "FILES\n", read from a local file (random access). */
const fromFile: FormatHandler = {
  name: 'files',
  input: 'file',
  sniff: (head) => head.subarray(0, 6).toString('latin1') === 'FILES\n',
  async unpack(input: UnpackInput, context: UnpackContext) {
    if (input.kind !== 'file') throw new Error('file input expected');
    const text = await readFile(input.path);
    expect(text.length).toBe(input.size);
    for (const [name, body] of parseLines(text)) {
      if (!(await context.member(name, once(body)))) return;
    }
  },
};

const formats = [streamed, fromFile];

describe('format handlers', () => {
  it('scans the members a streaming handler hands over, with their container', async () => {
    const content = container('LINES', [
      ['a.txt', Buffer.from('hello')],
      ['eicar.com', eicar()],
    ]);
    const result = await ws.walk(content, 'bundle.lines', DEFAULT_LIMITS, formats);
    expect(result.visited.map((v) => [v.path, v.container, v.data?.toString()])).toEqual([
      ['bundle.lines', 'file', content.toString()],
      ['bundle.lines/a.txt', 'lines', 'hello'],
      ['bundle.lines/eicar.com', 'lines', eicar().toString()],
    ]);
    expect(result).toMatchObject({ unscannable: [], members: 2 });
  });

  it('opens a member that is itself an archive, and a handler format inside a zip', async () => {
    const inner = await zip([{ name: 'deep.txt', data: Buffer.from('deep') }]);
    const lines = container('LINES', [['inner.zip', inner]]);
    const files = container('FILES', [['x.bin', Buffer.from('x')]]);
    const outer = await zip([
      { name: 'a.lines', data: lines },
      { name: 'b.files', data: files },
    ]);
    const result = await ws.walk(outer, 'outer.zip', DEFAULT_LIMITS, formats);
    const paths = result.visited.map((v) => `${v.path}@${v.container}`).sort();
    expect(paths).toEqual([
      'outer.zip/a.lines/inner.zip/deep.txt@zip',
      'outer.zip/a.lines/inner.zip@lines',
      'outer.zip/a.lines@zip',
      'outer.zip/b.files/x.bin@files',
      'outer.zip/b.files@zip',
      'outer.zip@file',
    ]);
    expect(result.unscannable).toEqual([]);
  });

  it('counts handler members against the member and depth limits', async () => {
    const many = container(
      'LINES',
      Array.from({ length: 10 }, (_, i): [string, Buffer] => [`m${i}`, Buffer.from(`${i}`)]),
    );
    const limited = await ws.walk(
      many,
      'many.lines',
      { ...DEFAULT_LIMITS, maxMembers: 3 },
      formats,
    );
    expect(limited.visited).toHaveLength(4);
    expect(limited.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['many.lines'], detail: 'more than 3 archive members' },
    ]);

    const nested = await zip([{ name: 'n.lines', data: many }]);
    const shallow = await ws.walk(nested, 'n.zip', { ...DEFAULT_LIMITS, maxDepth: 1 }, formats);
    expect(shallow.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['n.zip', 'n.lines'] },
    ]);
  });

  it('stops a handler at the expanded-bytes limit', async () => {
    const big = Buffer.alloc(200_000, 0x61);
    const content = container('LINES', [
      ['one', big],
      ['two', big],
      ['three', big],
    ]);
    const limits = { ...DEFAULT_LIMITS, maxExpandedBytes: 300_000 };
    const result = await ws.walk(content, 'big.lines', limits, formats);
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
    expect(result.visited.map((v) => v.path)).not.toContain('big.lines/three');
  });

  it('reports what a handler throws: UnpackError precisely, anything else as corrupt', async () => {
    const locked = await ws.walk(
      container('LINES', [['LOCKED', Buffer.alloc(1)]]),
      'l.lines',
      DEFAULT_LIMITS,
      formats,
    );
    expect(locked.unscannable).toEqual([
      { reason: 'encrypted', path: ['l.lines'], detail: 'lines: the member table is encrypted' },
    ]);
    const damaged = await ws.walk(
      container('LINES', [
        ['ok', Buffer.from('fine')],
        ['THROW', Buffer.alloc(1)],
      ]),
      'd.lines',
      DEFAULT_LIMITS,
      formats,
    );
    expect(damaged.unscannable).toEqual([
      { reason: 'corrupt', path: ['d.lines'], detail: 'lines: a damaged member table' },
    ]);
    expect(damaged.visited.map((v) => v.path)).toContain('d.lines/ok');
  });

  it('reports a member whose data fails as corrupt, at the member', async () => {
    const failing: FormatHandler = {
      name: 'failing',
      input: 'stream',
      sniff: (head) => head.subarray(0, 4).toString('latin1') === 'FAIL',
      async unpack(input, context) {
        if (input.kind === 'stream') for await (const _ of input.chunks) void _;
        await context.member('broken.bin', brokenData());
      },
    };
    const result = await ws.walk(Buffer.from('FAIL and more'), 'f', DEFAULT_LIMITS, [failing]);
    expect(result.unscannable).toEqual([
      { reason: 'corrupt', path: ['f', 'broken.bin'], detail: 'failing: truncated data' },
    ]);
  });

  it('gives a handler that stops reading early no trouble, and a large stream in full', async () => {
    const partial: FormatHandler = {
      name: 'partial',
      input: 'stream',
      sniff: (head) => head.subarray(0, 4).toString('latin1') === 'PART',
      async unpack(input, context) {
        if (input.kind !== 'stream') return;
        for await (const chunk of input.chunks) {
          await context.member('head', once(chunk.subarray(4, 8)));
          return;
        }
      },
    };
    const content = Buffer.concat([Buffer.from('PART'), Buffer.alloc(3 * 1024 * 1024, 1)]);
    const result = await ws.walk(content, 'p', DEFAULT_LIMITS, [partial]);
    expect(result.visited.map((v) => [v.path, v.length]).sort()).toEqual([
      ['p', content.length],
      ['p/head', 4],
    ]);
  });
});

function container(magic: string, members: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [Buffer.from(`${magic}\n`)];
  for (const [name, body] of members) {
    parts.push(Buffer.from(`== ${name} ${body.length}\n`), body, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

function* parseLines(content: Buffer): Generator<[string, Buffer]> {
  let at = content.indexOf(0x0a) + 1;
  while (at < content.length) {
    const end = content.indexOf(0x0a, at);
    const [, name = '', length = '0'] = content.toString('latin1', at, end).split(' ');
    const start = end + 1;
    yield [name, content.subarray(start, start + Number(length))];
    at = start + Number(length) + 1;
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

function once(data: Buffer): AsyncIterable<Buffer> {
  return Readable.from([data]);
}

async function* brokenData(): AsyncGenerator<Buffer> {
  yield await Promise.resolve(Buffer.from('partial'));
  throw new Error('truncated data');
}

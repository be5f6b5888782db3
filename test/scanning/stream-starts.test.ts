import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { streamStarts } from '../../scanning/archives/formats/stream-starts.js';
import { compressWith } from '../support/archives.js';
import { randomContent } from '../support/content.js';

/**
 * Where each stream of a multi-stream xz or bzip2 file starts (formats/stream-starts.ts): every
 * stream is scanned alone from there, so a start missed is a stream whose payload is only seen
 * inside the whole output, and a start made up is a piece that fails to decode. Streams are made
 * by Debian's xz and bzip2.
 */

const dir = mkdtempSync(join(tmpdir(), 'arbiter-stream-starts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function starts(format: 'xz' | 'bzip2', bytes: Buffer): Promise<number[]> {
  const path = join(dir, `f${(files += 1)}`);
  writeFileSync(path, bytes);
  return streamStarts(format, path);
}

const xz = (data: Buffer) => compressWith('xz', ['-c', '-0'], data);
const bzip2 = (data: Buffer) => compressWith('bzip2', ['-c', '-1'], data);
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const MiB = 1024 * 1024;

/** Offsets where each part starts when they are put one after the other. */
const offsets = (parts: Buffer[]) =>
  parts.slice(0, -1).reduce((at, part) => [...at, (at.at(-1) ?? 0) + part.length], [0]);

describe('xz stream starts', () => {
  it('finds every stream of concatenated xz files, with or without stream padding', async () => {
    const a = xz(Buffer.from('first stream'));
    const b = xz(Buffer.from('second stream'));
    const c = xz(randomContent(5000));
    expect(await starts('xz', Buffer.concat([a, b, c]))).toEqual(offsets([a, b, c]));
    const padded = [a, Buffer.alloc(8), b, Buffer.alloc(4), c];
    const at = offsets(padded);
    expect(await starts('xz', Buffer.concat(padded))).toEqual([0, at[2], at[4]]);
  });

  it('looks through up to 64 KiB of padding, and no further', async () => {
    const a = xz(Buffer.from('first'));
    const b = xz(Buffer.from('second'));
    const most = [a, Buffer.alloc(64 * 1024), b];
    expect(await starts('xz', Buffer.concat(most))).toEqual([0, a.length + 64 * 1024]);
    const more = [a, Buffer.alloc(64 * 1024 + 4), b];
    expect(await starts('xz', Buffer.concat(more))).toEqual([0]);
  });

  it('takes no stream header that is not 4-aligned, not behind a footer, or whose CRC is wrong', async () => {
    const a = xz(Buffer.from('first'));
    const b = xz(Buffer.from('second'));
    // Padding that is not a multiple of four: the header is misaligned, or the footer is.
    expect(await starts('xz', Buffer.concat([a, Buffer.alloc(2), b]))).toEqual([0]);
    expect(await starts('xz', Buffer.concat([a, Buffer.alloc(6), b]))).toEqual([0]);
    // The magic and flags inside other data (stored by LZMA2 as it is: random bytes around it).
    const inside = xz(Buffer.concat([randomContent(1000), b, randomContent(1000)]));
    expect(await starts('xz', inside)).toEqual([0]);
    // A damaged footer (its CRC, its `YZ`) or header CRC.
    for (const [at, from] of [
      [a.length - 12, a],
      [a.length - 1, a],
      [a.length - 2, a],
      [10, b],
    ] as const) {
      const damaged = Buffer.from(from);
      damaged[at] = (damaged[at] ?? 0) ^ 0xff;
      const parts = from === a ? [damaged, b] : [a, damaged];
      expect(await starts('xz', Buffer.concat(parts))).toEqual([0]);
    }
  });

  it('finds a stream header that straddles the 1 MiB chunks the file is read in', async () => {
    const footer = xz(Buffer.from('x')).subarray(-12);
    const b = xz(Buffer.from('second'));
    for (const headerAt of [MiB - 4, MiB - 8, MiB, MiB + 4, 2 * MiB - 4]) {
      const bytes = Buffer.concat([Buffer.alloc(headerAt - 12, 0x11), footer, b]);
      expect(await starts('xz', bytes)).toEqual([0, headerAt]);
    }
  });

  it('finds nothing more in a single stream or a file too short for one', async () => {
    expect(await starts('xz', xz(randomContent(3 * MiB)))).toEqual([0]);
    expect(await starts('xz', Buffer.concat([Buffer.alloc(4), XZ_MAGIC]))).toEqual([0]);
    expect(await starts('xz', Buffer.alloc(0))).toEqual([0]);
  });
});

describe('bzip2 stream starts', () => {
  it('finds every stream of concatenated bzip2 files (as pbzip2 writes them)', async () => {
    const parts = [bzip2(Buffer.from('one')), bzip2(randomContent(3000)), bzip2(Buffer.alloc(0))];
    expect(await starts('bzip2', Buffer.concat(parts))).toEqual(offsets(parts));
  });

  it('takes `BZh` only with a block size 1–9 and a block or end-of-stream magic after it', async () => {
    const a = bzip2(Buffer.from('first'));
    const b = bzip2(Buffer.from('second'));
    const empty = bzip2(Buffer.alloc(0));
    for (const level of ['1', '9']) {
      const second = Buffer.from(b);
      second[3] = level.charCodeAt(0);
      expect(await starts('bzip2', Buffer.concat([a, second]))).toEqual([0, a.length]);
    }
    for (const level of ['0', ':']) {
      const second = Buffer.from(b);
      second[3] = level.charCodeAt(0);
      expect(await starts('bzip2', Buffer.concat([a, second]))).toEqual([0]);
    }
    expect(await starts('bzip2', Buffer.concat([a, empty]))).toEqual([0, a.length]);
    const noMagic = Buffer.from(b);
    noMagic[9] = (noMagic[9] ?? 0) ^ 0xff;
    expect(await starts('bzip2', Buffer.concat([a, noMagic]))).toEqual([0]);
    expect(await starts('bzip2', Buffer.concat([a, b.subarray(0, 9)]))).toEqual([0]);
  });

  it('finds a stream header that straddles the 1 MiB chunks the file is read in', async () => {
    const b = bzip2(Buffer.from('second'));
    for (const headerAt of [MiB - 9, MiB - 2, MiB + 5, 2 * MiB - 16, 2 * MiB - 1]) {
      const bytes = Buffer.concat([Buffer.alloc(headerAt, 0x11), b, Buffer.alloc(100, 0x11)]);
      expect(await starts('bzip2', bytes)).toEqual([0, headerAt]);
    }
  });

  it('does not take the header at the very start again, nor a magic inside the xz search', async () => {
    const a = bzip2(Buffer.from('only'));
    expect(await starts('bzip2', a)).toEqual([0]);
    expect(await starts('xz', Buffer.concat([a, bzip2(Buffer.from('x'))]))).toEqual([0]);
  });
});

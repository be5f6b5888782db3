import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CompressedCopy } from '../../scanning/archives/compressed-copy.js';
import { randomContent, sha1 } from '../support/content.js';

/**
 * The copy of a compressed stream a gzip member or zstd frame is decoded again from
 * (compressed-copy.ts): any range of what went by comes back, from memory up to 4 MiB, from a
 * scratch file past that, and nothing is left behind.
 */

const dir = mkdtempSync(join(tmpdir(), 'arbiter-compressed-copy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;
let scratches = 0;

function scratch(): { path: () => Promise<string>; made: string[] } {
  const made: string[] = [];
  return {
    made,
    path: () => {
      const path = join(dir, `scratch-${(scratches += 1)}`);
      made.push(path);
      return Promise.resolve(path);
    },
  };
}

/** The bytes of `range`, as their length and SHA-1 (deep equality of MiBs is slow). */
async function collect(range: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of range) parts.push(part);
  return digest(Buffer.concat(parts));
}

const digest = (bytes: Buffer) => `${bytes.length}:${sha1(bytes)}`;

async function fill(copy: CompressedCopy, data: Buffer, size: number): Promise<void> {
  for (let at = 0; at < data.length; at += size) await copy.add(data.subarray(at, at + size));
}

describe('CompressedCopy', () => {
  it('keeps up to 4 MiB in memory and gives any range of it back', async () => {
    const data = randomContent(4 * MiB);
    const files = scratch();
    const copy = new CompressedCopy(undefined, files.path);
    await fill(copy, data, 100_000);
    expect(await collect(copy.range(0, data.length))).toBe(digest(data));
    expect(await collect(copy.range(1000, 2000))).toBe(digest(data.subarray(1000, 2000)));
    expect(files.made).toEqual([]);
    await copy.remove();
  });

  it('moves to a scratch file past 4 MiB, gives ranges back from it and removes it', async () => {
    const data = randomContent(4 * MiB + 1);
    const files = scratch();
    const copy = new CompressedCopy(undefined, files.path);
    await fill(copy, data, 1 * MiB);
    expect(files.made).toHaveLength(1);
    expect(await collect(copy.range(0, data.length))).toBe(digest(data));
    expect(await collect(copy.range(4 * MiB - 10, 4 * MiB + 1))).toBe(digest(data.subarray(-11)));
    expect(await collect(copy.range(5, 5))).toBe(digest(Buffer.alloc(0)));
    await copy.remove();
    expect(existsSync(files.made[0]!)).toBe(false);
  });

  it('copies a large stream through the scratch file in order, however it is cut', async () => {
    const data = randomContent(9 * MiB + 123);
    const files = scratch();
    const copy = new CompressedCopy(undefined, files.path);
    await fill(copy, data, 300_001);
    expect(await collect(copy.range(0, data.length))).toBe(digest(data));
    expect(await collect(copy.range(8 * MiB, 8 * MiB + 70_000))).toBe(
      digest(data.subarray(8 * MiB, 8 * MiB + 70_000)),
    );
    await copy.remove();
    expect(readdirSync(dir).filter((name) => files.made.includes(join(dir, name)))).toEqual([]);
  });

  it('moves small pieces to the scratch file too, and can be removed twice', async () => {
    const data = randomContent(4 * MiB + 5000);
    const files = scratch();
    const copy = new CompressedCopy(undefined, files.path);
    await fill(copy, data, 1000);
    expect(await collect(copy.range(0, data.length))).toBe(digest(data));
    await copy.remove();
    await copy.remove();
    expect(existsSync(files.made[0]!)).toBe(false);
  });

  it('reads a stream already on disk from there, copying nothing', async () => {
    const data = randomContent(200_000);
    const path = join(dir, 'on-disk');
    writeFileSync(path, data);
    const files = scratch();
    const copy = new CompressedCopy(path, files.path);
    await fill(copy, randomContent(5 * MiB), MiB);
    expect(files.made).toEqual([]);
    expect(await collect(copy.range(10, 150_000))).toBe(digest(data.subarray(10, 150_000)));
    expect(await collect(copy.range(7, 7))).toBe(digest(Buffer.alloc(0)));
    await copy.remove();
    expect(existsSync(path)).toBe(true);
  });

  it('takes no more bytes once stopped, and gives back what it has', async () => {
    const data = randomContent(3 * MiB);
    const files = scratch();
    const copy = new CompressedCopy(undefined, files.path);
    await fill(copy, data, MiB);
    copy.stop();
    await fill(copy, randomContent(3 * MiB), MiB);
    expect(files.made).toEqual([]);
    expect(await collect(copy.range(0, data.length))).toBe(digest(data));
    await copy.remove();
  });

  it('gives nothing back once removed', async () => {
    const small = new CompressedCopy(undefined, scratch().path);
    await small.add(Buffer.from('abc'));
    await small.remove();
    expect(await collect(small.range(0, 3))).toBe(digest(Buffer.alloc(0)));
    const large = new CompressedCopy(undefined, scratch().path);
    await fill(large, randomContent(5 * MiB), MiB);
    await large.remove();
    await expect(collect(large.range(0, 3))).rejects.toThrow();
  });
});

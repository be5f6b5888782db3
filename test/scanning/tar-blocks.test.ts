import { describe, expect, it } from 'vitest';
import { headerDataSize, TarBlocks, type TarSplit } from '../../scanning/archives/tar-blocks.js';
import { tar } from '../support/archives.js';

/**
 * Where a tar ends (tar-blocks.ts): what the tar reader gets and what follows the archive, as
 * `tar --ignore-zeros` reads it. The walker's tests (compressed-streams) show the findings; these
 * pin the block arithmetic for any way the bytes are cut into chunks.
 */

/** Feeds `bytes` in chunks of `size` and gathers both sides. */
function split(bytes: Buffer, size: number): { tar: Buffer; after: Buffer } {
  const blocks = new TarBlocks();
  const tarSide: Buffer[] = [];
  const after: Buffer[] = [];
  const take = (part: TarSplit) => {
    tarSide.push(...part.tar);
    after.push(...part.after);
  };
  for (let at = 0; at < bytes.length; at += size) take(blocks.feed(bytes.subarray(at, at + size)));
  take(blocks.finish());
  return { tar: Buffer.concat(tarSide), after: Buffer.concat(after) };
}

const CHUNKS = [1, 100, 511, 512, 513, 4096, 1 << 20];

/** A header block with a valid checksum (unsigned sum) and the given size field. */
function headerBlock(
  fields: { size?: string | Buffer; type?: string; name?: string; checksum?: string } = {},
): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name ?? 'file.txt', 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  if (Buffer.isBuffer(fields.size)) fields.size.copy(block, 124);
  else block.write(fields.size ?? '00000000000\0', 124, 'latin1');
  block.write(fields.type ?? '0', 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.fill(0, 148, 156);
  block.write(fields.checksum ?? `${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

describe('TarBlocks', () => {
  it('hands a whole tar to the tar reader, however it is cut', async () => {
    const archive = await tar([
      { name: 'one', data: Buffer.alloc(1, 0x41) },
      { name: 'exact', data: Buffer.alloc(512, 0) },
      { name: 'over', data: Buffer.alloc(513, 0x42) },
      { name: 'dir/', type: 'directory' },
    ]);
    for (const size of CHUNKS) {
      expect(split(archive, size)).toEqual({ tar: archive, after: Buffer.alloc(0) });
    }
  });

  it('hands a second tar behind the first one’s end blocks to the tar reader too', async () => {
    const first = await tar([{ name: 'a', data: Buffer.from('first') }]);
    const second = await tar([{ name: 'b', data: Buffer.from('second') }]);
    const both = Buffer.concat([first, Buffer.alloc(1024), second]);
    for (const size of CHUNKS)
      expect(split(both, size)).toEqual({ tar: both, after: Buffer.alloc(0) });
  });

  it('hands what follows the end blocks and is no header out as after, from its first block', async () => {
    // Entry data of 1, 512 and 513 bytes: the data is passed over to the next 512-byte boundary,
    // and a zero block inside entry data is data, not the end.
    const archive = await tar([
      { name: 'one', data: Buffer.alloc(1, 0x41) },
      { name: 'zeros', data: Buffer.alloc(512, 0) },
      { name: 'over', data: Buffer.alloc(513, 0x42) },
    ]);
    const appended = Buffer.concat([
      Buffer.from('appended data, not a header'),
      Buffer.alloc(700, 7),
    ]);
    const bytes = Buffer.concat([archive, appended]);
    for (const size of CHUNKS) {
      expect(split(bytes, size)).toEqual({ tar: archive, after: appended });
    }
  });

  it('hands everything after the first block that is no header out as after, zero blocks and tars too', async () => {
    const archive = await tar([{ name: 'a', data: Buffer.from('x') }]);
    const second = await tar([{ name: 'b', data: Buffer.from('y') }]);
    const appended = Buffer.concat([Buffer.alloc(512, 0x41), Buffer.alloc(512), second]);
    for (const size of CHUNKS) {
      expect(split(Buffer.concat([archive, appended]), size)).toEqual({
        tar: archive,
        after: appended,
      });
    }
  });

  it('leaves a bad header before any end block to the tar reader (a damaged tar)', async () => {
    const archive = await tar([{ name: 'a', data: Buffer.from('x') }]);
    const damaged = Buffer.concat([
      archive.subarray(0, 1024),
      Buffer.alloc(512, 0x55),
      archive.subarray(1024),
    ]);
    for (const size of CHUNKS) {
      expect(split(damaged, size)).toEqual({ tar: damaged, after: Buffer.alloc(0) });
    }
  });

  it('ends on a partial block: zeros after the end are nothing, other bytes after, a cut tar the tar’s', async () => {
    const archive = await tar([{ name: 'a', data: Buffer.from('x') }]);
    const zeros = Buffer.concat([archive, Buffer.alloc(100)]);
    expect(split(zeros, 4096)).toEqual({ tar: archive, after: Buffer.alloc(0) });
    const tail = Buffer.from('ta\0l');
    expect(split(Buffer.concat([archive, tail]), 4096)).toEqual({ tar: archive, after: tail });
    const cut = archive.subarray(0, 700);
    expect(split(cut, 4096)).toEqual({ tar: cut, after: Buffer.alloc(0) });
    const cutHeader = archive.subarray(0, 300);
    expect(split(cutHeader, 100)).toEqual({ tar: cutHeader, after: Buffer.alloc(0) });
    const afterThenPartial = Buffer.concat([archive, Buffer.alloc(512, 9), Buffer.from('xy')]);
    expect(split(afterThenPartial, 512)).toEqual({
      tar: archive,
      after: afterThenPartial.subarray(archive.length),
    });
  });

  it('finishes with nothing when nothing was fed', () => {
    expect(new TarBlocks().finish()).toEqual({ tar: [], after: [] });
  });
});

describe('headerDataSize', () => {
  it('reads the octal size of a header', () => {
    expect(headerDataSize(headerBlock({ size: '00000001750\0' }))).toBe(1000);
    expect(headerDataSize(headerBlock({ size: '   1750 \0' }))).toBe(1000);
    expect(headerDataSize(headerBlock({ size: '1750\0\0\0' }))).toBe(1000);
  });

  it('reads a GNU base-256 size', () => {
    const field = Buffer.alloc(12);
    field[0] = 0x80;
    field.writeUInt32BE(0x01020304, 8);
    expect(headerDataSize(headerBlock({ size: field }))).toBe(0x01020304);
    field[6] = 0x01;
    expect(headerDataSize(headerBlock({ size: field }))).toBe(2 ** 40 + 0x01020304);
    const top = Buffer.alloc(12);
    top[0] = 0x81;
    expect(headerDataSize(headerBlock({ size: top }))).toBe(2 ** 88);
  });

  it('gives a directory no data whatever its size says, and a size that is no number none', () => {
    expect(headerDataSize(headerBlock({ size: '00000001750\0', type: '5' }))).toBe(0);
    expect(headerDataSize(headerBlock({ size: 'zz\0' }))).toBe(0);
  });

  it('accepts the checksum as a signed sum too (old tars)', () => {
    const block = headerBlock({ name: '\xe9t\x7f\xe9.txt' });
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
      signed += byte > 127 ? byte - 256 : byte;
    }
    block.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(headerDataSize(block)).toBe(0);
  });

  it('takes a block whose checksum does not match, or is no number, for no header', () => {
    const block = headerBlock({ size: '00000000010\0' });
    const off = Buffer.from(block);
    off[0] = (off[0] ?? 0) + 1;
    expect(headerDataSize(off)).toBeUndefined();
    expect(headerDataSize(headerBlock({ checksum: 'x1234\0 ' }))).toBeUndefined();
    expect(headerDataSize(headerBlock({ checksum: '\0\0\0\0\0\0\0\0' }))).toBeUndefined();
    expect(headerDataSize(Buffer.alloc(512, 0x20))).toBeUndefined();
    // A checksum field with more than octal digits in it, even one starting or ending with the sum.
    const valid = headerBlock();
    const sum = valid.toString('latin1', 148, 154);
    expect(headerDataSize(headerBlock({ checksum: `${sum} 7` }))).toBeUndefined();
    expect(headerDataSize(headerBlock({ checksum: `${sum}x` }))).toBeUndefined();
  });
});

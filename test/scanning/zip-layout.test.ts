import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, truncate, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LocalHeaderSweep,
  plausibleHeaderStart,
  planZipLayout,
  readLocalHeader,
  readRange,
  type ListedEntry,
} from '../../scanning/archives/zip-layout.js';

/**
 * The zip layout's contract, unit by unit: which listed entries are read and which are skipped
 * as overlapping, the stretches left for the local-header sweep, and what the sweep takes for a
 * local header, a data descriptor or the end of stored data. The walker's own tests
 * (zip-both-views, archives) show what a user sees; these pin the edges they pass through.
 */

const dir = mkdtempSync(join(tmpdir(), 'arbiter-zip-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** Opens `bytes` written to a fresh file, hands it to `use`, closes it. */
async function withFile<T>(bytes: Buffer, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  const path = join(dir, `f${(files += 1)}`);
  writeFileSync(path, bytes);
  const handle = await open(path, 'r');
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}

interface HeaderFields {
  version?: number;
  flags?: number;
  method?: number;
  crc?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  name?: string;
  extra?: Buffer;
  /** Name length as written, when it should lie. */
  nameLength?: number;
}

/** A local file header (30 fixed bytes, name, extra field). */
function header(fields: HeaderFields = {}): Buffer {
  const name = Buffer.from(fields.name ?? 'a.txt');
  const extra = fields.extra ?? Buffer.alloc(0);
  const fixed = Buffer.alloc(30);
  fixed.writeUInt32LE(0x04034b50, 0);
  fixed.writeUInt16LE(fields.version ?? 20, 4);
  fixed.writeUInt16LE(fields.flags ?? 0, 6);
  fixed.writeUInt16LE(fields.method ?? 0, 8);
  fixed.writeUInt32LE(fields.crc ?? 0x12345678, 14);
  fixed.writeUInt32LE(fields.compressedSize ?? 0, 18);
  fixed.writeUInt32LE(fields.uncompressedSize ?? 0, 22);
  fixed.writeUInt16LE(fields.nameLength ?? name.length, 26);
  fixed.writeUInt16LE(extra.length, 28);
  return Buffer.concat([fixed, name, extra]);
}

/** A local header with `data` stored after it. */
function record(data: Buffer, fields: HeaderFields = {}): Buffer {
  return Buffer.concat([
    header({ compressedSize: data.length, uncompressedSize: data.length, ...fields }),
    data,
  ]);
}

function zip64Extra(uncompressed: bigint, compressed: bigint): Buffer {
  const field = Buffer.alloc(20);
  field.writeUInt16LE(0x0001, 0);
  field.writeUInt16LE(16, 2);
  field.writeBigUInt64LE(uncompressed, 4);
  field.writeBigUInt64LE(compressed, 12);
  return field;
}

function descriptor(crc: number, withSignature = true): Buffer {
  const bytes = Buffer.alloc(withSignature ? 16 : 12);
  let at = 0;
  if (withSignature) at = bytes.writeUInt32LE(0x08074b50, 0);
  bytes.writeUInt32LE(crc, at);
  return bytes;
}

/** Bytes holding no `PK` at all. */
const filler = (length: number, byte = 0x2e): Buffer => Buffer.alloc(length, byte);

/** A listed entry; each call's CRC-32 differs, so two never describe the same data alike. */
let entries = 0;
const entry = (offset: number, compressedSize: number): ListedEntry => ({
  relativeOffsetOfLocalHeader: offset,
  compressedSize,
  uncompressedSize: compressedSize,
  compressionMethod: 0,
  generalPurposeBitFlag: 0,
  crc32: ++entries,
});

describe('planZipLayout', () => {
  it('reads an ordinary zip entry by entry: no gap, each local view ending at the next entry', async () => {
    const first = record(Buffer.from('first member'), { name: 'one.txt' });
    const second = record(Buffer.from('second'), { name: 'two.txt' });
    const body = Buffer.concat([first, second]);
    const entries = [entry(0, 12), entry(first.length, 6)];
    const layout = await withFile(Buffer.concat([body, filler(50)]), (handle) =>
      planZipLayout(handle, body.length + 50, entries, {
        start: body.length,
        end: body.length + 50,
      }),
    );
    expect(layout.skipped.size).toBe(0);
    expect(layout.gaps).toEqual([]);
    expect(layout.local.get(entries[0]!)).toMatchObject({
      limit: first.length,
      header: { offset: 0, dataStart: 30 + 7, compressedSize: 12 },
    });
    expect(layout.local.get(entries[1]!)).toMatchObject({
      limit: body.length,
      header: { offset: first.length, dataStart: first.length + 37 },
    });
  });

  it('leaves the stretches no entry claims as gaps: in front, between entries, before the directory', async () => {
    const first = record(Buffer.from('0123456789'));
    const second = record(Buffer.from('abc'));
    const body = Buffer.concat([filler(7), first, filler(5), second, filler(9)]);
    const entries = [entry(7 + first.length + 5, 3), entry(7, 10)];
    const layout = await withFile(body, (handle) =>
      planZipLayout(handle, body.length, entries, { start: body.length, end: body.length }),
    );
    expect(layout.gaps).toEqual([
      { start: 0, end: 7 },
      { start: 7 + first.length, end: 7 + first.length + 5 },
      { start: body.length - 9, end: body.length },
    ]);
    expect(layout.local.get(entries[1]!)?.limit).toBe(7 + first.length + 5);
  });

  it('counts offsets from the base (the prefix in front of the archive)', async () => {
    const member = record(Buffer.from('data'));
    const file = Buffer.concat([filler(100), member]);
    const listed = entry(0, 4);
    const layout = await withFile(file, (handle) =>
      planZipLayout(handle, file.length, [listed], { start: file.length, end: file.length }, 100),
    );
    expect(layout.gaps).toEqual([{ start: 0, end: 100 }]);
    expect(layout.local.get(listed)?.header.offset).toBe(100);
  });

  it('reads one of many entries pointing at the same data, the longest claim, and skips the rest', async () => {
    const member = record(Buffer.from('shared data here'));
    const short = entry(0, 4);
    const long = entry(0, 16);
    const shorter = entry(0, 1);
    for (const entries of [
      [short, long, shorter],
      [long, short, shorter],
      [shorter, short, long],
    ]) {
      const layout = await withFile(member, (handle) =>
        planZipLayout(handle, member.length, entries, {
          start: member.length,
          end: member.length,
        }),
      );
      expect([...layout.skipped]).toEqual(expect.arrayContaining([short, shorter]));
      expect(layout.skipped.has(long)).toBe(false);
      expect(layout.gaps).toEqual([]);
    }
  });

  it('takes an entry describing the same data alike as a duplicate of the one read', async () => {
    const member = record(Buffer.from('shared data here'));
    const read = entry(0, 16);
    const twin = { ...read };
    const other = { ...read, crc32: read.crc32 + 1 };
    const methodDiffers = { ...read, compressionMethod: 8 };
    const sizeDiffers = { ...read, uncompressedSize: 17 };
    const flagsDiffer = { ...read, generalPurposeBitFlag: 1 };
    const entries = [read, twin, other, methodDiffers, sizeDiffers, flagsDiffer];
    const layout = await withFile(member, (handle) =>
      planZipLayout(handle, member.length, entries, { start: member.length, end: member.length }),
    );
    expect([...layout.duplicates]).toEqual([[twin, read]]);
    expect([...layout.skipped]).toEqual([other, methodDiffers, sizeDiffers, flagsDiffer]);
  });

  it('skips an entry whose data reaches into the directory; it shadows nothing after it', async () => {
    const first = record(Buffer.from('aaaa'));
    const second = record(Buffer.from('bbbb'));
    const body = Buffer.concat([first, second]);
    const greedy = entry(0, 1000); // claims the second entry and the directory
    const after = entry(first.length, 4);
    const file = Buffer.concat([body, filler(100)]);
    const layout = await withFile(file, (handle) =>
      planZipLayout(handle, file.length, [greedy, after], { start: body.length, end: file.length }),
    );
    expect([...layout.skipped]).toEqual([greedy]);
    expect(layout.gaps).toEqual([{ start: 0, end: first.length }]);
    expect(layout.local.get(after)?.limit).toBe(body.length);
  });

  it('reads an entry whose local header lies after the directory, and sweeps only up to the directory', async () => {
    const first = record(Buffer.from('first'));
    const late = record(Buffer.from('late'));
    const directory = { start: first.length + 20, end: first.length + 60 };
    // The late entry starts exactly where the directory ends: touching is not overlapping.
    const file = Buffer.concat([first, filler(60), late]);
    const entries = [entry(0, 5), entry(directory.end, 4)];
    const layout = await withFile(file, (handle) =>
      planZipLayout(handle, file.length, entries, directory),
    );
    expect(layout.skipped.size).toBe(0);
    expect(layout.gaps).toEqual([{ start: first.length, end: directory.start }]);
    expect(layout.local.get(entries[1]!)?.header.offset).toBe(directory.end);
  });

  it('gives no local view to an entry pointing outside the file or at no local header', async () => {
    const member = record(Buffer.from('data'));
    const file = Buffer.concat([member, filler(40)]);
    const entries = [
      entry(-1, 4), // read at "the current position" if passed on: the header at 0
      entry(2 ** 60, 4),
      entry(Number.MAX_SAFE_INTEGER, 4),
      entry(file.length - 29, 4),
      entry(member.length, 4), // filler, no signature
    ];
    const layout = await withFile(file, (handle) =>
      planZipLayout(handle, file.length, entries, { start: file.length, end: file.length }),
    );
    expect(layout.local.size).toBe(0);
    expect(layout.skipped.size).toBe(0);
    expect(layout.gaps).toEqual([{ start: 0, end: file.length }]);
  });

  it('reads a bare local header that ends the file', async () => {
    const bare = header({ nameLength: 0, name: '' });
    const listed = entry(0, 0);
    const layout = await withFile(bare, (handle) =>
      planZipLayout(handle, bare.length, [listed], { start: 30, end: 30 }),
    );
    expect(layout.local.get(listed)?.header).toMatchObject({ offset: 0, dataStart: 30 });
  });
});

describe('readLocalHeader', () => {
  it('reads the fields, the name and where the data starts (past the extra field)', async () => {
    const extra = Buffer.from([0x55, 0x54, 0x05, 0x00, 1, 2, 3, 4, 5]);
    const bytes = Buffer.concat([
      filler(10),
      header({
        flags: 0x0800,
        method: 8,
        crc: 0xdeadbeef,
        compressedSize: 77,
        uncompressedSize: 99,
        name: 'dir/file.txt',
        extra,
      }),
    ]);
    const read = await withFile(bytes, (handle) => readLocalHeader(handle, 10, bytes.length));
    expect(read).toEqual({
      offset: 10,
      flags: 0x0800,
      method: 8,
      crc32: 0xdeadbeef,
      compressedSize: 77,
      uncompressedSize: 99,
      nameRaw: Buffer.from('dir/file.txt'),
      dataStart: 10 + 30 + 12 + extra.length,
    });
  });

  it('leaves the sizes to the data descriptor when flag 0x08 is set', async () => {
    const bytes = header({ flags: 0x08, compressedSize: 5, uncompressedSize: 5 });
    const read = await withFile(bytes, (handle) => readLocalHeader(handle, 0, bytes.length));
    expect(read).toMatchObject({ compressedSize: undefined, uncompressedSize: undefined });
  });

  it('takes sizes of 0xFFFFFFFF from the zip64 extra field, after any other field', async () => {
    const other = Buffer.from([0x55, 0x54, 0x01, 0x00, 7]);
    for (const [compressedSize, uncompressedSize] of [
      [0xffffffff, 0xffffffff],
      [0xffffffff, 10],
      [10, 0xffffffff],
    ] as const) {
      const bytes = header({
        compressedSize,
        uncompressedSize,
        extra: Buffer.concat([other, zip64Extra(5_000_000_000n, 4_000_000_000n)]),
      });
      const read = await withFile(bytes, (handle) => readLocalHeader(handle, 0, bytes.length));
      expect(read).toMatchObject({
        compressedSize: 4_000_000_000,
        uncompressedSize: 5_000_000_000,
      });
    }
  });

  it('takes sizes below 0xFFFFFFFF as the header gives them, whatever the zip64 field says', async () => {
    const bytes = header({
      compressedSize: 7,
      uncompressedSize: 9,
      extra: zip64Extra(5_000_000_000n, 4_000_000_000n),
    });
    const read = await withFile(bytes, (handle) => readLocalHeader(handle, 0, bytes.length));
    expect(read).toMatchObject({ compressedSize: 7, uncompressedSize: 9 });
  });

  it('keeps 0xFFFFFFFF where no whole zip64 field gives the sizes', async () => {
    const short = Buffer.alloc(12);
    short.writeUInt16LE(0x0001, 0);
    short.writeUInt16LE(8, 2);
    const cut = zip64Extra(1n, 2n).subarray(0, 19);
    const otherOnly = Buffer.from([0x55, 0x54, 0x10, 0x00, ...filler(16)]);
    // A zip64 field declaring 8 bytes, whatever follows it, gives no sizes.
    const declaredShort = Buffer.concat([short.subarray(0, 4), filler(8), zip64Extra(1n, 2n)]);
    declaredShort.writeUInt16LE(0x5455, 12);
    for (const extra of [short, cut, otherOnly, Buffer.from([1, 0, 16]), declaredShort]) {
      const bytes = header({ compressedSize: 0xffffffff, uncompressedSize: 0xffffffff, extra });
      const read = await withFile(bytes, (handle) => readLocalHeader(handle, 0, bytes.length));
      expect(read).toMatchObject({ compressedSize: 0xffffffff, uncompressedSize: 0xffffffff });
    }
  });

  it('reads no header where there is none: other bytes, cut short, a name running past the end', async () => {
    const whole = header({ name: 'name.txt' });
    const cases: Array<[Buffer, number]> = [
      [Buffer.concat([filler(40), whole]), 0],
      [Buffer.concat([Buffer.alloc(40), whole]), 0],
      [whole.subarray(0, 29), 0],
      [whole.subarray(0, whole.length - 1), 0],
    ];
    for (const [bytes, offset] of cases) {
      const read = await withFile(bytes, (handle) => readLocalHeader(handle, offset, bytes.length));
      expect(read).toBeUndefined();
    }
  });

  it('reads a header whose name ends the file', async () => {
    const bytes = header({ name: 'last.txt' });
    const read = await withFile(bytes, (handle) => readLocalHeader(handle, 0, bytes.length));
    expect(read?.nameRaw.toString()).toBe('last.txt');
  });
});

describe('plausibleHeaderStart', () => {
  const at = (fields: HeaderFields) => plausibleHeaderStart(header(fields), 0);

  it('accepts what archivers write, up to version 6.3 and every defined method', () => {
    expect(at({ version: 63 })).toBe(true);
    expect(at({ method: 99, flags: 0x0809 })).toBe(true);
    expect(at({ method: 93 })).toBe(true);
  });

  it('passes over versions above 6.3, reserved flags, unknown methods and empty names', () => {
    expect(at({ version: 64 })).toBe(false);
    for (const flags of [0x0080, 0x0100, 0x0200, 0x0400, 0x4000, 0x8000]) {
      expect(at({ flags })).toBe(false);
    }
    expect(at({ method: 11 })).toBe(false);
    expect(at({ nameLength: 0, name: '' })).toBe(false);
  });

  it('checks the fields at the given offset, and leaves a header the bytes cut for later', () => {
    const bytes = Buffer.concat([filler(5), header({ version: 64 })]);
    expect(plausibleHeaderStart(bytes, 5)).toBe(false);
    expect(plausibleHeaderStart(bytes.subarray(0, 34), 5)).toBe(true);
    expect(plausibleHeaderStart(header({ version: 64 }).subarray(0, 30), 0)).toBe(false);
    expect(plausibleHeaderStart(Buffer.alloc(10), 0)).toBe(true);
  });
});

describe('LocalHeaderSweep', () => {
  it('finds the first believable local header, passing over a stub’s constant signature', async () => {
    const stubConstant = Buffer.from('PK\x03\x04\xff\xff\xff\xff', 'latin1');
    const real = record(Buffer.from('payload'), { name: 'found.txt' });
    const bytes = Buffer.concat([filler(100), stubConstant, filler(100), real]);
    const found = await withFile(bytes, (handle) =>
      new LocalHeaderSweep(handle).findLocalHeader(0, bytes.length),
    );
    expect(found).toMatchObject({ offset: 208, dataStart: 208 + 30 + 9, compressedSize: 7 });
    expect(found?.nameRaw.toString()).toBe('found.txt');
  });

  it('passes over a header whose name or extra field runs past the stretch, for one after it', async () => {
    const runsPast = header({ nameLength: 500 });
    const real = header({ name: 'b' });
    const bytes = Buffer.concat([runsPast.subarray(0, 30), filler(20), real, filler(100)]);
    const found = await withFile(bytes, (handle) =>
      new LocalHeaderSweep(handle).findLocalHeader(0, 300),
    );
    expect(found?.offset).toBe(50);
  });

  it('finds a header whose data starts exactly at the end of the stretch, and none cut by it', async () => {
    const bytes = Buffer.concat([
      filler(3),
      header({ name: 'ab', extra: Buffer.alloc(4) }),
      filler(10),
    ]);
    const dataStart = 3 + 30 + 2 + 4;
    await withFile(bytes, async (handle) => {
      expect(await new LocalHeaderSweep(handle).findLocalHeader(0, dataStart)).toMatchObject({
        offset: 3,
        dataStart,
        nameRaw: Buffer.from('ab'),
      });
      expect(await new LocalHeaderSweep(handle).findLocalHeader(0, dataStart - 1)).toBeUndefined();
      expect(await new LocalHeaderSweep(handle).findLocalHeader(4, bytes.length)).toBeUndefined();
    });
  });

  it('reads a header’s fields again where the window cut them when it was found', async () => {
    // The implausible header starts 10 bytes before the end of the first 1 MiB window, so the
    // signature search could not check its fields; the real one follows.
    const from = 5;
    const fake = header({ version: 99 });
    const real = header({ name: 'real.txt' });
    const bytes = Buffer.concat([
      filler(from + 1024 * 1024 - 10),
      fake,
      filler(40),
      real,
      filler(100),
    ]);
    const found = await withFile(bytes, (handle) =>
      new LocalHeaderSweep(handle).findLocalHeader(from, bytes.length),
    );
    expect(found?.offset).toBe(from + 1024 * 1024 - 10 + fake.length + 40);
  });

  it('finds a signature anywhere in a stretch longer than its 1 MiB window, across the window’s end', async () => {
    for (const offset of [1024 * 1024 - 2, 1024 * 1024 + 200, 3 * 1024 * 1024 + 5]) {
      const from = 7;
      const bytes = Buffer.concat([filler(from + offset), descriptor(0xabcdef01), filler(70_000)]);
      const end = await withFile(bytes, (handle) =>
        new LocalHeaderSweep(handle).storedEnd(from, bytes.length),
      );
      expect(end).toEqual({ end: from + offset, descriptor: true });
      const header = await withFile(
        Buffer.concat([filler(from + offset), record(Buffer.from('x')), filler(70_000)]),
        (handle) => new LocalHeaderSweep(handle).findLocalHeader(from, bytes.length),
      );
      expect(header?.offset).toBe(from + offset);
    }
  });

  it('sweeps a stretch far larger than memory one window at a time', async () => {
    const path = join(dir, 'sparse');
    writeFileSync(path, Buffer.concat([filler(100), record(Buffer.from('early'))]));
    await truncate(path, 5 * 1024 ** 3);
    const handle = await open(path, 'r');
    try {
      const sweep = new LocalHeaderSweep(handle);
      expect((await sweep.findLocalHeader(0, 5 * 1024 ** 3))?.offset).toBe(100);
    } finally {
      await handle.close();
    }
  });

  it('finds where stored data of unknown size ends: its descriptor, the next header, or the stretch’s end', async () => {
    const data = filler(300, 0x41);
    const withDescriptor = Buffer.concat([data, descriptor(1), header()]);
    const withHeader = Buffer.concat([data, header()]);
    await withFile(withDescriptor, async (handle) => {
      expect(await new LocalHeaderSweep(handle).storedEnd(0, withDescriptor.length)).toEqual({
        end: 300,
        descriptor: true,
      });
      // A signature ending exactly at the end of the stretch counts; one past it does not.
      expect(await new LocalHeaderSweep(handle).storedEnd(0, 304)).toEqual({
        end: 300,
        descriptor: true,
      });
      expect(await new LocalHeaderSweep(handle).storedEnd(300, 304)).toEqual({
        end: 300,
        descriptor: true,
      });
      expect(await new LocalHeaderSweep(handle).storedEnd(10, 303)).toEqual({
        end: 303,
        descriptor: false,
      });
    });
    await withFile(withHeader, async (handle) => {
      expect(await new LocalHeaderSweep(handle).storedEnd(0, withHeader.length)).toEqual({
        end: 300,
        descriptor: false,
      });
    });
  });

  it('reads a stretch ending in the first half of a signature without a match', async () => {
    const bytes = Buffer.concat([filler(50), Buffer.from('PK\x03\x04', 'latin1'), header()]);
    await withFile(bytes, async (handle) => {
      for (const to of [51, 52, 53]) {
        expect(await new LocalHeaderSweep(handle).storedEnd(40, to)).toEqual({
          end: to,
          descriptor: false,
        });
        expect(await new LocalHeaderSweep(handle).findLocalHeader(40, to)).toBeUndefined();
      }
    });
  });

  it('reads a data descriptor’s CRC-32, with or without its signature, and only inside the stretch', async () => {
    const bytes = Buffer.concat([
      filler(20),
      descriptor(0x11111111),
      descriptor(0x22222222, false),
      filler(4),
    ]);
    await withFile(bytes, async (handle) => {
      const sweep = () => new LocalHeaderSweep(handle);
      expect(await sweep().descriptorCrc(20, bytes.length)).toBe(0x11111111);
      expect(await sweep().descriptorCrc(20, 36)).toBe(0x11111111);
      expect(await sweep().descriptorCrc(36, 48)).toBe(0x22222222);
      expect(await sweep().descriptorCrc(36, bytes.length)).toBe(0x22222222);
      // Cut by the end of the stretch: no CRC, even where the file goes on.
      expect(await sweep().descriptorCrc(20, 34)).toBeUndefined();
      expect(await sweep().descriptorCrc(20, 35)).toBeUndefined();
      expect(await sweep().descriptorCrc(36, 47)).toBeUndefined();
      // A stretch said to go past the end of the file holds no more than the file.
      expect(await sweep().descriptorCrc(bytes.length - 12, bytes.length + 20)).toBeUndefined();
    });
  });

  it('reads earlier bytes again after a later read moved its window', async () => {
    const first = record(Buffer.from('one'), { name: 'first.txt' });
    const bytes = Buffer.concat([
      filler(64),
      first,
      descriptor(0x33333333),
      filler(200),
      record(Buffer.from('two'), { name: 'second.txt' }),
    ]);
    await withFile(bytes, async (handle) => {
      const sweep = new LocalHeaderSweep(handle);
      const later = await sweep.findLocalHeader(70, bytes.length);
      expect(later?.nameRaw.toString()).toBe('second.txt');
      expect(await sweep.descriptorCrc(64 + first.length, bytes.length)).toBe(0x33333333);
      const earlier = await sweep.findLocalHeader(0, bytes.length);
      expect(earlier?.nameRaw.toString()).toBe('first.txt');
      expect(await sweep.storedEnd(64 + 30, bytes.length)).toEqual({
        end: 64 + first.length,
        descriptor: true,
      });
    });
  });
});

describe('LocalHeaderSweep stretches and windows', () => {
  it('ends a stretch said to run past the end of the file with the file', async () => {
    const cutName = header({ name: 'a-long-name.txt' }).subarray(0, 35);
    for (const tail of [cutName, cutName.subarray(0, 20), Buffer.from('PK\x03')]) {
      const bytes = Buffer.concat([filler(100), tail]);
      await withFile(bytes, async (handle) => {
        const sweep = new LocalHeaderSweep(handle);
        expect(await sweep.findLocalHeader(0, bytes.length + 1000)).toBeUndefined();
        expect(await new LocalHeaderSweep(handle).storedEnd(98, bytes.length + 1000)).toEqual(
          tail.length >= 4
            ? { end: 100, descriptor: false }
            : { end: bytes.length + 1000, descriptor: false },
        );
      });
    }
  });

  it('searches no further than its own stretch when the window holds more', async () => {
    const bytes = Buffer.concat([filler(300, 0x41), descriptor(1), filler(100)]);
    await withFile(bytes, async (handle) => {
      const sweep = new LocalHeaderSweep(handle);
      // A first search over the whole file fills the window with all of it.
      expect(await sweep.storedEnd(0, bytes.length)).toEqual({ end: 300, descriptor: true });
      expect(await sweep.storedEnd(10, 303)).toEqual({ end: 303, descriptor: false });
      expect(await sweep.storedEnd(250, 303)).toEqual({ end: 303, descriptor: false });
    });
  });

  it('reads bytes at their place in the file wherever the window starts', async () => {
    const bytes = Buffer.concat([
      filler(200),
      descriptor(0x44444444),
      filler(84),
      descriptor(0x55555555),
      filler(200),
    ]);
    await withFile(bytes, async (handle) => {
      const sweep = new LocalHeaderSweep(handle);
      expect(await sweep.storedEnd(100, bytes.length)).toEqual({ end: 200, descriptor: true });
      expect(await sweep.descriptorCrc(200, bytes.length)).toBe(0x44444444);
      expect(await sweep.descriptorCrc(300, bytes.length)).toBe(0x55555555);
    });
  });

  it('reads a stretch full of false signatures once, and no further than the stretch', async () => {
    // Believable at first sight, each header's name and extra field run past the stretch (over
    // 64 KiB, more than one signature search looks at): thousands of
    // candidates, every one read from the window already in memory.
    const candidate = Buffer.from(header({ nameLength: 0xffff }).subarray(0, 30));
    candidate.writeUInt16LE(0xffff, 28); // extra field length: 128 KiB of name and extra
    const stretch = Buffer.concat(Array.from({ length: 4000 }, () => candidate));
    const bytes = Buffer.concat([filler(100), stretch, filler(5000)]);
    const from = 100;
    const to = 100 + stretch.length;
    const reads: number[] = [];
    await withFile(bytes, async (handle) => {
      const counting = {
        read: (buffer: Buffer, offset: number, length: number, position: number) => {
          reads.push(length);
          return handle.read(buffer, offset, length, position);
        },
      } as unknown as FileHandle;
      expect(await new LocalHeaderSweep(counting).findLocalHeader(from, to)).toBeUndefined();
    });
    expect(reads).toEqual([to - from]);
  });
});

describe('readRange', () => {
  it('hands out the range in chunks of the given size', async () => {
    const bytes = Buffer.from('0123456789abcdefghij');
    const chunks = await withFile(bytes, async (handle) => {
      const out: string[] = [];
      for await (const chunk of readRange(handle, 3, 15, 5)) out.push(chunk.toString());
      return out;
    });
    expect(chunks).toEqual(['34567', '89abc', 'de']);
  });

  it('fails when the file ends before the range, after handing out what is there', async () => {
    const bytes = Buffer.from('0123456789');
    const seen: Buffer[] = [];
    const error = await withFile(bytes, async (handle) => {
      try {
        for await (const chunk of readRange(handle, 4, 30, 8)) seen.push(chunk);
      } catch (err) {
        return err;
      }
      return undefined;
    });
    expect(Buffer.concat(seen).toString()).toBe('456789');
    expect(seen.map((chunk) => chunk.length)).toEqual([6]);
    expect(error).toEqual(new Error('unexpected end of the zip file'));
  });
});

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type yauzl from 'yauzl';
import { openZip, type OpenedZip } from '../../scanning/archives/zip-reader.js';
import { craftedZip, localRecord, rawEntry, rawZip, zip } from '../support/archives.js';
import { randomContent } from '../support/content.js';

/**
 * Where a zip lies in a file and how yauzl reads it (zip-reader.ts): the end record found as
 * `unzip` finds it (behind a prefix, before trailing data, the last of two archives), and every
 * read kept inside the archive's window, so a damaged zip fails instead of hanging the walk.
 */

const dir = mkdtempSync(join(tmpdir(), 'arbiter-zip-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const MiB = 1024 * 1024;

function write(bytes: Buffer): string {
  const path = join(dir, `z${(files += 1)}`);
  writeFileSync(path, bytes);
  return path;
}

interface Listed {
  base: number;
  end: number;
  /** Each entry's name and stored bytes, as read through the opened zip. */
  entries: Array<[string, string]>;
}

async function list(opened: OpenedZip): Promise<Listed> {
  const entries: Array<[string, string]> = [];
  try {
    for await (const entry of opened.zip.eachEntry()) {
      const stream = await opened.zip.openReadStreamPromise(entry, { decodeFileData: false });
      entries.push([Buffer.from(entry.fileNameRaw).toString(), (await drain(stream)).toString()]);
    }
  } finally {
    opened.zip.close();
  }
  return { base: opened.base, end: opened.end, entries };
}

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

const stored = (name: string, text: string) => rawEntry(name, Buffer.from(text), 0);
const archive = (...entries: Array<[string, string]>) =>
  rawZip(entries.map(([name, text]) => stored(name, text)));

/** An end record with a comment of `length` bytes declared (and `actual` written). */
function withComment(bytes: Buffer, length: number, actual = length): Buffer {
  const copy = Buffer.concat([bytes, Buffer.alloc(actual, 0x63)]);
  copy.writeUInt16LE(length, bytes.length - 2);
  return copy;
}

describe('openZip', () => {
  it('opens an ordinary zip from byte 0 to its end', async () => {
    const bytes = archive(['a.txt', 'alpha'], ['b.txt', 'beta']);
    expect(await list(await openZip(write(bytes)))).toEqual({
      base: 0,
      end: bytes.length,
      entries: [
        ['a.txt', 'alpha'],
        ['b.txt', 'beta'],
      ],
    });
  });

  it('reads an empty zip, and one with a comment, to the end of the comment', async () => {
    const empty = craftedZip(Buffer.alloc(0), []);
    expect(await list(await openZip(write(empty)))).toEqual({ base: 0, end: 22, entries: [] });
    const commented = withComment(archive(['a.txt', 'x']), 10);
    const opened = await list(await openZip(write(commented)));
    expect(opened).toMatchObject({ base: 0, end: commented.length });
    const trailing = Buffer.concat([commented, Buffer.from('junk after the comment')]);
    expect(await list(await openZip(write(trailing)))).toMatchObject({
      base: 0,
      end: commented.length,
      entries: [['a.txt', 'x']],
    });
  });

  // 2 MiB - 25 bytes of it put the end record at the first byte of the second chunk read.
  it('sees past data appended after the end record, even past 1 MiB of it', async () => {
    const bytes = archive(['a.txt', 'alpha']);
    for (const junk of [100, MiB - 10, MiB + 5, 2 * MiB - 25, 3 * MiB]) {
      const file = Buffer.concat([bytes, randomContent(junk).fill(0x20, 0, 4)]);
      expect(await list(await openZip(write(file)))).toEqual({
        base: 0,
        end: bytes.length,
        entries: [['a.txt', 'alpha']],
      });
    }
  });

  it('finds the end record where the 1 MiB chunks it is read in cut it', async () => {
    const bytes = archive(['a.txt', 'alpha']);
    for (const cut of [1, 2, 3, 10, 21]) {
      // The record's first `cut` bytes lie in the earlier chunk.
      const junk = MiB - 22 + cut;
      const file = Buffer.concat([bytes, Buffer.alloc(junk, 0x20)]);
      expect(await list(await openZip(write(file)))).toMatchObject({ base: 0, end: bytes.length });
    }
  });

  it('counts offsets past a prefix: a stub, text, another archive', async () => {
    const bytes = archive(['a.txt', 'alpha'], ['b.txt', 'beta']);
    for (const prefix of [
      Buffer.from('MZ stub of a self-extractor'),
      Buffer.from('Here is your file:\r\n'),
      archive(['first.txt', 'the first archive']),
    ]) {
      expect(await list(await openZip(write(Buffer.concat([prefix, bytes]))))).toEqual({
        base: prefix.length,
        end: prefix.length + bytes.length,
        entries: [
          ['a.txt', 'alpha'],
          ['b.txt', 'beta'],
        ],
      });
    }
  });

  it('passes over end records that do not hold together for an earlier one that does', async () => {
    const bytes = archive(['a.txt', 'alpha']);
    const fake = (edit: (record: Buffer) => void) => {
      const record = bytes.subarray(-22);
      const copy = Buffer.from(record);
      edit(copy);
      return copy;
    };
    for (const junk of [
      // A directory larger than what lies in front of it.
      fake((record) => record.writeUInt32LE(bytes.length + 100, 12)),
      // A directory whose offset lies past its start.
      fake((record) => record.writeUInt32LE(1000, 16)),
      // No central header where its directory starts.
      fake((record) => record.writeUInt32LE(0, 12)),
      // A comment running past the end of the file.
      fake((record) => record.writeUInt16LE(500, 20)),
      // Cut short.
      bytes.subarray(-22, -5),
    ]) {
      const file = Buffer.concat([bytes, Buffer.from('xx'), junk]);
      expect(await list(await openZip(write(file)))).toEqual({
        base: 0,
        end: bytes.length,
        entries: [['a.txt', 'alpha']],
      });
    }
  });

  it('reads an empty archive’s record without looking for a central header', async () => {
    const empty = craftedZip(Buffer.alloc(0), []);
    const file = Buffer.concat([Buffer.from('prefix bytes'), empty]);
    expect(await list(await openZip(write(file)))).toEqual({
      base: 12,
      end: file.length,
      entries: [],
    });
  });

  it('opens zip64 archives, at 0 or behind a prefix', async () => {
    const bytes = await zip([{ name: 'z.txt', data: Buffer.from('zip64 data'), compress: false }], {
      forceZip64: true,
    });
    expect(await list(await openZip(write(bytes)))).toEqual({
      base: 0,
      end: bytes.length,
      entries: [['z.txt', 'zip64 data']],
    });
    const prefix = Buffer.from('a prefix of some length');
    const behind = Buffer.concat([prefix, bytes]);
    expect(await list(await openZip(write(behind)))).toEqual({
      base: prefix.length,
      end: behind.length,
      entries: [['z.txt', 'zip64 data']],
    });
  });

  it('takes a zip64 end record only with its locator and zip64 record', async () => {
    const bytes = await zip([{ name: 'z.txt', data: Buffer.from('zip64 data'), compress: false }], {
      forceZip64: true,
    });
    const prefix = Buffer.from('a prefix of some length');
    const locatorAt = bytes.length - 22 - 20;
    // Without its locator the archive is not located: yauzl reads it from byte 0.
    const noLocator = Buffer.from(bytes);
    noLocator.writeUInt32LE(0, locatorAt);
    const behind = Buffer.concat([prefix, noLocator]);
    const opened = await openZip(write(behind));
    expect({ base: opened.base, end: opened.end }).toEqual({ base: 0, end: behind.length });
    opened.zip.close();
    // Without the zip64 record, or with a locator pointing past 2^53: refused, not hung.
    const noRecord = Buffer.from(bytes);
    noRecord.writeUInt32LE(0, Number(noRecord.readBigUInt64LE(locatorAt + 8)));
    const unsafe = Buffer.from(bytes);
    unsafe.writeBigUInt64LE(2n ** 60n, locatorAt + 8);
    for (const start of [Buffer.alloc(0), prefix]) {
      await expect(openZip(write(Buffer.concat([start, noRecord])))).rejects.toThrow(
        'invalid zip64 end of central directory record signature',
      );
      await expect(openZip(write(Buffer.concat([start, unsafe])))).rejects.toThrow(
        /^zip points outside the file \(1152921504606847000-1152921504606847000 of \d+ bytes\)$/,
      );
    }
  });

  it('refuses a file with no end record', async () => {
    await expect(openZip(write(Buffer.from('no zip here at all')))).rejects.toThrow();
    await expect(openZip(write(Buffer.alloc(0)))).rejects.toThrow();
    await expect(openZip(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });

  it('fails a read outside the archive instead of handing it to the file system', async () => {
    const entry = stored('a.txt', 'alpha');
    // The directory says the local header is far past the end of the file.
    const far = craftedZip(localRecord(entry), [{ ...entry, offset: 2 ** 31 }]);
    const opened = await openZip(write(far));
    const [listed] = await collectEntries(opened);
    await expect(
      opened.zip.openReadStreamPromise(listed!, { decodeFileData: false }),
    ).rejects.toThrow(/zip points outside the file/);
    opened.zip.close();
  });

  it('lists every entry, names undecoded, even after a stored entry whose two sizes differ', async () => {
    const liar = stored('liar.txt', 'five!');
    const next = stored('next.txt', 'next');
    const body = Buffer.concat([localRecord(liar), localRecord(next)]);
    const bytes = craftedZip(body, [
      { ...liar, size: 999, offset: 0 },
      { ...next, offset: localRecord(liar).length },
    ]);
    const opened = await openZip(write(bytes));
    const entries = await collectEntries(opened);
    expect(entries.map((entry) => Buffer.isBuffer(entry.fileName))).toEqual([true, true]);
    expect(entries.map((entry) => entry.fileName.toString())).toEqual(['liar.txt', 'next.txt']);
    opened.zip.close();
  });

  it('keeps the file open once every entry is listed: the walker reads them after', async () => {
    const opened = await openZip(write(archive(['a.txt', 'alpha'], ['b.txt', 'beta'])));
    const entries = await collectEntries(opened);
    const first = await drain(
      await opened.zip.openReadStreamPromise(entries[0]!, { decodeFileData: false }),
    );
    expect(first.toString()).toBe('alpha');
    opened.zip.close();
  });

  it('takes zeros after the archive for trailing data, not for an empty archive', async () => {
    const bytes = archive(['a.txt', 'alpha']);
    const file = Buffer.concat([bytes, Buffer.alloc(200)]);
    expect(await list(await openZip(write(file)))).toMatchObject({ base: 0, end: bytes.length });
  });

  it('refuses a file whose only end record, at byte 0, does not hold together', async () => {
    const broken = Buffer.concat([Buffer.from('PK\x05\x06', 'latin1'), Buffer.alloc(18, 0x20)]);
    await expect(openZip(write(broken))).rejects.toThrow();
  });

  it('takes no empty archive whose directory would start before the file', async () => {
    const bytes = archive(['a.txt', 'alpha']);
    const empty = craftedZip(Buffer.alloc(0), []);
    for (const [size, offset] of [
      [1000, 0],
      [0, 1000],
    ] as const) {
      const fake = Buffer.from(empty);
      fake.writeUInt32LE(size, 12);
      fake.writeUInt32LE(offset, 16);
      const file = Buffer.concat([bytes, fake]);
      expect(await list(await openZip(write(file)))).toMatchObject({ base: 0, end: bytes.length });
    }
  });

  it('opens a zip64 archive whose end record marks any one field as zip64, behind a prefix', async () => {
    const bytes = await zip([{ name: 'z.txt', data: Buffer.from('zip64 data'), compress: false }], {
      forceZip64: true,
    });
    const prefix = Buffer.from('prefix');
    const record = bytes.length - 22;
    const directorySize = Number(bytes.readBigUInt64LE(record - 20 - 56 + 40));
    const directoryOffset = Number(bytes.readBigUInt64LE(record - 20 - 56 + 48));
    for (const keep of ['entries', 'size', 'offset']) {
      const variant = Buffer.from(bytes);
      if (keep !== 'entries') {
        variant.writeUInt16LE(1, record + 8);
        variant.writeUInt16LE(1, record + 10);
      }
      if (keep !== 'size') variant.writeUInt32LE(directorySize, record + 12);
      if (keep !== 'offset') variant.writeUInt32LE(directoryOffset, record + 16);
      const opened = await openZip(write(Buffer.concat([prefix, variant])));
      expect({ base: opened.base, end: opened.end }).toEqual({
        base: prefix.length,
        end: prefix.length + bytes.length,
      });
      opened.zip.close();
    }
  });

  it('sees past data appended to a zip64 archive', async () => {
    const bytes = await zip([{ name: 'z.txt', data: Buffer.from('zip64 data'), compress: false }], {
      forceZip64: true,
    });
    const file = Buffer.concat([bytes, Buffer.from('appended data')]);
    expect(await list(await openZip(write(file)))).toEqual({
      base: 0,
      end: bytes.length,
      entries: [['z.txt', 'zip64 data']],
    });
  });

  it('refuses a zip64 locator pointing past the end of the file', async () => {
    const bytes = await zip([{ name: 'z.txt', data: Buffer.from('zip64 data'), compress: false }], {
      forceZip64: true,
    });
    const past = Buffer.from(bytes);
    past.writeBigUInt64LE(BigInt(bytes.length + 1000), bytes.length - 22 - 20 + 8);
    await expect(openZip(write(past))).rejects.toThrow(/^zip points outside the file/);
  });

  it('closes the file once, when the zip is closed', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const opened = await openZip(write(archive(['a.txt', 'alpha'])));
    expect(fds()).toBe(before + 1);
    await new Promise<void>((resolve) => {
      opened.zip.once('close', () => resolve());
      opened.zip.close();
    });
    expect(fds()).toBe(before);
  });

  it('reads an entry larger than one read, in order', async () => {
    const data = randomContent(300_000);
    const bytes = Buffer.concat([Buffer.from('prefix'), rawZip([rawEntry('big.bin', data, 0)])]);
    const opened = await openZip(write(bytes));
    const [entry] = await collectEntries(opened);
    const read = await drain(
      await opened.zip.openReadStreamPromise(entry!, { decodeFileData: false }),
    );
    expect(read.equals(data)).toBe(true);
    opened.zip.close();
    opened.zip.close();
  });
});

async function collectEntries(opened: OpenedZip): Promise<yauzl.Entry[]> {
  const entries: yauzl.Entry[] = [];
  for await (const entry of opened.zip.eachEntry()) entries.push(entry);
  return entries;
}

import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  gunzipMember,
  GzipError,
  GzipMembers,
  parseGzipHeader,
} from '../../scanning/archives/gzip-members.js';
import { compressWith } from '../support/archives.js';
import { randomContent } from '../support/content.js';

/**
 * A gzip file read member by member as `zcat` reads it (gzip-members.ts), on its own: what each
 * member decodes to, where each starts, what counts as trailing bytes, and which damage fails.
 * test/scanning/compressed-streams.test.ts shows what the walker makes of the same files.
 */

interface Flags {
  text?: boolean;
  hcrc?: boolean;
  extra?: Buffer;
  name?: string;
  comment?: string;
}

function memberHeader(flags: Flags = {}): Buffer {
  const flg =
    (flags.text ? 0x01 : 0) |
    (flags.hcrc ? 0x02 : 0) |
    (flags.extra ? 0x04 : 0) |
    (flags.name !== undefined ? 0x08 : 0) |
    (flags.comment !== undefined ? 0x10 : 0);
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, flg, 0, 0, 0, 0, 0, 3])];
  if (flags.extra) {
    const xlen = Buffer.alloc(2);
    xlen.writeUInt16LE(flags.extra.length);
    parts.push(xlen, flags.extra);
  }
  if (flags.name !== undefined) parts.push(Buffer.from(`${flags.name}\0`, 'latin1'));
  if (flags.comment !== undefined) parts.push(Buffer.from(`${flags.comment}\0`, 'latin1'));
  if (flags.hcrc) {
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(zlib.crc32(Buffer.concat(parts)) & 0xffff);
    parts.push(crc);
  }
  return Buffer.concat(parts);
}

function member(data: Buffer, flags: Flags = {}): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data), 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  return Buffer.concat([memberHeader(flags), zlib.deflateRawSync(data), trailer]);
}

interface Read {
  members: Buffer[];
  trailing: Buffer;
  starts: number[];
  consumed: number;
  count: number;
  /** `memberConsumed` as each member started (its header) and at the end (the last member). */
  memberConsumed: number[];
}

/** Decodes `bytes` fed in chunks of `size`; throws what the decoder throws. */
async function read(bytes: Buffer, size = 1 << 20): Promise<Read> {
  const members: Buffer[][] = [];
  const trailing: Buffer[] = [];
  const memberConsumed: number[] = [];
  const decoder: GzipMembers = new GzipMembers({
    memberStart: (index) => {
      expect(index).toBe(members.length + 1);
      memberConsumed.push(decoder.memberConsumed);
      members.push([]);
      return Promise.resolve();
    },
    data: (chunk) => {
      members.at(-1)?.push(Buffer.from(chunk));
      return Promise.resolve();
    },
    trailing: (chunk) => {
      trailing.push(Buffer.from(chunk));
      return Promise.resolve();
    },
  });
  try {
    for (let at = 0; at < bytes.length; at += size)
      await decoder.write(bytes.subarray(at, at + size));
    await decoder.end();
  } finally {
    decoder.destroy();
  }
  memberConsumed.push(decoder.memberConsumed);
  return {
    members: members.map((parts) => Buffer.concat(parts)),
    trailing: Buffer.concat(trailing),
    starts: decoder.starts,
    consumed: decoder.consumed,
    count: decoder.count,
    memberConsumed,
  };
}

const SIZES = [1, 9, 4096, 1 << 20];

describe('GzipMembers', () => {
  it('decodes every member in turn, telling where each starts, however the bytes are cut', async () => {
    const texts = [Buffer.from('first member\n'), randomContent(20_000), Buffer.from('third')];
    const parts = [
      member(texts[0]!, { name: 'a.txt', hcrc: true }),
      member(texts[1]!, { extra: Buffer.from('Ab\x04\x00wxyz', 'latin1'), comment: 'c' }),
      member(texts[2]!, { text: true }),
    ];
    const bytes = Buffer.concat(parts);
    for (const size of SIZES) {
      const result = await read(bytes, size);
      expect(result.members).toEqual(texts);
      expect(result.count).toBe(3);
      expect(result.starts).toEqual([0, parts[0]!.length, parts[0]!.length + parts[1]!.length]);
      expect(result.consumed).toBe(bytes.length);
      expect(result.memberConsumed).toEqual([10 + 6 + 2, 10 + 10 + 2, 10, parts[2]!.length]);
      expect(result.trailing).toEqual(Buffer.alloc(0));
    }
  });

  it('reads what gzip and pigz write', async () => {
    const data = Buffer.from('line of text\n'.repeat(2000));
    const gz = compressWith('gzip', ['-c'], data);
    expect((await read(Buffer.concat([gz, gz]), 1000)).members).toEqual([data, data]);
  });

  it('skips zero padding after a member, and counts it', async () => {
    const one = member(Buffer.from('one'));
    const two = member(Buffer.from('two'));
    const bytes = Buffer.concat([one, Buffer.alloc(30), two, Buffer.alloc(512)]);
    for (const size of SIZES) {
      const result = await read(bytes, size);
      expect(result.members.map(String)).toEqual(['one', 'two']);
      expect(result.starts).toEqual([0, one.length + 30]);
      expect(result.consumed).toBe(bytes.length);
      expect(result.trailing).toEqual(Buffer.alloc(0));
    }
  });

  it('hands bytes after the last member that start no member over as trailing, from the first non-zero byte', async () => {
    const one = member(Buffer.from('one'));
    for (const after of [
      Buffer.from('plain text after'),
      Buffer.from([0x1f, 0x8b, 9, 0, 0, 0, 0, 0, 0, 3, 1, 2]),
      Buffer.from([0x1f]),
      Buffer.from([0x1f, 0x8b, 8, 0]),
    ]) {
      for (const size of SIZES) {
        const result = await read(Buffer.concat([one, Buffer.alloc(3), after]), size);
        expect(result.members.map(String)).toEqual(['one']);
        expect(result.trailing).toEqual(after);
        expect(result.consumed).toBe(one.length + 3 + after.length);
      }
    }
  });

  it('takes a header longer than 1 MiB for trailing bytes, not for a member', async () => {
    const one = member(Buffer.from('one'));
    const endless = Buffer.concat([memberHeader({ name: 'x'.repeat(1100 * 1024) })]);
    const result = await read(Buffer.concat([one, endless.subarray(0, endless.length - 1)]), 4096);
    expect(result.count).toBe(1);
    expect(result.trailing.length).toBe(endless.length - 1);
  });

  it('refuses what does not start with a gzip header, or nothing at all', async () => {
    await expect(read(Buffer.from('not gzip'))).rejects.toEqual(new GzipError('not a gzip header'));
    await expect(read(Buffer.alloc(0))).rejects.toEqual(
      new GzipError('unexpected end of file in the header'),
    );
    await expect(read(memberHeader().subarray(0, 6))).rejects.toEqual(
      new GzipError('unexpected end of file in the header'),
    );
    const endless = memberHeader({ name: 'x'.repeat(1100 * 1024) });
    await expect(read(endless.subarray(0, endless.length - 1))).rejects.toEqual(
      new GzipError('not a gzip header'),
    );
  });

  it('fails a member cut short in its data or its trailer, after decoding what is there', async () => {
    const data = randomContent(50_000);
    const whole = member(data);
    await expect(read(whole.subarray(0, 5000))).rejects.toEqual(
      new GzipError('member 1: unexpected end of file'),
    );
    for (const cut of [1, 4, 7]) {
      await expect(read(whole.subarray(0, whole.length - cut), 1000)).rejects.toEqual(
        new GzipError('unexpected end of file in the trailer'),
      );
    }
  });

  it('fails a member whose CRC-32 or length does not match, naming it', async () => {
    const one = member(Buffer.from('one'));
    const badCrc = member(Buffer.from('two'));
    badCrc[badCrc.length - 8] = (badCrc[badCrc.length - 8] ?? 0) ^ 1;
    await expect(read(Buffer.concat([one, badCrc]))).rejects.toEqual(
      new GzipError('member 2: CRC-32 mismatch'),
    );
    const badLength = member(Buffer.from('two'));
    badLength[badLength.length - 1] = 1;
    await expect(read(badLength)).rejects.toEqual(new GzipError('member 1: length mismatch'));
  });

  it('fails damaged deflate data, naming the member', async () => {
    const bad = Buffer.concat([
      memberHeader(),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.alloc(8),
    ]);
    await expect(read(Buffer.concat([member(Buffer.from('ok')), bad]))).rejects.toThrow(
      /^member 2: /,
    );
    await expect(read(bad, 1)).rejects.toBeInstanceOf(GzipError);
  });
});

describe('gunzipMember', () => {
  it('decodes one member from its compressed bytes, in any cut', async () => {
    const data = Buffer.from('alone again\n'.repeat(2000));
    const bytes = member(data, { name: 'x' });
    for (const size of [1, 1023, 1024, 1025, 1 << 20]) {
      const parts: Buffer[] = [];
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
        bytes.subarray(i * size, (i + 1) * size),
      );
      for await (const chunk of gunzipMember(chunks)) parts.push(chunk);
      expect(Buffer.concat(parts)).toEqual(data);
    }
  });

  it('hands the output on slice by slice, before the rest is read', async () => {
    const data = randomContent(64 * 1024);
    const bytes = member(data);
    let fed = 0;
    function* input(): Generator<Buffer> {
      fed = bytes.length;
      yield bytes;
    }
    const iterator = gunzipMember(input());
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(fed).toBe(bytes.length);
    await iterator.return(undefined);
  });

  it('fails on a cut member', async () => {
    const bytes = member(Buffer.from('cut'));
    const drain = async () => {
      for await (const chunk of gunzipMember([bytes.subarray(0, bytes.length - 3)])) void chunk;
    };
    await expect(drain()).rejects.toBeInstanceOf(GzipError);
  });
});

describe('parseGzipHeader', () => {
  it('gives the header length with every flag', () => {
    const all = memberHeader({
      text: true,
      hcrc: true,
      extra: Buffer.from('abcd'),
      name: 'n',
      comment: 'cc',
    });
    expect(all.length).toBe(10 + 2 + 4 + 2 + 3 + 2);
    expect(parseGzipHeader(Buffer.concat([all, Buffer.from('rest')]))).toBe(all.length);
    expect(parseGzipHeader(memberHeader())).toBe(10);
    expect(parseGzipHeader(memberHeader({ comment: '' }))).toBe(11);
  });

  it('reads an empty extra field, and refuses reserved flags without a header CRC too', () => {
    expect(parseGzipHeader(memberHeader({ extra: Buffer.alloc(0) }))).toBe(12);
    for (const reserved of [0x20, 0x40, 0x80]) {
      const bad = memberHeader({ name: 'n' });
      bad[3] = (bad[3] ?? 0) | reserved;
      expect(parseGzipHeader(bad)).toBe('invalid');
    }
  });

  it('asks for more at every point inside a header', () => {
    for (const flags of [
      { hcrc: true, extra: Buffer.from('abcd'), name: 'n', comment: 'cc' },
      { extra: Buffer.alloc(300) },
      { name: 'name' },
    ]) {
      const header = memberHeader(flags);
      for (let cut = 0; cut < header.length; cut++) {
        expect(parseGzipHeader(header.subarray(0, cut))).toBe('more');
      }
    }
  });

  it('refuses other magic, methods, reserved flags and a wrong header CRC', () => {
    const header = memberHeader({ hcrc: true, name: 'n' });
    for (const [at, value] of [
      [0, 0x1e],
      [1, 0x8c],
      [2, 7],
      [3, 0x20 | header[3]!],
      [3, 0x80 | header[3]!],
      [header.length - 1, header[header.length - 1]! ^ 1],
    ] as const) {
      const bad = Buffer.from(header);
      bad[at] = value;
      expect(parseGzipHeader(bad)).toBe('invalid');
      if (at < 3) expect(parseGzipHeader(bad.subarray(0, at + 1))).toBe('invalid');
      if (at === 3) expect(parseGzipHeader(bad.subarray(0, at + 1))).toBe('more');
    }
  });
});

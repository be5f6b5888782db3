import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { ENCODED_TEXT_SNIFF_BYTES } from '../../scanning/archives/formats/encoded-text.js';
import { DEFAULT_LIMITS, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { binhexed, emlMessage, uuencoded, yencoded } from '../support/mail-formats.js';

// uuencode, yEnc and BinHex blocks in text: each block is a member, decoded, named by its
// begin line; damaged blocks are corrupt at the member, never silently short.

const ws = new Workspace();
const formats = createFormatSet().handlers;
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const walk = (content: Buffer, name: string, limits = DEFAULT_LIMITS) =>
  ws.walk(content, name, limits, formats);
const text = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));

/** The members below the top, with their bytes. */
const members = (visited: { path: string; depth: number; data?: Buffer }[]) =>
  visited.filter((v) => v.depth > 0).map((v) => [v.path, v.data]);

const binary = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + (i >> 7)) % 256));

describe('uuencode', () => {
  it('decodes a uuencoded file and its base64 form (uuencode -m)', async () => {
    for (const base64 of [false, true]) {
      const result = await walk(uuencoded('eicar.com', eicar(), { base64 }), 'file.uu');
      expect(result.unscannable).toEqual([]);
      expect(result.visited.map((v) => [v.path, v.container, v.data])).toEqual([
        ['file.uu', undefined, expect.any(Buffer)],
        ['file.uu/eicar.com', 'encoded-text', eicar()],
      ]);
    }
  });

  it('finds every block of a text once the first is near its start', async () => {
    const content = text(
      'Hello,\n\nhere are the files.\n\n',
      uuencoded('one.bin', binary),
      '\nand the other one, far further down:\n',
      'filler line\n'.repeat(20_000),
      yencoded('two.com', eicar()),
      'regards\n',
    );
    const result = await walk(content, 'letter.txt');
    expect(result.unscannable).toEqual([]);
    expect(members(result.visited)).toEqual([
      ['letter.txt/one.bin', binary],
      ['letter.txt/two.com', eicar()],
    ]);
  });

  it('decodes a block in a mail text part', async () => {
    const body = `Here it is:\n\n${uuencoded('eicar.com', eicar()).toString('latin1')}\nbye\n`;
    const result = await walk(emlMessage({ text: body }), 'uu.eml');
    expect(result.unscannable).toEqual([]);
    const found = result.visited.find((v) => v.data?.equals(eicar()));
    expect(found?.path).toBe('uu.eml/part-1.txt/eicar.com');
  });

  it('decodes blocks far into a mail text part (the part is cut before each of them)', async () => {
    const prose = 'Some words of the letter, and more of them.\n'.repeat(2000);
    const body = [
      prose,
      uuencoded('eicar.com', eicar()).toString('latin1'),
      prose,
      yencoded('data.bin', binary).toString('latin1'),
      'the end\n',
    ].join('');
    const message = emlMessage({
      attachments: [{ name: 'letter.txt', data: Buffer.from(body, 'latin1'), type: 'text/plain' }],
    });
    const result = await walk(message, 'long.eml');
    expect(result.unscannable).toEqual([]);
    const decoded = result.visited.filter((v) => v.container === 'encoded-text');
    const offset = prose.length;
    expect(decoded.map((v) => [v.path, v.data])).toEqual([
      [`long.eml/letter.txt (from byte ${offset})/eicar.com`, eicar()],
      [`long.eml/letter.txt (from byte ${body.indexOf('=ybegin')})/data.bin`, binary],
    ]);
    const pieces = result.visited.filter(
      (v) => v.depth === 1 && v.path.startsWith('long.eml/letter'),
    );
    // The pieces are the whole part, in order.
    expect(pieces.map((v) => v.path)).toEqual([
      'long.eml/letter.txt',
      `long.eml/letter.txt (from byte ${offset})`,
      `long.eml/letter.txt (from byte ${body.indexOf('=ybegin')})`,
    ]);
    expect(pieces.reduce((sum, v) => sum + v.length, 0)).toBe(body.length);
  });

  it(`decodes no block that starts after the first ${ENCODED_TEXT_SNIFF_BYTES} bytes of a text file (scanned as text)`, async () => {
    const content = text(
      'x'
        .repeat(79)
        .concat('\n')
        .repeat(ENCODED_TEXT_SNIFF_BYTES / 80 + 1),
      uuencoded('late.com', eicar()),
    );
    const result = await walk(content, 'late.txt');
    expect(result.visited.map((v) => v.path)).toEqual(['late.txt']);
    expect(result.unscannable).toEqual([]);
  });

  it('reports a block cut short as corrupt at its member, after scanning what it holds', async () => {
    const full = uuencoded('data.bin', binary);
    const cut = full.subarray(0, Math.floor(full.length / 2));
    const result = await walk(cut, 'cut.uu');
    expect(result.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['cut.uu', 'data.bin'],
        detail: 'encoded-text: uuencoded block without its end line',
      },
    ]);
    // Every whole line decoded (the line cut in the middle decodes to what it holds).
    const member = result.visited.find((v) => v.path === 'cut.uu/data.bin');
    const whole = Math.floor((member?.length ?? 0) / 45) * 45 - 45;
    expect(whole).toBeGreaterThan(1000);
    expect(member?.data?.subarray(0, whole)).toEqual(binary.subarray(0, whole));
  });

  it('leaves binary content with a stray block line alone', async () => {
    const block = uuencoded('eicar.com', eicar());
    const content = text(
      Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00]),
      '\n',
      block.subarray(0, 100),
    );
    const result = await walk(content, 'program.exe');
    expect(result.visited.map((v) => v.path)).toEqual(['program.exe']);
    expect(result.unscannable).toEqual([]);
  });

  it('leaves prose that merely begins like a block alone', async () => {
    for (const prose of [
      'begin 644 lines of verse\nand then the rest of the story\nend\n',
      'To begin 100 things at once\n',
      '=ybegin of something without a name\n',
      'He said (This file must be converted with BinHex 4.0) as a joke.\n',
    ]) {
      const result = await walk(Buffer.from(prose), 'prose.txt');
      expect(
        result.visited.map((v) => v.path),
        prose,
      ).toEqual(['prose.txt']);
      expect(result.unscannable, prose).toEqual([]);
    }
  });
});

describe('yEnc', () => {
  it('decodes a block, escapes included', async () => {
    const every = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    const result = await walk(yencoded('all-bytes.bin', every, { line: 61 }), 'file.yenc');
    expect(result.unscannable).toEqual([]);
    expect(members(result.visited)).toEqual([['file.yenc/all-bytes.bin', every]]);
  });

  it('reports a CRC or size mismatch as corrupt at the member', async () => {
    const badCrc = await walk(yencoded('a.bin', binary, { crc: 1 }), 'crc.yenc');
    expect(badCrc.unscannable).toMatchObject([
      {
        reason: 'corrupt',
        path: ['crc.yenc', 'a.bin'],
        detail: 'encoded-text: yEnc block CRC-32 mismatch',
      },
    ]);
    const badSize = await walk(yencoded('a.bin', binary, { size: 12 }), 'size.yenc');
    expect(badSize.unscannable).toMatchObject([
      { reason: 'corrupt', path: ['size.yenc', 'a.bin'] },
    ]);
  });
});

describe('BinHex 4.0', () => {
  it('hands over the data fork, and the resource fork when there is one', async () => {
    const resource = Buffer.from('resource fork bytes '.repeat(40));
    const runs = Buffer.concat([Buffer.alloc(600, 0x90), Buffer.alloc(700, 0), binary]);
    const result = await walk(binhexed('clam.exe', runs, { resource }), 'file.hqx');
    expect(result.unscannable).toEqual([]);
    expect(members(result.visited)).toEqual([
      ['file.hqx/clam.exe', runs],
      ['file.hqx/clam.exe.rsrc', resource],
    ]);
  });

  it('reports a bad data fork CRC at the member, a bad header at the file, a cut at the member', async () => {
    const data = await walk(binhexed('a.bin', binary, { damage: 'data' }), 'data.hqx');
    expect(data.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['data.hqx', 'a.bin'],
        detail: 'encoded-text: BinHex data fork CRC mismatch',
      },
    ]);
    const header = await walk(binhexed('a.bin', binary, { damage: 'header' }), 'header.hqx');
    expect(header.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['header.hqx'],
        detail: 'encoded-text: BinHex header CRC mismatch',
      },
    ]);
    const full = binhexed('a.bin', binary);
    const cut = await walk(full.subarray(0, full.length - 200), 'cut.hqx');
    expect(cut.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['cut.hqx', 'a.bin'],
        detail: 'encoded-text: BinHex data without its closing colon',
      },
    ]);
  });

  it('stops an RLE run bomb at the expansion-ratio limit', async () => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const bomb = binhexed('zeros.bin', zeros);
    expect(bomb.length).toBeLessThan(zeros.length / 50);
    const result = await walk(bomb, 'bomb.hqx', { ...DEFAULT_LIMITS, maxRatio: 20 });
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['bomb.hqx', 'zeros.bin'] },
    ]);
  });
});

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import {
  DEFAULT_LIMITS,
  sevenZipZip,
  undecodableZip,
  formatWorkspace,
  builtWith,
} from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';
import { ole2 } from '../support/ole2.js';
import { storedRar } from '../support/rar.js';
import { TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// Archive formats opened through 7-Zip (scanning/archives/formats/sevenzip*.ts), each built
// here with the Debian tool that writes it.

const { ws, formats } = formatWorkspace();

const TEXT = Buffer.from('plain text, nothing to see\n'.repeat(50));

const walk = (content: Buffer, name: string, limits = DEFAULT_LIMITS) =>
  ws.walk(content, name, limits, formats.handlers);

const summary = (visited: { path: string; container: string | undefined }[]) =>
  visited.map((v) => `${v.path}@${v.container ?? '-'}`);

const members = { 'docs/readme.txt': TEXT, 'eicar.com': eicar() };

describe('archive formats through 7-Zip', () => {
  const cases: Array<[string, string, string]> = [
    ['7z', '7z a -bd t.7z docs eicar.com', 't.7z'],
    ['7z', '7z a -bd -m0=PPMd t.7z docs eicar.com', 't.7z'],
    ['cpio', 'find docs eicar.com | cpio -o -H newc > t.cpio', 't.cpio'],
    ['cpio', 'find docs eicar.com | cpio -o -H odc > t.cpio', 't.cpio'],
    ['cpio', 'find docs eicar.com | cpio -o -H bin > t.cpio', 't.cpio'],
    [
      'iso',
      'mkdir root && cp -r docs eicar.com root && genisoimage -quiet -R -o t.iso root',
      't.iso',
    ],
    ['cab', 'gcab -c t.cab docs/readme.txt eicar.com', 't.cab'],
    ['arj', 'arj a t.arj docs/readme.txt eicar.com', 't.arj'],
    ['wim', '7z a -bd -twim t.wim docs eicar.com', 't.wim'],
  ];
  it.each(cases)('opens %s (%s)', async (format, command, out) => {
    const content = builtWith(members, command, out);
    const result = await walk(content, out);
    expect(result.unscannable).toEqual([]);
    const found = result.visited.filter((v) => v.depth === 1);
    const eicarMember = found.find((v) => v.path.endsWith('eicar.com'));
    expect(eicarMember?.data).toEqual(eicar());
    expect(eicarMember?.container).toBe(format);
    expect(found.find((v) => v.path.endsWith('readme.txt'))?.data).toEqual(TEXT);
  });

  it.each([
    ['bzip2', 'bzip2 -c eicar.com > e.com.bz2', 'e.com.bz2', 'e.com.bz2/e.com'],
    ['xz', 'xz -c eicar.com > e.com.xz', 'e.com.xz', 'e.com.xz/e.com'],
    ['lzma', 'xz --format=lzma -c eicar.com > e.lzma', 'e.lzma', 'e.lzma/e'],
    ['compress', 'compress -c eicar.com > e.com.Z', 'e.com.Z', 'e.com.Z/e.com'],
    ['szdd', 'mscompress eicar.com && mv eicar.com_ e.co_', 'e.co_', 'e.co_/e.co'],
  ])('decodes the %s stream', async (format, command, out, path) => {
    const result = await walk(builtWith(members, command, out), out);
    expect(result.unscannable).toEqual([]);
    expect(summary(result.visited)).toEqual([`${out}@file`, `${path}@${format}`]);
    expect(result.visited[1]?.data).toEqual(eicar());
  });

  it('opens a RAR (written by hand: no free tool writes RAR)', async () => {
    const archive = storedRar([
      { name: 'docs\\readme.txt', data: TEXT },
      { name: 'eicar.com', data: eicar() },
    ]);
    const result = await walk(archive, 't.rar');
    expect(result.unscannable).toEqual([]);
    expect(summary(result.visited).sort()).toEqual([
      't.rar/docs/readme.txt@rar',
      't.rar/eicar.com@rar',
      't.rar@file',
    ]);
  });

  it('opens an LZH archive (written by hand: Debian has no LHA writer)', async () => {
    const archive = Buffer.concat([
      lzhStored('docs\\readme.txt', TEXT),
      lzhStored('eicar.com', eicar()),
      Buffer.from([0]),
    ]);
    const result = await walk(archive, 't.lzh');
    expect(result.unscannable).toEqual([]);
    const eicarMember = result.visited.find((v) => v.path.endsWith('eicar.com'));
    expect(eicarMember).toMatchObject({ container: 'lzh', data: eicar() });
  });

  it('names a tar inside bzip2 or xz after the container and opens it', async () => {
    const result = await walk(
      builtWith(members, 'tar -cjf t.tbz2 docs eicar.com', 't.tbz2'),
      't.tbz2',
    );
    expect(result.unscannable).toEqual([]);
    expect(summary(result.visited)).toContain('t.tbz2/t.tar/eicar.com@tar');
  });

  it('opens a 7z inside a zip inside a 7z', async () => {
    const inner = builtWith(members, '7z a -bd inner.7z eicar.com', 'inner.7z');
    const middle = builtWith({ 'inner.7z': inner }, 'zip -q middle.zip inner.7z', 'middle.zip');
    const outer = builtWith({ 'middle.zip': middle }, '7z a -bd outer.7z middle.zip', 'outer.7z');
    const result = await walk(outer, 'outer.7z');
    expect(result.unscannable).toEqual([]);
    expect(summary(result.visited)).toContain('outer.7z/middle.zip/inner.7z/eicar.com@7z');
  });

  it('reports encrypted members and archives with encrypted names', async () => {
    const locked = builtWith(members, '7z a -bd -psecret t.7z docs eicar.com', 't.7z');
    const result = await walk(locked, 'locked.7z');
    expect(result.unscannable).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'encrypted', path: ['locked.7z', 'eicar.com'] }),
      ]),
    );
    expect(result.unscannable.every((u) => u.reason === 'encrypted')).toBe(true);

    const hidden = builtWith(members, '7z a -bd -psecret -mhe=on t.7z docs eicar.com', 't.7z');
    const headers = await walk(hidden, 'hidden.7z');
    expect(headers.unscannable).toMatchObject([{ reason: 'encrypted', path: ['hidden.7z'] }]);
  });

  it('reports a damaged member as corrupt and still scans the others', async () => {
    const big = randomContent(300_000);
    const archive = builtWith(
      { 'a.bin': big, 'eicar.com': eicar() },
      '7z a -bd -ms=off t.7z a.bin eicar.com',
      't.7z',
    );
    // A byte in the middle of a.bin's (stored-as-incompressible) data.
    archive[100_000] = (archive[100_000] ?? 0) ^ 0xff;
    const result = await walk(archive, 'damaged.7z');
    expect(result.unscannable).toMatchObject([
      { reason: 'corrupt', path: ['damaged.7z', 'a.bin'] },
    ]);
    expect(result.visited.find((v) => v.path === 'damaged.7z/eicar.com')?.data).toEqual(eicar());
  });

  it('reports a truncated archive as corrupt', async () => {
    const archive = builtWith(members, '7z a -bd t.7z docs eicar.com', 't.7z');
    const result = await walk(archive.subarray(0, archive.length - 40), 'cut.7z');
    expect(result.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.7z'] }]);
  });

  it('stops at the expanded-bytes limit while 7-Zip writes, whatever sizes the archive declares', async () => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const archive = builtWith({ 'zeros.bin': zeros }, '7z a -bd t.7z zeros.bin', 't.7z');
    const result = await walk(archive, 'bomb.7z', {
      ...DEFAULT_LIMITS,
      maxExpandedBytes: 2 * 1024 * 1024,
    });
    expect(result.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['bomb.7z'] }]);
    const ratio = await walk(archive, 'bomb.7z', { ...DEFAULT_LIMITS, maxRatio: 10 });
    expect(ratio.unscannable).toMatchObject([{ reason: 'limits-exceeded', path: ['bomb.7z'] }]);
  });

  it('applies the member limit before extracting', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, Buffer.from(`${i}`)]),
    );
    const archive = builtWith(files, '7z a -bd t.7z *.txt', 't.7z');
    const result = await walk(archive, 'many.7z', { ...DEFAULT_LIMITS, maxMembers: 5 });
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['many.7z'], detail: '7z: more than 5 archive members' },
    ]);
  });

  it('gives up on a command that overruns its time limit', async () => {
    const slow = createFormatSet({ sevenZip: { workers: 1, timeoutMs: 1 } });
    try {
      const archive = builtWith(members, '7z a -bd t.7z docs eicar.com', 't.7z');
      const result = await ws.walk(archive, 'slow.7z', DEFAULT_LIMITS, slow.handlers);
      expect(result.unscannable).toMatchObject([
        { reason: 'limits-exceeded', detail: '7z: took longer than 0.001 s to unpack' },
      ]);
    } finally {
      await slow.close();
    }
  });

  it('keeps names that climb out of the archive inside the scratch folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-7zclimb-'));
    try {
      mkdirSync(join(dir, 'a'));
      writeFileSync(join(dir, 'a', 'eicar.com'), eicar());
      // p7zip stores the name as given with -spf: "../eicar.com" and an absolute one.
      execFileSync('7z', ['a', '-bd', '-spf', 't.7z', '../a/eicar.com', `${dir}/a/eicar.com`], {
        cwd: join(dir, 'a'),
        stdio: 'ignore',
      });
      const result = await walk(readFileSync(join(dir, 'a', 't.7z')), 'climb.7z');
      const leaves = result.visited.filter((v) => v.depth === 1);
      expect(leaves.length).toBeGreaterThan(0);
      for (const leaf of leaves) expect(leaf.data).toEqual(eicar());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes nothing outside its scratch folder, whatever names and links the archive holds', async () => {
    const victim = mkdtempSync(join(tmpdir(), 'arbiter-7zvictim-'));
    try {
      const archive = Buffer.concat([
        cpioEntry('../../escape.com', eicar()),
        cpioEntry(`${victim}/absolute.com`, eicar()),
        cpioEntry('out', Buffer.from(victim), 0o120777),
        cpioEntry('out/through-link.com', eicar()),
        cpioEntry('up', Buffer.from('../../../../in'), 0o120777),
        cpioEntry('up/through-up.com', eicar()),
        cpioEntry('TRAILER!!!', Buffer.alloc(0), 0),
      ]);
      const result = await walk(archive, 'hostile.cpio');
      expect(readdirSync(victim)).toEqual([]);
      expect(result.unscannable).toEqual([]);
      const leaves = result.visited.filter((v) => v.depth === 1);
      expect(leaves.length).toBeGreaterThanOrEqual(4);
      for (const leaf of leaves) expect(leaf.data).toEqual(eicar());
    } finally {
      rmSync(victim, { recursive: true, force: true });
    }
  });

  it('decodes zip members in methods the zip reader lacks through 7-Zip, by name', async () => {
    for (const method of ['BZip2', 'Deflate64', 'LZMA', 'PPMd']) {
      const archive = sevenZipZip(
        [
          { name: 'docs/readme.txt', data: TEXT },
          { name: 'eicar.com', data: eicar() },
        ],
        method,
      );
      const result = await walk(archive, `${method}.zip`);
      expect(result.unscannable, method).toEqual([]);
      expect(result.members, method).toBe(2);
      expect(
        result.visited
          .filter((v) => v.depth === 1)
          .map((v) => [v.path, v.container, v.length])
          .sort(),
        method,
      ).toEqual([
        [`${method}.zip/docs/readme.txt`, 'zip', TEXT.length],
        [`${method}.zip/eicar.com`, 'zip', eicar().length],
      ]);
    }
    // Names as stored: a backslash (read as a slash) and a byte 7-Zip decodes otherwise.
    const lzma = sevenZipZip([{ name: 'clam.exe', data: eicar() }], 'LZMA');
    const odd = await walk(renamed(lzma, 'clam.exe', 'cl\\m.exe'), 'odd.zip');
    expect(odd.unscannable).toEqual([]);
    expect(odd.visited.find((v) => v.depth === 1)?.data).toEqual(eicar());
    // Whatever 7-Zip makes of a name, the member is scanned or reported, never left out.
    const high = await walk(renamed(lzma, 'clam.exe', 'cl\x81m.exe'), 'high.zip');
    const scanned = high.visited.some((v) => v.depth === 1 && v.data?.equals(eicar()));
    const reported = high.unscannable.some((u) => u.reason === 'unsupported-method');
    expect(scanned || reported).toBe(true);

    const wavpack = await walk(undecodableZip('a.wav', TEXT), 'audio.zip');
    expect(wavpack.unscannable).toEqual([
      {
        reason: 'unsupported-method',
        path: ['audio.zip', 'a.wav'],
        detail: 'zip: Unsupported Method (zip:97)',
        method: 'zip:97',
      },
    ]);
  });

  it('names OLE2 streams by their storage path', async () => {
    const doc = ole2([
      { path: 'WordDocument', data: Buffer.alloc(5000, 0x20) },
      { path: 'Macros/VBA/Module1', data: eicar() },
      { path: '\x05SummaryInformation', data: Buffer.alloc(100, 1) },
    ]);
    const result = await walk(doc, 'letter.doc');
    expect(result.unscannable).toEqual([]);
    expect(summary(result.visited).sort()).toEqual([
      'letter.doc/Macros/VBA/Module1@ole2',
      'letter.doc/WordDocument@ole2',
      'letter.doc/[5]SummaryInformation@ole2',
      'letter.doc@file',
    ]);
  });

  it('unwraps a file embedded in an OLE2 document as a package object', async () => {
    const label = Buffer.from('eicar.com\0C:\\temp\\eicar.com\0', 'latin1');
    const temp = Buffer.from('C:\\temp\\eicar.com\0', 'latin1');
    const fields = Buffer.alloc(8);
    fields.writeUInt32LE(0x00030000, 0);
    fields.writeUInt32LE(temp.length, 4);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(eicar().length);
    const body = Buffer.concat([Buffer.from([2, 0]), label, fields, temp, size, eicar()]);
    const total = Buffer.alloc(4);
    total.writeUInt32LE(body.length);
    const doc = ole2([
      { path: 'WordDocument', data: Buffer.alloc(4096, 0x20) },
      { path: 'ObjectPool/_1/\x01Ole10Native', data: Buffer.concat([total, body]) },
    ]);
    const result = await walk(doc, 'report.doc');
    expect(result.unscannable).toEqual([]);
    const embedded = result.visited.find((v) => v.container === 'ole-package');
    expect(embedded?.path).toBe('report.doc/ObjectPool/_1/[1]Ole10Native/eicar.com');
    expect(embedded?.data).toEqual(eicar());

    const cut = ole2([
      { path: 'ObjectPool/_1/\x01Ole10Native', data: Buffer.concat([total, body]).subarray(0, 80) },
    ]);
    const truncated = await walk(cut, 'cut.doc');
    expect(truncated.unscannable).toMatchObject([
      { reason: 'corrupt', path: ['cut.doc', 'ObjectPool/_1/[1]Ole10Native', 'eicar.com'] },
    ]);
  });

  it('opens an archive appended to an executable, and leaves other executables alone', async () => {
    const stub = readFileSync(TEST_EXECUTABLE);
    const inner = builtWith(members, '7z a -bd inner.7z eicar.com', 'inner.7z');
    const sfx = await walk(Buffer.concat([stub, inner]), 'setup.exe');
    expect(sfx.unscannable).toEqual([]);
    expect(summary(sfx.visited)).toEqual(['setup.exe@file', 'setup.exe/eicar.com@sfx']);

    const plain = [
      stub,
      Buffer.concat([stub, randomBytes(5000)]),
      // An archive signature by chance in what follows the image.
      Buffer.concat([stub, Buffer.from('PK\x03\x04'), randomBytes(300)]),
      Buffer.concat([stub, Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), randomBytes(300)]),
    ];
    for (const exe of plain) {
      const result = await walk(exe, 'tool.exe');
      expect(result.unscannable).toEqual([]);
      expect(result.visited).toHaveLength(1);
    }
  });

  it('leaves ordinary files that merely start like an archive alone', async () => {
    const lookalikes: Array<[string, Buffer]> = [
      ['bz.txt', Buffer.from('BZh9 is how a bzip2 file starts, but this is prose\n')],
      ['z.bin', Buffer.concat([Buffer.from([0x1f, 0x9d, 0x90]), randomBytes(2000)])],
      ['cpio.txt', Buffer.from('070707 is an octal number\n'.repeat(10))],
      ['lzh.bin', Buffer.concat([Buffer.from('xx-lh5-'), Buffer.alloc(40)])],
      ['random.bin', randomContent(100_000)],
      // An LZMA header has no magic: properties, a dictionary size, a length, then anything.
      [
        'lzma-like.bin',
        Buffer.concat([Buffer.from('5d0000100000100000000000', 'hex'), randomBytes(5000)]),
      ],
      [
        'cpio-like.bin',
        Buffer.concat([Buffer.from([0xc7, 0x71]), randomBytes(24), Buffer.from('x\0')]),
      ],
      ['mz.txt', Buffer.from('MZ is two letters\n')],
    ];
    for (const [name, content] of lookalikes) {
      const result = await walk(content, name);
      expect(result.unscannable, name).toEqual([]);
      expect(result.visited, name).toHaveLength(1);
    }
  });
});

/** One entry of a cpio in the "new ASCII" format (a regular file unless `mode` says otherwise). */
function cpioEntry(name: string, data: Buffer, mode = 0o100644): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [1, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(
    `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`,
  );
  const pad = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);
  const head = Buffer.concat([header, nameBytes]);
  return Buffer.concat([head, pad(head.length), data, pad(data.length)]);
}

/** One stored (`-lh0-`) member of an LZH archive with a level-0 header. */
function lzhStored(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'latin1');
  const header = Buffer.alloc(24 + nameBytes.length);
  header[0] = 22 + nameBytes.length; // header size, from byte 2
  header.write('-lh0-', 2, 'latin1');
  header.writeUInt32LE(data.length, 7);
  header.writeUInt32LE(data.length, 11);
  header.writeUInt32LE(0x5a210000, 15); // DOS time
  header[19] = 0x20;
  header[20] = 0; // level 0
  header[21] = nameBytes.length;
  nameBytes.copy(header, 22);
  header.writeUInt16LE(crc16(data), 22 + nameBytes.length);
  let sum = 0;
  for (const byte of header.subarray(2)) sum = (sum + byte) & 0xff;
  header[1] = sum;
  return Buffer.concat([header, data]);
}

/** CRC-16/ARC, LZH's data checksum. */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** `archive` with every occurrence of the name `from` replaced by `to` (same length, latin1). */
function renamed(archive: Buffer, from: string, to: string): Buffer {
  const text = archive.toString('latin1');
  return Buffer.from(text.split(from).join(to), 'latin1');
}

import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  gzipStoredName,
  sniffArchive,
  SNIFF_BYTES,
  UNDECODED_FORMATS,
} from '../../scanning/archives/sniff.js';
import { compressWith, tar, v7tar, zip } from '../support/archives.js';

/**
 * What the walker takes a file for from its first bytes (sniff.ts): a container it opens, a
 * stream it hands to 7-Zip, or plain data. A format missed is a container scanned as bytes only;
 * one made up is plain data reported as a broken container. Real files come from Debian's tools.
 */

const head = (bytes: Buffer) => bytes.subarray(0, SNIFF_BYTES);
const text = (value: string) => Buffer.from(value, 'latin1');

describe('sniffArchive', () => {
  it('recognises what the tools write', async () => {
    const data = Buffer.from('hello, world\n'.repeat(50));
    expect(sniffArchive(head(await zip([{ name: 'a.txt', data }])))).toBe('zip');
    expect(sniffArchive(head(zlib.gzipSync(data)))).toBe('gzip');
    expect(sniffArchive(head(await tar([{ name: 'a.txt', data }])))).toBe('tar');
    expect(sniffArchive(head(await v7tar([{ name: 'a.txt', data }])))).toBe('tar');
    expect(sniffArchive(head(compressWith('zstd', ['-c', '-q'], data)))).toBe('zstd');
    expect(sniffArchive(head(compressWith('xz', ['-c'], data)))).toBe('xz');
    expect(sniffArchive(head(compressWith('bzip2', ['-c'], data)))).toBe('bzip2');
    expect(sniffArchive(head(compressWith('bzip2', ['-c'], Buffer.alloc(0))))).toBe('bzip2');
    expect(sniffArchive(head(compressWith('xz', ['--format=lzma', '-c'], data)))).toBe('lzma');
    expect(sniffArchive(head(compressWith('xz', ['--format=lzma', '-c', '-9'], data)))).toBe(
      'lzma',
    );
  });

  it('leaves the formats 7-Zip decodes undecoded by the walker itself', () => {
    expect([...UNDECODED_FORMATS].sort()).toEqual(['bzip2', 'lzma', 'xz']);
  });

  it('takes every zip signature a file can start with, and nothing else starting with PK', () => {
    for (const kind of ['\x03\x04', '\x05\x06', '\x07\x08', '00']) {
      expect(sniffArchive(text(`PK${kind}rest of it`))).toBe('zip');
    }
    for (const other of [
      'PK\x01\x02',
      'PK\x03\x03',
      'PK\x04\x03',
      'PK\x06\x05',
      'PK',
      'PQ\x03\x04',
    ]) {
      expect(sniffArchive(text(other))).toBeUndefined();
    }
    expect(sniffArchive(text('QK\x03\x04'))).toBeUndefined();
  });

  it('takes a gzip header only with method 8 and no reserved flag, ten bytes at least', () => {
    const gz = (bytes: number[]) => sniffArchive(Buffer.from(bytes));
    expect(gz([0x1f, 0x8b, 8, 0x1f, 0, 0, 0, 0, 0, 3])).toBe('gzip');
    expect(gz([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3])).toBeUndefined();
    expect(gz([0x1f, 0x8b, 8, 0x80, 0, 0, 0, 0, 0, 3])).toBeUndefined();
    expect(gz([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3])).toBeUndefined();
    expect(gz([0x1f, 0x8c, 8, 0, 0, 0, 0, 0, 0, 3])).toBeUndefined();
    expect(gz([0x1e, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])).toBeUndefined();
    expect(gz([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0])).toBeUndefined();
  });

  it('takes a zstd frame or a skippable frame, and no other magic', () => {
    const le = (value: number) => {
      const bytes = Buffer.alloc(8);
      bytes.writeUInt32LE(value);
      return bytes;
    };
    expect(sniffArchive(le(0xfd2fb528))).toBe('zstd');
    expect(sniffArchive(le(0x184d2a50))).toBe('zstd');
    expect(sniffArchive(le(0x184d2a5f))).toBe('zstd');
    expect(sniffArchive(le(0x184d2a60))).toBeUndefined();
    expect(sniffArchive(le(0x184d2b50))).toBeUndefined();
    expect(sniffArchive(le(0xfd2fb529))).toBeUndefined();
    expect(sniffArchive(le(0xfd2fb528).subarray(0, 3))).toBeUndefined();
  });

  it('takes the xz magic whole, six bytes', () => {
    const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
    expect(sniffArchive(magic)).toBe('xz');
    expect(sniffArchive(magic.subarray(0, 5))).toBeUndefined();
    expect(sniffArchive(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01]))).toBeUndefined();
  });

  it('takes `BZh` only with a block size 1–9 and a block or end-of-stream magic', () => {
    const block = '\x31\x41\x59\x26\x53\x59';
    const end = '\x17\x72\x45\x38\x50\x90';
    expect(sniffArchive(text(`BZh1${block}`))).toBe('bzip2');
    expect(sniffArchive(text(`BZh9${end}`))).toBe('bzip2');
    expect(sniffArchive(text(`BZh0${block}`))).toBeUndefined();
    expect(sniffArchive(text(`BZh:${block}`))).toBeUndefined();
    expect(sniffArchive(text(`BZh5${block.slice(0, 5)}\x00`))).toBeUndefined();
    expect(sniffArchive(text(`BZh5${block.slice(0, 5)}`))).toBeUndefined();
    expect(sniffArchive(text(`BZx5${block}`))).toBeUndefined();
  });

  it('takes an lzma-alone header only with plausible properties, dictionary and size', () => {
    const lzma = (props: number, dictionary: number, low: number, high: number) => {
      const bytes = Buffer.alloc(13);
      bytes[0] = props;
      bytes.writeUInt32LE(dictionary, 1);
      bytes.writeUInt32LE(low, 5);
      bytes.writeUInt32LE(high, 9);
      return sniffArchive(bytes);
    };
    expect(lzma(0x5d, 2 ** 12, 100, 0)).toBe('lzma');
    expect(lzma(224, 2 ** 30, 100, 0)).toBe('lzma');
    expect(lzma(0x5d, 2 ** 30 + 2 ** 29, 100, 0)).toBe('lzma');
    expect(lzma(0x5d, 2 ** 20 + 2 ** 19, 0xffffffff, 0xffffffff)).toBe('lzma');
    expect(lzma(0x5d, 2 ** 16, 0, 0xffff)).toBe('lzma');
    expect(lzma(225, 2 ** 16, 100, 0)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 11, 100, 0)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 31, 100, 0)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 16 + 1, 100, 0)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 16, 0, 0x10000)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 16, 0xffffffff, 0x10000)).toBeUndefined();
    expect(lzma(0x5d, 2 ** 16, 0, 0xffffffff)).toBeUndefined();
    expect(sniffArchive(Buffer.from([0x5d, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
  });

  it('takes a ustar magic at byte 257, or an old header by its checksum', async () => {
    const ustar = Buffer.alloc(262, 0x41);
    ustar.write('ustar', 257, 'latin1');
    expect(sniffArchive(ustar)).toBe('tar');
    expect(sniffArchive(ustar.subarray(0, 261))).toBeUndefined();
    const old = head(await v7tar([{ name: 'a.txt', data: Buffer.from('x') }]));
    expect(sniffArchive(old.subarray(0, 511))).toBeUndefined();
    const damaged = Buffer.from(old);
    damaged[1] = (damaged[1] ?? 0) + 1;
    expect(sniffArchive(damaged)).toBeUndefined();
    expect(sniffArchive(Buffer.alloc(512))).toBeUndefined();
  });

  it('reads an old header’s checksum field as tar writes it: octal, padded with spaces or NULs', () => {
    const block = Buffer.alloc(512);
    block.write('file.txt', 0, 'latin1');
    block.write('0000644 ', 100, 'latin1');
    const withChecksum = (field: (sum: number) => string, signedName = false) => {
      const copy = Buffer.from(block);
      if (signedName) copy[20] = 0xe9;
      let unsigned = 0;
      let signed = 0;
      for (let i = 0; i < 512; i++) {
        const byte = i >= 148 && i < 156 ? 0x20 : (copy[i] ?? 0);
        unsigned += byte;
        signed += byte > 127 ? byte - 256 : byte;
      }
      copy.fill(0, 148, 156);
      copy.write(field(signedName ? signed : unsigned), 148, 'latin1');
      return sniffArchive(copy);
    };
    expect(withChecksum((sum) => `${sum.toString(8).padStart(6, '0')}\0 `)).toBe('tar');
    expect(withChecksum((sum) => ` ${sum.toString(8)} \0`)).toBe('tar');
    expect(withChecksum((sum) => `  ${sum.toString(8)}`)).toBe('tar');
    expect(withChecksum((sum) => `${sum.toString(8)}\0`, true)).toBe('tar');
    expect(withChecksum((sum) => `${sum.toString(8).padStart(8, '0')}`)).toBeUndefined();
    expect(withChecksum((sum) => `${(sum + 1).toString(8)}\0`)).toBeUndefined();
    expect(withChecksum((sum) => `${sum.toString(8)}9\0`)).toBeUndefined();
    expect(withChecksum(() => '\0')).toBeUndefined();
  });

  it('leaves plain data alone', () => {
    expect(sniffArchive(Buffer.alloc(0))).toBeUndefined();
    expect(sniffArchive(Buffer.from('just some text, nothing else here at all'))).toBeUndefined();
  });
});

describe('gzipStoredName', () => {
  const header = (flags: number, ...rest: Buffer[]) =>
    Buffer.concat([Buffer.from([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3]), ...rest]);

  it('reads the stored name without directories', () => {
    expect(gzipStoredName(header(0x08, text('report.pdf\0')))).toBe('report.pdf');
    expect(gzipStoredName(header(0x08, text('dir/sub\\inner.doc\0')))).toBe('inner.doc');
    expect(gzipStoredName(zlib.gzipSync(Buffer.from('x')))).toBeUndefined();
  });

  it('skips the extra field in front of the name', () => {
    const extra = Buffer.from([5, 0, 1, 2, 3, 4, 5]);
    expect(gzipStoredName(header(0x0c, extra, text('after-extra.txt\0')))).toBe('after-extra.txt');
    expect(gzipStoredName(header(0x0c, Buffer.from([5])))).toBeUndefined();
  });

  it('has no name where it is empty, unterminated or only directories', () => {
    expect(gzipStoredName(header(0x08, text('\0')))).toBeUndefined();
    expect(gzipStoredName(header(0x08, text('unterminated')))).toBeUndefined();
    expect(gzipStoredName(header(0x08, text('dir/\0')))).toBeUndefined();
    expect(gzipStoredName(header(0x10, text('a comment\0')))).toBeUndefined();
  });
});

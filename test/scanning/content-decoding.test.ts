import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeContent,
  decodedMemberName,
  parseContentEncoding,
  unsupportedCoding,
} from '../../scanning/archives/content-encoding.js';
import { UnpackError } from '../../scanning/archives/format.js';
import { compressWith } from '../support/archives.js';
import { randomContent, sha1 } from '../support/content.js';

/**
 * Content codings undone as a browser undoes them (content-encoding.ts), on their own: what the
 * decoded member is called, which codings are refused, and the bytes each stack decodes to
 * however the sent bytes arrive. test/scanning/content-encoding.test.ts shows the engine's
 * verdicts on the same codings.
 */

/** `bytes` as sent, in pieces of `size`. */
function chunks(bytes: Buffer, size: number): AsyncIterable<Buffer> {
  const pieces = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
    bytes.subarray(i * size, (i + 1) * size),
  );
  return Readable.from(pieces) as AsyncIterable<Buffer>;
}

/** What `sent` decodes to, as its length and SHA-1 (deep equality of large buffers is slow). */
async function decoded(sent: Buffer, codings: string[], size = 1 << 20): Promise<string> {
  const out: Buffer[] = [];
  for await (const chunk of decodeContent(chunks(sent, size), codings)) out.push(chunk);
  return digest(Buffer.concat(out));
}

const digest = (bytes: Buffer) => `${bytes.length}:${sha1(bytes)}`;

const ENCODERS: Record<string, (data: Buffer) => Buffer> = {
  gzip: (data) => zlib.gzipSync(data),
  'x-gzip': (data) => zlib.gzipSync(data),
  deflate: (data) => zlib.deflateSync(data),
  br: (data) => zlib.brotliCompressSync(data),
  zstd: (data) => compressWith('zstd', ['-c', '-q'], data),
};

describe('content codings', () => {
  it('undoes each coding, however the sent bytes are cut', async () => {
    const text = Buffer.from('decoded as a browser decodes it\n'.repeat(5000));
    for (const [coding, encode] of Object.entries(ENCODERS)) {
      for (const size of [1, 7, 100_000, 1 << 20]) {
        expect(await decoded(encode(text), [coding], size)).toBe(digest(text));
      }
    }
  });

  it('undoes a stack of codings last applied first', async () => {
    const text = Buffer.from('stacked codings\n'.repeat(300));
    const sent = zlib.brotliCompressSync(zlib.gzipSync(zlib.deflateSync(text)));
    expect(await decoded(sent, ['deflate', 'gzip', 'br'])).toBe(digest(text));
    await expect(decoded(sent, ['br', 'gzip', 'deflate'])).rejects.toThrow();
  });

  it('reads deflate as a zlib stream or as raw deflate, as browsers do', async () => {
    const data = randomContent(200_000);
    for (const level of [0, 1, 6, 9]) {
      // Cut after the first byte: the two bytes that tell the kinds apart arrive apart.
      const zlibbed = zlib.deflateSync(data, { level });
      expect(await decoded(zlibbed, ['deflate'], 1000)).toBe(digest(data));
      expect(await decoded(Buffer.concat([zlibbed]), ['deflate'], zlibbed.length - 1)).toBe(
        digest(data),
      );
      const raw = zlib.deflateRawSync(data, { level });
      expect(await decoded(raw, ['deflate'], 1000)).toBe(digest(data));
    }
    const short = Buffer.from('short text');
    expect(await decoded(zlib.deflateSync(short), ['deflate'], 1)).toBe(digest(short));
    expect(await decoded(zlib.deflateRawSync(short), ['deflate'], 1)).toBe(digest(short));
    // Small windows (CINFO below 7) are zlib streams too.
    const small = zlib.deflateSync(data, { windowBits: 9 });
    expect(await decoded(small, ['deflate'])).toBe(digest(data));
    // Raw deflate whose first two bytes happen to pass for a zlib header's check bits only:
    // CMF 0x78 would need method 8 and a window of at most 32 KiB (stored block of `x`...).
    const raw = zlib.deflateRawSync(Buffer.from('x'.repeat(100)));
    expect(await decoded(raw, ['deflate'])).toBe(digest(Buffer.from('x'.repeat(100))));
  });

  it('takes only a real zlib header for zlib: method 8, window up to 32 KiB, check bits', async () => {
    // Raw deflate streams that start with a stored block: byte 0 is its header bits (not final,
    // stored), byte 1 the low byte of its length. Each pair fails exactly one zlib rule, so the
    // stream must be read as raw deflate.
    const rawStored = (first: number, data: string) => {
      const bytes = Buffer.from(data, 'latin1');
      const length = Buffer.alloc(4);
      length.writeUInt16LE(bytes.length, 0);
      length.writeUInt16LE(~bytes.length & 0xffff, 2);
      const last = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]); // final, empty, stored
      return Buffer.concat([Buffer.from([first]), length, bytes, last]);
    };
    for (const [first, data] of [
      [0x70, 'abc'], // method 0 (CM nibble), window and check bits right: 0x7003 % 31 === 0
      [0x88, 'x'.repeat(28)], // window 64 KiB (CINFO 8), check bits right: 0x881c % 31 === 0
      [0x78, 'hello'], // method 8, window 32 KiB, check bits wrong: 0x7805 % 31 !== 0
    ] as const) {
      const raw = rawStored(first, data);
      expect(await decoded(raw, ['deflate'])).toBe(digest(Buffer.from(data, 'latin1')));
      expect(await decoded(raw, ['deflate'], 1)).toBe(digest(Buffer.from(data, 'latin1')));
    }
    // Zlib streams at both window extremes pass.
    const payload = Buffer.from('zlib, both windows');
    for (const windowBits of [8, 15]) {
      expect(await decoded(zlib.deflateSync(payload, { windowBits }), ['deflate'], 1)).toBe(
        digest(payload),
      );
    }
  });

  it('decodes a body of no bytes to nothing, under any stack of codings', async () => {
    for (const codings of [['gzip'], ['x-gzip'], ['deflate'], ['br'], ['zstd'], ['gzip', 'br']]) {
      expect(await decoded(Buffer.alloc(0), codings)).toBe(digest(Buffer.alloc(0)));
    }
    // Empty pieces in front of the data are no end of it.
    const text = Buffer.from('after empty pieces');
    const sent = Readable.from([Buffer.alloc(0), Buffer.alloc(0), zlib.gzipSync(text)]);
    const out: Buffer[] = [];
    for await (const chunk of decodeContent(sent as AsyncIterable<Buffer>, ['gzip']))
      out.push(chunk);
    expect(Buffer.concat(out).toString()).toBe(text.toString());
  });

  it('fails on damaged or cut data', async () => {
    const gz = zlib.gzipSync(Buffer.from('some text to cut short'.repeat(10)));
    await expect(decoded(gz.subarray(0, gz.length - 10), ['gzip'])).rejects.toThrow();
    await expect(decoded(Buffer.from('not brotli at all'), ['br'])).rejects.toThrow();
    await expect(decoded(Buffer.from([0x78]), ['deflate'])).rejects.toThrow();
  });

  it('stops reading what was sent when the decoded content is abandoned', async () => {
    for (const coding of ['deflate', 'gzip']) {
      let released = false;
      function* sent(): Generator<Buffer> {
        try {
          const encoded = ENCODERS[coding]!(randomContent(4 << 20));
          for (let at = 0; at < encoded.length; at += 1000) yield encoded.subarray(at, at + 1000);
        } finally {
          released = true;
        }
      }
      for await (const chunk of decodeContent(Readable.from(sent()), [coding])) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(released).toBe(true);
    }
  });

  it('refuses a coding it has no decoder for, naming it', () => {
    expect(unsupportedCoding(['gzip', 'compress', 'made-up'])).toBe('compress');
    expect(unsupportedCoding(['gzip', 'x-gzip', 'deflate', 'br', 'zstd'])).toBeUndefined();
    expect(() => decodeContent(chunks(Buffer.alloc(1), 1), ['gzip', 'compress'])).toThrow(
      new UnpackError('unsupported-method', 'unknown coding "compress"'),
    );
    try {
      decodeContent(chunks(Buffer.alloc(1), 1), ['compress']);
    } catch (err) {
      expect(err).toMatchObject({ reason: 'unsupported-method' });
    }
  });

  it('names the decoded member after the codings, in the order applied', () => {
    expect(decodedMemberName(['gzip', 'br'])).toBe('(Content-Encoding: gzip, br)');
    expect(decodedMemberName(['zstd'])).toBe('(Content-Encoding: zstd)');
  });

  it('reads header values given as a list', () => {
    expect(parseContentEncoding(['gzip ,br', ' IDENTITY', 'Zstd'])).toEqual(['gzip', 'br', 'zstd']);
    expect(parseContentEncoding([])).toEqual([]);
    expect(parseContentEncoding('')).toEqual([]);
  });
});

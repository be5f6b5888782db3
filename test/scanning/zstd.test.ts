import { Readable, pipeline } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  createZstdDecoder,
  decodeZstd,
  ZSTD_MAX_WINDOW,
  ZSTD_SLICE,
  ZstdWindowError,
} from '../../scanning/archives/zstd.js';
import { compressWith } from '../support/archives.js';
import { randomContent, sha1 } from '../support/content.js';

/**
 * The zstd decoder (zstd.ts) on its own: every frame decoded, where each starts, and the window
 * limit checked from the frame header before the decoder allocates it. Frames come from Debian's
 * zstd, or are written by hand (raw and RLE blocks) to reach each header field.
 */

const MiB = 1024 * 1024;
const digest = (bytes: Buffer) => `${bytes.length}:${sha1(bytes)}`;

interface Decoded {
  output: string;
  frames: number[];
}

/** Pushes `bytes` through a decoder in chunks of `size`. */
async function decode(bytes: Buffer, size = 1 << 20): Promise<Decoded> {
  const frames: number[] = [];
  const decoder = createZstdDecoder((offset) => frames.push(offset));
  const input = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
    bytes.subarray(i * size, (i + 1) * size),
  );
  const out: Buffer[] = [];
  const output = pipeline(Readable.from(input), decoder, () => {}) as AsyncIterable<Buffer>;
  for await (const chunk of output) out.push(chunk);
  return { output: digest(Buffer.concat(out)), frames };
}

interface FrameFields {
  singleSegment?: boolean;
  /** FCS field size code (0–3) and value. */
  fcsFlag?: number;
  contentSize?: number;
  dictionaryIdBytes?: 0 | 1 | 2 | 4;
  checksum?: boolean;
  /** Window descriptor byte (multi-segment frames). */
  windowByte?: number;
}

/** A frame of raw blocks holding `data` (one RLE block when `rle`). */
function frame(data: Buffer, fields: FrameFields = {}, rle = false): Buffer {
  const single = fields.singleSegment ?? false;
  const fcsFlag = fields.fcsFlag ?? 0;
  const didCode = { 0: 0, 1: 1, 2: 2, 4: 3 }[fields.dictionaryIdBytes ?? 0];
  const descriptor = (fcsFlag << 6) | (single ? 0x20 : 0) | (fields.checksum ? 0x04 : 0) | didCode;
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, descriptor])];
  if (!single) parts.push(Buffer.from([fields.windowByte ?? 0x58])); // 2^21 window
  parts.push(Buffer.alloc(fields.dictionaryIdBytes ?? 0)); // dictionary 0: none
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  const fcs = Buffer.alloc(fcsBytes);
  const size = (fields.contentSize ?? data.length) - (fcsBytes === 2 ? 256 : 0);
  if (fcsBytes === 1) fcs.writeUInt8(size);
  if (fcsBytes === 2) fcs.writeUInt16LE(size);
  if (fcsBytes === 4) fcs.writeUInt32LE(size);
  if (fcsBytes === 8) fcs.writeBigUInt64LE(BigInt(size));
  parts.push(fcs);
  if (rle) {
    const header = Buffer.alloc(3);
    header.writeUIntLE((data.length << 3) | (1 << 1) | 1, 0, 3);
    parts.push(header, data.subarray(0, 1));
  } else {
    const blocks = Math.max(1, Math.ceil(data.length / 1000));
    for (let i = 0; i < blocks; i++) {
      const block = data.subarray(i * 1000, (i + 1) * 1000);
      const header = Buffer.alloc(3);
      header.writeUIntLE((block.length << 3) | (i === blocks - 1 ? 1 : 0), 0, 3);
      parts.push(header, block);
    }
  }
  if (fields.checksum) parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function skippable(content: Buffer, magic = 0x184d2a50): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(content.length, 4);
  return Buffer.concat([header, content]);
}

describe('createZstdDecoder', () => {
  it('decodes every frame, telling where each starts, skippable frames passed over', async () => {
    const texts = [Buffer.from('first frame '.repeat(500)), randomContent(3000), Buffer.from('x')];
    const parts = [
      skippable(Buffer.from('metadata')),
      compressWith('zstd', ['-c', '-q'], texts[0]!),
      skippable(Buffer.alloc(0), 0x184d2a5f),
      compressWith('zstd', ['-c', '-q', '--no-check'], texts[1]!),
      frame(texts[2]!, { singleSegment: true }),
    ];
    const bytes = Buffer.concat(parts);
    const starts = [parts[0]!.length, parts[0]!.length + parts[1]!.length + parts[2]!.length];
    starts.push(starts[1]! + parts[3]!.length);
    for (const size of [1, 7, 512, 1 << 20]) {
      expect(await decode(bytes, size)).toEqual({
        output: digest(Buffer.concat(texts)),
        frames: starts,
      });
    }
  });

  it('reads every header layout: content sizes of each width, a dictionary id, a checksum', async () => {
    const data = Buffer.from('hand-written frame with raw blocks');
    const layouts: FrameFields[] = [
      { singleSegment: true },
      { singleSegment: true, fcsFlag: 1, contentSize: 300 },
      { singleSegment: true, fcsFlag: 2 },
      { singleSegment: true, fcsFlag: 3 },
      { fcsFlag: 1, contentSize: 256 + data.length },
      { fcsFlag: 2, checksum: true },
      { fcsFlag: 3 },
      { checksum: true },
      {},
    ];
    for (const fields of layouts) {
      const bytes = frame(fields.contentSize === 300 ? Buffer.alloc(300, 0x61) : data, fields);
      const expected = fields.contentSize === 300 ? Buffer.alloc(300, 0x61) : data;
      expect(await decode(Buffer.concat([bytes, bytes]), 3)).toEqual({
        output: digest(Buffer.concat([expected, expected])),
        frames: [0, bytes.length],
      });
    }
  });

  it('passes over an RLE block’s one stored byte, and a checksum after the last block', async () => {
    const one = frame(Buffer.alloc(5000, 0x41), { checksum: true }, true);
    const two = frame(Buffer.from('after'), { checksum: true });
    expect(await decode(Buffer.concat([one, two]), 2)).toEqual({
      output: digest(Buffer.concat([Buffer.alloc(5000, 0x41), Buffer.from('after')])),
      frames: [0, one.length],
    });
  });

  it('refuses a window above 8 MiB before decoding it, and takes one of 8 MiB', async () => {
    const data = Buffer.from('window');
    // Multi-segment: the window descriptor (exponent and mantissa).
    expect(ZSTD_MAX_WINDOW).toBe(8 * MiB);
    await expect(decode(frame(data, { windowByte: 13 << 3 }))).resolves.toMatchObject({
      frames: [0],
    });
    for (const windowByte of [(13 << 3) | 1, 14 << 3, 0xff]) {
      await expect(decode(frame(data, { windowByte }))).rejects.toBeInstanceOf(ZstdWindowError);
    }
    // Single-segment: the content size is the window.
    for (const [fcsFlag, dictionaryIdBytes] of [
      [2, 0],
      [2, 4],
      [3, 1],
      [3, 2],
    ] as const) {
      const at = { singleSegment: true, fcsFlag, dictionaryIdBytes } as const;
      await expect(decode(frame(data, { ...at, contentSize: 8 * MiB + 1 }))).rejects.toEqual(
        new ZstdWindowError(
          `a zstd frame asks for a ${8 * MiB + 1}-byte window, more than the ${8 * MiB} allowed`,
        ),
      );
    }
    const ultra = compressWith('zstd', ['-c', '-q', '--long=24'], Buffer.from('long window'));
    await expect(decode(ultra)).rejects.toBeInstanceOf(ZstdWindowError);
  });

  it('refuses bytes after a frame that are no frame', async () => {
    const bytes = Buffer.concat([frame(Buffer.from('ok')), Buffer.from('trailing junk')]);
    await expect(decode(bytes)).rejects.toThrow('bytes after a zstd frame are not a zstd frame');
  });
});

describe('decodeZstd', () => {
  it('decodes in slices, counting the compressed bytes handed over', async () => {
    const data = randomContent(100_000);
    const bytes = compressWith('zstd', ['-c', '-q'], data);
    const counter = { bytes: 0 };
    const out: Buffer[] = [];
    for await (const chunk of decodeZstd(Readable.from([bytes]), counter)) {
      out.push(chunk);
      expect(counter.bytes).toBeLessThanOrEqual(bytes.length);
    }
    expect(digest(Buffer.concat(out))).toBe(digest(data));
    expect(counter.bytes).toBe(bytes.length);
    expect(ZSTD_SLICE).toBe(512);
  });

  it('has taken a little at a time when the first output comes out', async () => {
    const bytes = compressWith('zstd', ['-c', '-q'], randomContent(MiB));
    const counter = { bytes: 0 };
    for await (const chunk of decodeZstd(Readable.from([Buffer.concat([bytes, bytes])]), counter)) {
      expect(chunk.length).toBeGreaterThan(0);
      expect(counter.bytes).toBeLessThan(bytes.length);
      break;
    }
  });
});

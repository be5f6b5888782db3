import { pipeline, Readable } from 'node:stream';
import zlib from 'node:zlib';
import { asNumber, type PdfDict } from './pdf-syntax.js';

/**
 * The PDF stream filters (ISO 32000-1 §7.4) that carry general data, each decoding as the bytes
 * arrive: FlateDecode (zlib, with PNG and TIFF predictors), LZWDecode, ASCIIHexDecode,
 * ASCII85Decode and RunLengthDecode. Image codecs (DCT, JPX, JBIG2, CCITT fax) are not decoded:
 * a chain stops at the first of them and the bytes decoded so far are what is scanned.
 */
export type ByteStream = AsyncIterable<Buffer>;

/** Input is decoded this many bytes at a time, so one step's output stays small (LZW: ~4 MB). */
const SLICE = 1024;
const CHUNK = 64 * 1024;

/**
 * `source` through the filters, in order. The chain stops at the first filter not decoded here
 * (an image codec, an unknown name): what is decoded up to it is what is scanned.
 */
export function decodeFilters(
  source: ByteStream,
  filters: readonly string[],
  parms: readonly (PdfDict | undefined)[],
): ByteStream {
  let data = source;
  for (const [index, filter] of filters.entries()) {
    const decode = DECODERS[filter];
    if (!decode) return data;
    data = decode(data, parms[index]);
  }
  return data;
}

/** The filter a chain stops at (decodeFilters), undefined when every filter is decoded. */
export function undecodedFilter(filters: readonly string[]): string | undefined {
  return filters.find((filter) => !DECODERS[filter]);
}

type Decoder = (input: ByteStream, parms: PdfDict | undefined) => ByteStream;

const flate: Decoder = (input, parms) => withPredictor(inflate(input), parms);

/**
 * zlib data, or raw deflate data where a writer left the zlib header out (readers accept both).
 * A truncated stream is common in real PDFs: what it holds is still decoded.
 */
async function* inflate(input: ByteStream): ByteStream {
  const chunks = input[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done) return;
  const head = first.value;
  const zlibHeader =
    head.length < 2 || ((head[0]! & 0x0f) === 8 && ((head[0]! << 8) | head[1]!) % 31 === 0);
  const options = { chunkSize: CHUNK, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  async function* all(): ByteStream {
    try {
      yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    } finally {
      await chunks.return?.();
    }
  }
  yield* through(all(), zlibHeader ? zlib.createInflate(options) : zlib.createInflateRaw(options));
}

const lzw: Decoder = (input, parms) =>
  withPredictor(chunked(input, new LzwDecoder(asNumber(parms?.get('EarlyChange')) ?? 1)), parms);
const asciiHex: Decoder = (input) => chunked(input, new AsciiHexDecoder());
const ascii85: Decoder = (input) => chunked(input, new Ascii85Decoder());
const runLength: Decoder = (input) => chunked(input, new RunLengthDecoder());

const DECODERS: Record<string, Decoder> = {
  FlateDecode: flate,
  Fl: flate,
  LZWDecode: lzw,
  LZW: lzw,
  ASCIIHexDecode: asciiHex,
  AHx: asciiHex,
  ASCII85Decode: ascii85,
  A85: ascii85,
  RunLengthDecode: runLength,
  RL: runLength,
};

/** Bytes through a Node transform (zlib), with backpressure; its errors end the iteration. */
async function* through(input: ByteStream, transform: NodeJS.ReadWriteStream): ByteStream {
  const output = pipeline(Readable.from(input), transform, () => {});
  for await (const chunk of output as AsyncIterable<Buffer>) yield chunk;
}

/** A synchronous decoder fed small slices: whatever the input, one step yields little. */
export interface ChunkDecoder {
  write(chunk: Buffer): Buffer;
  end(): Buffer;
}

async function* chunked(input: ByteStream, decoder: ChunkDecoder): ByteStream {
  for await (const chunk of input) {
    for (let at = 0; at < chunk.length; at += SLICE) {
      const out = decoder.write(chunk.subarray(at, at + SLICE));
      if (out.length > 0) yield out;
    }
  }
  const last = decoder.end();
  if (last.length > 0) yield last;
}

export class AsciiHexDecoder implements ChunkDecoder {
  private high = -1;
  private done = false;

  write(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.done) break;
      if (byte === 0x3e) {
        this.done = true;
        break;
      }
      const nibble = hexValue(byte);
      if (nibble < 0) continue; // whitespace (and, leniently, any other stray byte)
      if (this.high < 0) this.high = nibble;
      else {
        out.push((this.high << 4) | nibble);
        this.high = -1;
      }
    }
    return Buffer.from(out);
  }

  end(): Buffer {
    return this.high < 0 ? Buffer.alloc(0) : Buffer.from([this.high << 4]);
  }
}

export function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

export class Ascii85Decoder implements ChunkDecoder {
  private group: number[] = [];
  private done = false;
  private sawTilde = false;
  private started = false;

  write(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (let i = 0; i < chunk.length && !this.done; i++) {
      const byte = chunk[i]!;
      if (this.sawTilde) {
        // `~>` ends the data; `<~` (an Adobe prefix) is skipped below.
        this.done = byte === 0x3e;
        this.sawTilde = false;
        continue;
      }
      if (byte === 0x7e) {
        this.sawTilde = true;
        continue;
      }
      if (!this.started && byte === 0x3c && chunk[i + 1] === 0x7e) {
        i++;
        continue;
      }
      this.started = true;
      if (byte === 0x7a && this.group.length === 0) {
        out.push(0, 0, 0, 0);
        continue;
      }
      if (byte < 0x21 || byte > 0x75) continue;
      this.group.push(byte - 0x21);
      if (this.group.length === 5) {
        pushGroup(out, this.group, 4);
        this.group = [];
      }
    }
    return Buffer.from(out);
  }

  end(): Buffer {
    const out: number[] = [];
    if (this.group.length > 1) {
      const count = this.group.length - 1;
      while (this.group.length < 5) this.group.push(84);
      pushGroup(out, this.group, count);
    }
    this.group = [];
    return Buffer.from(out);
  }
}

function pushGroup(out: number[], group: number[], count: number): void {
  let value = 0;
  for (const digit of group) value = value * 85 + digit;
  value = value >>> 0;
  const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  out.push(...bytes.slice(0, count));
}

export class RunLengthDecoder implements ChunkDecoder {
  /** Literal bytes still to copy, or -1 when the next byte is a repeated one. */
  private literal = 0;
  private repeat = 0;
  private done = false;

  write(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.done) break;
      if (this.literal > 0) {
        out.push(byte);
        this.literal--;
      } else if (this.repeat > 0) {
        for (let i = 0; i < this.repeat; i++) out.push(byte);
        this.repeat = 0;
      } else if (byte < 128) this.literal = byte + 1;
      else if (byte > 128) this.repeat = 257 - byte;
      else this.done = true;
    }
    return Buffer.from(out);
  }

  end(): Buffer {
    return Buffer.alloc(0);
  }
}

/** LZW as PDF uses it (§7.4.4): 9–12-bit codes, 256 clears the table, 257 ends the data. */
export class LzwDecoder implements ChunkDecoder {
  private readonly prefix = new Int32Array(4096);
  private readonly suffix = new Uint8Array(4096);
  private readonly length = new Uint16Array(4096);
  private readonly scratch = new Uint8Array(4096);
  private next = 258;
  private codeBits = 9;
  private previous = -1;
  private bitBuffer = 0;
  private bitCount = 0;
  private done = false;

  constructor(private readonly earlyChange: number) {
    for (let i = 0; i < 256; i++) {
      this.suffix[i] = i;
      this.length[i] = 1;
      this.prefix[i] = -1;
    }
  }

  write(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    for (const byte of chunk) {
      if (this.done) break;
      this.bitBuffer = ((this.bitBuffer << 8) | byte) & 0xffffff;
      this.bitCount += 8;
      while (this.bitCount >= this.codeBits && !this.done) {
        this.bitCount -= this.codeBits;
        const code = (this.bitBuffer >>> this.bitCount) & ((1 << this.codeBits) - 1);
        this.code(code, parts);
      }
    }
    return Buffer.concat(parts);
  }

  end(): Buffer {
    return Buffer.alloc(0);
  }

  private code(code: number, parts: Buffer[]): void {
    if (code === 256) {
      this.next = 258;
      this.codeBits = 9;
      this.previous = -1;
      return;
    }
    if (code === 257) {
      this.done = true;
      return;
    }
    let first: number;
    if (code < this.next && code !== 256 && code !== 257) {
      parts.push(this.entry(code));
      first = this.scratch[0]!;
    } else if (code === this.next && this.previous >= 0) {
      const known = this.entry(this.previous);
      first = known[0]!;
      parts.push(Buffer.concat([known, Buffer.from([first])]));
    } else {
      throw new Error('LZW data refers to an undefined code');
    }
    if (this.previous >= 0 && this.next < 4096) {
      this.prefix[this.next] = this.previous;
      this.suffix[this.next] = first;
      this.length[this.next] = this.length[this.previous]! + 1;
      this.next++;
    }
    this.previous = code;
    const limit = this.next + this.earlyChange;
    if (limit >= 512 && this.codeBits === 9) this.codeBits = 10;
    if (limit >= 1024 && this.codeBits === 10) this.codeBits = 11;
    if (limit >= 2048 && this.codeBits === 11) this.codeBits = 12;
  }

  /** The bytes of table entry `code` (a copy; its first byte also left in `scratch[0]`). */
  private entry(code: number): Buffer {
    const size = this.length[code]!;
    let at = size;
    for (let c = code; c >= 0 && at > 0; c = this.prefix[c]!) this.scratch[--at] = this.suffix[c]!;
    return Buffer.from(this.scratch.subarray(0, size));
  }
}

/** Rows longer than this make a predictor hostile: the data is scanned without undoing it. */
const MAX_ROW = 1 << 20;

function withPredictor(input: ByteStream, parms: PdfDict | undefined): ByteStream {
  const predictor = asNumber(parms?.get('Predictor')) ?? 1;
  if (predictor <= 1) return input;
  const colors = clampInt(asNumber(parms?.get('Colors')) ?? 1, 1, 64);
  const bits = clampInt(asNumber(parms?.get('BitsPerComponent')) ?? 8, 1, 16);
  const columns = clampInt(asNumber(parms?.get('Columns')) ?? 1, 1, 2 ** 31);
  const rowBytes = Math.ceil((columns * colors * bits) / 8);
  if (rowBytes > MAX_ROW) return input;
  const pixelBytes = Math.max(1, Math.ceil((colors * bits) / 8));
  if (predictor >= 10) return chunked(input, new PngPredictor(rowBytes, pixelBytes));
  if (predictor === 2 && bits === 8) return chunked(input, new TiffPredictor(rowBytes, colors));
  return input;
}

function clampInt(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/** PNG row filters (a tag byte per row: none, sub, up, average, Paeth). */
export class PngPredictor implements ChunkDecoder {
  private row: Buffer;
  private previous: Buffer;
  private filled = 0;

  constructor(
    private readonly rowBytes: number,
    private readonly pixelBytes: number,
  ) {
    this.row = Buffer.alloc(rowBytes + 1);
    this.previous = Buffer.alloc(rowBytes);
  }

  write(chunk: Buffer): Buffer {
    const rows: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(chunk.length - at, this.row.length - this.filled);
      chunk.copy(this.row, this.filled, at, at + take);
      this.filled += take;
      at += take;
      if (this.filled === this.row.length) {
        rows.push(this.unfilter(this.row.length));
        this.filled = 0;
      }
    }
    return Buffer.concat(rows);
  }

  end(): Buffer {
    return this.filled > 1 ? this.unfilter(this.filled) : Buffer.alloc(0);
  }

  private unfilter(filled: number): Buffer {
    const tag = this.row[0]!;
    const out = Buffer.alloc(filled - 1);
    const up = this.previous;
    const bpp = this.pixelBytes;
    for (let i = 0; i < out.length; i++) {
      const raw = this.row[i + 1]!;
      const left = i >= bpp ? out[i - bpp]! : 0;
      const above = up[i]!;
      const corner = i >= bpp ? up[i - bpp]! : 0;
      let value = raw;
      if (tag === 1) value = raw + left;
      else if (tag === 2) value = raw + above;
      else if (tag === 3) value = raw + ((left + above) >> 1);
      else if (tag === 4) value = raw + paeth(left, above, corner);
      out[i] = value & 0xff;
    }
    out.copy(this.previous);
    return out;
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** TIFF predictor 2 for 8-bit components: each byte is the difference from the pixel before. */
class TiffPredictor implements ChunkDecoder {
  private column = 0;
  private readonly last: Uint8Array;

  constructor(
    private readonly rowBytes: number,
    private readonly colors: number,
  ) {
    this.last = new Uint8Array(colors);
  }

  write(chunk: Buffer): Buffer {
    const out = Buffer.alloc(chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      const component = this.column % this.colors;
      const value =
        this.column < this.colors ? chunk[i]! : (chunk[i]! + this.last[component]!) & 0xff;
      this.last[component] = value;
      out[i] = value;
      this.column = (this.column + 1) % this.rowBytes;
    }
    return out;
  }

  end(): Buffer {
    return Buffer.alloc(0);
  }
}

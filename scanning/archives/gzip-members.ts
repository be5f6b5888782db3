import zlib from 'node:zlib';
import { crc32 } from './crc32.js';

/** Output buffer size of each member's inflater. */
const CHUNK = 64 * 1024;
/**
 * The longest header accepted (FEXTRA is at most 64 KiB; FNAME and FCOMMENT are zero-terminated
 * strings of any length). Longer: not a gzip header.
 */
const MAX_HEADER = 1024 * 1024;
/** Input slice of `gunzipMember`, whose output waits in memory until the slice is decoded. */
const ALONE_SLICE = 1024;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED = 0xe0;

/** What a gzip file's reader is told, in order, as its bytes are decoded. */
export interface GzipEvents {
  /** Member `index` (1-based) starts; its decoded bytes follow. */
  memberStart(index: number): Promise<void>;
  /** Decoded bytes of the current member. */
  data(chunk: Buffer): Promise<void>;
  /** The bytes after the last member that are neither a member nor zero padding. */
  trailing(chunk: Buffer): Promise<void>;
}

/** The decoded bytes of a gzip member read alone from its compressed bytes. */
export async function* gunzipMember(
  compressed: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncGenerator<Buffer> {
  const output: Buffer[] = [];
  const decoder = new GzipMembers({
    memberStart: () => Promise.resolve(),
    data: (chunk) => {
      output.push(chunk);
      return Promise.resolve();
    },
    trailing: () => Promise.resolve(),
  });
  try {
    for await (const chunk of compressed) {
      for (let at = 0; at < chunk.length; at += ALONE_SLICE) {
        await decoder.write(chunk.subarray(at, at + ALONE_SLICE));
        // What one slice inflates to (at most ~1 MiB) is handed on before the next is read.
        yield* output.splice(0);
      }
    }
    await decoder.end();
    yield* output.splice(0);
  } finally {
    decoder.destroy();
  }
}

/** A gzip member that does not decode (bad deflate data, CRC or size, cut short). */
export class GzipError extends Error {}

/**
 * Decodes a gzip file member by member, the way `gzip -d` and `zcat` read it: every member in
 * turn (each header parsed with all its flags: FEXTRA, FNAME, FCOMMENT, FHCRC), each checked
 * against its CRC-32 and size. What follows the last member is zero padding (ignored) or other
 * bytes, handed to `trailing` from the first non-zero byte on. Each member is inflated by its own
 * raw inflater; where its deflate data ends is where the inflater stopped consuming input
 * (`bytesWritten`: Node's inflater ends its output when the deflate stream ends with input left
 * over). Memory: one input slice and the inflater's buffers.
 */
export class GzipMembers {
  private state: 'header' | 'body' | 'trailer' | 'between' | 'trailing' = 'header';
  /** Header or trailer bytes gathered so far. */
  private held = Buffer.alloc(0);
  private members = 0;
  private inflater: zlib.InflateRaw | undefined;
  private pumping: Promise<void> | undefined;
  private inflateError: Error | undefined;
  /** Bytes given to the current inflater, and the ones it has not yet confirmed consuming. */
  private fed = 0;
  private unconfirmed: Buffer[] = [];
  private crc = 0;
  private size = 0;
  /** Compressed bytes of the current member, and of the whole file, taken so far. */
  memberConsumed = 0;
  consumed = 0;
  /** Where each member starts in the file (the first at 0). */
  readonly starts: number[] = [];

  constructor(private readonly events: GzipEvents) {}

  /** How many members started. */
  get count(): number {
    return this.members;
  }

  async write(chunk: Buffer): Promise<void> {
    let data = chunk;
    while (data.length > 0) data = await this.step(data);
  }

  /** The input is over: the last member must be complete. */
  async end(): Promise<void> {
    if (this.state === 'body') {
      this.inflater?.end();
      await this.pumping;
      this.throwInflateError();
      throw new GzipError('unexpected end of file');
    }
    if (this.state === 'header' && this.members === 0) {
      throw new GzipError('unexpected end of file in the header');
    }
    if (this.state === 'header' && this.held.length > 0) await this.notAMember();
    if (this.state === 'trailer') throw new GzipError('unexpected end of file in the trailer');
  }

  /** Stops decoding (the content was abandoned). */
  destroy(): void {
    this.inflater?.destroy();
  }

  /** Takes what it can of `data` in the current state; returns what is left. */
  private async step(data: Buffer): Promise<Buffer> {
    switch (this.state) {
      case 'header':
        return this.header(data);
      case 'body':
        return this.body(data);
      case 'trailer':
        return this.trailer(data);
      case 'between':
        return this.between(data);
      case 'trailing':
        this.consumed += data.length;
        await this.events.trailing(data);
        return Buffer.alloc(0);
    }
  }

  private async header(data: Buffer): Promise<Buffer> {
    const held = Buffer.concat([this.held, data]);
    const parsed = parseGzipHeader(held);
    if (parsed === 'more' && held.length <= MAX_HEADER) {
      this.held = held;
      return Buffer.alloc(0);
    }
    if (parsed === 'more' || parsed === 'invalid') {
      if (this.members === 0) throw new GzipError('not a gzip header');
      this.held = held;
      await this.notAMember();
      return Buffer.alloc(0);
    }
    this.held = Buffer.alloc(0);
    this.starts.push(this.consumed);
    this.consumed += parsed;
    this.members += 1;
    this.startInflater(parsed);
    await this.events.memberStart(this.members);
    return held.subarray(parsed);
  }

  /** Bytes after a member that do not start another: trailing content. */
  private async notAMember(): Promise<void> {
    const held = this.held;
    this.held = Buffer.alloc(0);
    this.state = 'trailing';
    this.consumed += held.length;
    await this.events.trailing(held);
  }

  private startInflater(headerBytes: number): void {
    const inflater = zlib.createInflateRaw({ chunkSize: CHUNK });
    this.inflater = inflater;
    this.inflateError = undefined;
    this.fed = 0;
    this.unconfirmed = [];
    this.crc = 0;
    this.size = 0;
    this.memberConsumed = headerBytes;
    this.state = 'body';
    inflater.on('error', (err) => (this.inflateError ??= err));
    this.pumping = (async () => {
      try {
        for await (const chunk of inflater as AsyncIterable<Buffer>) {
          this.crc = crc32(chunk, this.crc);
          this.size += chunk.length;
          await this.events.data(chunk);
        }
      } catch (err) {
        this.inflateError ??= err instanceof Error ? err : new Error(String(err));
        inflater.destroy();
      }
    })();
  }

  /** Feeds deflate data; once the inflater stops consuming, the rest is the trailer's. */
  private async body(data: Buffer): Promise<Buffer> {
    const inflater = this.inflater;
    if (!inflater) throw new GzipError('no inflater');
    this.fed += data.length;
    this.unconfirmed.push(data);
    // Counted before the inflater runs: the ratio limit must not see output without its input.
    this.memberConsumed += data.length;
    this.consumed += data.length;
    await written(inflater, data);
    this.throwInflateError();
    const left = this.fed - inflater.bytesWritten;
    this.memberConsumed -= Math.max(0, left);
    this.consumed -= Math.max(0, left);
    if (left <= 0) {
      this.unconfirmed = [];
      return Buffer.alloc(0);
    }
    // The deflate stream ended: its output is complete once the inflater's readable ends.
    const rest = Buffer.concat(this.unconfirmed).subarray(-left);
    this.unconfirmed = [];
    inflater.end();
    await this.pumping;
    this.throwInflateError();
    this.state = 'trailer';
    return rest;
  }

  /** The inflater's error (set by its events, hence read through a call) as damaged data. */
  private throwInflateError(): void {
    const error = this.inflateError;
    if (error) throw new GzipError(`member ${this.members}: ${error.message}`);
  }

  private trailer(data: Buffer): Buffer {
    const need = 8 - this.held.length;
    this.held = Buffer.concat([this.held, data.subarray(0, need)]);
    this.consumed += Math.min(need, data.length);
    this.memberConsumed += Math.min(need, data.length);
    if (this.held.length < 8) return Buffer.alloc(0);
    const crc = this.held.readUInt32LE(0);
    const size = this.held.readUInt32LE(4);
    this.held = Buffer.alloc(0);
    if (crc !== this.crc >>> 0) throw new GzipError(`member ${this.members}: CRC-32 mismatch`);
    if (size !== this.size % 2 ** 32)
      throw new GzipError(`member ${this.members}: length mismatch`);
    this.state = 'between';
    return data.subarray(need);
  }

  /** After a member: zero padding is skipped; anything else is another member or trailing. */
  private between(data: Buffer): Buffer {
    let at = 0;
    while (at < data.length && data[at] === 0) at += 1;
    this.consumed += at;
    if (at < data.length) this.state = 'header';
    return data.subarray(at);
  }
}

/**
 * The length of the gzip member header at the start of `data`, `more` when `data` ends inside
 * it, `invalid` when it is not one (RFC 1952: magic, method 8, no reserved flag, a matching
 * header CRC when FHCRC is set).
 */
export function parseGzipHeader(data: Buffer): number | 'more' | 'invalid' {
  if (data.length >= 1 && data[0] !== 0x1f) return 'invalid';
  if (data.length >= 2 && data[1] !== 0x8b) return 'invalid';
  if (data.length >= 3 && data[2] !== 8) return 'invalid';
  if (data.length < 10) return 'more';
  const flags = data[3] ?? 0;
  if ((flags & RESERVED) !== 0) return 'invalid';
  let at = 10;
  if (flags & FEXTRA) {
    if (data.length < at + 2) return 'more';
    at += 2 + data.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const zero = data.indexOf(0, at);
    if (zero < 0) return 'more';
    at = zero + 1;
  }
  if (flags & FHCRC) {
    if (data.length < at + 2) return 'more';
    if ((crc32(data.subarray(0, at)) & 0xffff) !== data.readUInt16LE(at)) return 'invalid';
    at += 2;
  }
  return data.length < at ? 'more' : at;
}

/** Resolves once the inflater has processed `data`, or is gone (it failed: see its error). */
function written(inflater: zlib.InflateRaw, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      inflater.off('close', done);
      resolve();
    };
    inflater.once('close', done);
    inflater.write(data, done);
  });
}

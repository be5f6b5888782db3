import { Readable, Transform, pipeline } from 'node:stream';
import { Decompress } from 'fzstd';

/**
 * Input bytes handed to the decoder at a time. fzstd decodes synchronously and hands out every
 * block it completes, and a zstd RLE block turns 4 bytes into 128 KiB: small slices keep what one
 * write can produce (and hold in memory before backpressure and the limits see it) to a few MiB.
 */
export const ZSTD_SLICE = 512;

/**
 * The largest window a frame may ask for. fzstd allocates (and rewrites) the whole window a
 * frame header declares, up to 2 GiB; 8 MiB is what the zstd format asks every decoder to
 * support and what `zstd` levels 1–19 use. Larger windows (`--ultra`, `--long`) are a limit.
 */
export const ZSTD_MAX_WINDOW = 8 * 1024 * 1024;

/** A frame whose window is above ZSTD_MAX_WINDOW: a limit, not damaged data. */
export class ZstdWindowError extends Error {}

/**
 * A Zstandard stream decoder (concatenated and skippable frames included) as a Node transform.
 * `onFrame` is told where in the input each (non-skippable) frame starts. Bytes after a frame
 * that start no further frame end the stream there (`zstdcat` hands out what came before, then
 * complains): with `onTrailing`, it is told where they start and they are not decoded; without,
 * they are an error.
 */
export function createZstdDecoder(
  onFrame?: (offset: number) => void,
  onTrailing?: (offset: number) => void,
): Transform {
  const guard = new FrameGuard(onFrame, onTrailing !== undefined);
  // Input bytes not yet known to belong to a frame (a header cut by the chunk's end), held back
  // from the decoder; `fed` counts the bytes handed to it.
  let held: Buffer = Buffer.alloc(0);
  let fed = 0;
  const feed = () => {
    const upTo = guard.trailingAt ?? guard.confirmed;
    const take = upTo - fed;
    if (take > 0) decoder.push(held.subarray(0, take));
    held = held.subarray(Math.max(0, take));
    fed = Math.max(fed, upTo);
  };
  let toldTrailing = false;
  const output = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        if (guard.trailingAt !== undefined) return done();
        guard.check(chunk);
        held = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
        feed();
        if (guard.trailingAt !== undefined && !toldTrailing) {
          toldTrailing = true;
          held = Buffer.alloc(0);
          onTrailing?.(guard.trailingAt);
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        if (held.length > 0 && onTrailing && guard.betweenFrames) {
          // Fewer bytes than a frame magic after the last frame: trailing bytes too.
          onTrailing(fed);
        } else if (held.length > 0) {
          // A header cut short by the end of the input: the decoder says it is incomplete.
          decoder.push(held);
        }
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  // Each decoded block is copied out: fzstd may reuse its buffers once the handler returns.
  const decoder = new Decompress((data) => {
    if (data.length > 0) output.push(Buffer.from(data));
  });
  return output;
}

/**
 * The decoded bytes of zstd data, fed to the decoder in ZSTD_SLICE slices; `counter.bytes` counts
 * the compressed bytes handed over (for the ratio limit).
 */
export async function* decodeZstd(
  compressed: AsyncIterable<Buffer>,
  counter: { bytes: number },
): AsyncGenerator<Buffer> {
  async function* slices(): AsyncGenerator<Buffer> {
    for await (const chunk of compressed) {
      for (let at = 0; at < chunk.length; at += ZSTD_SLICE) {
        const slice = chunk.subarray(at, at + ZSTD_SLICE);
        counter.bytes += slice.length;
        yield slice;
      }
    }
  }
  const decoder = createZstdDecoder();
  yield* pipeline(Readable.from(slices()), decoder, () => {}) as AsyncIterable<Buffer>;
}

const FRAME_MAGIC = 0xfd2fb528;
const FCS_BYTES = [0, 2, 4, 8];
const DICT_ID_BYTES = [0, 1, 2, 4];

/**
 * Follows frame and block headers through the compressed bytes (skipping block contents) so
 * each frame's window is known before fzstd sees its header and allocates it.
 */
class FrameGuard {
  private pending = Buffer.alloc(0);
  /** Bytes to pass over before the next header. */
  private skip = 0;
  private state: 'frame' | 'block' = 'frame';
  private checksum = false;
  /** Input bytes checked so far. */
  private seen = 0;
  /** Where bytes that start no frame begin, once seen after a frame (with `trailingAllowed`). */
  trailingAt: number | undefined;

  constructor(
    private readonly onFrame: ((offset: number) => void) | undefined,
    private readonly trailingAllowed: boolean,
  ) {}

  /** After a whole frame, where the next one would start. */
  get betweenFrames(): boolean {
    return this.state === 'frame' && this.skip === 0 && this.seen > 0;
  }

  /** The input bytes known to belong to frames: all checked but a header cut short. */
  get confirmed(): number {
    return this.seen - this.pending.length;
  }

  check(chunk: Buffer): void {
    let data = chunk;
    let at = this.seen; // where `data` starts in the input
    this.seen += chunk.length;
    for (;;) {
      if (this.skip > 0) {
        const passed = Math.min(this.skip, data.length);
        this.skip -= passed;
        data = data.subarray(passed);
        at += passed;
        if (this.skip > 0) return;
      }
      if (this.pending.length > 0) {
        at -= this.pending.length;
        data = Buffer.concat([this.pending, data]);
        this.pending = Buffer.alloc(0);
      }
      const used = this.state === 'frame' ? this.frameHeader(data, at) : this.blockHeader(data);
      if (this.trailingAt !== undefined) return;
      if (used === undefined) {
        this.pending = Buffer.from(data); // a header split across chunks: at most 18 bytes
        return;
      }
      data = data.subarray(used);
      at += used;
    }
  }

  /** Reads a frame (or skippable frame) header; undefined when more bytes are needed. */
  private frameHeader(data: Buffer, at: number): number | undefined {
    if (data.length < 4) return undefined;
    const magic = data.readUInt32LE(0);
    const skippable = (magic & 0xfffffff0) === 0x184d2a50;
    if (!skippable && magic !== FRAME_MAGIC) {
      if (!this.trailingAllowed || at === 0) {
        throw new Error('bytes after a zstd frame are not a zstd frame');
      }
      this.trailingAt = at;
      return 0;
    }
    if (data.length < 8) return undefined;
    if (skippable) {
      this.skip = data.readUInt32LE(4);
      return 8;
    }
    const descriptor = data[4] ?? 0;
    const singleSegment = (descriptor & 0x20) !== 0;
    const fcsFlag = descriptor >> 6;
    const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : (FCS_BYTES[fcsFlag] ?? 0);
    const length = 5 + (singleSegment ? 0 : 1) + (DICT_ID_BYTES[descriptor & 3] ?? 0) + fcsBytes;
    if (data.length < length) return undefined;
    let window: number;
    if (singleSegment) {
      const at = length - fcsBytes;
      window = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) window = window * 256 + (data[at + i] ?? 0);
      if (fcsBytes === 2) window += 256;
    } else {
      const descriptorByte = data[5] ?? 0;
      const base = 2 ** (10 + (descriptorByte >> 3));
      window = base + (base / 8) * (descriptorByte & 7);
    }
    if (window > ZSTD_MAX_WINDOW) {
      throw new ZstdWindowError(
        `a zstd frame asks for a ${window}-byte window, more than the ${ZSTD_MAX_WINDOW} allowed`,
      );
    }
    this.checksum = (descriptor & 0x04) !== 0;
    this.state = 'block';
    this.onFrame?.(at);
    return length;
  }

  /** Reads a block header and passes over its content. */
  private blockHeader(data: Buffer): number | undefined {
    if (data.length < 3) return undefined;
    const header = (data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data[2] ?? 0) << 16);
    const last = (header & 1) !== 0;
    const type = (header >> 1) & 3;
    this.skip = type === 1 ? 1 : header >>> 3; // an RLE block stores one byte
    if (last) {
      this.skip += this.checksum ? 4 : 0;
      this.state = 'frame';
    }
    return 3;
  }
}

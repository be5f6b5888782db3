import { Readable, Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { UnpackError, type FormatHandler, type UnpackContext } from '../format.js';

/**
 * Files embedded in a PowerPoint 97–2003 presentation: the `PowerPoint Document` stream of the
 * OLE2 file, as the OLE2 handler hands it over, is a sequence of records ([MS-PPT] 2.3.1: an
 * 8-byte header — recVer and recInstance in 2 bytes, recType in 2, recLen in 4 — then recLen
 * bytes; a container, recVer 0xF, holds child records). An embedded object is kept in an
 * ExOleObjStg record (recType 0x1011), the presentation's VBA project in a VbaProjectStg
 * (0x1014), an ActiveX control in an ExControlStg (0x1018): each holds an OLE2 compound file,
 * stored (recInstance 0) or zlib-compressed (recInstance 1: its decompressed size in 4 bytes,
 * then zlib data). Each is handed over as a member (`embedded-object-1.ole`, …), which the OLE2
 * handler then opens in turn (an OLE package in it yields the packaged file itself).
 *
 * The stream is read as it arrives: record bodies other than those are skipped, and a storage
 * record is inflated while the walker reads it. Records that do not fit — cut short by the end of
 * the stream, or running past the container they are in — are `corrupt`: a storage could be
 * hidden past them.
 */
export const pptFormat: FormatHandler = {
  name: 'ppt',
  input: 'stream',
  sniff: (head, name) => name.split('/').pop() === STREAM_NAME && startsWithRecord(head),
  async unpack(input, context) {
    if (input.kind !== 'stream') throw new Error('ppt: stream input expected');
    await new RecordWalker(new ChunkReader(input.chunks[Symbol.asyncIterator]()), context).walk();
  },
};

const STREAM_NAME = 'PowerPoint Document';
const HEADER = 8;
const CONTAINER = 0xf;
/** The record types of [MS-PPT] 2.13.24 lie in this range (OfficeArt records only nest deeper). */
const FIRST_RECORD_TYPE = 0x03e8;
const LAST_RECORD_TYPE = 0x2f14;

/** Records holding an OLE2 storage, and the member names they get. */
const STORAGE_RECORDS = new Map<number, string>([
  [0x1011, 'embedded-object'], // ExOleObjStg
  [0x1014, 'vba-project'], // VbaProjectStg
  [0x1018, 'activex-control'], // ExControlStg
]);
const STORED = 0;
const COMPRESSED = 1;

export interface RecordHeader {
  version: number;
  instance: number;
  type: number;
  length: number;
}

export function parseRecordHeader(bytes: Buffer, at = 0): RecordHeader {
  const versionAndInstance = bytes.readUInt16LE(at);
  return {
    version: versionAndInstance & 0xf,
    instance: versionAndInstance >> 4,
    type: bytes.readUInt16LE(at + 2),
    length: bytes.readUInt32LE(at + 4),
  };
}

/** The stream starts with a top-level record: a record type of [MS-PPT] (not an OfficeArt one). */
function startsWithRecord(head: Buffer): boolean {
  if (head.length < HEADER) return false;
  const { type } = parseRecordHeader(head);
  return type >= FIRST_RECORD_TYPE && type <= LAST_RECORD_TYPE;
}

/** Exact reads and skips over an async iterator of chunks, counting the bytes consumed. */
export class ChunkReader {
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private reading: Promise<void> | undefined;
  /** Bytes consumed from the start of the stream. */
  position = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** The next `length` bytes, or fewer (maybe none) when the stream ends first. */
  async take(length: number): Promise<Buffer> {
    while (this.buffer.length < length && (await this.more()));
    const bytes = this.buffer.subarray(0, length);
    this.consume(bytes.length);
    return bytes;
  }

  /** Skips up to `length` bytes; resolves with how many were there. */
  async skip(length: number): Promise<number> {
    let skipped = 0;
    while (skipped < length) {
      if (this.buffer.length === 0 && !(await this.more())) break;
      const step = Math.min(length - skipped, this.buffer.length);
      this.consume(step);
      skipped += step;
    }
    return skipped;
  }

  /**
   * The next `length` bytes as they arrive; throws when the stream ends first. Read through a
   * stream pipeline, it may still be reading when its consumer is done: `settled` waits for it.
   */
  async *slice(length: number): AsyncGenerator<Buffer> {
    let finish = () => {};
    this.reading = new Promise<void>((resolve) => (finish = resolve));
    try {
      let remaining = length;
      while (remaining > 0) {
        if (this.buffer.length === 0 && !(await this.more())) {
          throw new Error(`cut short: ${remaining} of its ${length} bytes are missing`);
        }
        const piece = this.buffer.subarray(0, Math.min(remaining, this.buffer.length));
        this.consume(piece.length);
        remaining -= piece.length;
        yield piece;
      }
    } finally {
      finish();
    }
  }

  /** Resolves once the last `slice` stopped reading. */
  async settled(): Promise<void> {
    await this.reading;
  }

  /** True when nothing but zero bytes (padding) is left in the stream. */
  async restIsZeros(): Promise<boolean> {
    for (;;) {
      if (this.buffer.some((byte) => byte !== 0)) return false;
      this.consume(this.buffer.length);
      if (!(await this.more())) return true;
    }
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.buffer = this.buffer.length === 0 ? next.value : Buffer.concat([this.buffer, next.value]);
    return true;
  }

  private consume(length: number): void {
    this.buffer = this.buffer.subarray(length);
    this.position += length;
  }
}

class RecordWalker {
  /** Where each open container ends, innermost last. */
  private readonly containers: number[] = [];
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly reader: ChunkReader,
    private readonly context: UnpackContext,
  ) {}

  async walk(): Promise<void> {
    for (;;) {
      if (this.context.cancelled()) return;
      const at = this.reader.position;
      const bytes = await this.reader.take(HEADER);
      if (bytes.length < HEADER) {
        if (bytes.every((byte) => byte === 0) && (await this.reader.restIsZeros())) break;
        throw new UnpackError('corrupt', `ppt: the record header at byte ${at} is cut short`);
      }
      const header = parseRecordHeader(bytes);
      const end = at + HEADER + header.length;
      while (this.containers.length > 0 && this.containers.at(-1)! <= at) this.containers.pop();
      const parentEnd = this.containers.at(-1);
      if (parentEnd !== undefined && end > parentEnd) {
        throw new UnpackError(
          'corrupt',
          `ppt: the record at byte ${at} (type 0x${header.type.toString(16)}) runs past its container`,
        );
      }
      if (header.version === CONTAINER) {
        this.containers.push(end); // its children follow at once
        continue;
      }
      const kind = STORAGE_RECORDS.get(header.type);
      if (kind !== undefined) {
        const more = await this.storage(kind, header, at);
        await this.reader.settled();
        if (!more) return;
      }
      const left = end - this.reader.position;
      if ((await this.reader.skip(left)) < left) {
        // A storage record cut short was reported at its member already.
        if (kind !== undefined) return;
        throw new UnpackError(
          'corrupt',
          `ppt: the record at byte ${at} (type 0x${header.type.toString(16)}) is cut short`,
        );
      }
    }
    const open = this.containers.filter((end) => end > this.reader.position);
    if (open.length > 0) {
      throw new UnpackError('corrupt', `ppt: the stream ends inside ${open.length} container(s)`);
    }
  }

  /** Hands over one storage record's OLE2 file. False when the walk is over. */
  private async storage(kind: string, header: RecordHeader, at: number): Promise<boolean> {
    const count = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, count);
    const name = `${kind}-${count}.ole`;
    if (header.instance === STORED) {
      return this.context.member(name, this.reader.slice(header.length), { size: header.length });
    }
    if (header.instance !== COMPRESSED || header.length < 4) {
      this.context.unscannable(
        'corrupt',
        `ppt: the record at byte ${at} has neither a stored nor a compressed storage`,
        { member: name },
      );
      return true;
    }
    const sizeBytes = await this.reader.take(4);
    if (sizeBytes.length < 4) {
      this.context.unscannable('corrupt', `ppt: the record at byte ${at} is cut short`, {
        member: name,
      });
      return true;
    }
    const declared = sizeBytes.readUInt32LE(0);
    let compressed = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        compressed += chunk.length;
        callback(null, chunk);
      },
    });
    const inflater = pipeline(
      Readable.from(this.reader.slice(header.length - 4)),
      counter,
      zlib.createInflate({ chunkSize: 64 * 1024 }),
      () => {},
    );
    try {
      return await this.context.member(name, checkedSize(inflater, declared), {
        size: declared,
        compressed: () => compressed,
      });
    } finally {
      // The walker may have stopped reading (a limit): stop the pipeline reading the record.
      inflater.destroy();
    }
  }
}

/** The inflated bytes, failing at the end when they are not as many as the record declares. */
async function* checkedSize(data: AsyncIterable<Buffer>, declared: number): AsyncGenerator<Buffer> {
  let length = 0;
  for await (const chunk of data) {
    length += chunk.length;
    yield chunk;
  }
  if (length !== declared) {
    throw new Error(`it inflates to ${length} bytes, not the ${declared} its record declares`);
  }
}

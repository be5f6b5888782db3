import { close, fstat, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { PositionalFile } from './zip-layout.js';

const CHUNK = 64 * 1024;

/**
 * yauzl's random-access reader over a local file, with every position checked first. yauzl's own
 * reader hands offsets taken from the archive straight to `fs.read`, which throws (inside a
 * callback, so nothing can catch it and the walk never finishes) when a damaged zip64 record
 * points past 2^53. Here such reads fail through the callback and the zip is reported corrupt.
 *
 * yauzl sees the archive from `base` (where its offsets count from: past a self-extractor's stub,
 * text or another archive in front) to `base + size` (the end of its end record: trailing junk
 * is not its business). The walker sweeps what lies outside that window itself.
 */
class CheckedFileReader extends yauzl.RandomAccessReader {
  private closed = false;

  constructor(
    private readonly file: ZipBytes,
    private readonly base: number,
    private readonly size: number,
  ) {
    super();
  }

  private outOfBounds(start: number, end: number): Error | undefined {
    if (
      Number.isSafeInteger(start) &&
      Number.isSafeInteger(end) &&
      start >= 0 &&
      start <= end &&
      end <= this.size
    ) {
      return undefined;
    }
    return new Error(`zip points outside the file (${start}-${end} of ${this.size} bytes)`);
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const error = this.outOfBounds(start, end);
    if (error) {
      return new Readable({
        read() {
          this.destroy(error);
        },
      });
    }
    return new RangeStream(this.file, this.base + start, this.base + end);
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    const error = this.outOfBounds(position, position + length);
    if (error) {
      setImmediate(() => callback(error));
      return;
    }
    this.file.readInto(buffer, offset, length, this.base + position, callback);
  }

  override close(callback: (err: Error | null) => void): void {
    if (this.closed) {
      setImmediate(() => callback(null));
      return;
    }
    this.closed = true;
    close(this.file.fd, callback);
  }
}

/**
 * Positional reads of `[start, end)`. Not `fs.createReadStream({ fd })`: destroying that closes
 * the descriptor, which yauzl shares between entries and closes itself.
 */
class RangeStream extends Readable {
  private position: number;

  constructor(
    private readonly file: ZipBytes,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: CHUNK });
    this.position = start;
  }

  override _read(): void {
    const length = Math.min(CHUNK, this.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    // Bytes kept from finding the end record are handed on as they are (nobody writes to them).
    const kept = this.file.cached(this.position, length);
    if (kept && kept.length === length) {
      this.position += length;
      this.push(kept);
      return;
    }
    const buffer = Buffer.allocUnsafe(length);
    read(this.file.fd, buffer, 0, length, this.position, (err, bytesRead) => {
      if (this.destroyed) return;
      if (err) return void this.destroy(err);
      if (bytesRead === 0) return void this.destroy(new Error('unexpected end of the zip file'));
      this.position += bytesRead;
      this.push(bytesRead < length ? buffer.subarray(0, bytesRead) : buffer);
    });
  }
}

/**
 * The file a zip is read from, every reader of it (yauzl's, the layout's, the sweep's) reading
 * through this one descriptor, and the file's last chunk, read to find the end record, kept in
 * memory (at most `LOCATE_CHUNK`): the end record, the central directory of all but the largest
 * archives, and the whole of a small zip (an Office document) are then served without a read.
 * Each read costs a trip through libuv's thread pool, which for a zip of small members weighs
 * more than the bytes.
 */
export class ZipBytes implements PositionalFile {
  constructor(
    readonly fd: number,
    readonly size: number,
    private readonly kept?: { start: number; bytes: Buffer },
  ) {}

  /** The kept bytes of `[position, position + length)`, cut at the end of the file. */
  cached(position: number, length: number): Buffer | undefined {
    const kept = this.kept;
    if (!kept) return undefined;
    const end = Math.min(position + length, this.size);
    if (position < kept.start || end < position || end - kept.start > kept.bytes.length) {
      return undefined;
    }
    return kept.bytes.subarray(position - kept.start, end - kept.start);
  }

  readInto(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    const kept = this.cached(position, length);
    if (kept) {
      kept.copy(buffer, offset);
      process.nextTick(callback, null, kept.length);
      return;
    }
    read(this.fd, buffer, offset, length, position, (err, bytesRead) => callback(err, bytesRead));
  }

  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }> {
    return new Promise((resolve, reject) => {
      this.readInto(buffer, offset, length, position, (err, bytesRead) =>
        err ? reject(err) : resolve({ bytesRead: bytesRead ?? 0 }),
      );
    });
  }
}

/** A zip as yauzl reads it, and where its window lies in the file (see `CheckedFileReader`). */
export interface OpenedZip {
  zip: yauzl.ZipFile;
  /** The whole file (not only the window), for the walker's own reads. */
  bytes: ZipBytes;
  /** Where the archive's offsets count from: the length of whatever is in front of it. */
  base: number;
  /** Where its end record (with its comment) ends; anything after it is trailing data. */
  end: number;
}

/**
 * Opens a zip for lazy entry reading; names are left undecoded (see `entryName`). The end record
 * is found here rather than by yauzl, which only accepts one ending the file exactly: data
 * appended to an archive does not stop an extractor, nor does a prefix (see `locateArchive`).
 */
export function openZip(file: string, how: { locate?: boolean } = {}): Promise<OpenedZip> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (openError, fd) => {
      if (openError) return reject(openError);
      fstat(fd, (statError, stats) => {
        if (statError) return close(fd, () => reject(statError));
        // Without `locate` (the benchmark's central-directory-only baseline) yauzl finds the end
        // record itself, at the very end of the file, as it did before prefixes were looked for.
        const located =
          how.locate === false
            ? Promise.resolve({ bytes: new ZipBytes(fd, stats.size), window: undefined })
            : locateArchive(fd, stats.size);
        located.then(
          ({ bytes, window }) => {
            const base = window?.base ?? 0;
            const end = window?.end ?? stats.size;
            const reader = new CheckedFileReader(bytes, base, end - base);
            yauzl.fromRandomAccessReader(
              reader,
              end - base,
              {
                lazyEntries: true,
                autoClose: false,
                decodeStrings: false,
                // Not while listing: a stored entry whose two sizes differ would end the listing
                // there. The walker checks every member's sizes as it reads it (and scans the
                // bytes first), so a lie costs that member, not the entries after it.
                validateEntrySizes: false,
              },
              (err, zip) => {
                if (err) return reader.close(() => reject(err));
                // yauzl reports a failed close on the ZipFile after iteration stopped listening.
                zip.on('error', () => {});
                resolve({ zip, bytes, base, end });
              },
            );
          },
          (err: unknown) =>
            close(fd, () => reject(err instanceof Error ? err : new Error(String(err)))),
        );
      });
    });
  });
}

const END_RECORD_BYTES = Buffer.from('PK\x05\x06', 'latin1');
const END_RECORD_SIZE = 22;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_END_RECORD = 0x06064b50;
/** The zip64 end record as archivers write it (no extensible data). */
const ZIP64_END_RECORD_SIZE = 56;
const CENTRAL_HEADER = 0x02014b50;
/** Bytes read at a time while looking backwards for the end record. */
const LOCATE_CHUNK = 1024 * 1024;

/**
 * The last end record in the file that is consistent with a central directory right in front of
 * it, and the prefix its offsets do not count (`base`). This is how Info-ZIP's `unzip` finds an
 * archive behind a self-extractor's stub or appended to another file, and it sees past data
 * appended after the record. Undefined when no end record holds together.
 *
 * The search goes backwards from the end of the file one chunk at a time: an ordinary zip costs
 * one read of its last chunk, which is kept (`ZipBytes`); only a file with data after its
 * archive is read further back.
 */
async function locateArchive(
  fd: number,
  size: number,
): Promise<{ bytes: ZipBytes; window: { base: number; end: number } | undefined }> {
  const lastStart = Math.max(0, size - LOCATE_CHUNK);
  const last = Buffer.allocUnsafe(size - lastStart);
  const bytes = new ZipBytes(fd, size, { start: lastStart, bytes: last });
  const { bytesRead } = await new ZipBytes(fd, size).read(last, 0, last.length, lastStart);
  if (bytesRead < last.length) return { bytes: new ZipBytes(fd, size), window: undefined };
  const bytesAt = async (position: number, length: number): Promise<Buffer | undefined> => {
    if (position < 0 || position + length > size) return undefined;
    const kept = bytes.cached(position, length);
    if (kept) return kept;
    const buffer = Buffer.allocUnsafe(length);
    const read = await bytes.read(buffer, 0, length, position);
    return read.bytesRead === length ? buffer : undefined;
  };
  for (let chunkEnd = size; chunkEnd >= END_RECORD_SIZE;) {
    const chunkStart = Math.max(0, chunkEnd - LOCATE_CHUNK);
    const chunk = await bytesAt(chunkStart, chunkEnd - chunkStart);
    if (!chunk) break;
    for (let i = chunk.lastIndexOf(END_RECORD_BYTES); i >= 0;) {
      const window = await archiveEndingAt(chunkStart + i, size, bytesAt);
      if (window) return { bytes, window };
      i = i > 0 ? chunk.lastIndexOf(END_RECORD_BYTES, i - 1) : -1;
    }
    if (chunkStart === 0) break;
    // A record cut by the chunk's start is found whole in the next chunk.
    chunkEnd = chunkStart + 3;
  }
  return { bytes, window: undefined };
}

/** The archive whose end record is at `at`, if the record holds together. */
async function archiveEndingAt(
  at: number,
  size: number,
  bytesAt: (position: number, length: number) => Promise<Buffer | undefined>,
): Promise<{ base: number; end: number } | undefined> {
  const record = await bytesAt(at, END_RECORD_SIZE);
  if (!record) return undefined;
  const end = at + END_RECORD_SIZE + record.readUInt16LE(20);
  if (end > size) return undefined;
  const entries = record.readUInt16LE(10);
  const directorySize = record.readUInt32LE(12);
  const directoryOffset = record.readUInt32LE(16);
  if (entries === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    return zip64ArchiveEndingAt(at, end, bytesAt);
  }
  const directoryStart = at - directorySize;
  if (directoryStart < 0 || directoryStart < directoryOffset) return undefined;
  if (entries > 0) {
    const head = await bytesAt(directoryStart, 4);
    if (head?.readUInt32LE(0) !== CENTRAL_HEADER) return undefined;
  }
  return { base: directoryStart - directoryOffset, end };
}

/** The same for a zip64 archive: its zip64 end record, declared or found before the locator. */
async function zip64ArchiveEndingAt(
  at: number,
  end: number,
  bytesAt: (position: number, length: number) => Promise<Buffer | undefined>,
): Promise<{ base: number; end: number } | undefined> {
  const locator = await bytesAt(at - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE);
  if (locator?.readUInt32LE(0) !== ZIP64_LOCATOR) return undefined;
  const declared = Number(locator.readBigUInt64LE(8));
  const isRecord = async (position: number) =>
    Number.isSafeInteger(position) &&
    (await bytesAt(position, 4))?.readUInt32LE(0) === ZIP64_END_RECORD;
  if (await isRecord(declared)) return { base: 0, end };
  const found = at - ZIP64_LOCATOR_SIZE - ZIP64_END_RECORD_SIZE;
  if (found >= declared && (await isRecord(found))) return { base: found - declared, end };
  return undefined;
}

import { close, fstat, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';

const CHUNK = 64 * 1024;

/**
 * yauzl's random-access reader over a local file, with every position checked first. yauzl's own
 * reader hands offsets taken from the archive straight to `fs.read`, which throws (inside a
 * callback, so nothing can catch it and the walk never finishes) when a damaged zip64 record
 * points past 2^53. Here such reads fail through the callback and the zip is reported corrupt.
 */
class CheckedFileReader extends yauzl.RandomAccessReader {
  private closed = false;

  constructor(
    private readonly fd: number,
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
    return new RangeStream(this.fd, start, end);
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
    read(this.fd, buffer, offset, length, position, (err, bytesRead) => callback(err, bytesRead));
  }

  override close(callback: (err: Error | null) => void): void {
    if (this.closed) {
      setImmediate(() => callback(null));
      return;
    }
    this.closed = true;
    close(this.fd, callback);
  }
}

/**
 * Positional reads of `[start, end)`. Not `fs.createReadStream({ fd })`: destroying that closes
 * the descriptor, which yauzl shares between entries and closes itself.
 */
class RangeStream extends Readable {
  private position: number;

  constructor(
    private readonly fd: number,
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
    const buffer = Buffer.allocUnsafe(length);
    read(this.fd, buffer, 0, length, this.position, (err, bytesRead) => {
      if (this.destroyed) return;
      if (err) return void this.destroy(err);
      if (bytesRead === 0) return void this.destroy(new Error('unexpected end of the zip file'));
      this.position += bytesRead;
      this.push(bytesRead < length ? buffer.subarray(0, bytesRead) : buffer);
    });
  }
}

/** Opens a zip for lazy entry reading; names are left undecoded (see `entryName`). */
export function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (openError, fd) => {
      if (openError) return reject(openError);
      fstat(fd, (statError, stats) => {
        if (statError) return close(fd, () => reject(statError));
        const reader = new CheckedFileReader(fd, stats.size);
        yauzl.fromRandomAccessReader(
          reader,
          stats.size,
          { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
          (err, zip) => {
            if (err) return reader.close(() => reject(err));
            // yauzl reports a failed close on the ZipFile after iteration stopped listening.
            zip.on('error', () => {});
            resolve(zip);
          },
        );
      });
    });
  });
}

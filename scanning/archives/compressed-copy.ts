import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';

/** Bytes kept in memory before the copy moves to a scratch file. */
const IN_MEMORY = 4 * 1024 * 1024;
const CHUNK = 64 * 1024;

/**
 * A copy of a compressed stream's bytes as they go by, so that a part of it (one gzip member,
 * one zstd frame) can be decoded again once it turns out it must also be scanned alone. The
 * first 4 MiB are kept in memory; past that the copy goes to a scratch file (made by
 * `scratchPath`), so memory stays bounded whatever the size. A stream that is already a local
 * file (`onDisk`) is not copied: it is read again from there.
 */
export class CompressedCopy {
  private chunks: Buffer[] | undefined = [];
  private bytes = 0;
  private file: { path: string; out: WriteStream } | undefined;
  private spilling: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly onDisk: string | undefined,
    private readonly scratchPath: () => Promise<string>,
  ) {}

  /** Adds the next bytes (nothing for a file on disk, nor once `stop` was called). */
  async add(chunk: Buffer): Promise<void> {
    if (this.onDisk || this.stopped) return;
    this.bytes += chunk.length;
    if (this.chunks && this.bytes <= IN_MEMORY) {
      this.chunks.push(chunk);
      return;
    }
    this.spilling ??= this.spill();
    await this.spilling;
    const out = this.file?.out;
    if (out && !out.write(chunk))
      await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }

  /** No more bytes are needed. */
  stop(): void {
    this.stopped = true;
  }

  /** Bytes `start` to `end` of the stream (all of them must have been added). */
  async *range(start: number, end: number): AsyncGenerator<Buffer> {
    if (end <= start) return;
    if (this.onDisk) {
      yield* createReadStream(this.onDisk, { start, end: end - 1, highWaterMark: CHUNK });
      return;
    }
    if (this.chunks) {
      yield Buffer.concat(this.chunks).subarray(start, end);
      return;
    }
    const out = this.file?.out;
    if (!out || !this.file) return;
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.write(Buffer.alloc(0), () => resolve());
    });
    yield* createReadStream(this.file.path, { start, end: end - 1, highWaterMark: CHUNK });
  }

  /** Removes the scratch file, if one was made. */
  async remove(): Promise<void> {
    this.chunks = undefined;
    const file = this.file;
    if (!file) return;
    file.out.destroy();
    await new Promise<void>((resolve) =>
      file.out.closed ? resolve() : file.out.once('close', () => resolve()),
    );
    await rm(file.path, { force: true });
  }

  private async spill(): Promise<void> {
    const path = await this.scratchPath();
    const out = createWriteStream(path);
    out.on('error', () => {}); // seen by the next write or read
    this.file = { path, out };
    const held = this.chunks ?? [];
    this.chunks = undefined;
    for (const chunk of held) {
      if (!out.write(chunk))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  }
}

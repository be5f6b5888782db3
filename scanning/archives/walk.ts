import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, pipeline, type Duplex } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import yauzl from 'yauzl';
import { CompressedCopy } from './compressed-copy.js';
import { EmbeddedArchiveWatch } from './embedded-archives.js';
import { crc32 } from './crc32.js';
import { GzipMembers, gunzipMember } from './gzip-members.js';
import { TarBlocks, type TarSplit } from './tar-blocks.js';
import {
  LocalHeaderSweep,
  plausibleHeaderStart,
  planZipLayout,
  type LocalView,
  type PositionalFile,
  readRange,
  type ByteRange,
  type LocalHeader,
  type ZipLayout,
} from './zip-layout.js';
import { openZip, type OpenedZip } from './zip-reader.js';
import { gzipStoredName, sniffArchive, SNIFF_BYTES, UNDECODED_FORMATS } from './sniff.js';
import { createZstdDecoder, decodeZstd, ZSTD_SLICE, ZstdWindowError } from './zstd.js';
import { decodeContent, decodedMemberName, unsupportedCoding } from './content-encoding.js';
import { UnpackError } from './format.js';
import type {
  ArchiveLimits,
  EmbeddedImage,
  FormatHandler,
  ListedMember,
  UnpackContext,
  UnpackInput,
  Member,
  Unscannable,
  UnscannableReason,
  Visitor,
  WalkOptions,
  WalkResult,
} from './types.js';

/** The expansion ratio is only enforced once a member has produced this many bytes. */
export const RATIO_FLOOR = 1 << 20;
/** At most this many unscannable entries are reported (one is enough for the verdict). */
export const MAX_REPORTED = 100;
/** Chunk size for inflating and for handing member bytes to the visitor. */
const CHUNK = 64 * 1024;
/** Zip compression methods the walker decodes; any other is `unsupported-method`. */
const STORED = 0;
const DEFLATED = 8;
const ZSTD = 93;
const DECODED_METHODS = new Set([STORED, DEFLATED, ZSTD]);
/** Chunk size for reading the top-level file (fewer, larger reads; see readFileChunks). */
const FILE_CHUNK = 1024 * 1024;

/**
 * Walks a file and, recursively, every member of the containers and encodings inside it (zip,
 * gzip, zstd and tar here; the others through `options.formats`), recognised by their bytes. `visit` gets the top-level content (depth 0) and each member
 * at each depth, containers and leaves alike; each stream must be consumed (or `visit` must
 * return) independently: visits of a container and of its members overlap, so a visitor must not
 * serialise them. Bad content never makes this throw: it is reported in `unscannable`. It
 * throws only when the local file (or the scratch directory) cannot be read or written, or when
 * `visit` itself throws — after tearing everything down and removing its temporary files.
 */
export async function walkContent(
  file: { path: string; size: number; name: string },
  limits: ArchiveLimits,
  visit: Visitor,
  options: WalkOptions = {},
): Promise<WalkResult> {
  const walk = new Walk(
    limits,
    visit,
    options.scratchDir ?? tmpdir(),
    options.formats ?? [],
    options.listed,
    options.zipCentralDirectoryOnly ?? false,
  );
  try {
    await walk.content(readFileChunks(file.path, file.size), {
      path: [file.name],
      depth: 0,
      size: file.size,
      cancelled: () => false,
      kind: 'file',
      onDisk: file.path,
    });
    const codings = options.contentEncoding ?? [];
    if (codings.length > 0) await walk.decodedContent(file, codings);
  } finally {
    await walk.cleanup();
  }
  if (walk.failure !== undefined) throw walk.failure;
  return {
    unscannable: walk.unscannable,
    members: walk.members,
    expandedBytes: walk.expandedBytes,
    notes: walk.notes,
  };
}

/**
 * The top-level file's bytes, read with one positioned read per chunk and the next read issued
 * before the current chunk is handed on (so the disk and the matcher work at the same time).
 * A small file costs an open, one read and a close: a read that comes back short once the
 * expected size is reached is taken as the end of the file; otherwise reading goes on to EOF.
 */
async function* readFileChunks(filePath: string, size: number): AsyncGenerator<Buffer> {
  const handle = await open(filePath, 'r');
  let pending: Promise<Buffer> | undefined;
  try {
    // One byte past the expected end, so that a file of the expected size ends on a short read.
    const wanted = (position: number) =>
      position < size ? Math.min(FILE_CHUNK, size - position + 1) : FILE_CHUNK;
    const readAt = (position: number): Promise<Buffer> => {
      const want = wanted(position);
      const buffer = Buffer.allocUnsafe(want);
      const read = handle
        .read(buffer, 0, want, position)
        .then(({ bytesRead }) => (bytesRead === want ? buffer : buffer.subarray(0, bytesRead)));
      // A read that fails while its chunk is not yet awaited must not be an unhandled rejection.
      read.catch(() => undefined);
      return read;
    };
    let position = 0;
    let next = readAt(0);
    for (;;) {
      pending = next;
      const data = await next;
      pending = undefined;
      if (data.length === 0) return;
      const requested = wanted(position);
      position += data.length;
      const atEnd = data.length < requested && position >= size;
      if (!atEnd) {
        next = readAt(position);
        pending = next;
      }
      yield data;
      if (atEnd) return;
    }
  } finally {
    await pending?.catch(() => undefined);
    await handle.close();
  }
}

/** Where a piece of content comes from and what may be done with it. */
interface Scope {
  path: string[];
  depth: number;
  size: number | undefined;
  /** Compressed bytes consumed so far to produce this content (for the ratio limit). */
  compressed?: () => number;
  /** True once whoever produces this content gave up on it: its errors then mean nothing. */
  cancelled: () => boolean;
  /**
   * The container format producing the bytes (`file` at the top level), named in `corrupt`
   * details and given to the visitor as `Member.container`.
   */
  kind: string;
  /** The path to report when the source fails (default: `path`). */
  blame?: string[];
  /** A local file that already holds exactly this content (the top level). */
  onDisk?: string;
  /**
   * These bytes are a second reading of bytes another member produced (a gzip member, a zstd
   * frame, an xz or bzip2 stream scanned alone): not counted again against the expanded-bytes
   * limit, which the other member already applies to them.
   */
  again?: boolean;
  /**
   * Told instead of recording `corrupt` when the source fails: one of several readings of the
   * same bytes, whose failure only counts when no other reading decodes (see `walkListedZip`).
   */
  failed?: (detail: string) => void;
  /** What the container says of these bytes when they are a bare image (MemberInfo.image). */
  image?: EmbeddedImage;
  /** These bytes are an annotation's appearance stream (MemberInfo.appearance). */
  appearance?: boolean;
}

/** The walker's own consumer of a container's bytes, fed alongside the visitor. */
interface Inspector {
  write(chunk: Buffer): Promise<void>;
  /** Every byte was delivered: finish, opening the members still to be opened. */
  end(): Promise<void>;
  /** The content was cut short: tear down without opening anything more. */
  abort(): Promise<void>;
}

/** An inspector that takes no further interest in the bytes. */
const IGNORED: Inspector = {
  write: () => Promise.resolve(),
  end: () => Promise.resolve(),
  abort: () => Promise.resolve(),
};

/** Notes kept for the trace: enough to show what was done, bounded for a hostile archive. */
const MAX_NOTES = 10;

class Walk {
  unscannable: Unscannable[] = [];
  notes: string[] = [];
  members = 0;
  expandedBytes = 0;
  /** The first error of the visitor or of local I/O; the walk stops and rethrows it. */
  failure: Error | undefined;
  /** A walk-wide limit was crossed: open no more members. */
  private stopMembers = false;
  /** The expanded-bytes limit was crossed: no member may produce another byte. */
  private stopBytes = false;
  private scratch: Promise<string> | undefined;
  private temps = 0;
  /** Per zip, the members only a local header describes that are left to 7-Zip (walkZip). */
  private readonly localForSevenZip = new WeakMap<Scope, LocalRecord[]>();
  /** How many leading bytes are gathered before the content is recognised. */
  private readonly sniffBytes: number;
  /**
   * Where the scan of what follows a container's end began (`UnpackContext.after`), by the
   * container's scope: a zip starting right there was opened by that scan, and the sweep for a
   * zip at the file's end leaves it alone.
   */
  private readonly scannedAfter = new WeakMap<Scope, number>();

  constructor(
    private readonly limits: ArchiveLimits,
    private readonly visit: Visitor,
    private readonly scratchBase: string,
    private readonly formats: readonly FormatHandler[],
    private readonly listed: ((member: ListedMember) => void) | undefined,
    /** The zip benchmark's baseline (WalkOptions.zipCentralDirectoryOnly): no sweep at all. */
    private readonly centralDirectoryOnly: boolean,
  ) {
    this.sniffBytes = Math.max(SNIFF_BYTES, ...formats.map((format) => format.sniffBytes ?? 0));
  }

  async cleanup(): Promise<void> {
    if (!this.scratch) return;
    const dir = await this.scratch.catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  /**
   * Reads `source` once, handing every chunk to the visitor and, when the first bytes show a
   * container, to an inspector that opens it. Limits are checked per chunk as it is produced.
   */
  async content(source: AsyncIterable<Uint8Array | string>, scope: Scope): Promise<void> {
    const sink = new VisitorSink();
    const visiting = this.startVisit(sink, scope);
    let inspector: Inspector | undefined;
    let head: Buffer[] | undefined = [];
    let headLength = 0;
    let produced = 0;
    let complete = false;
    let sourceError: unknown;
    try {
      let stopped = false;
      for await (const data of source) {
        const chunk = typeof data === 'string' ? Buffer.from(data) : asBuffer(data);
        if (
          this.halted(scope) ||
          (scope.depth > 0 && !this.account(chunk.length, (produced += chunk.length), scope))
        ) {
          stopped = true;
          break;
        }
        await sink.write(chunk);
        if (head) {
          head.push(chunk);
          headLength += chunk.length;
          if (headLength >= this.sniffBytes) {
            inspector = await this.inspect(head, scope);
            head = undefined;
          }
        } else if (inspector) {
          await inspector.write(chunk);
        }
      }
      complete = !stopped && !this.halted(scope);
      if (complete && head) {
        inspector = await this.inspect(head, scope);
        head = undefined;
      }
    } catch (err) {
      sourceError = err;
    }
    sink.end();
    try {
      if (inspector) await (complete ? inspector.end() : inspector.abort());
    } catch (err) {
      this.fail(err);
    }
    await visiting;
    if (sourceError === undefined) return;
    if (scope.depth === 0) throw asError(sourceError);
    if (!scope.cancelled() && !this.stopBytes && this.failure === undefined) {
      // A zstd frame asking for too large a window is a limit; anything else is damaged data.
      const reason = sourceError instanceof ZstdWindowError ? 'limits-exceeded' : 'corrupt';
      const detail = `${scope.kind}: ${message(sourceError)}`;
      if (scope.failed && reason === 'corrupt') scope.failed(detail);
      else this.record(reason, scope.blame ?? scope.path, detail);
    }
  }

  private startVisit(sink: VisitorSink, scope: Scope): Promise<void> {
    const member: Member = {
      path: [...scope.path],
      size: scope.size,
      stream: sink.stream,
      depth: scope.depth,
      container: scope.kind,
      ...(scope.image ? { image: scope.image } : {}),
      ...(scope.appearance ? { appearance: true } : {}),
    };
    return (async () => {
      try {
        await this.visit(member);
      } catch (err) {
        this.fail(err);
      } finally {
        sink.settle();
      }
    })();
  }

  private halted(scope: Scope): boolean {
    return this.failure !== undefined || scope.cancelled() || (scope.depth > 0 && this.stopBytes);
  }

  /** Counts bytes a member produced; false (and recorded) when that crosses a limit. */
  private account(bytes: number, produced: number, scope: Scope): boolean {
    if (!scope.again) this.expandedBytes += bytes;
    if (this.expandedBytes > this.limits.maxExpandedBytes) {
      this.record(
        'limits-exceeded',
        scope.path,
        `archive content exceeds ${this.limits.maxExpandedBytes} expanded bytes`,
      );
      this.stopBytes = true;
      this.stopMembers = true;
      return false;
    }
    if (scope.compressed && produced > RATIO_FLOOR) {
      const ratio = produced / Math.max(1, scope.compressed());
      if (ratio > this.limits.maxRatio) {
        this.record(
          'limits-exceeded',
          scope.path,
          `expansion ratio exceeds ${this.limits.maxRatio}:1 (${produced} bytes from ${scope.compressed()})`,
        );
        return false;
      }
    }
    return true;
  }

  /** Admits one more archive entry, or records that the member limit was reached. */
  /**
   * A part of a container that is also scanned whole (a gzip member, zstd frame, xz or bzip2
   * stream scanned alone): not counted against the member limit, since its bytes are counted
   * once already and a bgzip file has a member every 64 KiB. What is inside a part counts as
   * expanded bytes like any member, which bounds the work of parts nested in parts.
   */
  private admitPart(): boolean {
    return !this.stopMembers && this.failure === undefined;
  }

  private admitMember(container: string[]): boolean {
    if (this.stopMembers || this.failure !== undefined) return false;
    if (this.members >= this.limits.maxMembers) {
      this.record(
        'limits-exceeded',
        container,
        `more than ${this.limits.maxMembers} archive members`,
      );
      this.stopMembers = true;
      return false;
    }
    this.members += 1;
    return true;
  }

  /**
   * The content as a browser hands it over, its `Content-Encoding` undone: walked as a member of
   * the bytes as sent (one level down), so the byte and ratio limits, the depth and the trace
   * apply to it as to any container's. The file is read a second time for it.
   */
  async decodedContent(
    file: { path: string; size: number; name: string },
    codings: readonly string[],
  ): Promise<void> {
    const unknown = unsupportedCoding(codings);
    if (unknown !== undefined) {
      this.record(
        'unsupported-method',
        [file.name],
        `Content-Encoding: "${unknown}" is a coding Arbiter cannot decode`,
        `content-encoding:${unknown}`,
      );
      return;
    }
    if (this.stopBytes || this.failure !== undefined) return;
    let consumed = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const chunk of readFileChunks(file.path, file.size)) {
        // Counted as they go in, a little at a time, for the ratio limit (as streamInspector).
        for (let at = 0; at < chunk.length; at += CHUNK) {
          const slice = chunk.subarray(at, at + CHUNK);
          consumed += slice.length;
          yield slice;
        }
      }
    }
    await this.content(decodeContent(counted(), codings), {
      path: [file.name, decodedMemberName(codings)],
      depth: 1,
      size: undefined,
      compressed: () => consumed,
      cancelled: () => false,
      kind: 'content-encoding',
      blame: [file.name],
    });
  }

  record(reason: UnscannableReason, path: string[], detail: string, method?: string): void {
    const duplicate = this.unscannable.some(
      (u) =>
        u.reason === reason &&
        u.detail === detail &&
        (isPrefix(u.path, path) || isPrefix(path, u.path)),
    );
    if (duplicate || this.unscannable.length >= MAX_REPORTED) return;
    this.unscannable.push({ reason, path: [...path], detail, ...(method ? { method } : {}) });
  }

  /** Keeps a note for the scan trace (the first `MAX_NOTES`, then a count of the others). */
  note(path: string[], text: string): void {
    if (this.notes.length < MAX_NOTES) this.notes.push(`${path.join('/')}: ${text}`);
    else if (this.notes.length === MAX_NOTES) this.notes.push('more notes left out');
  }

  fail(err: unknown): void {
    this.failure ??= asError(err);
    this.stopMembers = true;
  }

  /** Decides from the first bytes whether (and how) to open the content. */
  private async inspect(head: Buffer[], scope: Scope): Promise<Inspector | undefined> {
    if (this.stopMembers || this.failure !== undefined) return undefined;
    const first = Buffer.concat(head);
    const sniffed = sniffArchive(first);
    const format = sniffed && !UNDECODED_FORMATS.has(sniffed) ? sniffed : undefined;
    const name = scope.path.at(-1) ?? '';
    const handler = format ? undefined : this.formats.find((h) => h.sniff(first, name));
    // A file on disk that does not start as a zip may end as one (see embeddedZipInspector).
    const lookBehind = !this.centralDirectoryOnly && scope.depth < this.limits.maxDepth;
    const embedded =
      format === undefined && !sniffed && scope.onDisk && lookBehind
        ? this.embeddedZipInspector(scope.onDisk, scope)
        : undefined;
    if (embedded) for (const chunk of head) await embedded.write(chunk);
    const archives =
      format === undefined && !sniffed && !handler?.reportsItsEnd
        ? this.embeddedArchiveInspector(scope)
        : undefined;
    if (archives) for (const chunk of head) await archives.write(chunk);
    if (embedded && !handler) return withEmbedded(embedded, archives);
    // Not bounded by depth: at the limit, a zip found there is reported, never taken for data.
    if (!format && !handler && !sniffed && !scope.onDisk && !this.centralDirectoryOnly) {
      const watcher = this.embeddedStreamInspector(scope);
      for (const chunk of head) await watcher.write(chunk);
      return withEmbedded(watcher, archives);
    }
    if (!format && !handler && archives) return archives;
    if (!format && !handler) {
      if (sniffed) {
        this.record(
          'unsupported-method',
          scope.path,
          `${sniffed}: a format Arbiter cannot decode`,
          sniffed,
        );
      }
      return undefined;
    }
    if (scope.depth >= this.limits.maxDepth) {
      this.record(
        'limits-exceeded',
        scope.path,
        `${format ?? handler?.name} nested deeper than ${this.limits.maxDepth} levels`,
      );
      return undefined;
    }
    const inspector = handler
      ? this.handlerInspector(handler, scope)
      : format === 'zip'
        ? this.fileInspector(scope, (file) => this.walkZip(file, scope))
        : format === 'gzip'
          ? this.gzipInspector(first, scope)
          : format === 'zstd'
            ? this.zstdInspector(scope)
            : this.tarInspector(scope);
    for (const chunk of head) await inspector.write(chunk);
    return withEmbedded(embedded ? thenInspector(inspector, embedded) : inspector, archives);
  }

  /**
   * Content with no format of its own, or a document, may hold a 7z or RAR archive further in
   * (behind a PDF's `%%EOF`, appended to an image): 7-Zip and WinRAR find such an archive by its
   * signature and open it, so the walker watches the bytes for a checked signature
   * (embedded-archives.ts) and scans everything from there as a member,
   * `(7z at byte N)` / `(rar at byte N)`, which the 7z or RAR handler then opens (and what
   * follows that archive, from its end). Its bytes are the content's own: counted like a tail
   * (`admitPart`), one level deeper. Content with no such signature costs two searches a chunk.
   */
  private embeddedArchiveInspector(scope: Scope): Inspector | undefined {
    // Not bounded by depth either: past the limit, the archive found is reported as too deep.
    if (!this.formats.some((handler) => handler.name === '7z' || handler.name === 'rar')) {
      return undefined;
    }
    const watch = new EmbeddedArchiveWatch();
    let channel: ChunkChannel | undefined;
    let scanning: Promise<void> | undefined;
    return {
      write: async (chunk) => {
        if (channel) return channel.push(Buffer.from(chunk));
        const found = watch.search(chunk);
        if (!found || this.stopBytes || !this.admitPart()) return;
        const { format, offset } = found.archive;
        this.note(scope.path, `${format} archive found at byte ${offset}, opened`);
        channel = new ChunkChannel();
        scanning = this.content(channel, {
          path: [...scope.path, `(${format} at byte ${offset})`],
          depth: scope.depth + 1,
          size: undefined,
          again: true,
          cancelled: scope.cancelled,
          kind: format,
          blame: scope.path,
        });
        await channel.push(found.bytes);
      },
      end: async () => {
        channel?.end();
        await scanning;
      },
      abort: async () => {
        channel?.close();
        await scanning;
      },
    };
  }

  /**
   * A file that starts as no known format may still end as a zip: behind a self-extractor's
   * stub, text or anything else, where `unzip` finds it from its end record. Only a file on disk
   * is looked at (one read of its tail; nothing is copied), and only an end record that holds
   * together opens it: a file that merely holds the signature is left alone.
   */
  private embeddedZipInspector(file: string, scope: Scope): Inspector {
    // The file's last bytes, kept from the chunks the walk reads anyway: no second open and
    // read per file (which doubled the cost of scanning small files).
    const tail = new TailBytes(END_RECORD_SEARCH);
    return {
      write: (chunk) => {
        tail.push(chunk);
        return Promise.resolve();
      },
      end: async () => {
        if (tail.bytes().includes(END_RECORD_SIGNATURE)) {
          await this.walkZip(file, scope, {
            embedded: true,
            openedFrom: this.scannedAfter.get(scope),
          });
        }
      },
      abort: () => Promise.resolve(),
    };
  }

  /**
   * The same for a member, which is not on disk (past the depth limit, a local header found is
   * reported as limits-exceeded): its bytes are watched for a believable local
   * header, and only from there copied to the scratch folder to be opened as a zip from its end
   * record. Content with no local header in it (nearly all) costs a signature search, no copy.
   */
  private embeddedStreamInspector(scope: Scope): Inspector {
    let carry = Buffer.alloc(0);
    let inner: Inspector | undefined;
    return {
      write: async (chunk) => {
        if (inner) return inner.write(chunk);
        // A header starting in the last bytes of the previous chunk: searched across the seam,
        // so that no chunk is copied while nothing is found.
        const seam =
          carry.length > 0
            ? localHeaderIn(Buffer.concat([carry, chunk.subarray(0, LOCAL_HEADER_SPAN + 1)]))
            : undefined;
        const inCarry = seam !== undefined && seam < carry.length ? seam : undefined;
        const at = inCarry === undefined ? localHeaderIn(chunk) : undefined;
        if (inCarry === undefined && at === undefined) {
          const tail = chunk.length >= LOCAL_HEADER_SPAN ? chunk : Buffer.concat([carry, chunk]);
          carry = Buffer.from(tail.subarray(Math.max(0, tail.length - LOCAL_HEADER_SPAN)));
          return;
        }
        if (scope.depth >= this.limits.maxDepth) {
          // Too deep to be opened: a zip in there is reported, never passed over as data.
          this.record(
            'limits-exceeded',
            scope.path,
            `zip nested deeper than ${this.limits.maxDepth} levels`,
          );
          inner = IGNORED;
          return;
        }
        inner = this.fileInspector(scope, (file) => this.walkZip(file, scope, { embedded: true }));
        if (inCarry !== undefined) await inner.write(carry.subarray(inCarry));
        await inner.write(at === undefined ? chunk : chunk.subarray(at));
      },
      end: () => inner?.end() ?? Promise.resolve(),
      abort: () => inner?.abort() ?? Promise.resolve(),
    };
  }

  // Formats of archives/formats/: handed the content as a stream or as a local file.

  private handlerInspector(handler: FormatHandler, scope: Scope): Inspector {
    let aborted = false;
    const cancelled = () => aborted || scope.cancelled();
    const context = this.unpackContext(handler, scope, cancelled);
    const unpack = (input: UnpackInput) => this.unpack(handler, input, context, scope);
    if (handler.input === 'file') {
      return this.fileInspector(
        scope,
        async (file) => {
          const { size } = await stat(file);
          const input = { kind: 'file', path: file, size } as const;
          const after = (end: number) =>
            this.afterContainer(handler.name, input, end, scope, cancelled);
          await this.unpack(handler, input, { ...context, after }, scope);
        },
        () => (aborted = true),
      );
    }
    const channel = new ChunkChannel();
    const unpacking = unpack({ kind: 'stream', chunks: channel }).finally(() => channel.close());
    return {
      write: (chunk) => channel.push(chunk),
      end: async () => {
        channel.end();
        await unpacking;
      },
      abort: async () => {
        aborted = true;
        channel.close();
        await unpacking;
      },
    };
  }

  /** Runs a handler, turning what it throws into an `Unscannable` for the container. */
  private async unpack(
    handler: FormatHandler,
    input: UnpackInput,
    context: UnpackContext,
    scope: Scope,
  ): Promise<void> {
    try {
      await handler.unpack(input, context);
    } catch (err) {
      if (context.cancelled() || this.stopBytes || this.failure !== undefined) return;
      if (err instanceof UnpackError) {
        this.record(err.reason, scope.path, `${handler.name}: ${err.message}`, err.method);
      } else {
        this.record('corrupt', scope.path, `${handler.name}: ${message(err)}`);
      }
    }
  }

  private unpackContext(
    handler: FormatHandler,
    scope: Scope,
    cancelled: () => boolean,
  ): UnpackContext {
    return {
      path: [...scope.path],
      depth: scope.depth,
      limits: this.limits,
      cancelled: () => cancelled() || this.failure !== undefined,
      member: async (name, data, info = {}) => {
        const admitted = info.again ? this.admitPart() : this.admitMember(scope.path);
        if (cancelled() || this.stopBytes || !admitted) return false;
        if (handler.name === '7z') this.listedSevenZip(name, info.size, scope);
        await this.content(data, {
          path: [...scope.path, name || '(unnamed)'],
          depth: scope.depth + 1,
          size: info.size,
          ...(info.compressed ? { compressed: info.compressed } : {}),
          ...(info.again ? { again: true } : {}),
          ...(info.image ? { image: info.image } : {}),
          ...(info.appearance ? { appearance: true } : {}),
          cancelled,
          kind: handler.name,
        });
        return !cancelled() && !this.stopMembers && !this.stopBytes && this.failure === undefined;
      },
      unscannable: (reason, detail, options = {}) => {
        const path = options.member === undefined ? scope.path : [...scope.path, options.member];
        this.record(reason, path, `${handler.name}: ${detail}`, options.method);
      },
      scratchPath: (suffix) => this.tempFile(suffix),
      // Only a file handed over whole has bytes after its end (handlerInspector).
      after: () => Promise.resolve(),
    };
  }

  /**
   * What follows a container's own data in its file (`UnpackContext.after`): a second archive
   * or appended data, which `7z x`, `cpio -i` or `bsdtar` stop before but which is there for
   * whoever reads on. Scanned as `(after the <kind> data)` from the container's end, zeros and
   * all (an ISO image starts with 32 KiB of them), unless it is nothing but zeros; its bytes are
   * the container's own, so it is a part (`admitPart`), not counted again.
   */
  private async afterContainer(
    kind: string,
    file: { path: string; size: number },
    end: number,
    scope: Scope,
    cancelled: () => boolean,
  ): Promise<void> {
    if (end >= file.size || cancelled() || this.stopBytes || !this.admitPart()) return;
    if (await onlyZeros(file.path, end, file.size)) return;
    this.scannedAfter.set(scope, end);
    this.note(scope.path, `${kind}: ${file.size - end} bytes after the archive's end, scanned too`);
    const bytes = createReadStream(file.path, {
      start: end,
      end: file.size - 1,
      highWaterMark: CHUNK,
    });
    await this.content(bytes, {
      path: [...scope.path, `(after the ${kind} data)`],
      depth: scope.depth + 1,
      size: file.size - end,
      again: true,
      cancelled,
      kind,
      blame: scope.path,
    });
  }

  /** A member the `7z` handler extracted: its content was read, so it is not encrypted. */
  private listedSevenZip(name: string, size: number | undefined, scope: Scope): void {
    this.listed?.({
      path: [...scope.path, name || '(unnamed)'],
      container: '7z',
      containerSize: scope.size,
      name,
      size,
      compressedSize: 0,
      encrypted: false,
      position: undefined,
    });
  }

  // gzip: every member read in turn (gzip-members.ts), as `gzip -d` and `zcat` read the file.
  // The whole decoded output is one member, named after the file (what `zcat` hands out: a
  // payload split across members is whole there). From the second member on, each member is
  // also scanned on its own as `<name> (member N)` (a hash signature matches a member alone),
  // and non-zero bytes after the last member as `(after the gzip data)`. A file of one member
  // costs one decode and one scan, as before; the members after it are decoded once and their
  // bytes handed to both scans.

  private gzipInspector(first: Buffer, scope: Scope): Inspector {
    const name = gunzippedName(scope.path.at(-1) ?? '', first);
    let aborted = false;
    let failure: Error | undefined;
    let wholeDone = false;
    const cancelled = () => aborted || scope.cancelled();
    const scans: Promise<void>[] = [];
    const source = (channel: ChunkChannel, onClose = () => {}) =>
      failingSource(channel, () => failure, onClose);
    const scanPart = (part: string, compressed: (() => number) | undefined): ChunkChannel => {
      const channel = new ChunkChannel();
      scans.push(
        this.content(source(channel), {
          path: [...scope.path, part],
          depth: scope.depth + 1,
          size: undefined,
          ...(compressed ? { compressed, again: true } : {}),
          cancelled,
          kind: 'gzip',
          blame: scope.path,
        }),
      );
      return channel;
    };
    // The first member's compressed bytes, copied until a second member shows that it must be
    // scanned alone too (a file on disk is read again instead).
    const copy = new CompressedCopy(scope.onDisk, () => this.tempFile('.gz'));
    const firstAlone = () => {
      const end = decoder.starts[1] ?? 0;
      copy.stop();
      if (!this.admitPart()) return;
      scans.push(
        this.content(gunzipMember(copy.range(0, end)), {
          path: [...scope.path, `${name} (member 1)`],
          depth: scope.depth + 1,
          size: undefined,
          compressed: () => end,
          again: true,
          cancelled,
          kind: 'gzip',
          blame: scope.path,
        }),
      );
    };
    const whole = new ChunkChannel();
    let member: ChunkChannel | undefined;
    let trailing: ChunkChannel | undefined;
    const decoder: GzipMembers = new GzipMembers({
      memberStart: (index) => {
        member?.end();
        member = undefined;
        if (index === 2) firstAlone();
        if (index > 1 && this.admitPart()) {
          const start = decoder.consumed;
          member = scanPart(`${name} (member ${index})`, () => decoder.consumed - start);
        }
        return Promise.resolve();
      },
      data: async (chunk) => {
        await Promise.all([whole.push(chunk), member?.push(chunk)]);
      },
      trailing: async (chunk) => {
        if (!trailing && this.admitMember(scope.path)) {
          trailing = scanPart('(after the gzip data)', undefined);
        }
        await trailing?.push(chunk);
      },
    });
    scans.push(
      this.content(
        source(whole, () => (wholeDone = true)),
        {
          path: [...scope.path, name],
          depth: scope.depth + 1,
          size: undefined,
          compressed: () => decoder.consumed,
          cancelled,
          kind: 'gzip',
          blame: scope.path,
        },
      ),
    );
    const settle = async () => {
      for (const channel of [whole, member, trailing]) channel?.end();
      // Scans started by the last bytes decoded are in `scans` by now.
      await Promise.all(scans);
      await copy.remove();
    };
    const stopped = () => aborted || wholeDone || failure !== undefined;
    return {
      write: async (chunk) => {
        if (decoder.count <= 1) await copy.add(chunk);
        else copy.stop();
        // CHUNK-sized slices: 1 MiB of a deflate bomb inflates to ~1 GB.
        for (let at = 0; at < chunk.length && !stopped(); at += CHUNK) {
          await decoder.write(chunk.subarray(at, at + CHUNK)).catch((err: unknown) => {
            failure = asError(err);
          });
        }
      },
      end: async () => {
        if (!stopped()) await decoder.end().catch((err: unknown) => (failure = asError(err)));
        decoder.destroy();
        await settle();
      },
      abort: async () => {
        aborted = true;
        decoder.destroy();
        for (const channel of [whole, member, trailing]) channel?.close();
        await settle();
      },
    };
  }

  // zstd: the frames (concatenated and skippable) are decoded as one stream while it is read:
  // one member, named after the file. When there is more than one frame, each is then decoded
  // again from a copy of the compressed bytes and scanned alone, `<name> (frame N)`.

  private zstdInspector(scope: Scope): Inspector {
    const name = decompressedName(scope.path.at(-1) ?? '', /\.(zst|zstd)$/i, '(zstd content)');
    const frames: number[] = [];
    const copy = new CompressedCopy(scope.onDisk, () => this.tempFile('.zst'));
    let total = 0;
    let trailing: number | undefined;
    const whole = this.streamInspector(
      createZstdDecoder(
        (offset) => frames.push(offset),
        (offset) => (trailing = offset),
      ),
      { name, kind: 'zstd', slice: ZSTD_SLICE },
      scope,
    );
    return {
      write: async (chunk) => {
        total += chunk.length;
        await copy.add(chunk);
        await whole.write(chunk);
      },
      end: async () => {
        try {
          const reported = this.unscannable.length;
          await whole.end();
          const end = trailing ?? total;
          // A stream that did not decode whole is reported already: its frames are not tried.
          if (frames.length > 1 && this.unscannable.length === reported) {
            await this.zstdFrames(frames, end, copy, name, scope);
          }
          if (end < total) await this.afterZstd(copy, end, total, scope);
        } finally {
          await copy.remove();
        }
      },
      abort: async () => {
        await whole.abort();
        await copy.remove();
      },
    };
  }

  /**
   * Bytes after the last frame that start no further frame: `zstdcat` hands out the frames, then
   * complains; the bytes are scanned as `(after the zstd data)` (opened if they are an archive),
   * as gzip's are, never making the stream unscannable.
   */
  private async afterZstd(
    copy: CompressedCopy,
    start: number,
    end: number,
    scope: Scope,
  ): Promise<void> {
    if (scope.cancelled() || this.stopBytes || !this.admitPart()) return;
    this.note(scope.path, `zstd: ${end - start} bytes after the last frame, scanned too`);
    await this.content(copy.range(start, end), {
      path: [...scope.path, '(after the zstd data)'],
      depth: scope.depth + 1,
      size: end - start,
      again: true,
      cancelled: scope.cancelled,
      kind: 'zstd',
      blame: scope.path,
    });
  }

  /** Scans each frame of a multi-frame zstd stream alone (skippable frames go with the frame before). */
  private async zstdFrames(
    frames: number[],
    total: number,
    copy: CompressedCopy,
    name: string,
    scope: Scope,
  ): Promise<void> {
    for (const [index, start] of frames.entries()) {
      if (scope.cancelled() || this.stopMembers || this.stopBytes || this.failure) return;
      if (!this.admitPart()) return;
      const end = frames[index + 1] ?? total;
      const counter = { bytes: 0 };
      await this.content(decodeZstd(copy.range(start, end), counter), {
        path: [...scope.path, `${name} (frame ${index + 1})`],
        depth: scope.depth + 1,
        size: undefined,
        compressed: () => counter.bytes,
        again: true,
        cancelled: scope.cancelled,
        kind: 'zstd',
        blame: scope.path,
      });
    }
  }

  /** Feeds a compressed stream to `decoder`; its output is the one member, at depth + 1. */
  private streamInspector(
    decoder: Duplex,
    member: { name: string; kind: string; slice: number },
    scope: Scope,
  ): Inspector {
    decoder.on('error', () => {}); // seen by the member's reader
    let consumed = 0;
    let aborted = false;
    const inner = this.content(decoder, {
      path: [...scope.path, member.name],
      depth: scope.depth + 1,
      size: undefined,
      compressed: () => consumed,
      cancelled: () => aborted || scope.cancelled(),
      kind: member.kind,
      blame: scope.path,
    });
    return {
      write: async (chunk) => {
        // In slices: compressed bytes are counted as they go in, and the ratio limit must see
        // them a little at a time.
        for (let at = 0; at < chunk.length; at += member.slice) {
          if (decoder.destroyed || decoder.writableEnded) return;
          const slice = chunk.subarray(at, at + member.slice);
          consumed += slice.length;
          if (!decoder.write(slice)) await drained(decoder);
        }
      },
      end: async () => {
        if (!decoder.destroyed) decoder.end();
        await inner;
      },
      abort: async () => {
        aborted = true;
        decoder.destroy();
        await inner;
      },
    };
  }

  // tar: entries are streamed out of the container as it is read.

  private tarInspector(scope: Scope): Inspector {
    // allowUnknownFormat: old-style (v7) tars have no "ustar" magic; the header checksum still counts.
    const extract = tarStream.extract({ allowUnknownFormat: true } as Parameters<
      typeof tarStream.extract
    >[0]);
    let aborted = false;
    let error: Error | undefined;
    const cancelled = () => aborted || scope.cancelled();
    const closed = new Promise<void>((resolve) => extract.on('close', () => resolve()));
    extract.on('error', (err: Error) => (error ??= err));
    let files = 0;
    extract.on('entry', (header, stream, next) => {
      if (isTarFile(header)) files += 1;
      this.tarEntry(header, stream as AsyncIterable<Uint8Array>, scope, cancelled, files).then(
        (more) => (more ? next() : extract.destroy()),
        (err: unknown) => {
          this.fail(err);
          extract.destroy();
        },
      );
    });
    const gone = () =>
      extract.destroyed || (extract as { destroying?: boolean }).destroying === true;
    // Past the end-of-archive blocks: further tars go on to `extract`, other data is scanned as
    // `(after the tar data)` (tar-blocks.ts).
    const blocks = new TarBlocks();
    let after: ChunkChannel | undefined;
    let afterScan: Promise<void> | undefined;
    const deliver = async (split: TarSplit) => {
      for (const part of split.tar) {
        if (gone()) break;
        if (!extract.write(part)) await drained(extract);
      }
      for (const part of split.after) {
        if (!after && !cancelled() && this.admitMember(scope.path)) {
          after = new ChunkChannel();
          afterScan = this.content(after, {
            path: [...scope.path, '(after the tar data)'],
            depth: scope.depth + 1,
            size: undefined,
            cancelled,
            kind: 'tar',
          });
        }
        await after?.push(part);
      }
    };
    return {
      write: (chunk) => deliver(blocks.feed(chunk)),
      end: async () => {
        await deliver(blocks.finish());
        if (!gone()) extract.end(undefined);
        await closed;
        after?.end();
        await afterScan;
        if (error && !cancelled() && !this.stopBytes)
          this.record('corrupt', scope.path, `tar: ${error.message}`);
      },
      abort: async () => {
        aborted = true;
        extract.destroy();
        await closed;
        after?.close();
        await afterScan;
      },
    };
  }

  /** Scans one tar entry; false stops the tar (a limit was reached). */
  private async tarEntry(
    header: tarStream.Header,
    stream: AsyncIterable<Uint8Array>,
    scope: Scope,
    cancelled: () => boolean,
    files: number,
  ): Promise<boolean> {
    if (cancelled() || !this.admitMember(scope.path)) return false;
    const size = header.size ?? 0;
    if (isTarFile(header)) {
      this.listed?.({
        path: [...scope.path, header.name || '(unnamed)'],
        container: 'tar',
        containerSize: scope.size,
        name: header.name,
        size,
        compressedSize: size,
        encrypted: false,
        position: files,
      });
    }
    const hasData =
      header.type !== 'directory' &&
      (header.type === 'file' ||
        header.type === 'contiguous-file' ||
        header.type == null ||
        size > 0);
    if (!hasData) {
      try {
        for await (const _ of stream) void _;
      } catch {
        return false;
      }
      return true;
    }
    await this.content(stream, {
      path: [...scope.path, header.name || '(unnamed)'],
      depth: scope.depth + 1,
      size,
      cancelled,
      kind: 'tar',
    });
    return !cancelled() && !this.stopMembers && !this.stopBytes;
  }

  // zip (and formats that need random access): a nested container is first copied to the
  // scratch directory.

  private fileInspector(
    scope: Scope,
    open: (file: string) => Promise<void>,
    onAbort: () => void = () => {},
  ): Inspector {
    const onDisk = scope.onDisk;
    if (onDisk) {
      return {
        write: async () => {},
        end: () => open(onDisk),
        abort: () => {
          onAbort();
          return Promise.resolve();
        },
      };
    }
    // Set when the copy is thrown away: a write still in flight then fails with "write after
    // destroy", which is no I/O problem.
    let discarded = false;
    const copy = this.tempFile('.bin').then((path) => {
      const out = createWriteStream(path);
      out.on('error', (err) => {
        if (!discarded) this.fail(err);
      });
      return { path, out };
    });
    copy.catch((err: unknown) => this.fail(err));
    const finish = async (walk: boolean) => {
      const target = await copy.catch(() => undefined);
      if (!target) return;
      try {
        if (walk && !target.out.destroyed) {
          await endWriter(target.out);
          if (this.failure === undefined) await open(target.path);
        } else {
          onAbort();
          discarded = true;
          target.out.destroy();
          await closedWriter(target.out);
        }
      } finally {
        await rm(target.path, { force: true });
      }
    };
    return {
      write: async (chunk) => {
        const target = await copy.catch(() => undefined);
        if (!target || target.out.destroyed) return;
        if (!target.out.write(chunk)) await drained(target.out);
      },
      end: () => finish(true),
      abort: () => finish(false),
    };
  }

  /**
   * Lists the central directory, plans the layout (zip-layout.ts: overlapping entries are not
   * read twice), scans the members only a local header describes, then the listed members (each
   * also as its local header reads it, where that disagrees), then sweeps what follows the
   * directory. A zip that cannot be opened (no readable central directory) is swept whole for
   * local headers; with `embedded` (a file that only seemed to end in a zip) it is left alone.
   */
  private async walkZip(
    file: string,
    scope: Scope,
    how: { embedded?: boolean; openedFrom?: number | undefined } = {},
  ): Promise<void> {
    let opened: OpenedZip;
    try {
      opened = await openZip(file, { locate: !this.centralDirectoryOnly });
    } catch (err) {
      // A file that only looked as if it ended in a zip is just not one.
      if (scope.cancelled() || how.embedded) return;
      this.record(zipErrorReason(err), scope.path, `zip: ${message(err)}`);
      if (this.centralDirectoryOnly) return;
      await this.withFile(file, async (handle) => {
        const { size } = await handle.stat();
        await this.walkLocalOnly(handle, { start: 0, end: size }, 'end of file', scope);
      });
      await this.decodeLocalRecords(file, scope);
      return;
    }
    if (how.embedded && opened.base === how.openedFrom) {
      // The zip starts where a container's end is: the scan of what follows it opened it.
      opened.zip.close();
      return;
    }
    const undecoded: DeferredMember[] = [];
    const { zip } = opened;
    try {
      if (this.centralDirectoryOnly) await this.walkCentralDirectory(zip, scope, undecoded);
      else await this.walkListedZip(opened, scope, undecoded);
    } catch (err) {
      this.fail(err);
    } finally {
      zip.close();
    }
    if (undecoded.length > 0) {
      await this.archiveAlone(file, opened, (alone) =>
        this.decodeZipMembers(alone, undecoded, scope),
      );
    }
    await this.decodeLocalRecords(file, scope);
  }

  /**
   * Hands the members only a local header describes, in methods 7-Zip decodes (bzip2, LZMA, …),
   * to it: their local records copied one after another under a central directory written for
   * them, since 7-Zip finds members through one. One 7-Zip run per zip, whatever their number;
   * past 4 GiB or 65,535 records (the directory would need zip64) the rest are
   * `unsupported-method`.
   */
  private async decodeLocalRecords(file: string, scope: Scope): Promise<void> {
    const records = this.localForSevenZip.get(scope) ?? [];
    this.localForSevenZip.delete(scope);
    if (records.length === 0 || scope.cancelled() || this.stopBytes) return;
    if (this.stopMembers || this.failure !== undefined) return;
    const { size } = await stat(file);
    const whole = records.filter(({ header, end, readOtherwise }) => {
      if (end <= size) return true;
      // Cut short by the end of the file: nothing for 7-Zip to decode.
      const path = [...scope.path, localName(header)];
      const detail = 'zip: member cut short by the end of the file';
      if (readOtherwise) this.note(path, `${detail}; the entry's other reading decoded`);
      else this.record('corrupt', path, detail);
      return false;
    });
    let total = 0;
    const fitting = whole.filter(
      ({ header, end }, i) => (total += end - header.offset) < 2 ** 32 && i < 0xffff,
    );
    for (const { header } of whole.slice(fitting.length)) {
      this.supportedMethod(header.method, [...scope.path, localName(header)]);
    }
    const copy = await this.tempFile('.zip');
    try {
      await this.withFile(file, (handle) =>
        pipelineAsync(Readable.from(rebuiltZip(handle, fitting)), createWriteStream(copy)),
      );
      if (this.failure !== undefined) return;
      const members = fitting.map(({ header, readOtherwise }) => ({
        name: localName(header),
        stored: yauzl.getFileNameLowLevel(header.flags, header.nameRaw, [], true),
        method: header.method,
        ...(readOtherwise ? { readOtherwise } : {}),
      }));
      await this.decodeZipMembers(copy, members, scope);
    } finally {
      await rm(copy, { force: true });
    }
  }

  /**
   * Runs `use` on the zip alone. 7-Zip reads a file from its first archive: behind another zip
   * (two back to back) it would read that one and miss this one's members, so a zip whose
   * offsets do not count from the file's start is copied out, from where they count to its end
   * record.
   */
  private async archiveAlone(
    file: string,
    { base, end }: OpenedZip,
    use: (file: string) => Promise<void>,
  ): Promise<void> {
    if (base === 0) return use(file);
    const copy = await this.tempFile('.zip');
    try {
      await this.withFile(file, (handle) =>
        pipelineAsync(Readable.from(readRange(handle, base, end, CHUNK)), createWriteStream(copy)),
      );
      if (this.failure === undefined) await use(copy);
    } finally {
      await rm(copy, { force: true });
    }
  }

  /** Opens the zip's file for the walker's own reads; local I/O errors stop the walk. */
  private async withFile(file: string, use: (handle: FileHandle) => Promise<void>): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'r');
      await use(handle);
    } catch (err) {
      this.fail(err);
    } finally {
      await handle?.close();
    }
  }

  /**
   * Every read goes through the zip's own descriptor and the file's last chunk kept from finding
   * the end record (`ZipBytes`): a small zip is read from disk once.
   */
  private async walkListedZip(
    { zip, bytes: handle, base, end }: OpenedZip,
    scope: Scope,
    undecoded: DeferredMember[],
  ): Promise<void> {
    const directoryStart = base + entryCursor(zip);
    // One entry past the member limit is enough for admitMember to report it.
    const listing = await listEntries(zip, this.limits.maxMembers + 1);
    const directory = { start: directoryStart, end: base + entryCursor(zip) };
    const fileSize = handle.size;
    const layout = await planZipLayout(handle, fileSize, listing.entries, directory, base);
    if (base > 0) this.note(scope.path, `zip: ${base} bytes in front of the archive, swept too`);
    if (end < fileSize) {
      this.note(scope.path, `zip: ${fileSize - end} bytes after the archive, swept too`);
    }
    const notRead = this.unreadEntries(layout, fileSize, scope);
    if (notRead.size > 0) {
      this.record(
        'limits-exceeded',
        scope.path,
        `zip: overlapping zip entries (${notRead.size} of ${listing.entries.length} not read: their bytes belong to another entry or to the central directory)`,
      );
    }
    for (const gap of layout.gaps) await this.walkLocalOnly(handle, gap, 'listed entry', scope);
    const documentLike = this.listed !== undefined && typedAsDocument(listing.entries);
    let disagreeing = false;
    for (const [index, entry] of listing.entries.entries()) {
      if (scope.cancelled() || this.stopBytes || !this.admitMember(scope.path)) break;
      this.listedZipEntry(zip, entry, index, documentLike, scope);
      if (notRead.has(entry) || layout.duplicates.has(entry)) continue;
      const local = layout.local.get(entry);
      const disagreement = local && viewsDisagree(entry, local.header);
      if (disagreement) disagreeing = true;
      const deferred = undecoded.length;
      // Names alone disagreeing read the same bytes the same way: read once, as listed.
      if (!local || !disagreement || !readsDifferently(entry, local.header)) {
        if (disagreement) {
          this.note(
            [...scope.path, entryName(entry)],
            `zip: the local header differs (${disagreement}); read as listed`,
          );
        }
        await this.zipEntry(zip, entry, scope, undecoded, { local, base });
        keepLocalRecord(undecoded, deferred, local);
        continue;
      }
      this.note(
        [...scope.path, entryName(entry)],
        `zip: the local header differs (${disagreement}); read both ways`,
      );
      // The two views disagree: scan the data under each reading. One that does not decode is
      // what an extractor trusting that view would fail on too; only when none decodes is the
      // entry unscannable.
      const failures: Array<{ path: string[]; detail: string }> = [];
      const quiet = (path: string[], detail: string) => failures.push({ path, detail });
      const listedRead = await this.zipEntry(zip, entry, scope, undecoded, { quiet });
      keepLocalRecord(undecoded, deferred, local);
      // Set aside for 7-Zip (another method in the directory): that reading is still to come.
      const listedDecoded = listedRead && undecoded.length === deferred;
      const label = `${localName(local.header)} (local header at byte ${local.header.offset}: ${disagreement})`;
      const localRead = await this.localView(handle, local, label, scope, quiet, listedDecoded);
      if (localRead) for (const member of undecoded.slice(deferred)) member.readOtherwise = true;
      if (!listedRead && !localRead && !scope.cancelled()) {
        for (const failure of failures) this.record('corrupt', failure.path, failure.detail);
      }
    }
    // 7-Zip refuses a zip whose directory disagrees with a local header: the members left to it
    // are handed over as their local records instead, under a directory written for them.
    if (disagreeing) this.setAsideLocalRecords(undecoded, scope);
    if (listing.error !== undefined && !scope.cancelled()) {
      const err = listing.error;
      this.record(zipErrorReason(err), scope.path, `zip: ${message(err)}`);
    }
    // After the directory: the end record, its comment and whatever follows (another archive's
    // members, appended data), read the way a streaming extractor would.
    if (!scope.cancelled()) {
      await this.walkLocalOnly(
        handle,
        { start: directory.end, end: fileSize },
        'end of file',
        scope,
      );
    }
  }

  /** Moves the members left to 7-Zip whose local record is known to `localForSevenZip`. */
  private setAsideLocalRecords(undecoded: DeferredMember[], scope: Scope): void {
    const records = this.localForSevenZip.get(scope) ?? [];
    for (const member of undecoded) if (member.local) records.push(member.local);
    this.localForSevenZip.set(scope, records);
    const listedOnly = undecoded.filter((member) => !member.local);
    undecoded.splice(0, undecoded.length, ...listedOnly);
  }

  /**
   * The listed entries not read, reported as overlapping. Entries listed again over the same data
   * are read once (a tool that lists a file twice writes an ordinary zip) unless what they stand
   * for — each writing the whole member again — passes the ratio limit against the zip's own
   * size: then they are the "non-recursive" zip bomb, and are reported with the overlaps.
   */
  private unreadEntries(
    layout: ZipLayout<yauzl.Entry>,
    fileSize: number,
    scope: Scope,
  ): Set<yauzl.Entry> {
    const notRead = new Set(layout.skipped);
    if (layout.duplicates.size === 0) return notRead;
    let repeatedBytes = 0;
    for (const entry of layout.duplicates.keys()) repeatedBytes += entry.uncompressedSize;
    if (repeatedBytes > Math.max(RATIO_FLOOR, this.limits.maxRatio * fileSize)) {
      for (const entry of layout.duplicates.keys()) notRead.add(entry);
    } else {
      this.note(
        scope.path,
        `zip: ${layout.duplicates.size} entries listed again over another entry's data, read once`,
      );
    }
    return notRead;
  }

  /**
   * The zip benchmark's baseline: every entry the central directory lists, read as listed, and
   * nothing else (no layout, no local view, no sweep): the reader before zips were read both
   * ways, kept so that the benchmark can measure what the sweep costs. Never used by the service.
   */
  private async walkCentralDirectory(
    zip: yauzl.ZipFile,
    scope: Scope,
    undecoded: DeferredMember[],
  ): Promise<void> {
    const listing = await listEntries(zip, this.limits.maxMembers + 1);
    const documentLike = this.listed !== undefined && typedAsDocument(listing.entries);
    for (const [index, entry] of listing.entries.entries()) {
      if (scope.cancelled() || this.stopBytes || !this.admitMember(scope.path)) break;
      this.listedZipEntry(zip, entry, index, documentLike, scope);
      await this.zipEntry(zip, entry, scope, undecoded);
    }
    if (listing.error !== undefined && !scope.cancelled()) {
      this.record(zipErrorReason(listing.error), scope.path, `zip: ${message(listing.error)}`);
    }
  }

  /** Tells `listed` (container metadata signatures) about an entry the central directory lists. */
  private listedZipEntry(
    zip: yauzl.ZipFile,
    entry: yauzl.Entry,
    index: number,
    documentLike: boolean,
    scope: Scope,
  ): void {
    this.listed?.({
      path: [...scope.path, entryName(entry)],
      container: 'zip',
      containerSize: zip.fileSize,
      name: storedName(entry),
      size: entry.uncompressedSize,
      compressedSize: entry.compressedSize,
      encrypted: entry.isEncrypted(),
      position: index + 1,
      documentLike,
    });
  }

  /**
   * Reads an entry's data as its local header describes it (name, method, sizes; without sizes,
   * to the end of the compressed stream), up to the next entry read. True when it decoded.
   */
  private async localView(
    handle: PositionalFile,
    view: LocalView,
    label: string,
    scope: Scope,
    quiet: (path: string[], detail: string) => void,
    listedDecoded: boolean,
  ): Promise<boolean> {
    const sweep = new LocalHeaderSweep(handle);
    let decoded = false;
    await this.localOnlyMember(handle, sweep, view.header, view.limit, 'end of file', scope, {
      label,
      quiet,
      decoded: () => (decoded = true),
      listedDecoded,
    });
    return decoded;
  }

  /**
   * Scans one member the central directory lists, as the directory describes it. With `quiet`, a
   * failure to decode is handed to it instead of recorded; true when the member decoded (or
   * holds nothing, or was set aside for another decoder). With `local` (its local header, read
   * by the layout) its data is opened from there, without yauzl reading the header again.
   */
  private async zipEntry(
    zip: yauzl.ZipFile,
    entry: yauzl.Entry,
    scope: Scope,
    undecoded: DeferredMember[],
    how: {
      quiet?: (path: string[], detail: string) => void;
      local?: LocalView;
      base?: number;
    } = {},
  ): Promise<boolean> {
    const { quiet } = how;
    const name = entryName(entry);
    // A directory holds nothing; a name ending in `/` with data is a file all the same.
    if (name.endsWith('/') && entry.uncompressedSize === 0 && entry.compressedSize === 0) {
      return true;
    }
    const path = [...scope.path, name];
    if (entry.isEncrypted()) {
      this.record('encrypted', path, 'zip: encrypted member');
      return true;
    }
    const defer = () =>
      undecoded.push({ name, stored: storedName(entry), method: entry.compressionMethod });
    if (!this.supportedMethod(entry.compressionMethod, path, defer)) return true;
    let raw: Readable;
    try {
      raw = await openEntryData(zip, entry, how.local, how.base ?? 0);
    } catch (err) {
      if (quiet) quiet(path, `zip: ${message(err)}`);
      else this.record('corrupt', path, `zip: ${message(err)}`);
      return false;
    }
    let decoded = true;
    const counter = { bytes: 0, consumed: undefined };
    await this.content(
      zipMemberData(raw, entry.compressionMethod, counter, {
        size: entry.uncompressedSize,
        crc: () => Promise.resolve(entry.crc32),
      }),
      {
        path,
        depth: scope.depth + 1,
        size: entry.uncompressedSize,
        compressed: () => counter.bytes,
        cancelled: scope.cancelled,
        kind: 'zip',
        ...(quiet
          ? {
              failed: (detail: string) => {
                decoded = false;
                quiet(path, detail);
              },
            }
          : {}),
      },
    );
    return decoded;
  }

  /**
   * Whether the walker decodes the method itself. When it does not and a format handler named
   * `zip` is there (7-Zip), `defer` sets the member aside for it instead of reporting it.
   */
  private supportedMethod(method: number, path: string[], defer?: () => void): boolean {
    if (DECODED_METHODS.has(method)) return true;
    if (defer && this.zipMethods()) {
      defer();
      return false;
    }
    this.record(
      'unsupported-method',
      path,
      `zip: unsupported compression method ${method}`,
      `zip:${method}`,
    );
    return false;
  }

  /** The handler that decodes the zip members the walker cannot (by name, from the zip file). */
  private zipMethods(): FormatHandler | undefined {
    return this.formats.find((handler) => handler.name === 'zip');
  }

  /**
   * Hands the listed members in other methods (bzip2, LZMA, PPMd, Deflate64, …) to `zip`, by
   * their names as stored. One it neither scanned nor reported (a name it read differently) is
   * reported here: never left out silently.
   */
  private async decodeZipMembers(
    file: string,
    members: DeferredMember[],
    scope: Scope,
  ): Promise<void> {
    const handler = this.zipMethods();
    if (!handler || scope.cancelled() || this.stopMembers || this.failure !== undefined) return;
    // They were admitted as listed entries; the handler's context admits them again.
    this.members -= members.length;
    const { size } = await stat(file);
    const seen = new Set<string>();
    const base = this.unpackContext(handler, scope, scope.cancelled);
    const context: UnpackContext = {
      ...base,
      member: (name, data, info) => {
        seen.add(slashed(name));
        return base.member(name, data, info);
      },
      unscannable: (reason, detail, options = {}) => {
        if (options.member !== undefined) seen.add(slashed(options.member));
        base.unscannable(reason, detail, options);
      },
    };
    const input: UnpackInput = {
      kind: 'file',
      path: file,
      size,
      members: members.map((member) => member.stored),
    };
    const reportedBefore = this.unscannable.length;
    await this.unpack(handler, input, context, scope);
    this.noteFailuresOfReadOtherwise(reportedBefore, members, scope);
    if (scope.cancelled() || this.stopMembers || this.stopBytes || this.failure !== undefined)
      return;
    for (const member of members) {
      if (seen.has(slashed(member.stored))) continue;
      if (member.readOtherwise) {
        this.note(
          [...scope.path, member.name],
          `zip: compression method ${member.method} not decoded; the entry's other reading decoded`,
        );
        continue;
      }
      this.record(
        'unsupported-method',
        [...scope.path, member.name],
        `zip: compression method ${member.method} not decoded (${handler.name} did not extract it)`,
        `zip:${member.method}`,
      );
    }
  }

  /**
   * Turns what the handler reported since `reportedBefore` about members read otherwise (or
   * about the zip as a whole, when every member it was given was) into notes: another reading
   * of those entries decoded. Findings inside what it did extract stay reported.
   */
  private noteFailuresOfReadOtherwise(
    reportedBefore: number,
    members: DeferredMember[],
    scope: Scope,
  ): void {
    const readOtherwise = new Set(
      members.filter((member) => member.readOtherwise).map((member) => member.name),
    );
    if (readOtherwise.size === 0) return;
    const wholeZipToo = readOtherwise.size === members.length;
    const depth = scope.path.length;
    const reported = this.unscannable.splice(reportedBefore);
    for (const failure of reported) {
      const aboutZip = failure.path.length === depth;
      const aboutMember =
        failure.path.length === depth + 1 && readOtherwise.has(failure.path[depth] ?? '');
      if ((aboutZip && wholeZipToo) || aboutMember) {
        this.note(failure.path, `${failure.detail}; the entry's other reading decoded`);
      } else {
        this.unscannable.push(failure);
      }
    }
  }

  /**
   * Reads a stretch of the zip no listed entry claims the way a streaming extractor would: each
   * local header found there is a member, scanned, and the sweep goes on after its data. `bound`
   * says what follows the stretch: a listed entry (or the central directory), whose bytes a
   * member running past the stretch would share, or the end of a file without a directory.
   */
  private async walkLocalOnly(
    handle: PositionalFile,
    gap: ByteRange,
    bound: GapBound,
    scope: Scope,
  ): Promise<void> {
    const sweep = new LocalHeaderSweep(handle);
    for (let at = gap.start; at < gap.end;) {
      if (scope.cancelled() || this.stopBytes || this.stopMembers || this.failure) return;
      const header = await sweep.findLocalHeader(at, gap.end);
      if (!header || !this.admitMember(scope.path)) return;
      const next = await this.localOnlyMember(handle, sweep, header, gap.end, bound, scope);
      at = Math.max(next, header.offset + 1);
    }
  }

  /**
   * Scans one member only a local header describes; returns where the sweep goes on. `reading`
   * makes it the local view of a listed entry: named by its label, its failures handed to
   * `quiet`, `decoded` told when it decodes.
   */
  private async localOnlyMember(
    handle: PositionalFile,
    sweep: LocalHeaderSweep,
    header: LocalHeader,
    gapEnd: number,
    bound: GapBound,
    scope: Scope,
    reading?: {
      label: string;
      quiet: (path: string[], detail: string) => void;
      decoded: () => void;
      /** The entry's listed reading decoded already. */
      listedDecoded: boolean;
    },
  ): Promise<number> {
    const name = localName(header);
    const path = [
      ...scope.path,
      reading?.label ?? `${name} (local header only, at byte ${header.offset})`,
    ];
    const { dataStart, compressedSize, method } = header;
    const declaredEnd = compressedSize === undefined ? undefined : dataStart + compressedSize;
    if (declaredEnd !== undefined && declaredEnd > gapEnd && bound === 'listed entry') {
      this.record(
        'limits-exceeded',
        path,
        'zip: overlapping zip entries (a local header whose data runs into a listed entry or the central directory)',
      );
      return dataStart;
    }
    if (name.endsWith('/') && header.uncompressedSize === 0 && header.compressedSize === 0) {
      reading?.decoded();
      return declaredEnd ?? dataStart;
    }
    const encrypted = (header.flags & 0x01) !== 0;
    if (!encrypted && !DECODED_METHODS.has(method) && declaredEnd !== undefined) {
      if (this.zipMethods()) {
        // 7-Zip decodes it but finds members through a central directory: set aside, handed to
        // it with the zip's other such records under a directory written for them (walkZip).
        const records = this.localForSevenZip.get(scope) ?? [];
        records.push({ header, end: declaredEnd, readOtherwise: reading?.listedDecoded === true });
        this.localForSevenZip.set(scope, records);
        reading?.decoded();
        return declaredEnd;
      }
    }
    if (reading && (encrypted || !DECODED_METHODS.has(method))) {
      reading.quiet(path, `zip: the local header's method ${method} or flags are not decoded`);
      return declaredEnd ?? dataStart;
    }
    if (encrypted) {
      this.record('encrypted', path, 'zip: encrypted member');
      return declaredEnd ?? dataStart;
    }
    if (!this.supportedMethod(method, path)) return declaredEnd ?? dataStart;

    // Past the end of a file without a directory, the member is cut short: reading what is
    // there scans it and fails its size check (corrupt).
    let end = Math.min(declaredEnd ?? gapEnd, gapEnd);
    let crc = (_consumed: number): Promise<number | undefined> => Promise.resolve(header.crc32);
    if (declaredEnd === undefined && method === 8) {
      // The inflater finds the end of the data; the descriptor follows it.
      crc = (consumed) => sweep.descriptorCrc(dataStart + consumed, gapEnd);
    } else if (declaredEnd === undefined) {
      // Stored data of unknown size runs to the next signature (its descriptor, if it has one).
      const stored = await sweep.storedEnd(dataStart, gapEnd);
      end = stored.end;
      crc = () =>
        stored.descriptor ? sweep.descriptorCrc(stored.end, gapEnd) : Promise.resolve(undefined);
    }
    const counter: { bytes: number; consumed: number | undefined } = {
      bytes: 0,
      consumed: undefined,
    };
    const raw = Readable.from(readRange(handle, dataStart, end, CHUNK), { objectMode: false });
    let failed = false;
    await this.content(
      zipMemberData(raw, method, counter, { size: header.uncompressedSize, crc }),
      {
        path,
        depth: scope.depth + 1,
        size: header.uncompressedSize,
        compressed: () => counter.bytes,
        cancelled: scope.cancelled,
        kind: 'zip',
        ...(reading
          ? {
              failed: (detail: string) => {
                failed = true;
                reading.quiet(path, detail);
              },
            }
          : {}),
      },
    );
    if (reading && !failed) reading.decoded();
    if (declaredEnd !== undefined) return declaredEnd;
    // Deflate data abandoned midway (a limit, corrupt data) has no known end: the sweep goes on
    // after the bytes fed to the inflater rather than reading them again.
    if (method === 8) return dataStart + (counter.consumed ?? counter.bytes);
    return end;
  }

  private async tempFile(suffix: string): Promise<string> {
    this.scratch ??= mkdtemp(join(this.scratchBase, 'arbiter-walk-'));
    const dir = await this.scratch;
    this.temps += 1;
    return join(dir, `${this.temps}${suffix}`);
  }
}

/**
 * A container's bytes handed to a streaming format handler as an async iterable, with
 * backpressure: `push` resolves once the handler has taken the chunk. After `close` (the
 * handler returned, or the content was abandoned) pushed chunks are dropped.
 */
class ChunkChannel implements AsyncIterable<Buffer> {
  private queued: Buffer | undefined;
  private ended = false;
  private closed = false;
  private taken: (() => void) | undefined;
  private arrived: (() => void) | undefined;

  async push(chunk: Buffer): Promise<void> {
    if (this.closed) return;
    this.queued = chunk;
    this.wakeReader();
    await new Promise<void>((resolve) => (this.taken = resolve));
  }

  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  close(): void {
    this.closed = true;
    this.queued = undefined;
    this.wakeReader();
    this.taken?.();
    this.taken = undefined;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        while (this.queued === undefined && !this.ended && !this.closed) {
          await new Promise<void>((resolve) => (this.arrived = resolve));
        }
        if (this.closed) return;
        const chunk = this.queued;
        if (chunk === undefined) return; // ended
        this.queued = undefined;
        const taken = this.taken;
        this.taken = undefined;
        taken?.();
        yield chunk;
      }
    } finally {
      // The handler stopped reading: nothing it did not take will be waited for.
      this.close();
    }
  }

  private wakeReader(): void {
    const arrived = this.arrived;
    this.arrived = undefined;
    arrived?.();
  }
}

/** The visitor's end of a member's bytes, written with backpressure until the visitor is done. */
class VisitorSink {
  readonly stream = new PassThrough({ highWaterMark: CHUNK });
  private open = true;
  private wake: (() => void) | undefined;

  constructor() {
    this.stream.on('error', () => {});
  }

  async write(chunk: Buffer): Promise<void> {
    if (!this.open || this.stream.destroyed) return;
    if (this.stream.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }

  end(): void {
    if (this.open && !this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** The visitor returned: stop feeding it (whatever it left unread is dropped). */
  settle(): void {
    this.open = false;
    this.wake?.();
    this.stream.destroy();
  }
}

/**
 * A channel's chunks as a member's source, which fails (once they are all delivered) with the
 * error `failure` reports at that point: the decoder that fed the channel met damaged data.
 */
async function* failingSource(
  channel: ChunkChannel,
  failure: () => Error | undefined,
  onClose: () => void,
): AsyncGenerator<Buffer> {
  try {
    yield* channel;
    const error = failure();
    if (error) throw error;
  } finally {
    onClose();
  }
}

/** A listed zip member set aside for the `zip` format handler (a method the walker lacks). */
/** A local record (header and data) in a zip file: from `header.offset` to `end`. */
interface LocalRecord {
  header: LocalHeader;
  end: number;
  /** The local view of a listed entry whose listed reading decoded (see `DeferredMember`). */
  readOtherwise?: boolean;
}

/**
 * `records` of a zip copied one after another, then a central directory listing each (its
 * fields those of the local header, which has the same layout) and the end record.
 */
async function* rebuiltZip(
  handle: FileHandle,
  records: readonly LocalRecord[],
): AsyncGenerator<Buffer> {
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { header, end } of records) {
    const local = Buffer.alloc(header.dataStart - header.offset);
    await handle.read(local, 0, local.length, header.offset);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(local.readUInt16LE(4), 4); // made by: the version needed
    local.copy(central, 6, 4, 30); // version needed … name and extra field lengths
    central.writeUInt32LE(offset, 42);
    centrals.push(central, local.subarray(30));
    yield* readRange(handle, header.offset, end, CHUNK);
    offset += end - header.offset;
  }
  const directory = Buffer.concat(centrals);
  const endRecord = Buffer.alloc(22);
  endRecord.writeUInt32LE(0x06054b50, 0);
  endRecord.writeUInt16LE(records.length, 8);
  endRecord.writeUInt16LE(records.length, 10);
  endRecord.writeUInt32LE(directory.length, 12);
  endRecord.writeUInt32LE(offset, 16);
  yield Buffer.concat([directory, endRecord]);
}

interface DeferredMember {
  /** Its name in member paths (backslashes as slashes). */
  name: string;
  /** Its name exactly as stored, for the handler to find it by. */
  stored: string;
  method: number;
  /**
   * Its local header reads it otherwise, and that reading decoded: the handler failing on the
   * central directory's reading is what an extractor trusting that view would fail on too, so it
   * is noted, not reported (the entry is unscannable only when no reading decodes).
   */
  readOtherwise?: boolean;
  /** Its local record, when its local header gives its sizes (see `setAsideLocalRecords`). */
  local?: LocalRecord;
}

/** Notes on the member `zipEntry` just set aside (if it did) where its local record ends. */
function keepLocalRecord(
  undecoded: DeferredMember[],
  deferred: number,
  local: LocalView | undefined,
): void {
  const member = undecoded[deferred];
  const size = local?.header.compressedSize;
  // A local header giving another method is the entry's other reading, not this one's record.
  if (!member || !local || size === undefined || local.header.method !== member.method) return;
  const end = local.header.dataStart + size;
  if (end <= local.limit) member.local = { header: local.header, end };
}

/**
 * Entry names ClamAV looks for among a zip's first three entries (its `ooxml_detect` table) to
 * tell an office document (Office Open XML, Hangul HWP) from a plain zip.
 */
const DOCUMENT_HINT =
  /^(xl\/|ppt\/|word\/|BinData|mimetype|Contents|docProps\/|customXml\/|version\.xml|settings\.xml|_\.rels\/\.rels|\[ContentTypes\]\.xml|\[Content_Types\]\.xml|Preview\/PrvText\.txt|META-INF\/container\.xml)/;
/** The entries whose presence then makes it type the zip as a Word, Excel, PowerPoint or HWP file. */
const DOCUMENT_PART = /^(xl\/|ppt\/|word\/|Contents\/content\.hpf)/;

/** Whether ClamAV types the zip as an office document rather than as a zip (`documentLike`). */
function typedAsDocument(entries: readonly yauzl.Entry[]): boolean {
  const hinted = entries.slice(0, 3).some((entry) => DOCUMENT_HINT.test(storedName(entry)));
  return hinted && entries.some((entry) => DOCUMENT_PART.test(storedName(entry)));
}

/**
 * A tar entry ClamAV counts as a file (its `FilePos` numbering): regular and contiguous files
 * and unknown types, not directories, links or devices.
 */
function isTarFile(header: tarStream.Header): boolean {
  return header.type === 'file' || header.type === 'contiguous-file' || header.type == null;
}

/** An entry's name as stored (backslashes kept), for a tool that looks members up by name. */
function storedName(entry: yauzl.Entry): string {
  return yauzl.getFileNameLowLevel(
    entry.generalPurposeBitFlag,
    entry.fileNameRaw,
    entry.extraFields,
    true,
  );
}

function slashed(name: string): string {
  return name.replace(/\\/g, '/');
}

/** What follows a stretch of a zip that no listed entry claims. */
type GapBound = 'listed entry' | 'end of file';

/** What a zip member's inflated bytes are checked against. */
interface MemberCheck {
  /** The declared size; undefined when only a data descriptor knows it (not checked then). */
  size: number | undefined;
  /** The declared CRC-32, given the compressed bytes the inflater consumed; undefined: none. */
  crc: (consumed: number) => Promise<number | undefined>;
}

/**
 * The bytes of one zip member: counted as read (compressed), inflated, then size- and
 * CRC-checked. `counter.consumed` is set to the compressed bytes the inflater used once it ends.
 */
async function* zipMemberData(
  raw: Readable,
  method: number,
  counter: { bytes: number; consumed: number | undefined },
  check: MemberCheck,
): AsyncGenerator<Buffer> {
  // zstd takes its input in small slices (see ZSTD_SLICE), each passed on with backpressure.
  const slice = method === ZSTD ? ZSTD_SLICE : Infinity;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      for (let at = 0; at < chunk.length; at += slice) this.push(chunk.subarray(at, at + slice));
      callback();
    },
  });
  const inflater = method === DEFLATED ? zlib.createInflateRaw({ chunkSize: CHUNK }) : undefined;
  const decoder = inflater ?? (method === ZSTD ? createZstdDecoder() : undefined);
  const output = decoder ? pipeline(raw, count, decoder, () => {}) : pipeline(raw, count, () => {});
  const expected = check.size;
  let size = 0;
  let crc = 0;
  for await (const chunk of output as AsyncIterable<Buffer>) {
    size += chunk.length;
    crc = crc32(chunk, crc);
    // The bytes are scanned before the lie about their size is reported: an extractor that
    // ignores the declared size hands them out.
    yield chunk;
    if (expected !== undefined && size > expected) {
      throw new Error(`member inflates past its declared ${expected} bytes`);
    }
  }
  counter.consumed = inflater ? inflater.bytesWritten : counter.bytes;
  if (expected !== undefined && size !== expected) {
    throw new Error(`member is ${size} bytes, ${expected} declared`);
  }
  const declared = await check.crc(counter.consumed);
  if (declared !== undefined && crc !== declared >>> 0) throw new Error('CRC-32 mismatch');
}

/**
 * A listed entry's compressed bytes. Its local header, when the layout read it, says where they
 * start (the same bytes yauzl would read again for it); yauzl's own bounds check is repeated,
 * and an entry that fails it is opened by yauzl, which reports why.
 */
function openEntryData(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  local: LocalView | undefined,
  base: number,
): Promise<Readable> {
  const dataStart = local ? local.header.dataStart - base : undefined;
  if (dataStart === undefined || dataStart + entry.compressedSize > zip.fileSize) {
    return zip.openReadStreamPromise(entry, { decodeFileData: false });
  }
  const size = entry.compressedSize;
  // Not yauzl's `openReadStreamLowLevelPromise`: in yauzl 3.4 it calls `openReadStream`.
  return new Promise((resolve, reject) =>
    zip.openReadStreamLowLevel(
      dataStart,
      size,
      0,
      size,
      false,
      entry.uncompressedSize,
      (err, raw) => (err ? reject(err) : resolve(raw)),
    ),
  );
}

/** Every central-directory entry up to `most`, and the error that ended the listing early. */
async function listEntries(
  zip: yauzl.ZipFile,
  most: number,
): Promise<{ entries: yauzl.Entry[]; error: unknown }> {
  const entries: yauzl.Entry[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      entries.push(entry);
      if (entries.length >= most) break;
    }
  } catch (err) {
    return { entries, error: err };
  }
  return { entries, error: undefined };
}

/**
 * Where yauzl reads the next central-directory record: the directory's start before listing,
 * its end after (yauzl keeps it as `readEntryCursor`; its type declarations have it wrong).
 */
function entryCursor(zip: yauzl.ZipFile): number {
  return (zip as unknown as { readEntryCursor: number }).readEntryCursor;
}

function entryName(entry: yauzl.Entry): string {
  const name = yauzl.getFileNameLowLevel(
    entry.generalPurposeBitFlag,
    entry.fileNameRaw,
    entry.extraFields,
    false,
  );
  return name || '(unnamed)';
}

/**
 * Both fed every later chunk, `second` ended once `first` has: a file a format handler reads
 * (text, an executable) is also looked at as a zip behind a prefix.
 */
/** `inspector`, then the watch for an embedded 7z or RAR archive when there is one. */
function withEmbedded(inspector: Inspector, archives: Inspector | undefined): Inspector {
  return archives ? thenInspector(inspector, archives) : inspector;
}

function thenInspector(first: Inspector, second: Inspector): Inspector {
  return {
    write: async (chunk) => {
      await first.write(chunk);
      await second.write(chunk);
    },
    end: async () => {
      await first.end();
      await second.end();
    },
    abort: async () => {
      await first.abort();
      await second.abort();
    },
  };
}

const LOCAL_HEADER_SIGNATURE = Buffer.from('PK\x03\x04', 'latin1');
/** A local header's fixed fields, less one byte: what a chunk's end may cut. */
const LOCAL_HEADER_SPAN = 29;

/**
 * Where the first believable local header in `data` starts (its fixed fields all in `data`), or
 * undefined; one cut by the end of `data` is left for the next search.
 */
function localHeaderIn(data: Buffer): number | undefined {
  for (let i = data.indexOf(LOCAL_HEADER_SIGNATURE); i >= 0;) {
    if (i + LOCAL_HEADER_SPAN >= data.length) return undefined;
    if (plausibleHeaderStart(data, i)) return i;
    i = data.indexOf(LOCAL_HEADER_SIGNATURE, i + 1);
  }
  return undefined;
}

/** Whether the bytes from `start` to `end` of a file are all zeros (padding). */
async function onlyZeros(path: string, start: number, end: number): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(CHUNK, end - start));
    for (let at = start; at < end;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - at), at);
      if (bytesRead === 0) return true;
      if (buffer.subarray(0, bytesRead).some((byte) => byte !== 0)) return false;
      at += bytesRead;
    }
    return true;
  } finally {
    await handle.close();
  }
}

/** The most an end record and its comment take at the end of a zip (what `unzip` searches). */
const END_RECORD_SEARCH = 22 + 0xffff;

/** The last `capacity` bytes of a stream of chunks (copied: the walk reuses its buffers). */
class TailBytes {
  private tail = Buffer.alloc(0);
  constructor(private readonly capacity: number) {}

  push(chunk: Uint8Array): void {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const recent = bytes.length >= this.capacity ? bytes : Buffer.concat([this.tail, bytes]);
    this.tail = Buffer.from(recent.subarray(Math.max(0, recent.length - this.capacity)));
  }

  bytes(): Buffer {
    return this.tail;
  }
}
const END_RECORD_SIGNATURE = Buffer.from('PK\x05\x06', 'latin1');

/** A local header's name, for member paths. */
function localName(header: LocalHeader): string {
  return yauzl.getFileNameLowLevel(header.flags, header.nameRaw, [], false) || '(unnamed)';
}

/**
 * How a listed entry's local header disagrees with the central directory (name, method, sizes),
 * said for the scan trace; undefined when they agree. Sizes a data descriptor carries instead
 * (flag 0x08) are no disagreement.
 */
function viewsDisagree(entry: yauzl.Entry, local: LocalHeader): string | undefined {
  const differences: string[] = [];
  if (!entry.fileNameRaw.equals(local.nameRaw)) {
    differences.push(
      `named ${JSON.stringify(entryName(entry))} in the central directory, ${JSON.stringify(localName(local))} here`,
    );
  }
  if (entry.compressionMethod !== local.method) {
    differences.push(
      `method ${entry.compressionMethod} in the central directory, ${local.method} here`,
    );
  }
  if (local.compressedSize === undefined && entry.compressedSize === 0) {
    differences.push('0 bytes in the central directory, sizes in a data descriptor here');
  } else if (sizesDiffer(entry, local)) {
    differences.push(
      `${entry.compressedSize} → ${entry.uncompressedSize} bytes in the central directory, ${local.compressedSize} → ${local.uncompressedSize} here`,
    );
  }
  return differences.length > 0 ? differences.join('; ') : undefined;
}

/** Whether the local header reads the data otherwise than the directory: method or sizes. */
function readsDifferently(entry: yauzl.Entry, local: LocalHeader): boolean {
  return (
    entry.compressionMethod !== local.method ||
    sizesDiffer(entry, local) ||
    // Nothing listed, yet the data's end is only known by reading it: read it.
    (local.compressedSize === undefined && entry.compressedSize === 0)
  );
}

/** Whether the local header declares sizes, and others than the directory's. */
function sizesDiffer(entry: yauzl.Entry, local: LocalHeader): boolean {
  return (
    local.compressedSize !== undefined &&
    (local.compressedSize !== entry.compressedSize ||
      local.uncompressedSize !== entry.uncompressedSize)
  );
}

/** yauzl refuses "strong encryption" entries while listing them: that is `encrypted`, not corrupt. */
function zipErrorReason(err: unknown): UnscannableReason {
  return /encrypt/i.test(message(err)) ? 'encrypted' : 'corrupt';
}

/** The name of a gzip's content: `x.tar.gz` → `x.tar`, `x.tgz` → `x.tar`, else the stored name. */
function gunzippedName(parent: string, first: Buffer): string {
  if (/\.tgz$/i.test(parent)) return `${parent.slice(0, -4)}.tar`;
  const stripped = /^(.+)\.(gz|gzip)$/i.exec(parent)?.[1];
  return stripped ?? gzipStoredName(first) ?? '(gzip content)';
}

/** The decoded stream's name: the parent's without its suffix (`.tzst` → `.tar`), or `fallback`. */
function decompressedName(parent: string, suffix: RegExp, fallback: string): string {
  if (/\.tzst$/i.test(parent)) return `${parent.slice(0, -5)}.tar`;
  const match = suffix.exec(parent);
  return match && match.index > 0 ? parent.slice(0, match.index) : fallback;
}

interface Emitter {
  destroyed: boolean;
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

/** Resolves on 'drain', or when the stream is gone (it will never drain then). */
function drained(stream: Emitter): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

function endWriter(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(() => {
      closedWriter(out).then(resolve, reject);
    });
  });
}

function closedWriter(out: WriteStream): Promise<void> {
  if (out.closed) return Promise.resolve();
  return new Promise((resolve) => out.once('close', () => resolve()));
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function isPrefix(prefix: string[], path: string[]): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

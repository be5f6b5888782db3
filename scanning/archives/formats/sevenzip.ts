import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  UnpackError,
  type FormatHandler,
  type UnpackContext,
  type UnpackInput,
} from '../format.js';
import { RATIO_FLOOR } from '../walk.js';
import type { UnscannableReason } from '../types.js';
import type { SevenZipPool, SevenZipResult } from './sevenzip-pool.js';
import { lzmaStreamCandidates, streamsEnd, streamStarts } from './stream-starts.js';
import { SEVEN_ZIP_FORMATS, headerEncrypted, type SevenZipFormat } from './sevenzip-sniff.js';

/**
 * The archive formats 7-Zip opens (7z, RAR, CAB, ARJ, CHM, OLE2 compound files, cpio, ISO 9660,
 * bzip2, xz, …), each a `FormatHandler` of its own name, all backed by one pool of 7-Zip workers
 * (sevenzip-pool.ts). 7-Zip lists the archive (`l -slt`: names, sizes, encrypted flags), then
 * extracts it into the walk's scratch folder, every byte counted against a budget as it is
 * written; each extracted file is handed to the walker as a member and deleted once scanned.
 */
/** Formats whose end 7-Zip cannot tell: a 7z or RAR behind them is searched for instead. */
const UNBOUNDED_FORMATS = new Set(['lzma', 'szdd', 'compress']);

export function createSevenZipFormats(pool: SevenZipPool): FormatHandler[] {
  const handlers: FormatHandler[] = SEVEN_ZIP_FORMATS.map((format) => ({
    name: format.name,
    input: 'file',
    // 7-Zip says where these end (bare LZMA, SZDD and .Z do not record it).
    reportsItsEnd: !UNBOUNDED_FORMATS.has(format.name),
    ...(format.sniffBytes ? { sniffBytes: format.sniffBytes } : {}),
    sniff: (head: Buffer) => format.sniff(head),
    unpack: async (input: UnpackInput, context: UnpackContext) => {
      if (format.name === 'xz' || format.name === 'bzip2') {
        await unpackStreamFile(pool, format, format.name, input, context);
      } else {
        await unpackWithSevenZip(pool, format, input, context);
        if (format.name === 'lzma') await unpackLzmaStreams(pool, format, input, context);
      }
    },
  }));
  return [...handlers, zipMethods(pool)];
}

/**
 * Zip members in methods the walker's own zip reader does not decode (BZip2, Deflate64, LZMA,
 * PPMd, XZ, Implode, …): the walker hands them over by name (`UnpackInput.members`) and 7-Zip
 * extracts just those from the zip. Never chosen by sniffing: the walker reads zips itself.
 */
function zipMethods(pool: SevenZipPool): FormatHandler {
  const zip: SevenZipFormat = { name: 'zip', type: 'zip', sniff: () => false };
  return {
    name: 'zip',
    input: 'file',
    sniff: () => false,
    unpack: async (input, context) => {
      if (input.kind !== 'file' || !input.members?.length) return;
      await unpackWithSevenZip(pool, zip, input, context, input.members);
    },
  };
}

/**
 * An xz or bzip2 file: its streams (unpackStreams), and what follows the last one when that is
 * no further stream (appended data, another archive). 7-Zip would call the whole file damaged;
 * `bzcat` hands out the streams and ignores the rest with a warning. The streams are then
 * decoded from a copy of them alone, and the rest is scanned as `(after the <format> data)`.
 */
async function unpackStreamFile(
  pool: SevenZipPool,
  format: SevenZipFormat,
  kind: 'xz' | 'bzip2',
  input: UnpackInput,
  context: UnpackContext,
): Promise<void> {
  if (input.kind !== 'file') throw new Error('file input expected');
  const starts = await streamStarts(kind, input.path);
  const end = await streamsEnd(kind, input.path, starts.at(-1) ?? 0, input.size);
  if (end === undefined) {
    await unpackWithSevenZip(pool, format, input, context);
    await unpackStreams(pool, format, kind, input, context, starts);
    return;
  }
  const copy = await context.scratchPath(kind === 'xz' ? '.xz' : '.bz2');
  try {
    try {
      await copyRange(input.path, copy, 0, end);
      const streams: UnpackInput = { kind: 'file', path: copy, size: end };
      await unpackWithSevenZip(pool, format, streams, context);
      await unpackStreams(pool, format, kind, streams, context, starts);
    } finally {
      await rm(copy, { force: true });
    }
  } finally {
    // Scanned even when the streams did not decode: it is there for whoever reads on.
    await context.after(end);
  }
}

/**
 * A multi-stream xz or bzip2 file (concatenated files; `pbzip2` and `xz -T` with `--block-list`
 * write them too): 7-Zip decodes every stream into the one member the walker scans whole, as
 * `xzcat` and `bzcat` hand it out. Each stream is then also decoded and scanned on its own, as
 * `<name> (stream N)`, for signatures that must match a file whole (a hash, the EICAR test
 * file), `starts` telling where each starts (streamStarts). A single-stream file costs nothing
 * more than the search for a second stream's header.
 */
async function unpackStreams(
  pool: SevenZipPool,
  format: SevenZipFormat,
  kind: 'xz' | 'bzip2',
  input: UnpackInput,
  context: UnpackContext,
  starts: readonly number[],
): Promise<void> {
  if (input.kind !== 'file' || context.cancelled()) return;
  if (starts.length < 2) return;
  const name = format.single?.(context.path.at(-1) ?? '') ?? kind;
  for (const [index, start] of starts.entries()) {
    if (context.cancelled()) return;
    const end = starts[index + 1] ?? input.size;
    const piece = await context.scratchPath(kind === 'xz' ? '.xz' : '.bz2');
    try {
      await copyRange(input.path, piece, start, end);
      const alone = `${name} (stream ${index + 1})`;
      await unpackWithSevenZip(
        pool,
        format,
        { kind: 'file', path: piece, size: end - start },
        {
          ...context,
          member: (_name, data, info) => context.member(alone, data, { ...info, again: true }),
          // The walker's `after` counts in the whole file, not in this piece of it.
          after: () => Promise.resolve(),
        },
      );
    } finally {
      await rm(piece, { force: true });
    }
  }
}

/**
 * Concatenated `.lzma` files: 7-Zip decodes every stream into the one member scanned whole (the
 * same file through `lzcat` stops after the first, `7z x` reads them all). A legacy LZMA header
 * has no magic, so each place that reads as one is a candidate (stream-starts.ts); a stream is
 * the shortest run from one start to a later candidate (or the end of the file) that 7-Zip
 * decodes without error — a candidate inside a stream's data cuts it short and fails, and the
 * run is extended past it — and is then scanned alone as `<name> (stream N)`. A candidate no
 * run from it decodes is no stream start. A single-stream file costs the search alone.
 */
async function unpackLzmaStreams(
  pool: SevenZipPool,
  format: SevenZipFormat,
  input: UnpackInput,
  context: UnpackContext,
): Promise<void> {
  if (input.kind !== 'file' || context.cancelled()) return;
  const starts = await lzmaStreamCandidates(input.path);
  if (starts.length < 2) return;
  const name = format.single?.(context.path.at(-1) ?? '') ?? 'lzma';
  let streams = 0;
  for (let index = 0; index < starts.length && !context.cancelled();) {
    const stream = await decodingRun(pool, input, starts, index, context);
    if (!stream) {
      index += 1;
      continue;
    }
    streams += 1;
    try {
      const alone = `${name} (stream ${streams})`;
      await unpackWithSevenZip(pool, format, stream.piece, {
        ...context,
        member: (_name, data, info) => context.member(alone, data, { ...info, again: true }),
      });
    } finally {
      await rm(stream.piece.path, { force: true });
    }
    index = stream.next;
  }
}

/**
 * The shortest run from `starts[index]` to a later candidate (or the end of the file) that
 * 7-Zip tests as one whole LZMA stream, copied to the scratch folder; undefined when none does.
 * Before the end of the file only a clean test counts (a run reaching into the next stream
 * fails on its cut-short start); to the end, a warning (bytes after the stream) is accepted.
 */
async function decodingRun(
  pool: SevenZipPool,
  input: { path: string; size: number },
  starts: readonly number[],
  index: number,
  context: UnpackContext,
): Promise<{ piece: { kind: 'file'; path: string; size: number }; next: number } | undefined> {
  const start = starts[index] ?? 0;
  for (let next = index + 1; next <= starts.length && !context.cancelled(); next++) {
    const end = starts[next] ?? input.size;
    const piece = await context.scratchPath('.lzma');
    await copyRange(input.path, piece, start, end);
    const test = await pool.run({
      args: ['t', '-bd', NO_PASSWORD, '-tlzma', '--', `/in/${basename(piece)}`],
      input: dirname(piece),
      budget: 0,
    });
    if (test.timedOut) {
      await rm(piece, { force: true });
      throw tookTooLong(pool);
    }
    const accepted = test.exitCode === 0 || (next === starts.length && test.exitCode === 1);
    if (accepted && test.crashed === undefined) {
      return { piece: { kind: 'file', path: piece, size: end - start }, next };
    }
    await rm(piece, { force: true });
  }
  return undefined;
}

/** Copies bytes `start` to `end` of one file into a new one. */
async function copyRange(from: string, to: string, start: number, end: number): Promise<void> {
  await pipeline(
    createReadStream(from, { start, end: end - 1, highWaterMark: 64 * 1024 }),
    createWriteStream(to),
  );
}

/** A password that is never right: 7-Zip must not wait for one on standard input. */
const NO_PASSWORD = '-parbiter-no-password';

/**
 * Lists then extracts `input` with 7-Zip as `format` (only `members`, by name, when given) and
 * hands each extracted file to the walker. Throws an `UnpackError` for what stopped it as a whole,
 * after scanning what was extracted.
 */
export async function unpackWithSevenZip(
  pool: SevenZipPool,
  format: SevenZipFormat,
  input: UnpackInput,
  context: UnpackContext,
  members: readonly string[] = [],
): Promise<void> {
  if (input.kind !== 'file') throw new Error('file input expected');
  const job = await context.scratchPath('.7z');
  await mkdir(job);
  try {
    const archive: ArchiveRef = {
      dir: dirname(input.path),
      arg: `/in/${basename(input.path)}`,
      type: format.type ? [`-t${format.type}`] : [],
      members,
    };
    const listing = await listArchive(pool, format, archive, context);
    if (!listing) return;
    // What follows the archive's end (a second archive, appended data): 7-Zip stops before it
    // and says how long it is. Not for members picked out of a zip (the walker reads its tail).
    const tail = listing.tail > 0 && members.length === 0 ? input.size - listing.tail : undefined;
    const scanTail = () => (tail === undefined ? Promise.resolve() : context.after(tail));
    const files = listing.entries.filter((entry) => !entry.folder);
    const encrypted = new Set(files.filter((entry) => entry.encrypted).map((entry) => entry.path));
    for (const member of encrypted)
      context.unscannable('encrypted', 'encrypted member', { member });
    if (files.length > 0 && encrypted.size === files.length) {
      await scanTail();
      return;
    }
    // The whole expansion is bounded by the byte limit and by the ratio limit applied to the
    // archive as a whole (the walker checks each member's ratio only past RATIO_FLOOR).
    const budget = Math.min(
      context.limits.maxExpandedBytes,
      Math.max(RATIO_FLOOR, context.limits.maxRatio * input.size),
    );
    const result = await pool.run({
      args: [
        'x',
        '-y',
        '-aou',
        '-bd',
        NO_PASSWORD,
        ...archive.type,
        '-o/out/x',
        ...operands(archive),
      ],
      input: archive.dir,
      output: job,
      budget,
    });
    const failure = await extractionFailure(result, format, budget, pool, input.path);
    const failures = memberFailures(result, encrypted);
    // What 7-Zip could not decode left an empty or garbled file; a damaged member's bytes are scanned.
    const skipped = new Set([
      ...encrypted,
      ...[...failures].filter(([, error]) => error.reason !== 'corrupt').map(([name]) => name),
    ]);
    const listed = new Map(listing.entries.map((entry) => [entry.path, entry]));
    await handOver(join(job, 'x'), format, listed, skipped, context);
    // A weak magic that turns out damaged is more likely no archive at all: its bytes were
    // scanned as they are, and only what says otherwise (a password, a limit) is reported.
    const reported = format.weak ? withoutCorrupt(failures) : failures;
    reportMemberFailures(reported, format, listed, context);
    await scanTail();
    if (failure && !(format.weak && failure.reason === 'corrupt')) throw failure;
  } finally {
    await rm(job, { recursive: true, force: true });
  }
}

function withoutCorrupt<T extends { reason: UnscannableReason }>(
  failures: ReadonlyMap<string, T>,
): Map<string, T> {
  return new Map([...failures].filter(([, error]) => error.reason !== 'corrupt'));
}

/** The archive as 7-Zip's command line names it. */
interface ArchiveRef {
  /** The host folder mounted at /in. */
  dir: string;
  /** The archive's path inside the module (`/in/<name>`). */
  arg: string;
  /** `-t<type>`, or nothing. */
  type: string[];
  /** Only these members (none: all). */
  members: readonly string[];
}

function reportMemberFailures(
  failures: ReadonlyMap<string, { reason: UnscannableReason; detail: string }>,
  format: SevenZipFormat,
  listed: ReadonlyMap<string, ListedEntry>,
  context: UnpackContext,
): void {
  for (const [member, error] of failures) {
    if (error.reason !== 'unsupported-method') {
      context.unscannable(error.reason, error.detail, { member });
      continue;
    }
    const method = methodName(format, listed.get(member)?.method);
    context.unscannable(error.reason, `${error.detail} (${method})`, { member, method });
  }
}

/**
 * The archive, then the members named explicitly (`-spd`: no wildcards), all after `--` so no
 * name reads as a switch.
 */
function operands(archive: ArchiveRef): string[] {
  const { arg, members } = archive;
  return members.length > 0 ? ['-spd', '--', arg, ...members] : ['--', arg];
}

interface ListedEntry {
  path: string;
  size: number | undefined;
  packed: number | undefined;
  method: string | undefined;
  encrypted: boolean;
  folder: boolean;
}

/**
 * `l -slt`: what the archive holds, and how many bytes follow its end (`tail`), or undefined when
 * the content is not this format after all.
 */
async function listArchive(
  pool: SevenZipPool,
  format: SevenZipFormat,
  archive: ArchiveRef,
  context: UnpackContext,
): Promise<{ entries: ListedEntry[]; tail: number } | undefined> {
  const result = await pool.run({
    args: ['l', '-slt', '-bd', NO_PASSWORD, ...archive.type, ...operands(archive)],
    input: archive.dir,
    budget: 0,
  });
  if (result.timedOut) throw tookTooLong(pool);
  if (result.outputTruncated) {
    throw new UnpackError(
      'limits-exceeded',
      `more than ${context.limits.maxMembers} archive members`,
    );
  }
  const text = `${result.stderr}\n${result.stdout}`;
  // Exit code 1 is a warning (data after the end of the archive, …): the listing stands.
  if (result.crashed !== undefined || (result.exitCode !== 0 && result.exitCode !== 1)) {
    if (/Wrong password|encrypted archive/i.test(text)) {
      throw new UnpackError('encrypted', 'encrypted archive (its names are encrypted too)');
    }
    if (result.crashed !== undefined) {
      if (await headerEncrypted(format, join(archive.dir, basename(archive.arg)))) {
        throw new UnpackError('encrypted', 'encrypted archive (its names are encrypted too)');
      }
      throw new UnpackError('corrupt', `7-Zip could not list it (${result.crashed})`);
    }
    if (result.exitCode === 8) throw new UnpackError('limits-exceeded', '7-Zip ran out of memory');
    // A weak magic 7-Zip cannot open: most likely no archive at all (scanned as data).
    if (format.weak) return undefined;
    throw new UnpackError('corrupt', errorSummary(text) ?? `7-Zip exit code ${result.exitCode}`);
  }
  const entries = parseListing(result.stdout);
  const files = entries.filter((entry) => !entry.folder).length;
  if (files > context.limits.maxMembers) {
    throw new UnpackError(
      'limits-exceeded',
      `more than ${context.limits.maxMembers} archive members`,
    );
  }
  return { entries, tail: tailSize(result.stdout) };
}

/**
 * The bytes after the archive's end, from the archive's own block of `l -slt` output (before the
 * `----------` line): 7-Zip prints `Tail Size = <n>` beside its warning "There are data after the
 * end of archive" for every format whose end it knows (7z, RAR, CAB, ARJ, cpio, ISO, UDF, WIM,
 * compound files, CHM, NSIS, …); 0 when it printed none.
 */
function tailSize(stdout: string): number {
  const entriesAt = stdout.indexOf('\n----------\n');
  const archive = entriesAt < 0 ? stdout : stdout.slice(0, entriesAt);
  const match = /^Tail Size = (\d+)$/m.exec(archive);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** The entries of `l -slt` output: blocks of `Key = Value` lines after the `----------` line. */
export function parseListing(stdout: string): ListedEntry[] {
  const start = stdout.indexOf('\n----------\n');
  if (start < 0) return [];
  const entries: ListedEntry[] = [];
  for (const block of stdout.slice(start + 12).split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const at = line.indexOf(' = ');
      if (at > 0) fields.set(line.slice(0, at), line.slice(at + 3));
      else if (line.endsWith(' =')) fields.set(line.slice(0, -2), '');
    }
    const path = fields.get('Path');
    if (path === undefined) continue;
    entries.push({
      path,
      size: numberField(fields.get('Size')),
      packed: numberField(fields.get('Packed Size')),
      method: fields.get('Method') || undefined,
      encrypted: fields.get('Encrypted') === '+',
      folder: fields.get('Folder') === '+' || /^D/.test(fields.get('Attributes') ?? ''),
    });
  }
  return entries;
}

function numberField(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** What stopped the extraction as a whole (after the extracted members are scanned). */
async function extractionFailure(
  result: SevenZipResult,
  format: SevenZipFormat,
  budget: number,
  pool: SevenZipPool,
  archive: string,
): Promise<UnpackError | undefined> {
  if (result.timedOut) return tookTooLong(pool);
  if (result.overBudget) {
    return new UnpackError(
      'limits-exceeded',
      `content expands past ${budget} bytes (the expanded-bytes limit, or the ratio limit applied to the whole archive)`,
    );
  }
  const text = `${result.stderr}\n${result.stdout}`;
  if (result.crashed !== undefined) {
    if (await headerEncrypted(format, archive)) {
      return new UnpackError('encrypted', 'encrypted archive (its names are encrypted too)');
    }
    return new UnpackError('corrupt', `7-Zip stopped (${result.crashed})`);
  }
  if (result.exitCode === 8) return new UnpackError('limits-exceeded', '7-Zip ran out of memory');
  if (result.exitCode === 0 || result.exitCode === 1) return undefined;
  // Errors naming a member are reported at that member (memberFailures); the rest is the archive's.
  const archiveLevel = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^((Open )?ERROR:|ERRORS:$)/.test(line) && !MEMBER_ERROR.test(line));
  if (archiveLevel.length === 0) return undefined;
  if (/Wrong password|encrypted archive/i.test(archiveLevel.join('\n'))) {
    return new UnpackError('encrypted', 'encrypted archive');
  }
  return new UnpackError('corrupt', errorSummary(text) ?? `7-Zip exit code ${result.exitCode}`);
}

/** `ERROR: <what> : <member>` lines 7-Zip prints while extracting. */
const MEMBER_ERROR = /^ERROR: (.+?) : (.+)$/;

/** Each member 7-Zip could not extract, with why; members already reported encrypted are left out. */
function memberFailures(
  result: SevenZipResult,
  reported: ReadonlySet<string>,
): Map<string, { reason: UnscannableReason; detail: string }> {
  const failures = new Map<string, { reason: UnscannableReason; detail: string }>();
  for (const line of `${result.stderr}\n${result.stdout}`.split('\n')) {
    const match = MEMBER_ERROR.exec(line.trim());
    if (!match) continue;
    const [, what = '', member = ''] = match;
    if (member.startsWith('/in/') || reported.has(member)) continue;
    // A link pointing out of the archive is not created; it holds no content to scan.
    if (/Dangerous link path/i.test(what)) continue;
    failures.set(member, { reason: memberReason(what), detail: what });
  }
  return failures;
}

function memberReason(what: string): UnscannableReason {
  if (/Wrong password|encrypted/i.test(what)) return 'encrypted';
  // The member asks for more memory (an LZMA dictionary, a PPMd model) than the module has.
  if (/allocate|memory/i.test(what)) return 'limits-exceeded';
  if (/Unsupported Method/i.test(what)) return 'unsupported-method';
  return 'corrupt';
}

/** The first error line 7-Zip printed, for a detail. */
function errorSummary(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const errorsAt = lines.indexOf('ERRORS:');
  const specific = errorsAt >= 0 ? lines[errorsAt + 1] : undefined;
  const error =
    specific ??
    lines.find((line) => /^Open ERROR/.test(line)) ??
    lines.find((line) => /ERROR/.test(line) && !line.includes('/in/'));
  return error?.replace(/^(Open )?ERROR: /, '');
}

function tookTooLong(pool: SevenZipPool): UnpackError {
  return new UnpackError(
    'limits-exceeded',
    `took longer than ${pool.timeLimitMs / 1000} s to unpack`,
  );
}

/**
 * The `Unscannable.method` of what 7-Zip does not decode: `zip:<number>` for a zip member (as the
 * walker names them), else `<format>:<7-Zip's method name>`.
 */
function methodName(format: SevenZipFormat, listed: string | undefined): string {
  const method = listed ?? 'unknown';
  if (format.name !== 'zip') return `${format.name}:${method}`;
  return `zip:${ZIP_METHOD_NUMBERS[method] ?? method}`;
}

/** 7-Zip's names for zip methods it names rather than numbers. */
const ZIP_METHOD_NUMBERS: Record<string, number> = {
  Shrink: 1,
  Implode: 6,
  Deflate64: 9,
  BZip2: 12,
  LZMA: 14,
  Zstd: 93,
  MP3: 94,
  XZ: 95,
  Jpeg: 96,
  WavPack: 97,
  PPMd: 98,
};

/**
 * Hands every extracted file to the walker, in name order, deleting each once scanned. Only
 * regular files are read: a link 7-Zip may have made is never followed.
 */
async function handOver(
  root: string,
  format: SevenZipFormat,
  listed: ReadonlyMap<string, ListedEntry>,
  skipped: ReadonlySet<string>,
  context: UnpackContext,
): Promise<void> {
  const files = await extractedFiles(root);
  if (format.single && files.length === 1 && files[0]) {
    // A compressed stream (bzip2, xz, …): its one member is named after the container.
    const name = format.single(context.path.at(-1) ?? '');
    await scanFile(files[0], name, undefined, context);
    return;
  }
  for (const file of files) {
    if (context.cancelled()) return;
    const name = file.slice(root.length + 1);
    if (skipped.has(name)) continue;
    if (!(await scanFile(file, name, listed.get(name)?.packed, context))) return;
  }
}

async function scanFile(
  file: string,
  name: string,
  packed: number | undefined,
  context: UnpackContext,
): Promise<boolean> {
  const { size } = await stat(file);
  try {
    return await context.member(name, createReadStream(file, { highWaterMark: 64 * 1024 }), {
      size,
      ...(packed ? { compressed: () => packed } : {}),
    });
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

async function extractedFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) found.push(path);
    }
  };
  await visit(root);
  return found;
}

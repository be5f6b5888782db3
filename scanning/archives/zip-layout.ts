/**
 * Where the bytes of a zip's entries lie, read from the central directory and the local headers
 * it points at, before any member is inflated. Each local header is kept: it is the entry's
 * second view, read as well where it disagrees with the directory (`LocalView`). Two things are
 * decided here:
 *
 * - **Overlap.** Each listed entry claims `[local header, end of its compressed data)`. Entries
 *   whose claims overlap (the same data listed many times, or one entry's header inside another's
 *   data: the "non-recursive" zip bomb) or that reach into the central directory are not what any
 *   archiver writes. In file order, an entry is read unless its claim overlaps one that is read
 *   or the central directory; the others are skipped. An entry that describes exactly the data of
 *   the entry read before it (the same entry listed twice) is a duplicate: its bytes are those
 *   already read, and the walker decides whether the expansion they stand for is a bomb.
 * - **Gaps.** The bytes before the central directory that the entries read do not claim (a
 *   prefix in front of the archive included): where a member that only a local header describes
 *   can hide (streaming extractors unpack those). The walker sweeps them forward for local
 *   headers (`LocalHeaderSweep`), going on after each member's data, and the bytes after the
 *   central directory the same way.
 *
 * So no byte of the zip is inflated twice: the entries read are disjoint, and the sweep only
 * reads what lies between them, each of its members after the last.
 */

const LOCAL_HEADER = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const LOCAL_HEADER_SIZE = 30;
/** The highest "version needed to extract" a real archiver writes (6.3); anything above is noise. */
const MAX_VERSION_NEEDED = 63;
/** General-purpose flag bits the format reserves or leaves unused (7–10, 14, 15). */
const RESERVED_FLAGS = 0xc780;
/** Compression methods the format defines (most are not read here, but a header may use them). */
const KNOWN_METHODS = new Set([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 19, 20, 93, 94, 95, 96, 97, 98, 99,
]);
/** Bytes read at a time while sweeping for signatures. */
const SWEEP_CHUNK = 1024 * 1024;
/** A signature search moves the window when fewer bytes than this are left in it. */
const SEARCH_AT_LEAST = 64 * 1024;
/** Data descriptors indexed per swept stretch (see storedEnd); past this, the first signature. */
const MAX_INDEXED_DESCRIPTORS = 100_000;
const PK = Buffer.from('PK', 'latin1');
/**
 * Bytes read at once for a listed entry's local header: its fixed fields and, nearly always,
 * its name and extra field, so one read is enough.
 */
const HEADER_READ = 1024;

/** Positional reads of a file (a `FileHandle`, or the zip reader's `ZipBytes`). */
export interface PositionalFile {
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
}

export interface ByteRange {
  start: number;
  end: number;
}

/** A central-directory entry as far as layout is concerned. */
export interface ListedEntry {
  relativeOffsetOfLocalHeader: number;
  compressedSize: number;
  uncompressedSize: number;
  compressionMethod: number;
  generalPurposeBitFlag: number;
  crc32: number;
}

export interface ZipLayout<E extends ListedEntry> {
  /** Entries that are not read: overlapping an earlier one, or reaching into the central directory. */
  skipped: Set<E>;
  /**
   * Entries listed again over the data of an entry that is read, describing it the same way
   * (same local header, method, flags, sizes and CRC-32): an extractor writes the same bytes for
   * each, so reading them once scans all of them. Each maps to the entry that is read.
   */
  duplicates: Map<E, E>;
  /** Unclaimed stretches of `[0, central directory)`, in file order. */
  gaps: ByteRange[];
  /** The local header of each entry that has one, as it reads (the entry's other view). */
  local: Map<E, LocalView>;
}

/** What an entry's local header says, and how far its data may run. */
export interface LocalView {
  header: LocalHeader;
  /** Where the next entry read (or the central directory) starts: the local view stops there. */
  limit: number;
}

/**
 * Reads the local header of each listed entry to learn where its data ends, then finds the
 * overlaps and the gaps. An entry whose local header cannot be read is left to the reader (which
 * reports it corrupt) and claims nothing. `base` is what the archive's offsets do not count (a
 * prefix: a self-extractor's stub, another archive); offsets here are the file's.
 */
export async function planZipLayout<E extends ListedEntry>(
  handle: PositionalFile,
  fileSize: number,
  entries: E[],
  centralDirectory: ByteRange,
  base = 0,
): Promise<ZipLayout<E>> {
  const claims: Array<ByteRange & { entry: E }> = [];
  const local = new Map<E, LocalView>();
  for (const entry of entries) {
    const start = base + entry.relativeOffsetOfLocalHeader;
    if (!Number.isSafeInteger(start) || start < 0 || start + LOCAL_HEADER_SIZE > fileSize) continue;
    const header = await readLocalHeader(handle, start, fileSize);
    if (!header) continue;
    local.set(entry, { header, limit: centralDirectory.start });
    claims.push({ start, end: header.dataStart + entry.compressedSize, entry });
  }
  const skipped = new Set<E>();
  const duplicates = new Map<E, E>();
  const read: Array<ByteRange & { entry: E }> = [];
  // File order; of two claims starting at the same byte, the longer one is the one read.
  claims.sort((a, b) => a.start - b.start || b.end - a.end);
  let reach = 0;
  for (const claim of claims) {
    // Only entries that are read own their bytes: one skipped for reaching into the central
    // directory (or past the end of the file) shadows nothing after it.
    const last = read.at(-1);
    if (last && sameData(last, claim)) {
      duplicates.set(claim.entry, last.entry);
      continue;
    }
    if (claim.start < reach || overlaps(claim, centralDirectory)) {
      skipped.add(claim.entry);
      continue;
    }
    read.push(claim);
    reach = claim.end;
  }
  // An entry's local view runs no further than the next entry read: no byte is read by more
  // than the two views of one entry.
  for (const [index, claim] of read.entries()) {
    const view = local.get(claim.entry);
    const next = read[index + 1];
    if (view && next) view.limit = Math.min(view.limit, next.start);
  }
  return { skipped, duplicates, gaps: gapsBetween(read, centralDirectory.start), local };
}

/** Two claims on the same bytes that read them the same way. */
function sameData<E extends ListedEntry>(
  a: ByteRange & { entry: E },
  b: ByteRange & { entry: E },
): boolean {
  return (
    a.start === b.start &&
    a.end === b.end &&
    a.entry.compressedSize === b.entry.compressedSize &&
    a.entry.uncompressedSize === b.entry.uncompressedSize &&
    a.entry.compressionMethod === b.entry.compressionMethod &&
    a.entry.generalPurposeBitFlag === b.entry.generalPurposeBitFlag &&
    a.entry.crc32 === b.entry.crc32
  );
}

function overlaps(a: ByteRange, b: ByteRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** The stretches of `[0, limit)` outside every claim (claims sorted by start). */
function gapsBetween(claims: ByteRange[], limit: number): ByteRange[] {
  const gaps: ByteRange[] = [];
  let at = 0;
  for (const claim of claims) {
    if (claim.start >= limit) break;
    if (claim.start > at) gaps.push({ start: at, end: claim.start });
    at = Math.max(at, claim.end);
  }
  if (at < limit) gaps.push({ start: at, end: limit });
  return gaps;
}

/** A member described by a local header alone. */
export interface LocalHeader {
  offset: number;
  flags: number;
  method: number;
  crc32: number;
  /** Undefined when a data descriptor (flag 0x08) carries the sizes instead. */
  compressedSize: number | undefined;
  uncompressedSize: number | undefined;
  nameRaw: Buffer;
  dataStart: number;
}

/**
 * Reads the stretches no listed entry claims, forward, the way a streaming extractor does. Reads
 * go through one window of recently read bytes, so a stretch full of `PK` costs one pass over
 * the disk, not one read per candidate.
 */
export class LocalHeaderSweep {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  private windowAtEnd = false;
  /** The data descriptors of the stretch `[from, to)`, by where stored data they end starts. */
  private descriptors: { from: number; to: number; byStart: Map<number, number> } | undefined;

  constructor(private readonly handle: PositionalFile) {}

  /**
   * The first plausible local header at or after `from` whose header, name and extra field end
   * before `to`. A `PK\x03\x04` not followed by a believable header (a version needed above 6.3,
   * reserved flags, an unknown method, no name, fields running past `to`) is passed over:
   * executable stubs in front of self-extracting zips hold the signature as a constant.
   */
  async findLocalHeader(from: number, to: number): Promise<LocalHeader | undefined> {
    for (let at = from; ;) {
      const found = await this.findSignature(at, to, [LOCAL_HEADER], plausibleHeaderStart);
      if (found === undefined) return undefined;
      const header = await this.parseLocalHeader(found, to);
      if (header) return header;
      at = found + 1;
    }
  }

  /**
   * The CRC-32 a data descriptor at `offset` holds (with or without its optional signature), or
   * undefined when there is none to read before `to`.
   */
  async descriptorCrc(offset: number, to: number): Promise<number | undefined> {
    if (offset + 12 > to) return undefined;
    const bytes = await this.readExactly(offset, Math.min(16, to - offset), to);
    if (!bytes) return undefined;
    if (bytes.readUInt32LE(0) === DATA_DESCRIPTOR) {
      return bytes.length >= 16 ? bytes.readUInt32LE(4) : undefined;
    }
    return bytes.readUInt32LE(0);
  }

  /**
   * Where stored data of unknown size ends: at the next data descriptor or local header
   * signature, or at `to`; `descriptor` tells whether a data descriptor is there.
   */
  async storedEnd(from: number, to: number): Promise<{ end: number; descriptor: boolean }> {
    // The descriptor whose sizes are the data's own, as libarchive's streaming reader finds it:
    // the data may hold signatures (a stored zip holds local headers and descriptors).
    const described = await this.describedEnd(from, to);
    if (described !== undefined) return { end: described, descriptor: true };
    const found = await this.findSignature(from, to, [DATA_DESCRIPTOR, LOCAL_HEADER]);
    if (found === undefined) return { end: to, descriptor: false };
    const head = await this.readExactly(found, 4, to);
    return { end: found, descriptor: head?.readUInt32LE(0) === DATA_DESCRIPTOR };
  }

  /**
   * The first data descriptor after `from` whose compressed and uncompressed sizes both equal
   * the distance from `from` (stored data: the two are the same). The stretch's descriptors are
   * indexed once, by the start their sizes imply, so that a stretch of many such entries is read
   * once, not once per entry.
   */
  private async describedEnd(from: number, to: number): Promise<number | undefined> {
    const index = this.descriptors;
    if (!index || index.to !== to || from < index.from) {
      this.descriptors = { from, to, byStart: await this.indexDescriptors(from, to) };
    }
    return this.descriptors?.byStart.get(from);
  }

  private async indexDescriptors(from: number, to: number): Promise<Map<number, number>> {
    const byStart = new Map<number, number>();
    const implied = (at: number, compressed: number, size: number) => {
      const start = at - compressed;
      if (compressed === size && start >= from && !byStart.has(start)) byStart.set(start, at);
    };
    for (let at = from; byStart.size < MAX_INDEXED_DESCRIPTORS;) {
      const found = await this.findSignature(at, to, [DATA_DESCRIPTOR]);
      if (found === undefined) break;
      // Signature, CRC-32, then the sizes: 4 bytes each, or 8 in a zip64 entry's descriptor.
      const narrow = await this.readExactly(found, 16, to);
      if (narrow) implied(found, narrow.readUInt32LE(8), narrow.readUInt32LE(12));
      const wide = await this.readExactly(found, 24, to);
      if (wide) {
        implied(found, Number(wide.readBigUInt64LE(8)), Number(wide.readBigUInt64LE(16)));
      }
      at = found + 1;
    }
    return byStart;
  }

  private async parseLocalHeader(offset: number, to: number): Promise<LocalHeader | undefined> {
    if (offset + LOCAL_HEADER_SIZE > to) return undefined;
    const fixed = await this.readExactly(offset, LOCAL_HEADER_SIZE, to);
    if (!fixed) return undefined;
    const nameLength = fixed.readUInt16LE(26);
    const extraLength = fixed.readUInt16LE(28);
    const dataStart = offset + LOCAL_HEADER_SIZE + nameLength + extraLength;
    if (!plausibleHeaderStart(fixed, 0) || dataStart > to) return undefined;
    const variable = await this.readExactly(
      offset + LOCAL_HEADER_SIZE,
      nameLength + extraLength,
      to,
    );
    if (!variable) return undefined;
    return localHeaderFrom(offset, fixed, variable);
  }

  /**
   * The offset of the first of `signatures` (little-endian 4-byte values) in `[from, to)`;
   * `accept`, when given, passes over hits it rejects from the bytes at hand (cheaply: a stretch
   * may hold millions of hits).
   */
  private async findSignature(
    from: number,
    to: number,
    signatures: number[],
    accept: (bytes: Buffer, at: number) => boolean = () => true,
  ): Promise<number | undefined> {
    for (let at = from; at + 4 <= to;) {
      const chunk = await this.bytesAt(at, Math.min(SEARCH_AT_LEAST, to - at), to);
      const view = chunk.subarray(0, Math.min(chunk.length, to - at));
      if (view.length < 4) return undefined;
      for (let i = view.indexOf(PK); i >= 0 && i + 4 <= view.length; i = view.indexOf(PK, i + 1)) {
        if (signatures.includes(view.readUInt32LE(i)) && accept(view, i)) return at + i;
      }
      // The last three bytes may start a signature that this chunk cuts.
      at += view.length - 3;
    }
    return undefined;
  }

  private async readExactly(
    position: number,
    length: number,
    to: number,
  ): Promise<Buffer | undefined> {
    const bytes = await this.bytesAt(position, length, to);
    return bytes.length >= length ? bytes.subarray(0, length) : undefined;
  }

  /**
   * The bytes from `position` to the end of the window, which holds at least `atLeast` of them
   * unless the file ends first; the window moves (a fresh buffer: earlier views stay valid) when
   * it does not, reading ahead no further than `to` (the end of the stretch being swept: the
   * stretches between the entries of an ordinary zip are a few bytes each).
   */
  private async bytesAt(position: number, atLeast: number, to: number): Promise<Buffer> {
    const offset = position - this.windowStart;
    const covered =
      offset >= 0 &&
      offset <= this.window.length &&
      (this.window.length - offset >= atLeast || this.windowAtEnd);
    if (!covered) {
      const wanted = Math.max(Math.min(SWEEP_CHUNK, to - position), atLeast, 1);
      const buffer = Buffer.allocUnsafe(wanted);
      const { bytesRead } = await this.handle.read(buffer, 0, wanted, position);
      this.window = buffer.subarray(0, bytesRead);
      this.windowStart = position;
      this.windowAtEnd = bytesRead < wanted;
      return this.window;
    }
    return this.window.subarray(offset);
  }
}

/**
 * The local header at `offset`, where the central directory says one is: taken as it reads,
 * without the plausibility checks of the sweep. One read of `HEADER_READ` bytes holds the fixed
 * fields and, nearly always, the name and extra field (a second read fetches longer ones), so
 * the walker then opens the entry's data from it without reading the header again.
 */
export async function readLocalHeader(
  handle: PositionalFile,
  offset: number,
  fileSize: number,
): Promise<LocalHeader | undefined> {
  // Outside Node's shared pool: the name kept from it is copied into the pool, and a read that
  // shared a pool slab with it would stay in memory as long as the layout does.
  const head = Buffer.allocUnsafeSlow(Math.max(0, Math.min(HEADER_READ, fileSize - offset)));
  const { bytesRead } = await handle.read(head, 0, head.length, offset);
  if (bytesRead < LOCAL_HEADER_SIZE || head.readUInt32LE(0) !== LOCAL_HEADER) return undefined;
  const fixed = head.subarray(0, LOCAL_HEADER_SIZE);
  const variableLength = fixed.readUInt16LE(26) + fixed.readUInt16LE(28);
  const headerEnd = LOCAL_HEADER_SIZE + variableLength;
  if (offset + headerEnd > fileSize) return undefined;
  if (headerEnd <= bytesRead) {
    return localHeaderFrom(offset, fixed, head.subarray(LOCAL_HEADER_SIZE, headerEnd));
  }
  const variable = Buffer.allocUnsafe(variableLength);
  const rest = await handle.read(variable, 0, variableLength, offset + LOCAL_HEADER_SIZE);
  if (rest.bytesRead < variableLength) return undefined;
  return localHeaderFrom(offset, fixed, variable);
}

function localHeaderFrom(offset: number, fixed: Buffer, variable: Buffer): LocalHeader {
  const flags = fixed.readUInt16LE(6);
  const nameLength = fixed.readUInt16LE(26);
  const sizes = localSizes(fixed, variable.subarray(nameLength));
  const described = (flags & 0x08) !== 0;
  return {
    offset,
    flags,
    method: fixed.readUInt16LE(8),
    crc32: fixed.readUInt32LE(14),
    compressedSize: described ? undefined : sizes.compressed,
    uncompressedSize: described ? undefined : sizes.uncompressed,
    nameRaw: Buffer.from(variable.subarray(0, nameLength)),
    dataStart: offset + LOCAL_HEADER_SIZE + variable.length,
  };
}

/**
 * Whether the local header at `at` could be one an archiver wrote, as far as `bytes` show it
 * (true when they end before the fields, which are then checked once read).
 */
export function plausibleHeaderStart(bytes: Buffer, at: number): boolean {
  if (at + LOCAL_HEADER_SIZE > bytes.length) return true;
  return (
    bytes.readUInt8(at + 4) <= MAX_VERSION_NEEDED &&
    (bytes.readUInt16LE(at + 6) & RESERVED_FLAGS) === 0 &&
    KNOWN_METHODS.has(bytes.readUInt16LE(at + 8)) &&
    bytes.readUInt16LE(at + 26) !== 0
  );
}

/** The sizes of a local header, from its zip64 extra field (0x0001) when they are 0xFFFFFFFF. */
function localSizes(fixed: Buffer, extra: Buffer): { compressed: number; uncompressed: number } {
  let compressed = fixed.readUInt32LE(18);
  let uncompressed = fixed.readUInt32LE(22);
  if (compressed !== 0xffffffff && uncompressed !== 0xffffffff) return { compressed, uncompressed };
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === 0x0001 && length >= 16 && at + 4 + 16 <= extra.length) {
      uncompressed = Number(extra.readBigUInt64LE(at + 4));
      compressed = Number(extra.readBigUInt64LE(at + 12));
      break;
    }
    at += 4 + length;
  }
  return { compressed, uncompressed };
}

/** The bytes of `[start, end)` in chunks of `chunk` bytes. */
export async function* readRange(
  handle: PositionalFile,
  start: number,
  end: number,
  chunk: number,
): AsyncGenerator<Buffer> {
  for (let at = start; at < end;) {
    const buffer = Buffer.allocUnsafe(Math.min(chunk, end - at));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
    if (bytesRead === 0) throw new Error('unexpected end of the zip file');
    at += bytesRead;
    yield bytesRead < buffer.length ? buffer.subarray(0, bytesRead) : buffer;
  }
}

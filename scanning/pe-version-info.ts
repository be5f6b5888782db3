import { PE_HEAD_BYTES, peFileOffset, type PeInfo } from './pe.js';

/**
 * The version information of a PE file as ClamAV records it for `VI` subsignatures: the file
 * offsets of the strings of its VS_VERSIONINFO resources. A `VI` subsignature counts only where a
 * match starts at one of them, i.e. at the UTF-16LE key of a String ("CompanyName\0" then its
 * value), and only for Strings that have a value.
 *
 * The walk is ClamAV's, step for step: the resource directory (third data directory), the first
 * RT_VERSION (16) type entry that is a directory, all its name entries, their language entries
 * that are data, at most 16 such resources; in each, VS_VERSIONINFO (its key, its 0x34-byte
 * fixed part and magic checked), an optional VarFileInfo, then StringFileInfo, its StringTables
 * and their Strings. Every size is checked against its container as ClamAV checks it, and a read
 * past the end of the file ends that step as ClamAV's does.
 *
 * The file passes once (it is never read twice): a read the walk needs is served from the head
 * (the first PE_HEAD_BYTES, held by the caller), or captured as the bytes stream past, from the
 * byte after the read that led to it on (never from earlier bytes a chunk still holds, so the
 * result does not depend on how the file is cut). Reads wait side by side: the language
 * directories and resources of a version type are read as their bytes come, and put back in
 * ClamAV's order at the end. A read of bytes already gone (a resource pointer back past the
 * head, which resource compilers never write) or a tree larger than the bounds below makes the
 * result unknown (null): then no signature with a `VI` subsignature is judged in that file.
 * Memory stays bounded: at most MAX_READS reads and MAX_CAPTURED bytes held.
 */

/** RT_VERSION. */
const VERSION_TYPE = 0x10;
/** ClamAV looks at no more version resources than this. */
const MAX_VERSION_RESOURCES = 16;
/** A version block is read as far as its 16-bit length reaches. */
const MAX_BLOCK = 0xffff;
const MAX_READS = 1024;
const MAX_CAPTURED = 2 * 1024 * 1024;

const VS_VERSION_INFO = utf16z('VS_VERSION_INFO');
const VAR_FILE_INFO = utf16z('VarFileInfo');
const STRING_FILE_INFO = utf16z('StringFileInfo');
const FIXED_FILE_INFO_MAGIC = 0xfeef04bd;

function utf16z(text: string): Uint8Array {
  const bytes = new Uint8Array((text.length + 1) * 2);
  for (let i = 0; i < text.length; i += 1) bytes[i * 2] = text.charCodeAt(i);
  return bytes;
}

/**
 * A read the walk waits for: `keep` bytes at `at` are delivered once the file is known to hold
 * `need` bytes from `at` (ClamAV maps the whole resource before parsing it). A `partial` read (a
 * table of entries) is delivered with whatever prefix the file holds.
 */
interface PendingRead {
  at: number;
  keep: number;
  need: number;
  partial: boolean;
  bytes: Uint8Array;
  got: number;
  /**
   * Its bytes streamed past before it was asked for: it can only still fail, if the file (of a
   * size not yet known) turns out too short for it; else the walk cannot go on.
   */
  gone: boolean;
  deliver: (bytes: Uint8Array | null) => void;
}

/** A version resource: where its data lies, and its String offsets once parsed. */
interface VersionResource {
  start: number;
  end: number;
  offsets: Set<number> | undefined;
}

export class VersionInfoCollector {
  private fileSize: number;
  /** Bytes seen so far (the head counts as seen). */
  private fed: number;
  /**
   * Where the read being delivered ended: the reads it asks for may use the head and the bytes
   * from here on, never earlier ones, even if the current chunk still holds them. So what is
   * found does not depend on how the file is cut into chunks.
   */
  private trigger = 0;
  private pending: PendingRead[] = [];
  /** The chunk being passed in update(). */
  private current: { at: number; bytes: Uint8Array } | undefined;
  private reads = 0;
  private captured = 0;
  private lost = false;
  /** Per data entry RVA met in a language directory: its resource (undefined: not located). */
  private readonly resources = new Map<number, VersionResource | undefined>();
  /** The language lists of the version type's names, in ClamAV's order (see selected()). */
  private languageLists: (number[] | null | undefined)[] | undefined;

  /**
   * `head`: the first bytes of the file (all of them up to PE_HEAD_BYTES, or the whole file);
   * `knownSize`: the file's size when known before it has streamed past.
   */
  /** Each address turned into a file offset, and where it landed (for readTheSameUnder). */
  private readonly translated = new Map<number, number | undefined>();

  constructor(
    private readonly pe: PeInfo,
    private readonly head: Uint8Array,
    knownSize: number | undefined,
  ) {
    this.fileSize = knownSize ?? Infinity;
    this.fed = head.length;
    this.walkDirectory();
  }

  /** The next bytes of the file, at offset `at` (bytes inside the head are ignored). */
  update(chunk: Uint8Array, at: number): void {
    const end = at + chunk.length;
    if (end <= this.fed) return;
    this.fed = end;
    if (this.lost || this.pending.length === 0) return;
    this.current = { at, bytes: chunk };
    for (const read of this.pending) {
      // A read whose bytes were gone proves to be in the file: the walk cannot go on.
      if (read.gone && read.at + read.need <= this.fed) this.lose();
      if (!this.lost) this.fill(read);
    }
    // Deliveries in the order their reads ended, as if the bytes came one at a time.
    for (;;) {
      let next: PendingRead | undefined;
      for (const read of this.pending) {
        if (this.complete(read) && (!next || this.endOf(read) < this.endOf(next))) next = read;
      }
      if (!next || this.lost) break;
      this.pending.splice(this.pending.indexOf(next), 1);
      this.deliverNow(next);
    }
    this.current = undefined;
  }

  /**
   * Whether a match starting at `offset`, reported now, may turn out to start a version string:
   * in the head while the walk goes on, or in a version resource already located (and, once
   * parsed, at one of its Strings). A resource located later lies past what has streamed by (or
   * the result is unknown anyway).
   */
  mayHold(offset: number): boolean {
    if (this.lost) return false;
    // With no read waiting, the walk is over: every resource it will parse is parsed.
    if (this.pending.length > 0 && offset < this.head.length) return true;
    // Resources may overlap (two data entries can point into the same bytes): any may hold it.
    for (const resource of this.resources.values()) {
      if (!resource || offset < resource.start || offset >= resource.end) continue;
      if (resource.offsets === undefined || resource.offsets.has(offset)) return true;
    }
    return false;
  }

  /**
   * The stream has ended after `size` bytes: the version string offsets, or null when they could
   * not be known.
   */
  finish(size: number): Set<number> | null {
    this.fileSize = size;
    this.trigger = this.fed;
    // Reads the file did not hold fail (partial ones get what there was), as ClamAV's do.
    while (!this.lost && this.pending.length > 0) {
      const read = this.pending.shift()!;
      if (read.gone && read.at + read.need <= size) this.lose();
      else read.deliver(read.partial ? read.bytes.subarray(0, read.got) : null);
    }
    if (this.lost) return null;
    const offsets = new Set<number>();
    for (const rva of this.selected()) {
      for (const offset of this.resources.get(rva)?.offsets ?? []) offsets.add(offset);
    }
    return offsets;
  }

  /** Gives up: the walk would need bytes gone or more than the bounds allow. */
  private lose(): void {
    this.lost = true;
    this.pending = [];
  }

  /**
   * Delivers a complete read: what it asks for may use the bytes from its end on (or from the
   * trigger of the read that asked for it, if later); its siblings keep their own trigger.
   */
  private deliverNow(read: PendingRead): void {
    const trigger = this.trigger;
    this.trigger = Math.max(trigger, this.endOf(read));
    read.deliver(read.bytes.subarray(0, read.got));
    this.trigger = trigger;
  }

  /** Where a read is complete: its kept bytes in, and the file known to hold what it needs. */
  private endOf(read: PendingRead): number {
    return this.fileSize === Infinity ? read.at + read.need : read.at + read.keep;
  }

  private complete(read: PendingRead): boolean {
    return !read.gone && read.got === read.keep && this.endOf(read) <= this.fed;
  }

  /** Copies into `read` what the head and the current chunk (from the trigger on) hold of it. */
  private fill(read: PendingRead): void {
    if (read.gone) return;
    const from = read.at + read.got;
    const to = read.at + read.keep;
    if (from >= to) return;
    if (from < this.head.length) {
      this.take(read, this.head.subarray(from, Math.min(to, this.head.length)));
      return this.fill(read);
    }
    const chunk = this.current;
    if (!chunk) return;
    const chunkEnd = chunk.at + chunk.bytes.length;
    if (from >= Math.max(chunk.at, this.trigger) && from < chunkEnd) {
      this.take(read, chunk.bytes.subarray(from - chunk.at, Math.min(to, chunkEnd) - chunk.at));
    }
  }

  /**
   * Appends bytes to a read, its buffer grown as they come (a table's count may promise more
   * than the file holds): what is held is what was really seen, bounded by MAX_CAPTURED.
   */
  private take(read: PendingRead, bytes: Uint8Array): void {
    const got = read.got + bytes.length;
    if (got > read.bytes.length) {
      const grown = new Uint8Array(Math.min(read.keep, Math.max(got, read.bytes.length * 2)));
      grown.set(read.bytes.subarray(0, read.got));
      read.bytes = grown;
    }
    read.bytes.set(bytes, read.got);
    read.got = got;
    this.captured += bytes.length;
    if (this.captured > MAX_CAPTURED) this.lose();
  }

  /**
   * Asks for `length` bytes at `at` (the whole resource of `need` bytes must be in the file);
   * `deliver` gets them, or null when the file does not hold them. Served at once when the
   * bytes are at hand, else when they stream past.
   */
  private read(
    at: number,
    length: number,
    deliver: (bytes: Uint8Array | null) => void,
    options: { need?: number; partial?: boolean } = {},
  ): void {
    if (this.lost) return;
    const partial = options.partial ?? false;
    const need = options.need ?? length;
    let keep = length;
    if (at + need > this.fileSize) {
      if (!partial) return deliver(null);
      keep = Math.max(0, this.fileSize - at);
    }
    this.reads += 1;
    if (this.reads > MAX_READS) return this.lose();
    const read: PendingRead = {
      at,
      keep,
      need: partial ? keep : need,
      partial,
      bytes: new Uint8Array(Math.min(keep, 256)),
      got: 0,
      gone: false,
      deliver,
    };
    this.fill(read);
    if (this.lost) return;
    // Bytes before the trigger, outside the head, are gone: the walk cannot go on, unless the
    // read fails anyway (as it does at once when the size is known).
    if (read.got < keep && read.at + read.got < this.fed) {
      if (partial || at + need <= this.fed) return this.lose();
      read.gone = true;
    }
    if (this.complete(read)) return this.deliverNow(read);
    this.pending.push(read);
  }

  private offsetOf(rva: number): number | undefined {
    const offset = peFileOffset(this.pe, rva, this.fileSize);
    this.translated.set(rva, offset);
    return offset;
  }

  /**
   * Whether every address this walk turned into a file offset lands at the same offset under
   * `pe` (a stream's final layout, once its size is known): if so, the offsets it found hold
   * although the sections it started from differ elsewhere.
   */
  readTheSameUnder(pe: PeInfo, fileSize: number): boolean {
    for (const [rva, offset] of this.translated) {
      if (peFileOffset(pe, rva, fileSize) !== offset) return false;
    }
    return true;
  }

  // ---- the resource directory (ClamAV's findres for type 16, any name) ----

  private walkDirectory(): void {
    const resources = this.pe.resources;
    if (!resources || resources.size === 0) return;
    const base = resources.rva;
    this.readDirectory(base, (root) => {
      if (!root) return;
      const named = u16(root, 12);
      const ids = u16(root, 14);
      const first = this.offsetOf(base)! + 16 + named * 8;
      this.readEntries(first, ids, (entries) => {
        for (const [type, offset] of entries) {
          if (type === VERSION_TYPE && offset >= 0x80000000) {
            // ClamAV looks no further than the first version type that is a directory.
            return this.walkNames(base, (offset & 0x7fffffff) >>> 0);
          }
        }
      });
    });
  }

  private walkNames(base: number, offset: number): void {
    const rva = (base + offset) >>> 0;
    this.readDirectory(rva, (directory) => {
      if (!directory) return;
      // Named and numbered entries alike, their sum kept to 16 bits as ClamAV keeps it.
      const count = (u16(directory, 12) + u16(directory, 14)) & 0xffff;
      // A name table cut by the end of the file ends the walk after its whole entries: nothing
      // comes after the last list anyway.
      this.readEntries(this.offsetOf(rva)! + 16, count, (entries) => {
        const languages = entries.filter(([, to]) => to >= 0x80000000);
        // The language directories are read side by side (each as its bytes pass), their
        // resources as soon as they are known; selected() puts them back in ClamAV's order.
        const lists: (number[] | null | undefined)[] = languages.map(() => undefined);
        this.languageLists = lists;
        languages.forEach(([, to], index) => {
          this.walkLanguages(base, (to & 0x7fffffff) >>> 0, (list) => {
            lists[index] = list;
            for (const rva of list ?? []) if (rva >= 0) this.readResource(rva);
          });
        });
      });
    });
  }

  /** A language directory's data entries (RVAs), at most 16; null: ClamAV's walk stops there. */
  private walkLanguages(base: number, offset: number, done: (list: number[] | null) => void): void {
    const rva = (base + offset) >>> 0;
    this.readDirectory(rva, (directory) => {
      if (!directory) return done(null);
      const count = (u16(directory, 12) + u16(directory, 14)) & 0xffff;
      this.readEntries(this.offsetOf(rva)! + 16, count, (entries, truncated) => {
        const list: number[] = [];
        for (const [, to] of entries) {
          if (to >= 0x80000000) continue;
          list.push((base + to) >>> 0);
          if (list.length === MAX_VERSION_RESOURCES) return done(list);
        }
        // An entry past the end of the file stops ClamAV's whole walk, after what came before.
        done(truncated ? [...list, -1] : list);
      });
    });
  }

  /**
   * The version resources ClamAV parses: the first 16 data entries of the language lists in
   * order; a failed read (null, or -1 in a list) ends its walk there.
   */
  private selected(): number[] {
    const chosen: number[] = [];
    for (const list of this.languageLists ?? []) {
      if (!list) break;
      for (const rva of list) {
        if (rva < 0) return chosen;
        chosen.push(rva);
        if (chosen.length === MAX_VERSION_RESOURCES) return chosen;
      }
    }
    return chosen;
  }

  /** The 16-byte header of a resource directory at `rva`. */
  private readDirectory(rva: number, deliver: (bytes: Uint8Array | null) => void): void {
    const at = this.offsetOf(rva);
    if (at === undefined) return deliver(null);
    this.read(at, 16, deliver);
  }

  /** `count` 8-byte entries at `at`: (id, offset) pairs; `truncated`: the file ended first. */
  private readEntries(
    at: number,
    count: number,
    deliver: (entries: [number, number][], truncated: boolean) => void,
  ): void {
    if (count === 0) return deliver([], false);
    this.read(
      at,
      count * 8,
      (bytes) => {
        const table = bytes ?? new Uint8Array(0);
        const whole = Math.floor(table.length / 8);
        const entries: [number, number][] = [];
        for (let i = 0; i < whole; i += 1) entries.push([u32(table, i * 8), u32(table, i * 8 + 4)]);
        deliver(entries, whole < count);
      },
      { partial: true },
    );
  }

  // ---- one version resource ----

  private readResource(dataEntryRva: number): void {
    if (this.resources.has(dataEntryRva)) return;
    this.resources.set(dataEntryRva, undefined);
    const entryAt = this.offsetOf(dataEntryRva);
    if (entryAt === undefined) return;
    this.read(entryAt, 16, (entry) => {
      if (!entry) return;
      const size = u32(entry, 4);
      const at = this.offsetOf(u32(entry, 0));
      if (at === undefined || size <= 4) return;
      const resource: VersionResource = {
        start: at,
        end: at + Math.min(size, MAX_BLOCK),
        offsets: undefined,
      };
      this.resources.set(dataEntryRva, resource);
      this.read(
        at,
        resource.end - at,
        (block) => {
          resource.offsets = new Set();
          if (block) parseVersionBlock(block, at, size, resource.offsets);
        },
        { need: size },
      );
    });
  }
}

/**
 * The String offsets of one VS_VERSIONINFO block (`bytes`, at file offset `at`, of `size` bytes
 * as its data entry says; only its first 64 KiB are needed), added to `out`: ClamAV's parse.
 */
export function parseVersionBlock(
  bytes: Uint8Array,
  at: number,
  size: number,
  out: Set<number>,
): void {
  if (size <= 4) return;
  let vinfoSize = u32(bytes, 0) & 0xffff;
  if (vinfoSize > size) return;
  if (
    vinfoSize <= 6 + 0x20 + 2 + 0x34 ||
    u16(bytes, 2) !== 0x34 ||
    !equalAt(bytes, 6, VS_VERSION_INFO) ||
    u32(bytes, 0x28) !== FIXED_FILE_INFO_MAGIC
  ) {
    return;
  }
  let p = 6 + 0x20 + 2 + 0x34;
  vinfoSize -= p;
  let gotVarFileInfo = false;
  while (vinfoSize > 6) {
    const sfiSize0 = u16(bytes, p);
    if (sfiSize0 > vinfoSize) return;
    if (!gotVarFileInfo && sfiSize0 > 6 + 0x18 && equalAt(bytes, p + 6, VAR_FILE_INFO)) {
      // VarFileInfo sometimes comes before StringFileInfo: ClamAV steps over it once.
      p += sfiSize0;
      vinfoSize -= sfiSize0;
      gotVarFileInfo = true;
      continue;
    }
    if (sfiSize0 <= 6 + 0x1e || !equalAt(bytes, p + 6, STRING_FILE_INFO)) return;
    p += 6 + 0x1e;
    let sfiSize = sfiSize0 - (6 + 0x1e);
    while (sfiSize > 6) {
      let tableSize = u16(bytes, p);
      const next = p + tableSize;
      const nextSfiSize = sfiSize - tableSize;
      if (tableSize > sfiSize || tableSize <= 24) return;
      p += 24;
      tableSize -= 24;
      while (tableSize > 6) {
        const stringSize = ((u16(bytes, p) + 3) & ~3) >>> 0;
        if (stringSize > tableSize || stringSize <= 6 + 2 + 8) {
          tableSize = 0;
          sfiSize = 0;
          break;
        }
        let keySize = 6;
        for (; keySize + 1 < stringSize; keySize += 2) {
          if (bytes[p + keySize] || bytes[p + keySize + 1]) continue;
          keySize += 2;
          break;
        }
        keySize = ((keySize + 3) & ~3) >>> 0;
        // A key running to the end of its String, or a String without a value, is passed over.
        if (keySize < stringSize && stringSize - keySize > 2) out.add(at + p + 6);
        p += stringSize;
        tableSize -= stringSize;
      }
      p = next;
      sfiSize = sfiSize === 0 ? 0 : nextSfiSize;
    }
    return;
  }
}

/**
 * The version string offsets of a whole file in memory (tests), the walk run as a scan runs it:
 * the head, then the rest in chunks of `chunkSize`, the size told up front or only at the end.
 */
export function versionInfoOffsets(
  pe: PeInfo,
  file: Uint8Array,
  options: { chunkSize?: number; sizeKnown?: boolean } = {},
): Set<number> | null {
  const chunkSize = options.chunkSize ?? 4096;
  const head = file.subarray(0, Math.min(file.length, PE_HEAD_BYTES));
  const collector = new VersionInfoCollector(
    pe,
    head,
    options.sizeKnown === false ? undefined : file.length,
  );
  for (let at = head.length; at < file.length; at += chunkSize) {
    collector.update(file.subarray(at, Math.min(file.length, at + chunkSize)), at);
  }
  return collector.finish(file.length);
}

function equalAt(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i += 1) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

function u16(bytes: Uint8Array, at: number): number {
  return at + 2 <= bytes.length ? bytes[at]! | (bytes[at + 1]! << 8) : 0;
}

function u32(bytes: Uint8Array, at: number): number {
  return at + 4 <= bytes.length
    ? (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
    : 0;
}

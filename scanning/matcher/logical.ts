import { createHash, type Hash } from 'node:crypto';
import {
  hashNeeded,
  lookupHash,
  type HashAlgorithm,
  type HashDatabase,
} from '../hash-signatures.js';
import { detectFileKind, NORMALISED_TEXT_TARGET, RAW_TARGET } from '../file-type.js';
import { looksLikeMsExe, parsePe, PE_HEAD_BYTES, type PeInfo } from '../pe.js';
import { VersionInfoCollector } from '../pe-version-info.js';
import {
  containerType,
  evaluateExpression,
  type LdbOffset,
  type LogicalSignature,
  type SubsignatureForm,
} from '../signatures/ldb.js';
import type { BodySignature, HexElement } from '../signatures/ndb.js';
import { PcreContent, PcreRunner } from './pcre.js';

/**
 * Logical signatures (`.ldb`) and PE section hashes (`.mdb`) over one stream of content.
 *
 * The first PE_HEAD_BYTES are held back until the PE layout (if any) is known; then every
 * subsignature form is looked for by a body matcher in "occurrence" mode (every start offset,
 * not just the first match): one matcher per target and case, so a file that does not start
 * with "MZ" skips the PE target's, and only case-insensitive forms see the content with A–Z
 * lowered. Starts are kept per subsignature only inside its offset window and only up
 * to the count the expression can tell apart, so memory stays bounded whatever the content.
 * Section hashes are computed as the bytes stream past. Everything is judged when the stream
 * ends, as ClamAV judges logical signatures after reading the whole file; PCRE subsignatures
 * run then too, over content kept for them up to a bound (pcre.ts).
 *
 * Fullword forms (`::f`) carry their word boundaries as pattern elements on both sides (a byte,
 * or for a wide form a UTF-16 character, that is not an ASCII letter or digit), so a match's
 * end is judged wherever it falls, whatever the chunks. Their matchers see the content between
 * NUL padding (one byte on each side, two for wide forms): the file's start and end then pass
 * as boundaries, exactly where clamd lets them pass (a wide match at offset 1, or with one byte
 * after it, is judged by that single byte), and a reported start is the body's own offset.
 */

/**
 * What a session matches: a file or member as it is, or the normalised copy of a text file
 * (text-normalise.ts), against which target type 7 is matched besides target 0, and no hashes.
 */
export type SessionMode = 'raw' | 'normalised-text';

export interface OccurrenceFeed {
  update(chunk: Uint8Array): void;
  finish(): void;
}

/** Compiles bodies into a factory of feeds that report `(body index, start offset)`. */
export type OccurrenceCompiler = (
  bodies: BodySignature[],
) => (onStart: (pattern: number, start: number) => void) => OccurrenceFeed;

export interface LogicalSession {
  update(chunk: Uint8Array): void;
  /** The names of the logical and section hash signatures that matched `size` bytes. */
  finish(size: number): string[];
}

/** ClamAV does not hash sections larger than this (its largest allocation). */
const MAX_HASHED_SECTION = 1024 ** 3;
/** An EOF-relative subsignature of a stream of unknown size drops old starts past this many. */
const PRUNE_AT = 4096;
/**
 * A `VI` subsignature keeps at most this many starts that may still prove to be version strings
 * (in the head or in a version resource not yet read); past it, the version strings count as
 * unknown.
 */
const MAX_VERSION_STARTS = 65536;

interface BodyMatcher {
  /** The target type: 0 for any file, others only for files of that kind (file-type.ts). */
  target: number;
  /** Fed the content with A–Z lowered. */
  lower: boolean;
  /** NUL bytes fed before and after the content (fullword forms' boundaries): 0, 1 or 2. */
  padding: number;
  open: (onStart: (pattern: number, start: number) => void) => OccurrenceFeed;
  /** Body index → slot. */
  slotOf: Int32Array;
}

interface Slot {
  signature: number;
  offset: LdbOffset;
  cap: number;
}

export class LogicalScanner {
  /** Per subsignature of every signature, in order ("slots"). */
  readonly slots: Slot[] = [];
  readonly firstSlot: number[] = [];
  /** Signatures whose expression holds with no subsignature matched (`0=0`, `0<2`). */
  readonly holdWithoutMatches: number[] = [];
  /** Some subsignature has the `VI` offset: PE files then have their version strings read. */
  readonly readsVersionInfo: boolean;
  /**
   * One matcher per target and case: a file that does not start with "MZ" skips the PE ones,
   * and only the content of a case-insensitive one is lowered.
   */
  readonly matchers: BodyMatcher[] = [];
  /** PCRE subsignatures: null when the database has none (no content is kept then). */
  readonly pcre: PcreRunner | null;
  constructor(
    readonly signatures: LogicalSignature[],
    readonly sectionHashes: HashDatabase,
    compile: OccurrenceCompiler,
  ) {
    const groups = new Map<
      string,
      { target: number; lower: boolean; padding: number; bodies: BodySignature[]; slots: number[] }
    >();
    signatures.forEach((signature, index) => {
      this.firstSlot.push(this.slots.length);
      const none = new Array<number>(signature.subsignatures.length).fill(0);
      if (evaluateExpression(signature.expression, none)) this.holdWithoutMatches.push(index);
      for (const subsignature of signature.subsignatures) {
        const slot = this.slots.length;
        this.slots.push({ signature: index, offset: subsignature.offset, cap: signature.countCap });
        for (const form of subsignature.forms) {
          const padding = paddingOf(form);
          const body: BodySignature = {
            name: signature.name,
            targetType: 0,
            offset: { kind: 'any' },
            elements: withBoundaries(form),
            file: signature.file,
            line: signature.line,
          };
          const key = `${signature.target}:${form.nocase}:${padding}`;
          let group = groups.get(key);
          if (!group) {
            const lower = form.nocase;
            group = { target: signature.target, lower, padding, bodies: [], slots: [] };
            groups.set(key, group);
          }
          group.bodies.push(body);
          group.slots.push(slot);
        }
      }
    });
    this.readsVersionInfo = this.slots.some((slot) => slot.offset.kind === 'version');
    for (const { target, lower, padding, bodies, slots } of groups.values()) {
      const slotOf = Int32Array.from(slots);
      this.matchers.push({ target, lower, padding, open: compile(bodies), slotOf });
    }
    const withPcre = signatures.some((s) => s.subsignatures.some((sub) => sub.pcre));
    this.pcre = withPcre ? new PcreRunner(signatures) : null;
  }

  /**
   * `totalSize`: the exact number of bytes that will come, or -1 when unknown; `container`: the
   * format the content was unpacked from (`file`: none); `mode`: the content itself, or the
   * normalised copy of a text file (target type 7 then applies instead of the file's own).
   */
  session(totalSize: number, container: string, mode: SessionMode = 'raw'): LogicalSession {
    return new Session(this, totalSize, container, mode);
  }
}

/** Where a slot's starts are kept while matching; `late`: EOF-relative, size still unknown. */
interface SlotWindow {
  lo: number;
  hi: number;
  late: boolean;
}

interface SectionHasher {
  raw: number;
  end: number;
  hashes: [HashAlgorithm, Hash][];
}

/** What the PE layout says about a file, as ClamAV's target information does. */
interface Layout {
  /** Starts with "MZ": ClamAV's PE target. */
  mz: boolean;
  /** The parsed headers; null when not a PE (or not parseable). */
  pe: PeInfo | null;
  /** False for an "MZ" file whose headers do not parse: ClamAV then drops every EOF/EP/S offset. */
  relativeOffsets: boolean;
  /** The target type besides 0 whose signatures apply to this content. */
  target: number;
}

class Session implements LogicalSession {
  private head: Uint8Array;
  private headLength = 0;
  private started = false;
  /** Bytes given to the matchers and hashers so far. */
  private fed = 0;
  private feeds: { feed: OccurrenceFeed; lower: boolean; padding: number }[] = [];
  private hashers: SectionHasher[] = [];
  /** Per slot that matched: the starts kept (only slots that matched have an entry). */
  private readonly starts = new Map<number, Set<number>>();
  /** Signatures with a subsignature start recorded. */
  private readonly touched = new Set<number>();
  /**
   * Per slot that matched, the window starts are kept in (a prefilter: checked again at the
   * end), worked out on its first match: an official database has some 80,000 slots, and most
   * never match, so none is computed (or allocated) per file ahead of time.
   */
  private readonly windows = new Map<number, SlotWindow>();
  /** The layout and size the prefilter windows are computed with (set when matching starts). */
  private startLayout: Layout | undefined;
  private knownSize: number | undefined;
  private pruneAt = PRUNE_AT;
  private scratch = new Uint8Array(0);
  private kindTarget: number | undefined;
  /** The PE's version strings, read as the bytes pass (only when a `VI` subsignature exists). */
  private versionInfo: VersionInfoCollector | undefined;
  /** Too many `VI` starts were pending: the version strings count as unknown. */
  private versionStartsOverflow = false;
  /** ClamAV's type of the container the content came out of, for `Container:` conditions. */
  private readonly container: string | undefined;
  /** The content, for PCRE subsignatures; null when no PCRE signature applies to this file. */
  private pcreContent: PcreContent | null = null;

  constructor(
    private readonly scanner: LogicalScanner,
    private readonly totalSize: number,
    walkerContainer: string,
    private readonly mode: SessionMode,
  ) {
    this.container = containerType(walkerContainer);
    const capacity = totalSize >= 0 ? Math.min(totalSize, PE_HEAD_BYTES) : PE_HEAD_BYTES;
    this.head = new Uint8Array(capacity);
  }

  update(chunk: Uint8Array): void {
    if (!this.started) {
      const take = Math.min(this.head.length - this.headLength, chunk.length);
      this.head.set(chunk.subarray(0, take), this.headLength);
      this.headLength += take;
      if (this.headLength < this.head.length) return;
      this.start(this.totalSize >= 0 ? this.totalSize : Infinity);
      if (take < chunk.length) this.feed(chunk.subarray(take));
      return;
    }
    this.feed(chunk);
  }

  finish(size: number): string[] {
    if (!this.started) this.start(size);
    for (const { feed, padding } of this.feeds) {
      if (padding > 0) feed.update(NUL_PADDING.subarray(0, padding));
      feed.finish();
    }
    const layout = this.layout(size);
    const versionOffsets = this.versionOffsets(size, layout);
    const names: string[] = [];
    this.judgeSignatures(size, layout, versionOffsets, names);
    // Sections are hashed as the bytes pass; they count only if the headers hold for the size
    // that arrived (a stream of unknown size may end before its sections do).
    if (layout.pe !== null) this.judgeSections(size, names);
    return names;
  }

  /**
   * The version string offsets clamd would record (empty: no PE, or no version information), or
   * null when they are not known (see pe-version-info.ts; too many `VI` starts pending; a stream
   * of unknown size whose resources were located with a layout its real size changes where the
   * walk read).
   */
  private versionOffsets(size: number, layout: Layout): ReadonlySet<number> | null {
    const collector = this.versionInfo;
    if (!collector || layout.pe === null) return NO_OFFSETS;
    if (this.versionStartsOverflow) return null;
    const offsets = collector.finish(size);
    const before = this.startLayout?.pe;
    if (
      this.totalSize < 0 &&
      JSON.stringify(before?.sections) !== JSON.stringify(layout.pe.sections) &&
      !collector.readTheSameUnder(layout.pe, size)
    ) {
      return null;
    }
    return offsets;
  }

  private layout(size: number): Layout {
    const head = this.head.subarray(0, this.headLength);
    const mz = looksLikeMsExe(head);
    const parsed = mz ? parsePe(head, size) : undefined;
    const pe = parsed?.ok ? parsed.pe : null;
    return { mz, pe, relativeOffsets: !mz || pe !== null, target: this.target(head) };
  }

  /** The content's target type besides 0: worked out once, from the head (it does not change). */
  private target(head: Uint8Array): number {
    this.kindTarget ??=
      this.mode === 'raw' ? RAW_TARGET[detectFileKind(head)] : NORMALISED_TEXT_TARGET;
    return this.kindTarget;
  }

  /** The head is in (or the stream ended): the layout is known, matching can begin. */
  private start(sizeForLayout: number): void {
    this.started = true;
    const layout = this.layout(sizeForLayout);
    this.startLayout = layout;
    this.knownSize = this.totalSize >= 0 ? this.totalSize : undefined;
    for (const { target, lower, padding, open, slotOf } of this.scanner.matchers) {
      if (target !== 0 && target !== layout.target) continue;
      const feed = open((p, start) => this.found(slotOf[p]!, start));
      // Padded matchers count from the padding: a start there is the body's offset in the file.
      if (padding > 0) feed.update(NUL_PADDING.subarray(0, padding));
      this.feeds.push({ feed, lower, padding });
    }
    if (layout.pe !== null) this.startHashers(layout.pe);
    if (this.scanner.pcre?.wantsContent(layout.mz))
      this.pcreContent = new PcreContent(this.totalSize);
    if (layout.pe !== null && this.scanner.readsVersionInfo && this.mode === 'raw') {
      const head = this.head.subarray(0, this.headLength);
      this.versionInfo = new VersionInfoCollector(layout.pe, head, this.knownSize);
    }
    if (this.headLength > 0) this.feed(this.head.subarray(0, this.headLength));
  }

  private startHashers(pe: PeInfo): void {
    const index = this.scanner.sectionHashes;
    if (index.count === 0) return;
    for (const section of pe.sections) {
      if (section.rsz === 0 || section.rsz > MAX_HASHED_SECTION) continue;
      const hashes: [HashAlgorithm, Hash][] = [];
      for (const algorithm of index.algorithms) {
        if (hashNeeded(index, algorithm, section.rsz)) {
          hashes.push([algorithm, createHash(algorithm)]);
        }
      }
      if (hashes.length > 0)
        this.hashers.push({ raw: section.raw, end: section.raw + section.rsz, hashes });
    }
  }

  private feed(chunk: Uint8Array): void {
    const from = this.fed;
    const to = from + chunk.length;
    let lowered: Uint8Array | undefined;
    // Version resources located in this chunk are known before its matches are reported.
    this.versionInfo?.update(chunk, from);
    // The matchers copy what they keep: one scratch buffer serves every chunk.
    for (const { feed, lower } of this.feeds) {
      if (lower) feed.update((lowered ??= this.lowerAscii(chunk)));
      else feed.update(chunk);
    }
    this.pcreContent?.append(chunk);
    for (const hasher of this.hashers) {
      const a = Math.max(hasher.raw, from);
      const b = Math.min(hasher.end, to);
      if (a < b)
        for (const [, hash] of hasher.hashes) hash.update(chunk.subarray(a - from, b - from));
    }
    this.fed = to;
  }

  /** The bytes with A–Z lowered (in the session's scratch buffer), for case-insensitive forms. */
  private lowerAscii(chunk: Uint8Array): Uint8Array {
    if (this.scratch.length < chunk.length) this.scratch = new Uint8Array(chunk.length);
    const out = this.scratch;
    for (let i = 0; i < chunk.length; i += 1) out[i] = LOWER[chunk[i]!]!;
    return out.subarray(0, chunk.length);
  }

  /** A subsignature form starts at `start`: kept if it can count. */
  private windowOf(slot: number): SlotWindow {
    let window = this.windows.get(slot);
    if (window === undefined) {
      const layout = this.startLayout!;
      const computed = offsetWindow(this.scanner.slots[slot]!.offset, layout, this.knownSize);
      window =
        computed === 'late'
          ? { lo: 0, hi: Infinity, late: true }
          : computed === null
            ? { lo: Infinity, hi: -Infinity, late: false }
            : { lo: computed[0], hi: computed[1], late: false };
      this.windows.set(slot, window);
    }
    return window;
  }

  private found(slot: number, start: number): void {
    if (this.scanner.slots[slot]!.offset.kind === 'version') return this.foundVersion(slot, start);
    const window = this.windowOf(slot);
    if (start < window.lo || start > window.hi) return;
    let set = this.starts.get(slot);
    if (!set) {
      this.starts.set(slot, (set = new Set()));
      this.touched.add(this.scanner.slots[slot]!.signature);
    }
    if (window.late) {
      set.add(start);
      if (set.size >= this.pruneAt) this.prune(slot, set);
      return;
    }
    if (set.size < this.scanner.slots[slot]!.cap) set.add(start);
  }

  /** A `VI` start is kept while it may be a version string; judged at the end. */
  private foundVersion(slot: number, start: number): void {
    if (this.versionStartsOverflow || !this.versionInfo?.mayHold(start)) return;
    let set = this.starts.get(slot);
    if (!set) {
      this.starts.set(slot, (set = new Set()));
      this.touched.add(this.scanner.slots[slot]!.signature);
    }
    set.add(start);
    if (set.size > MAX_VERSION_STARTS) this.versionStartsOverflow = true;
  }

  /** EOF-n with n bytes back from an end not yet known: starts before `fed - n` never count. */
  private prune(slot: number, set: Set<number>): void {
    const offset = this.scanner.slots[slot]!.offset;
    const back = offset.kind === 'eof' ? offset.offset : Infinity;
    for (const start of set) if (start < this.fed - back) set.delete(start);
    this.pruneAt = Math.max(PRUNE_AT, set.size * 2);
  }

  /**
   * Only the signatures some subsignature of which matched, and those whose expression holds
   * with no match at all (`0=0`, `0<2`), can hold: the others are not evaluated (an official
   * database has tens of thousands, and most files match none).
   */
  private judgeSignatures(
    size: number,
    layout: Layout,
    versionOffsets: ReadonlySet<number> | null,
    names: string[],
  ): void {
    const { signatures, firstSlot, slots, holdWithoutMatches, pcre } = this.scanner;
    const candidates = new Set([
      ...this.touched,
      ...holdWithoutMatches,
      ...(pcre?.holdWithoutMatches ?? []),
    ]);
    const content = this.pcreContent?.content() ?? null;
    for (const index of candidates) {
      const signature = signatures[index]!;
      if (signature.target !== 0 && signature.target !== layout.target) continue;
      if (signature.container !== undefined && signature.container !== this.container) continue;
      const first = firstSlot[index]!;
      // Version strings not known: a signature that depends on them is not judged either way.
      if (versionOffsets === null && this.usesVersionInfo(index)) continue;
      const counts = signature.subsignatures.map((_, sub) => {
        const slot = first + sub;
        const set = this.starts.get(slot);
        if (!set || set.size === 0) return 0;
        if (slots[slot]!.offset.kind === 'version') {
          const known = versionOffsets ?? NO_OFFSETS;
          let count = 0;
          for (const start of set) if (known.has(start)) count += 1;
          return Math.min(count, signature.countCap);
        }
        const window = offsetWindow(slots[slot]!.offset, layout, size);
        if (window === null || window === 'late') return 0;
        let count = 0;
        for (const start of set) if (start >= window[0] && start <= window[1]) count += 1;
        return Math.min(count, signature.countCap);
      });
      pcre?.evaluate(index, counts, content, (offset) => {
        const window = offsetWindow(offset, layout, size);
        return window === 'late' ? null : window;
      });
      if (!evaluateExpression(signature.expression, counts)) continue;
      if (signature.fileSize && (size < signature.fileSize[0] || size > signature.fileSize[1]))
        continue;
      if (signature.entryPoint || signature.sections) {
        const pe = layout.pe;
        if (pe === null) continue;
        const [epLow, epHigh] = signature.entryPoint ?? [0, Infinity];
        if (pe.entryPoint < epLow || pe.entryPoint > epHigh) continue;
        const [low, high] = signature.sections ?? [0, Infinity];
        if (pe.sections.length < low || pe.sections.length > high) continue;
      }
      names.push(signature.name);
    }
  }

  private usesVersionInfo(index: number): boolean {
    const { signatures, firstSlot, slots } = this.scanner;
    const first = firstSlot[index]!;
    return signatures[index]!.subsignatures.some(
      (_, sub) => slots[first + sub]!.offset.kind === 'version',
    );
  }

  private judgeSections(size: number, names: string[]): void {
    for (const hasher of this.hashers) {
      const length = Math.min(hasher.end, size) - hasher.raw;
      if (length <= 0) continue;
      for (const [algorithm, hash] of hasher.hashes) {
        const index = this.scanner.sectionHashes;
        for (const signature of lookupHash(index, algorithm, hash.digest(), length)) {
          names.push(signature.name);
        }
      }
    }
  }
}

/**
 * Where a subsignature may start, [lo, hi] inclusive, as ClamAV computes it (32-bit unsigned:
 * an offset before the start of the file never matches); null: nowhere. 'late': EOF-relative
 * while the size is not known yet.
 */
function offsetWindow(
  offset: LdbOffset,
  layout: Layout,
  size: number | undefined,
): [number, number] | null | 'late' {
  if (offset.kind === 'any' || offset.kind === 'version') return [0, Infinity];
  if (offset.kind === 'absolute') return [offset.offset, offset.offset + offset.shift];
  if (!layout.relativeOffsets) return null;
  let lo: number;
  const pe = layout.pe;
  switch (offset.kind) {
    case 'eof':
      if (size === undefined) return 'late';
      lo = size - offset.offset;
      break;
    case 'ep':
      if (pe === null) return null;
      lo = pe.entryPoint + offset.delta;
      break;
    case 'section': {
      const section = pe?.sections[offset.index];
      if (!section) return null;
      lo = section.raw + offset.offset;
      break;
    }
    case 'last-section': {
      const section = pe?.sections[pe.sections.length - 1];
      if (!section) return null;
      lo = section.raw + offset.offset;
      break;
    }
    case 'section-entire': {
      const section = pe?.sections[offset.index];
      if (!section) return null;
      return [section.raw, section.raw + section.rsz + offset.shift];
    }
  }
  if (lo < 0 || lo > 0xffffffff) return null;
  return [lo, lo + offset.shift];
}

const NO_OFFSETS: ReadonlySet<number> = new Set();

const LOWER = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b));

const NUL_PADDING = new Uint8Array(2);

const isAsciiAlnum = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const ASCII_ALNUM = Array.from({ length: 256 }, (_, b) => b).filter(isAsciiAlnum);

/**
 * A fullword boundary as clamd checks it (C's isalnum, whatever the byte's case: the lowered
 * content of a `::i` form has the same letters and digits): a byte that is not one, or for a
 * wide form two bytes that are not one followed by a NUL.
 */
const BYTE_BOUNDARY: HexElement = {
  kind: 'alt',
  negated: true,
  alternatives: ASCII_ALNUM.map((value) => [{ value, mask: 0xff }]),
};
const WIDE_BOUNDARY: HexElement = {
  kind: 'alt',
  negated: true,
  alternatives: ASCII_ALNUM.map((value) => [
    { value, mask: 0xff },
    { value: 0, mask: 0xff },
  ]),
};

function paddingOf(form: SubsignatureForm): number {
  return form.fullword === 'wide' ? 2 : form.fullword === 'byte' ? 1 : 0;
}

/**
 * A form's elements, between its boundaries when it is fullword. The boundary is as long as the
 * padding, so a match that starts at the padding's first byte has its body at file offset 0.
 */
function withBoundaries(form: SubsignatureForm): HexElement[] {
  if (form.fullword === undefined) return form.elements;
  const boundary = form.fullword === 'wide' ? WIDE_BOUNDARY : BYTE_BOUNDARY;
  return [boundary, ...form.elements, boundary];
}

import { createHash, type Hash } from 'node:crypto';
import { isEicar } from '../eicar.js';
import {
  isLocalTestFile,
  LOCAL_TEST_FILE_SIGNATURE,
  MAX_LOCAL_TEST_FILE,
} from '../local-test-file.js';
import { hashNeeded, lookupHash, type HashAlgorithm } from '../hash-signatures.js';
import { emptySignatureDatabase, type SignatureDatabase } from '../signatures/database.js';
import type { BodySignature } from '../signatures/ndb.js';
import {
  compileBodies,
  OFFSET_ABSOLUTE,
  OP_BYTE,
  OP_GAP,
  OP_NALT,
  OP_SET,
  type CompiledBodies,
  type QgramPass,
} from './compile.js';
import {
  detectFileKind,
  HtmlMarkerScanner,
  type FileKind,
  NORMALISED_TEXT_TARGET,
  RAW_TARGET,
  TYPE_HEAD_BYTES,
} from '../file-type.js';
import {
  LogicalScanner,
  type LogicalSession,
  type OccurrenceFeed,
  type SessionMode,
} from './logical.js';
import { MAX_NORMALISED_TEXT, TextNormaliser } from './text-normalise.js';
import { bodiesForText, logicalForText } from './text-signatures.js';
import { evaluateExpression } from '../signatures/ldb.js';

/** The name reported for the EICAR test file (findings.ts maps it to the fixed finding). */
export const EICAR_SIGNATURE_NAME = 'Eicar-Test-Signature';
/** Content longer than this is neither test file (both are short texts, see eicar.ts). */
const EICAR_MAX_FILE = Math.max(128, MAX_LOCAL_TEST_FILE);

/** Most anchor positions an EOF pattern's prefilter checks before leaving it to verification. */
const EOF_PREFILTER_SPAN = 256;
const EMPTY: Uint8Array = Buffer.alloc(0);
const GOLDEN = 0x9e3779b1 | 0;
const TABLE_MIX = 0x85ebca6b | 0;

export interface ScanSession {
  /** Feeds the next bytes of the content; chunks can have any size, including 1 byte. */
  update(chunk: Uint8Array): void;
  /**
   * Ends the stream and returns the names of the signatures that matched (body, hash, the
   * EICAR test file and Scanii's local test file), sorted. The session cannot be used afterwards.
   */
  finish(): string[];
  /** Bytes of history the session keeps: fixed by the database, whatever the content size. */
  readonly windowSize: number;
  /** Candidates waiting for bytes that have not arrived yet (bounded by the window). */
  readonly pendingCount: number;
  /**
   * After `finish()`: the allow-list entry (`.fp`, `.sfp`) the content's hash and size match, if
   * any. Such content is clean whatever matched, and so is everything inside it.
   */
  readonly allowedBy: string | undefined;
}

/**
 * Matches a signature database against content in one streaming pass: body signatures, the
 * whole-content hashes the database uses and EICAR. Build one per database (the compile is the
 * expensive part) and open a session per file or archive member (sessions are cheap).
 */
export class ContentScanner {
  readonly compiled: CompiledBodies;
  /** The EOF-anchored patterns, indexed by their anchor's bytes and distance from the end. */
  readonly eofIndex: EofIndex;
  readonly hashAlgorithms: HashAlgorithm[];
  /** Logical signatures and PE section hashes: null when the database has none (no cost then). */
  readonly logical: LogicalScanner | null;
  /**
   * The matcher for the normalised copy of text files: only the signatures that could match it
   * (text-signatures.ts); null when none could, and then no copy is made.
   */
  readonly text: ContentScanner | null;
  private readonly freeRings: Uint8Array[] = [];

  constructor(
    readonly db: SignatureDatabase,
    kind: 'files' | 'normalised-text' = 'files',
  ) {
    this.compiled = compileBodies(db.bodies);
    this.eofIndex = indexEofPatterns(this.compiled);
    this.hashAlgorithms = [...new Set([...db.hashes.algorithms, ...db.allowed.algorithms])].sort();
    this.logical =
      db.logical.length > 0 || db.sectionHashes.count > 0
        ? new LogicalScanner(db.logical, db.sectionHashes, occurrenceMatcher)
        : null;
    this.text = kind === 'files' ? textScanner(db) : null;
  }

  /** Bytes of history each session keeps. */
  get windowSize(): number {
    return ringSize(this.compiled.window);
  }

  /**
   * `totalSize` is the exact number of bytes that will be fed: digests are skipped when no hash
   * signature names that size, and `finish()` throws if a different number arrived. Pass -1 when
   * the size is not known for certain (an archive member's declared size, for instance): every
   * digest the database uses is then computed, and `EOF-n` counts from the bytes fed.
   * `container` is the format the content was unpacked from (`file`: none), for logical
   * signatures with a `Container` condition.
   */
  session(totalSize = -1, container = 'file'): ScanSession {
    return new Session(this, totalSize, null, container, 'raw');
  }

  /**
   * A session that reports every start offset of every body (`onStart(pattern, start)`; bodies
   * with unbounded gaps: once, at 0) instead of the names of what matched.
   * @internal
   */
  occurrenceSession(onStart: (pattern: number, start: number) => void): OccurrenceFeed {
    const session = new Session(this, -1, onStart, 'file', 'raw');
    return { update: (chunk) => session.update(chunk), finish: () => void session.finish() };
  }

  /** @internal */
  takeRing(): Uint8Array {
    return this.freeRings.pop() ?? new Uint8Array(ringSize(this.compiled.window));
  }

  /** @internal */
  returnRing(ring: Uint8Array): void {
    if (this.freeRings.length < 8) this.freeRings.push(ring);
  }
}

/** The matcher for normalised text, or null when no signature could match there. */
function textScanner(db: SignatureDatabase): ContentScanner | null {
  const bodies = bodiesForText(db.bodies);
  const logical = logicalForText(db.logical, (signature) =>
    evaluateExpression(
      signature.expression,
      new Array<number>(signature.subsignatures.length).fill(0),
    ),
  );
  if (bodies.length === 0 && logical.length === 0) return null;
  return new ContentScanner({ ...emptySignatureDatabase(), bodies, logical }, 'normalised-text');
}

function ringSize(window: number): number {
  let size = 64;
  while (size < window + 8) size *= 2;
  return size;
}

interface MultiState {
  stage: number;
  threshold: number;
}

class Session implements ScanSession {
  private readonly c: CompiledBodies;
  private readonly hashes: [HashAlgorithm, Hash][];
  private readonly hasBodies: boolean;
  private pos = 0;
  private finished = false;

  // The current chunk (absolute positions [chunkStart, chunkEnd)) and the history before it.
  private chunk: Uint8Array = EMPTY;
  private chunkStart = 0;
  private chunkEnd = 0;
  private ring: Uint8Array = EMPTY;
  private ringCap = 0;

  // Next sampled position (absolute index of a q-gram's last byte) for each pass.
  private next4 = 3;
  private next2 = 1;
  private roll4 = 0;
  private roll2 = 0;

  // Candidates whose segment extends past the bytes seen so far.
  private pendSeg: number[] = [];
  private pendStart: number[] = [];
  private pendReady: number[] = [];

  // Verified segments of multi-segment patterns, released in order of their end.
  private evEnd: number[] = [];
  private evPat: number[] = [];
  private evSeg: number[] = [];
  private evMaxStart: number[] = [];
  private multi: Map<number, MultiState> | null = null;

  private matched: Set<number> | null = null;
  /** Matched patterns of a target type other than 0: they count once the file's kind is known. */
  private targeted: number[] | null = null;
  /** The normalised copy of a text file, matched alongside (raw mode, text files only). */
  private text: NormalisedText | null = null;
  private readonly names = new Set<string>();
  allowedBy: string | undefined;
  private head: Uint8Array | null = null;
  private headLength = 0;
  private kind: FileKind | undefined;
  private readonly logical: LogicalSession | null;

  // Scratch interval lists for verification: [from0, to0, from1, to1, …].
  private ia: number[] = [];
  private ib: number[] = [];

  constructor(
    private readonly scanner: ContentScanner,
    private readonly totalSize: number,
    private readonly onStart: ((pattern: number, start: number) => void) | null,
    private readonly container: string,
    private readonly mode: SessionMode,
  ) {
    this.c = scanner.compiled;
    this.logical = scanner.logical?.session(totalSize, container, mode) ?? null;
    // A digest is only worth computing when some signature names this size (or any size).
    const { hashes, allowed } = scanner.db;
    this.hashes =
      mode === 'raw'
        ? scanner.hashAlgorithms
            .filter((a) => hashNeeded(hashes, a, totalSize) || hashNeeded(allowed, a, totalSize))
            .map((a) => [a, createHash(a)])
        : [];
    this.hasBodies = this.c.patName.length > 0;
  }

  get windowSize(): number {
    return this.ring.length;
  }

  get pendingCount(): number {
    return this.pendSeg.length + this.evEnd.length;
  }

  update(chunk: Uint8Array): void {
    if (this.finished) throw new Error('the scan session has already finished');
    const n = chunk.length;
    if (n === 0) return;
    if (this.logical !== null) this.logical.update(chunk);
    for (const [, hash] of this.hashes) hash.update(chunk);
    if (this.headLength < TYPE_HEAD_BYTES) {
      const taken = this.keepHead(chunk);
      if (this.headLength === TYPE_HEAD_BYTES) {
        this.startText();
        if (this.text !== null && taken < n) this.text.update(chunk.subarray(taken));
      }
    } else if (this.text !== null) {
      this.text.update(chunk);
    }
    if (!this.hasBodies) {
      this.pos += n;
      return;
    }
    if (this.ring.length === 0) {
      this.ring = this.scanner.takeRing();
      this.ringCap = this.ring.length;
    }
    this.chunk = chunk;
    this.chunkStart = this.pos;
    this.chunkEnd = this.pos + n;
    const q4 = this.c.q4;
    if (q4 !== null) {
      if (q4.stride === 1) this.scan4Rolling(q4);
      else this.scan4(q4);
    }
    const q2 = this.c.q2;
    if (q2 !== null) this.scan2(q2);
    this.pos = this.chunkEnd;
    if (this.pendSeg.length > 0) this.runPending(false);
    if (this.evEnd.length > 0) this.releaseEvents(this.pos - this.c.delayMax);
    this.remember(chunk);
    this.chunk = EMPTY;
    this.chunkStart = this.pos;
  }

  finish(): string[] {
    if (this.finished) throw new Error('the scan session has already finished');
    this.finished = true;
    const size = this.pos;
    if (this.totalSize >= 0 && size !== this.totalSize) {
      // Hashes were skipped, and EOF-n placed, on the strength of the declared size.
      throw new Error(`the scan session was told ${this.totalSize} bytes but got ${size}`);
    }
    if (this.headLength < TYPE_HEAD_BYTES) this.startText();
    if (this.hasBodies) {
      this.chunk = EMPTY;
      this.chunkStart = size;
      this.chunkEnd = size;
      if (this.pendSeg.length > 0) this.runPending(true);
      this.releaseEvents(Infinity);
      this.checkEofPatterns(size);
    }
    this.addTargeted();
    if (this.text !== null) for (const name of this.text.finish(size)) this.names.add(name);
    if (this.mode === 'raw' && size <= EICAR_MAX_FILE && this.head) {
      const whole = Buffer.from(this.head.buffer, this.head.byteOffset, size);
      if (isEicar(whole)) this.names.add(EICAR_SIGNATURE_NAME);
      if (isLocalTestFile(whole)) this.names.add(LOCAL_TEST_FILE_SIGNATURE);
    }
    for (const [algorithm, hash] of this.hashes) {
      const digest = hash.digest();
      for (const signature of lookupHash(this.scanner.db.hashes, algorithm, digest, size)) {
        this.names.add(signature.name);
      }
      this.allowedBy ??= lookupHash(this.scanner.db.allowed, algorithm, digest, size)[0]?.name;
    }
    if (this.logical !== null) for (const name of this.logical.finish(size)) this.names.add(name);
    if (this.ring.length > 0) this.scanner.returnRing(this.ring);
    this.ring = EMPTY;
    this.pendSeg = [];
    this.pendStart = [];
    this.pendReady = [];
    return [...this.names].sort();
  }

  // ---- streaming ----

  /** Keeps the first TYPE_HEAD_BYTES: the EICAR check and the file's kind are read from them. */
  private keepHead(chunk: Uint8Array): number {
    if (!this.head) this.head = new Uint8Array(TYPE_HEAD_BYTES);
    const taken = Math.min(TYPE_HEAD_BYTES - this.headLength, chunk.length);
    this.head.set(chunk.subarray(0, taken), this.headLength);
    this.headLength += taken;
    return taken;
  }

  /** The content's kind, from the head once it is complete (or the content ended). */
  private fileKind(): FileKind {
    this.kind ??= detectFileKind(this.headBytes());
    return this.kind;
  }

  private headBytes(): Uint8Array {
    return this.head?.subarray(0, this.headLength) ?? EMPTY;
  }

  /**
   * The head is complete (or the content ended): a text file gets its normalised copy, fed the
   * head now and every later chunk as it comes.
   */
  private startText(): void {
    if (this.mode !== 'raw' || this.onStart !== null || this.text !== null) return;
    const textScanner = this.scanner.text;
    if (textScanner === null) return;
    const head = this.headBytes();
    if (head.length === 0 || this.fileKind() !== 'text') return;
    this.text = new NormalisedText(textScanner, this.container);
    this.text.update(head);
  }

  /** Names of the matched patterns whose target type is this content's. */
  private addTargeted(): void {
    if (this.targeted === null) return;
    const target = this.mode === 'raw' ? RAW_TARGET[this.fileKind()] : NORMALISED_TEXT_TARGET;
    for (const pattern of this.targeted) {
      if (this.c.patTarget[pattern] === target) this.names.add(this.c.patName[pattern]!);
    }
  }

  /** Keeps the last `ringCap` bytes: byte p lives at ring[p % ringCap]. */
  private remember(chunk: Uint8Array): void {
    const cap = this.ringCap;
    const n = chunk.length;
    let from = n > cap ? n - cap : 0;
    let p = this.chunkStart + from;
    while (from < n) {
      const index = p % cap;
      const length = Math.min(cap - index, n - from);
      this.ring.set(chunk.subarray(from, from + length), index);
      from += length;
      p += length;
    }
  }

  /** The byte at absolute position p, or -1 when it is not held. */
  private byteAt(p: number): number {
    if (p >= this.chunkStart)
      return p < this.chunkEnd ? (this.chunk[p - this.chunkStart] ?? -1) : -1;
    if (p < 0 || p < this.chunkStart - this.ringCap) return -1;
    return this.ring[p % this.ringCap] ?? -1;
  }

  private scan4(pass: QgramPass): void {
    const chunk = this.chunk;
    const n = chunk.length;
    const cs = this.chunkStart;
    const stride = pass.stride;
    const bits = pass.bits;
    const shift = pass.hashShift;
    let i = this.next4 - cs;
    // Samples whose q-gram starts in the previous chunk.
    while (i < 3 && i < n) {
      const p = i + cs;
      const x =
        this.byteAt(p - 3) |
        (this.byteAt(p - 2) << 8) |
        (this.byteAt(p - 1) << 16) |
        (chunk[i]! << 24);
      const h = Math.imul(x, GOLDEN) >>> shift;
      if ((bits[h >>> 5]! & (1 << (h & 31))) !== 0) this.hit4(pass, x, p);
      i += stride;
    }
    // One little-endian 32-bit read per sample: the q-gram ending at i.
    const view = new DataView(chunk.buffer, chunk.byteOffset, n);
    for (; i < n; i += stride) {
      const x = view.getInt32(i - 3, true);
      const h = Math.imul(x, GOLDEN) >>> shift;
      if ((bits[h >>> 5]! & (1 << (h & 31))) !== 0) this.hit4(pass, x, i + cs);
    }
    this.next4 = i + cs;
  }

  private scan4Rolling(pass: QgramPass): void {
    const chunk = this.chunk;
    const n = chunk.length;
    const cs = this.chunkStart;
    const bits = pass.bits;
    const shift = pass.hashShift;
    let x = this.roll4;
    // Positions 0..2 of the stream hold a partial q-gram; the run check rejects any hit there.
    for (let i = 0; i < n; i += 1) {
      x = (x >>> 8) | (chunk[i]! << 24);
      const h = Math.imul(x, GOLDEN) >>> shift;
      if ((bits[h >>> 5]! & (1 << (h & 31))) !== 0) this.hit4(pass, x, i + cs);
    }
    this.roll4 = x;
  }

  private scan2(pass: QgramPass): void {
    const chunk = this.chunk;
    const n = chunk.length;
    const cs = this.chunkStart;
    const bits = pass.bits;
    if (pass.stride === 1) {
      let x = this.roll2;
      for (let i = 0; i < n; i += 1) {
        x = (x >>> 8) | (chunk[i]! << 8);
        if ((bits[x >>> 5]! & (1 << (x & 31))) !== 0) this.hit2(pass, x, i + cs);
      }
      this.roll2 = x;
      return;
    }
    const stride = pass.stride;
    let i = this.next2 - cs;
    if (i < 1 && i < n) {
      const p = i + cs;
      const x = this.byteAt(p - 1) | (chunk[i]! << 8);
      if (p >= 1 && (bits[x >>> 5]! & (1 << (x & 31))) !== 0) this.hit2(pass, x, p);
      i += stride;
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, n);
    for (; i < n; i += stride) {
      const x = view.getUint16(i - 1, true);
      if ((bits[x >>> 5]! & (1 << (x & 31))) !== 0) this.hit2(pass, x, i + cs);
    }
    this.next2 = i + cs;
  }

  private hit4(pass: QgramPass, x: number, p: number): void {
    const keys = pass.keys;
    const heads = pass.heads;
    let slot = Math.imul(x, TABLE_MIX) >>> pass.tableShift;
    for (;;) {
      const entry = heads[slot]!;
      if (entry < 0) return;
      if (keys[slot] === x) {
        this.hitEntries(entry, p);
        return;
      }
      slot = (slot + 1) & pass.tableMask;
    }
  }

  private hit2(pass: QgramPass, x: number, p: number): void {
    const entry = pass.heads[x]!;
    if (entry >= 0) this.hitEntries(entry, p);
  }

  private hitEntries(first: number, p: number): void {
    const c = this.c;
    for (let e = first; e >= 0; e = c.entryNext[e]!)
      this.candidate(c.entrySeg[e]!, p - c.entryEndOff[e]!);
  }

  /** An anchor's q-gram was seen: check the run, then verify now or when the bytes are in. */
  private candidate(seg: number, runStart: number): void {
    const c = this.c;
    if (runStart < 0) return;
    // Compare the run with whatever part of it is available now (most hits end here).
    const runLength = c.segRunLen[seg]!;
    const runOffset = c.segRunOffset[seg]!;
    const runBytes = c.runBytes;
    const cs = this.chunkStart;
    if (runStart >= cs && runStart + runLength <= this.chunkEnd) {
      const chunk = this.chunk;
      const base = runStart - cs;
      for (let k = 0; k < runLength; k += 1) {
        if (chunk[base + k] !== runBytes[runOffset + k]) return;
      }
    } else {
      const end = Math.min(runStart + runLength, this.chunkEnd);
      for (let p = runStart; p < end; p += 1) {
        const b = this.byteAt(p);
        if (b >= 0 && b !== runBytes[runOffset + p - runStart]) return;
      }
    }
    const pattern = c.segPattern[seg]!;
    if (this.matched !== null && this.matched.has(pattern)) return;
    if (c.segIndex[seg] === 0 && c.patOffsetKind[pattern] === OFFSET_ABSOLUTE) {
      const lo = c.patOffset[pattern]!;
      if (runStart - c.segBeforeMin[seg]! < lo) return;
      if (runStart - c.segBeforeMax[seg]! > lo + c.patShift[pattern]!) return;
    }
    // Then the bytes at fixed distances around it.
    for (let k = c.segContext[seg]!, end = c.segContext[seg + 1]!; k < end; k += 1) {
      const b = this.byteAt(runStart + c.contextOffset[k]!);
      if (b >= 0 && (b & c.contextMask[k]!) !== c.contextValue[k]) return;
    }
    const ready = runStart + c.segAfterMax[seg]!;
    if (ready <= this.chunkEnd) {
      this.verify(seg, runStart, this.chunkEnd);
    } else {
      this.pendSeg.push(seg);
      this.pendStart.push(runStart);
      this.pendReady.push(ready);
    }
  }

  private runPending(all: boolean): void {
    const limit = this.chunkEnd;
    let kept = 0;
    const count = this.pendSeg.length;
    for (let i = 0; i < count; i += 1) {
      const seg = this.pendSeg[i]!;
      const start = this.pendStart[i]!;
      const ready = this.pendReady[i]!;
      if (all || ready <= limit) {
        this.verify(seg, start, limit);
      } else {
        this.pendSeg[kept] = seg;
        this.pendStart[kept] = start;
        this.pendReady[kept] = ready;
        kept += 1;
      }
    }
    this.pendSeg.length = kept;
    this.pendStart.length = kept;
    this.pendReady.length = kept;
  }

  // ---- verification ----

  /** Verifies a whole segment around its anchor; bytes at or after `limit` do not exist. */
  private verify(seg: number, runStart: number, limit: number): void {
    const c = this.c;
    const pattern = c.segPattern[seg]!;
    if (this.matched !== null && this.matched.has(pattern)) return;
    const runLength = c.segRunLen[seg]!;
    const runOffset = c.segRunOffset[seg]!;
    if (runStart + runLength > limit) return;
    for (let k = 0; k < runLength; k += 1) {
      if (this.byteAt(runStart + k) !== c.runBytes[runOffset + k]) return;
    }
    const runOp = c.segRunOp[seg]!;
    // Right of the anchor: the earliest end.
    let list = this.propagate(
      runOp + runLength,
      c.segOpEnd[seg]!,
      runStart + runLength,
      runStart + runLength,
      limit,
      true,
    );
    if (list === null) return;
    const minEnd = list[0]!;
    // Left of the anchor: the possible starts.
    const floor = Math.max(0, this.chunkStart - this.ringCap);
    list = this.propagate(c.segOpStart[seg]!, runOp, runStart, runStart, floor, false);
    if (list === null) return;
    const index = c.segIndex[seg]!;
    if (index === 0 && c.patOffsetKind[pattern] === OFFSET_ABSOLUTE) {
      const lo = c.patOffset[pattern]!;
      const hi = lo + c.patShift[pattern]!;
      let ok = false;
      for (let i = 0; i < list.length && !ok; i += 2) ok = list[i]! <= hi && list[i + 1]! >= lo;
      if (!ok) return;
    }
    if (c.patSegCount[pattern] === 1) {
      if (this.onStart === null) this.match(pattern);
      else
        for (let i = 0; i < list.length; i += 2) this.reportStarts(pattern, list[i]!, list[i + 1]!);
      return;
    }
    this.pushEvent(minEnd, pattern, index, list[list.length - 1]!);
  }

  /**
   * Runs ops [from, to) over the interval of positions [x, y], forwards (positions are where the
   * next byte would be read; nothing at or past `bound`) or backwards (positions are where the
   * previous byte ended; nothing before `bound`). Returns the sorted, merged intervals reached,
   * or null when none.
   */
  private propagate(
    from: number,
    to: number,
    x: number,
    y: number,
    bound: number,
    forward: boolean,
  ): number[] | null {
    let cur = this.ia;
    let next = this.ib;
    cur.length = 0;
    cur.push(x, y);
    const c = this.c;
    const step = forward ? 1 : -1;
    for (let k = 0; k < to - from; k += 1) {
      const op = forward ? from + k : to - 1 - k;
      const kind = c.opKind[op]!;
      next.length = 0;
      if (kind === OP_GAP) {
        const min = c.opA[op]!;
        const max = c.opB[op]!;
        for (let i = 0; i < cur.length; i += 2) {
          let a: number;
          let b: number;
          if (forward) {
            a = cur[i]! + min;
            b = Math.min(cur[i + 1]! + max, bound);
          } else {
            a = Math.max(cur[i]! - max, bound);
            b = cur[i + 1]! - min;
          }
          if (a > b) continue;
          addInterval(next, a, b);
        }
      } else if (kind === OP_BYTE || kind === OP_SET) {
        const a = c.opA[op]!;
        const mask = c.opB[op]!;
        const setBase = a * 256;
        for (let i = 0; i < cur.length; i += 2) {
          for (let p = cur[i]!, end = cur[i + 1]!; p <= end; p += 1) {
            const at = forward ? p : p - 1;
            if (forward ? at >= bound : at < bound) continue;
            const byte = this.byteAt(at);
            if (byte < 0) continue;
            const ok = kind === OP_BYTE ? (byte & mask) === a : c.sets[setBase + byte] === 1;
            if (ok) addInterval(next, p + step, p + step);
          }
        }
      } else {
        const alternatives = c.alternatives[c.opA[op]!]!;
        const negated = kind === OP_NALT;
        const points: number[] = [];
        for (let i = 0; i < cur.length; i += 2) {
          for (let p = cur[i]!, end = cur[i + 1]!; p <= end; p += 1) {
            if (negated) {
              const length = alternatives.lengths[0]!;
              const s = forward ? p : p - length;
              if (forward ? s + length > bound : s < bound) continue;
              if (this.readable(s, length) && !this.anyAlternative(alternatives, s)) {
                points.push(forward ? p + length : s);
              }
              continue;
            }
            for (let j = 0; j < alternatives.lengths.length; j += 1) {
              const length = alternatives.lengths[j]!;
              const s = forward ? p : p - length;
              if (forward ? s + length > bound : s < bound) continue;
              if (this.alternativeAt(alternatives, j, s)) points.push(forward ? p + length : s);
            }
          }
        }
        points.sort((u, v) => u - v);
        for (const point of points) addInterval(next, point, point);
      }
      if (next.length === 0) return null;
      const swap = cur;
      cur = next;
      next = swap;
    }
    this.ia = cur;
    this.ib = next;
    return cur.length > 0 ? cur : null;
  }

  private readable(start: number, length: number): boolean {
    return this.byteAt(start) >= 0 && this.byteAt(start + length - 1) >= 0;
  }

  private alternativeAt(
    alternatives: { values: Uint8Array[]; masks: Uint8Array[] },
    j: number,
    start: number,
  ): boolean {
    const values = alternatives.values[j]!;
    const masks = alternatives.masks[j]!;
    for (let k = 0; k < values.length; k += 1) {
      const byte = this.byteAt(start + k);
      if (byte < 0 || (byte & masks[k]!) !== values[k]) return false;
    }
    return true;
  }

  private anyAlternative(
    alternatives: { values: Uint8Array[]; masks: Uint8Array[] },
    start: number,
  ): boolean {
    for (let j = 0; j < alternatives.values.length; j += 1) {
      if (this.alternativeAt(alternatives, j, start)) return true;
    }
    return false;
  }

  private match(pattern: number): void {
    if (this.matched === null) this.matched = new Set();
    this.matched.add(pattern);
    if (this.onStart === null) {
      if (this.c.patTarget[pattern] === 0) this.names.add(this.c.patName[pattern]!);
      else (this.targeted ??= []).push(pattern);
    }
    // Only bodies with unbounded gaps get here in occurrence mode: found once, start unknown.
    else this.onStart(pattern, 0);
  }

  private reportStarts(pattern: number, from: number, to: number): void {
    const onStart = this.onStart!;
    for (let start = from; start <= to; start += 1) onStart(pattern, start);
  }

  // ---- multi-segment patterns ----

  private pushEvent(end: number, pattern: number, index: number, maxStart: number): void {
    // A binary min-heap on `end` over parallel arrays.
    const ends = this.evEnd;
    let i = ends.length;
    ends.push(end);
    this.evPat.push(pattern);
    this.evSeg.push(index);
    this.evMaxStart.push(maxStart);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ends[parent]! <= end) break;
      this.swapEvents(i, parent);
      i = parent;
    }
  }

  private swapEvents(i: number, j: number): void {
    for (const array of [this.evEnd, this.evPat, this.evSeg, this.evMaxStart]) {
      const t = array[i]!;
      array[i] = array[j]!;
      array[j] = t;
    }
  }

  private popEvent(): void {
    const last = this.evEnd.length - 1;
    this.swapEvents(0, last);
    for (const array of [this.evEnd, this.evPat, this.evSeg, this.evMaxStart]) array.pop();
    const ends = this.evEnd;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < ends.length && ends[l]! < ends[smallest]!) smallest = l;
      if (r < ends.length && ends[r]! < ends[smallest]!) smallest = r;
      if (smallest === i) break;
      this.swapEvents(i, smallest);
      i = smallest;
    }
  }

  /**
   * Segment matches are verified out of order (a segment is checked once all the bytes it could
   * span are in), so they wait until every match ending earlier is known, then advance each
   * pattern greedily: the earliest end of segment k, then the earliest end of segment k+1 that
   * starts at least the gap's minimum after it, and so on.
   */
  private releaseEvents(upTo: number): void {
    const c = this.c;
    while (this.evEnd.length > 0 && this.evEnd[0]! <= upTo) {
      const end = this.evEnd[0]!;
      const pattern = this.evPat[0]!;
      const index = this.evSeg[0]!;
      const maxStart = this.evMaxStart[0]!;
      this.popEvent();
      if (this.matched !== null && this.matched.has(pattern)) continue;
      if (this.multi === null) this.multi = new Map();
      let state = this.multi.get(pattern);
      if (state === undefined) {
        if (index !== 0) continue;
        state = { stage: 0, threshold: 0 };
        this.multi.set(pattern, state);
      }
      if (index !== state.stage || (index > 0 && maxStart < state.threshold)) continue;
      state.stage += 1;
      if (state.stage === c.patSegCount[pattern]) {
        this.match(pattern);
        this.multi.delete(pattern);
      } else {
        state.threshold = end + c.segGapMin[c.patFirstSeg[pattern]! + state.stage]!;
      }
    }
  }

  // ---- EOF-n patterns ----

  /**
   * False when segment `s`, starting anywhere in [lo, hi], cannot match because its anchor run
   * (fixed bytes at a bounded distance from its start) is nowhere it would have to be. True when
   * it may match, or when the anchor is missing or its possible places too many to check here.
   */
  private anchorMayOccur(s: number, lo: number, hi: number): boolean {
    const c = this.c;
    const runLen = c.segRunLen[s]!;
    if (runLen <= 0) return true;
    const from = Math.max(lo + c.segBeforeMin[s]!, this.chunkStart - this.ringCap, 0);
    const to = Math.min(hi + c.segBeforeMax[s]!, this.pos - runLen);
    if (to - from > EOF_PREFILTER_SPAN) return true;
    const run = c.runBytes;
    const offset = c.segRunOffset[s]!;
    for (let p = from; p <= to; p += 1) {
      let k = 0;
      while (k < runLen && this.byteAt(p + k) === run[offset + k]) k += 1;
      if (k === runLen) return true;
    }
    return false;
  }

  /**
   * Checks the EOF-anchored patterns once the size is known. Those whose anchor run sits at a
   * fixed distance from the end are looked up by the two bytes there (EofIndex); the rest are
   * tried one by one.
   */
  private checkEofPatterns(size: number): void {
    const floor = Math.max(0, this.chunkStart - this.ringCap);
    const { byKey, window, others } = this.scanner.eofIndex;
    const tried = new Set<number>();
    for (let at = Math.max(floor, size - window); at + 2 <= this.pos; at += 1) {
      const entries = byKey.get((this.byteAt(at) << 8) | this.byteAt(at + 1));
      if (!entries) continue;
      const distance = size - at;
      for (let k = 0; k < entries.length; k += 3) {
        const pattern = entries[k]!;
        if (distance < entries[k + 1]! || distance > entries[k + 2]! || tried.has(pattern))
          continue;
        tried.add(pattern);
        this.checkEofPattern(pattern, size, floor);
      }
    }
    for (const pattern of others) this.checkEofPattern(pattern, size, floor);
  }

  private checkEofPattern(pattern: number, size: number, floor: number): void {
    const c = this.c;
    const lo = size - c.patOffset[pattern]!;
    if (lo < 0 || lo < floor) return;
    const hi = Math.min(lo + c.patShift[pattern]!, this.pos);
    const first = c.patFirstSeg[pattern]!;
    // A cheap necessary condition first (the first segment's anchor run must be where the
    // segment could start), the full verification after.
    if (!this.anchorMayOccur(first, lo, hi)) return;
    let list: number[] | null = [lo, hi];
    for (let s = first; s < first + c.patSegCount[pattern]! && list !== null; s += 1) {
      if (s > first) {
        // An unbounded gap: anything from the earliest reachable position + its minimum.
        list = [list[0]! + c.segGapMin[s]!, this.pos];
        if (list[0]! > list[1]!) {
          list = null;
          break;
        }
      }
      list = this.propagate(c.segOpStart[s]!, c.segOpEnd[s]!, list[0]!, list[1]!, this.pos, true);
      if (list !== null) list = list.slice();
    }
    if (list !== null) this.match(pattern);
  }
}

/**
 * EOF-anchored patterns (`EOF-n`, `EOF-n,m`) by the first two bytes of their first anchor run
 * and how far from the end that run may start: at the end of a file, the last `window` bytes are
 * read once and a pattern is only tried where its two bytes are, at a distance it allows. A
 * database has tens of thousands of these and they are checked at the end of every file and
 * archive member; the few whose run may start further back than INDEXED_EOF_WINDOW (or that have
 * no run of two bytes) are tried one by one.
 */
interface EofIndex {
  /** The run's first two bytes (big-endian) → [pattern, nearest distance, furthest distance]. */
  byKey: Map<number, number[]>;
  /** The furthest distance from the end any indexed run may start at. */
  window: number;
  others: number[];
}

const INDEXED_EOF_WINDOW = 4096;

function indexEofPatterns(c: CompiledBodies): EofIndex {
  const byKey = new Map<number, number[]>();
  const others: number[] = [];
  let window = 0;
  for (const pattern of c.eofPatterns) {
    const first = c.patFirstSeg[pattern]!;
    const n = c.patOffset[pattern]!;
    const nearest = n - c.patShift[pattern]! - c.segBeforeMax[first]!;
    const furthest = n - c.segBeforeMin[first]!;
    if (c.segRunLen[first]! < 2 || furthest > INDEXED_EOF_WINDOW || nearest < 0) {
      others.push(pattern);
      continue;
    }
    const runAt = c.segRunOffset[first]!;
    const key = (c.runBytes[runAt]! << 8) | c.runBytes[runAt + 1]!;
    const list = byKey.get(key);
    if (list) list.push(pattern, nearest, furthest);
    else byKey.set(key, [pattern, nearest, furthest]);
    window = Math.max(window, furthest);
  }
  return { byKey, window, others };
}

/** Appends [a, b] to a sorted interval list, merging with the last interval when they touch. */
function addInterval(list: number[], a: number, b: number): void {
  const n = list.length;
  if (n > 0 && a <= list[n - 1]! + 1) {
    if (b > list[n - 1]!) list[n - 1] = b;
    return;
  }
  list.push(a, b);
}

/** Compiles bodies for a logical scanner: every start of every body, reported as it is found. */
function occurrenceMatcher(
  bodies: BodySignature[],
): (onStart: (pattern: number, start: number) => void) => OccurrenceFeed {
  const scanner = new ContentScanner({ ...emptySignatureDatabase(), bodies });
  return (onStart) => scanner.occurrenceSession(onStart);
}

/**
 * The normalised copy of a text file, matched by a session of its own. clamd leaves it out when
 * the text turns out to be HTML (it then matches its own forms of the page instead) and when the
 * file is larger than it normalises; so are its matches here.
 */
class NormalisedText {
  private readonly normaliser = new TextNormaliser();
  private readonly html = new HtmlMarkerScanner();
  private readonly session: Session;
  private fed = 0;

  constructor(scanner: ContentScanner, container: string) {
    this.session = new Session(scanner, -1, null, container, 'normalised-text');
  }

  update(chunk: Uint8Array): void {
    this.html.update(chunk);
    if (this.html.found || this.fed > MAX_NORMALISED_TEXT) return;
    this.fed += chunk.length;
    const normalised = this.normaliser.normalise(chunk);
    if (normalised.length > 0) this.session.update(normalised);
  }

  finish(size: number): string[] {
    const names = this.session.finish();
    return this.html.found || size > MAX_NORMALISED_TEXT ? [] : names;
  }
}

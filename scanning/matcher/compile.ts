import type { BodySignature, HexElement } from '../signatures/ndb.js';

/**
 * Compiles `.ndb` body signatures into flat typed arrays for the streaming matcher.
 *
 * Each signature is cut at its unbounded gaps (`*`, `{n-}`) into segments; a segment has a
 * bounded extent and is a list of ops (masked byte, byte set, alternatives, bounded gap). Each
 * segment is found through one anchor: its longest (then rarest) run of fixed bytes. Anchors are
 * indexed by q-grams (4 bytes, or 2 for runs of 2–3 bytes) and looked for at every `stride`-th
 * position of the stream: an anchor run of length L registers `stride` consecutive q-grams
 * (stride ≤ L − q + 1), so each occurrence contains exactly one sampled q-gram. A sampled
 * position is checked against a bitmap first; the rare hits go to an exact table of
 * (segment, offset in run) entries, then the run, then the whole segment is verified.
 *
 * `EOF-n` signatures are not indexed: they lie within the last n bytes, which the scanner keeps,
 * and are checked directly when the stream ends.
 */

export const OP_GAP = 0;
export const OP_BYTE = 1;
export const OP_SET = 2;
export const OP_ALT = 3;
export const OP_NALT = 4;

export const OFFSET_ANY = 0;
export const OFFSET_ABSOLUTE = 1;
export const OFFSET_EOF = 2;

const MAX_STRIDE = 16;
/** How much one sampled position costs against a hit that has to be looked up. */
const HIT_COST = 15;

export interface CompiledAlternatives {
  lengths: number[];
  values: Uint8Array[];
  masks: Uint8Array[];
}

export interface QgramPass {
  /** 4 or 2. */
  q: number;
  stride: number;
  /** Q4: a bitmap over a multiplicative hash of the q-gram; Q2: one flag per 2-gram. */
  bits: Int32Array;
  hashShift: number;
  /** Exact lookup: q-gram → first entry (open addressing for Q4, direct index for Q2). */
  keys: Int32Array;
  heads: Int32Array;
  tableShift: number;
  tableMask: number;
}

export interface CompiledBodies {
  opKind: Uint8Array;
  opA: Int32Array;
  opB: Int32Array;
  sets: Uint8Array;
  alternatives: CompiledAlternatives[];

  segPattern: Int32Array;
  segIndex: Int32Array;
  segOpStart: Int32Array;
  segOpEnd: Int32Array;
  /** The anchor: its first op, length and bytes (at segRunOffset in runBytes). */
  segRunOp: Int32Array;
  segRunLen: Int32Array;
  segRunOffset: Int32Array;
  runBytes: Uint8Array;
  segBeforeMin: Int32Array;
  segBeforeMax: Int32Array;
  /** Extent from the anchor's first byte to the segment's end (anchor included). */
  segAfterMin: Int32Array;
  segAfterMax: Int32Array;
  /** Minimum gap before this segment (segments after the first). */
  segGapMin: Float64Array;
  /**
   * Bytes at a fixed distance from the anchor (nibbles and fixed bytes up to the first
   * variable-length op on each side): entries [segContext[s], segContext[s + 1]) of
   * contextOffset/contextValue/contextMask, a cheap filter before a full verification.
   */
  segContext: Int32Array;
  contextOffset: Int32Array;
  contextValue: Uint8Array;
  contextMask: Uint8Array;

  patName: string[];
  /** The signature's target type (0: any file; others: files of that kind only). */
  patTarget: Uint8Array;
  patFirstSeg: Int32Array;
  patSegCount: Int32Array;
  patOffsetKind: Uint8Array;
  patOffset: Float64Array;
  patShift: Float64Array;
  /** Patterns checked at the end of the stream (EOF-n offsets). */
  eofPatterns: Int32Array;

  entrySeg: Int32Array;
  entryEndOff: Int32Array;
  entryNext: Int32Array;
  q4: QgramPass | null;
  q2: QgramPass | null;

  /** Bytes of history a scan keeps (the largest segment, or EOF-n window). */
  window: number;
  /** Longest delay between a segment match's end and the moment it is known. */
  delayMax: number;
}
/** How often a byte value shows up in ordinary files (higher: worse anchor). */
const COMMONNESS = new Float64Array(256).map((_, byte) => {
  if (byte === 0x00) return 8;
  if (byte === 0xff) return 5;
  if (byte === 0x20) return 4;
  if (byte === 0x0a || byte === 0x0d || byte === 0x90 || byte === 0xcc) return 3;
  if (byte >= 0x61 && byte <= 0x7a) return 2;
  if ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a)) return 1.5;
  if (byte < 0x20) return 1;
  return 0.5;
});

/** Byte sets of single-byte alternatives, 256 flags each, shared when equal. */
class ByteSets {
  private data = new Uint8Array(256 * 16);
  private count = 0;
  private readonly byKey = new Map<string, number>();

  add(element: Extract<HexElement, { kind: 'alt' }>): number {
    const key = `${element.negated ? '!' : ''}${element.alternatives.map(([b]) => `${b?.value}/${b?.mask}`).join(',')}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    if ((this.count + 1) * 256 > this.data.length) {
      const grown = new Uint8Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const base = this.count * 256;
    this.data.fill(element.negated ? 1 : 0, base, base + 256);
    for (const [choice] of element.alternatives) {
      if (!choice) continue;
      for (let b = 0; b < 256; b += 1) {
        if ((b & choice.mask) === (choice.value & choice.mask))
          this.data[base + b] = element.negated ? 0 : 1;
      }
    }
    this.byKey.set(key, this.count);
    this.count += 1;
    return this.count - 1;
  }

  toArray(): Uint8Array {
    return this.data.slice(0, this.count * 256);
  }
}

/** Ops of every segment, appended to flat arrays as the signatures are compiled. */
class OpBuilder {
  readonly kind: number[] = [];
  readonly a: number[] = [];
  readonly b: number[] = [];
  readonly sets = new ByteSets();
  readonly alternatives: CompiledAlternatives[] = [];
  readonly altMin: number[] = [];
  readonly altMax: number[] = [];

  get length(): number {
    return this.kind.length;
  }

  private push(kind: number, a: number, b: number): void {
    this.kind.push(kind);
    this.a.push(a);
    this.b.push(b);
  }

  private gap(segmentStart: number, min: number, max: number): void {
    const last = this.kind.length - 1;
    if (last >= segmentStart && this.kind[last] === OP_GAP) {
      this.a[last] = this.a[last]! + min;
      this.b[last] = this.b[last]! + max;
    } else if (min !== 0 || max !== 0) {
      // {0} is no gap at all; leaving it out lets the fixed bytes around it form one run.
      this.push(OP_GAP, min, max);
    }
  }

  /** Appends one segment's elements (no unbounded gaps among them). */
  add(elements: HexElement[], from: number, to: number): void {
    const start = this.kind.length;
    for (let i = from; i < to; i += 1) {
      const element = elements[i]!;
      if (element.kind === 'byte') {
        if (element.mask === 0) this.gap(start, 1, 1);
        else this.push(OP_BYTE, element.value & element.mask, element.mask);
      } else if (element.kind === 'gap') {
        this.gap(start, element.min, element.max);
      } else if (element.alternatives.every((alt) => alt.length === 1)) {
        this.push(OP_SET, this.sets.add(element), 0);
      } else {
        const lengths = element.alternatives.map((alt) => alt.length);
        this.alternatives.push({
          lengths,
          values: element.alternatives.map((alt) => Uint8Array.from(alt, (b) => b.value & b.mask)),
          masks: element.alternatives.map((alt) => Uint8Array.from(alt, (b) => b.mask)),
        });
        this.altMin.push(Math.min(...lengths));
        this.altMax.push(Math.max(...lengths));
        this.push(element.negated ? OP_NALT : OP_ALT, this.alternatives.length - 1, 0);
      }
    }
    // A trailing zero-width gap left by merging is dropped too.
    const last = this.kind.length - 1;
    if (last >= start && this.kind[last] === OP_GAP && this.a[last] === 0 && this.b[last] === 0) {
      this.kind.pop();
      this.a.pop();
      this.b.pop();
    }
  }

  min(op: number): number {
    const kind = this.kind[op];
    if (kind === OP_GAP) return this.a[op]!;
    if (kind === OP_BYTE || kind === OP_SET) return 1;
    return this.altMin[this.a[op]!]!;
  }

  max(op: number): number {
    const kind = this.kind[op];
    if (kind === OP_GAP) return this.b[op]!;
    if (kind === OP_BYTE || kind === OP_SET) return 1;
    return this.altMax[this.a[op]!]!;
  }

  isFixed(op: number): boolean {
    return this.kind[op] === OP_BYTE && this.b[op] === 0xff;
  }

  /** The run of fixed bytes to anchor on: two or more bytes, longest (up to a point), rarest. */
  chooseRun(start: number, end: number): { runOp: number; runLen: number } {
    let bestOp = -1;
    let bestLen = 0;
    let bestScore = -Infinity;
    let i = start;
    while (i < end) {
      if (!this.isFixed(i)) {
        i += 1;
        continue;
      }
      let j = i;
      let rarity = 0;
      while (j < end && this.isFixed(j)) {
        rarity += COMMONNESS[this.a[j]!]!;
        j += 1;
      }
      const length = j - i;
      const score =
        (length >= 2 ? 1000 : 0) + Math.min(length, MAX_STRIDE + 3) * 4 - rarity / length;
      if (score > bestScore) {
        bestScore = score;
        bestOp = i;
        bestLen = length;
      }
      i = j;
    }
    return { runOp: bestOp, runLen: bestLen };
  }
}

interface SegmentDraft {
  pattern: number;
  index: number;
  opStart: number;
  opEnd: number;
  gapMin: number;
  runOp: number;
  runLen: number;
  runBytes: number[];
}

const MAX_CONTEXT = 12;

export function compileBodies(signatures: BodySignature[]): CompiledBodies {
  const ops = new OpBuilder();
  const segments: SegmentDraft[] = [];
  const patName: string[] = [];
  const patTarget: number[] = [];
  const patFirstSeg: number[] = [];
  const patSegCount: number[] = [];
  const patOffsetKind: number[] = [];
  const patOffset: number[] = [];
  const patShift: number[] = [];
  const eofPatterns: number[] = [];
  let window = 4;

  for (const signature of signatures) {
    const pattern = patName.length;
    const offset = signature.offset;
    const eof = offset.kind === 'eof';
    patName.push(signature.name);
    patTarget.push(signature.targetType);
    patFirstSeg.push(segments.length);
    patOffsetKind.push(
      offset.kind === 'any'
        ? OFFSET_ANY
        : offset.kind === 'absolute'
          ? OFFSET_ABSOLUTE
          : OFFSET_EOF,
    );
    patOffset.push(offset.kind === 'any' ? 0 : offset.offset);
    patShift.push(offset.kind === 'any' ? 0 : offset.maxShift);
    if (eof) {
      eofPatterns.push(pattern);
      window = Math.max(window, offset.offset);
    }
    // Cut at the unbounded gaps.
    const elements = signature.elements;
    let from = 0;
    let gapMin = 0;
    let index = 0;
    for (let i = 0; i <= elements.length; i += 1) {
      const element = elements[i];
      if (element !== undefined && !(element.kind === 'gap' && element.max === Infinity)) continue;
      const opStart = ops.length;
      ops.add(elements, from, i);
      const opEnd = ops.length;
      const { runOp, runLen } = ops.chooseRun(opStart, opEnd);
      segments.push({
        pattern,
        index,
        opStart,
        opEnd,
        gapMin,
        runOp,
        runLen,
        runBytes: ops.a.slice(runOp, runOp + runLen),
      });
      index += 1;
      from = i + 1;
      gapMin = element?.kind === 'gap' ? element.min : 0;
    }
    patSegCount.push(index);
  }

  const segCount = segments.length;
  const out: CompiledBodies = {
    opKind: Uint8Array.from(ops.kind),
    opA: Int32Array.from(ops.a),
    opB: Int32Array.from(ops.b),
    sets: ops.sets.toArray(),
    alternatives: ops.alternatives,
    segPattern: new Int32Array(segCount),
    segIndex: new Int32Array(segCount),
    segOpStart: new Int32Array(segCount),
    segOpEnd: new Int32Array(segCount),
    segRunOp: new Int32Array(segCount),
    segRunLen: new Int32Array(segCount),
    segRunOffset: new Int32Array(segCount),
    runBytes: new Uint8Array(segments.reduce((sum, s) => sum + s.runLen, 0)),
    segBeforeMin: new Int32Array(segCount),
    segBeforeMax: new Int32Array(segCount),
    segAfterMin: new Int32Array(segCount),
    segAfterMax: new Int32Array(segCount),
    segGapMin: new Float64Array(segCount),
    segContext: new Int32Array(segCount + 1),
    contextOffset: new Int32Array(0),
    contextValue: new Uint8Array(0),
    contextMask: new Uint8Array(0),
    patName,
    patTarget: Uint8Array.from(patTarget),
    patFirstSeg: Int32Array.from(patFirstSeg),
    patSegCount: Int32Array.from(patSegCount),
    patOffsetKind: Uint8Array.from(patOffsetKind),
    patOffset: Float64Array.from(patOffset),
    patShift: Float64Array.from(patShift),
    eofPatterns: Int32Array.from(eofPatterns),
    entrySeg: new Int32Array(0),
    entryEndOff: new Int32Array(0),
    entryNext: new Int32Array(0),
    q4: null,
    q2: null,
    window,
    delayMax: 0,
  };

  const contextOffset: number[] = [];
  const contextValue: number[] = [];
  const contextMask: number[] = [];
  let runOffset = 0;
  const anchored: number[] = [];
  for (let s = 0; s < segCount; s += 1) {
    const seg = segments[s]!;
    out.segPattern[s] = seg.pattern;
    out.segIndex[s] = seg.index;
    out.segOpStart[s] = seg.opStart;
    out.segOpEnd[s] = seg.opEnd;
    out.segRunOp[s] = seg.runOp;
    out.segRunLen[s] = seg.runLen;
    out.segRunOffset[s] = runOffset;
    out.runBytes.set(seg.runBytes, runOffset);
    runOffset += seg.runLen;
    out.segGapMin[s] = seg.gapMin;
    let beforeMin = 0;
    let beforeMax = 0;
    let afterMin = 0;
    let afterMax = 0;
    const runOp = seg.runOp < 0 ? seg.opEnd : seg.runOp;
    for (let op = seg.opStart; op < seg.opEnd; op += 1) {
      if (op < runOp) {
        beforeMin += ops.min(op);
        beforeMax += ops.max(op);
      } else {
        afterMin += ops.min(op);
        afterMax += ops.max(op);
      }
    }
    out.segBeforeMin[s] = beforeMin;
    out.segBeforeMax[s] = beforeMax;
    out.segAfterMin[s] = afterMin;
    out.segAfterMax[s] = afterMax;
    const eof = out.patOffsetKind[seg.pattern] === OFFSET_EOF;
    if (!eof) out.window = Math.max(out.window, beforeMax + afterMax);
    // Masked bytes at fixed distances from the anchor, nearest first, on both sides.
    out.segContext[s] = contextOffset.length;
    if (seg.runOp >= 0) {
      for (const step of [1, -1]) {
        let offset = step === 1 ? seg.runLen : 0;
        let found = 0;
        for (
          let op = step === 1 ? seg.runOp + seg.runLen : seg.runOp - 1;
          op >= seg.opStart && op < seg.opEnd && found < MAX_CONTEXT / 2;
          op += step
        ) {
          const kind = ops.kind[op];
          if (kind === OP_GAP && ops.a[op] === ops.b[op]) {
            offset += step * ops.a[op]!;
          } else if (kind === OP_BYTE || kind === OP_SET) {
            if (kind === OP_BYTE) {
              contextOffset.push(step === 1 ? offset : offset - 1);
              contextValue.push(ops.a[op]!);
              contextMask.push(ops.b[op]!);
              found += 1;
            }
            offset += step;
          } else {
            break;
          }
        }
      }
    }
    out.segContext[s + 1] = contextOffset.length;
    if (!eof && seg.runLen >= 2) {
      anchored.push(s);
      if ((out.patSegCount[seg.pattern] ?? 1) > 1)
        out.delayMax = Math.max(out.delayMax, afterMax - afterMin);
    }
  }
  out.contextOffset = Int32Array.from(contextOffset);
  out.contextValue = Uint8Array.from(contextValue);
  out.contextMask = Uint8Array.from(contextMask);
  buildPasses(out, anchored, segments);
  return out;
}

function buildPasses(out: CompiledBodies, anchored: number[], segments: SegmentDraft[]): void {
  // Choose the stride of the 4-gram pass: anchors too short for it go to the 2-gram pass.
  const capabilities = new Int32Array(MAX_STRIDE + 1);
  let minRun = Infinity;
  for (const s of anchored) {
    const runLen = segments[s]!.runLen;
    capabilities[Math.max(0, Math.min(runLen - 3, MAX_STRIDE))]! += 1;
    minRun = Math.min(minRun, runLen);
  }
  let best = { cost: Infinity, stride4: 0, stride2: 0 };
  for (let stride4 = 0; stride4 <= MAX_STRIDE; stride4 += 1) {
    if (stride4 > 0 && capabilities[stride4] === 0) continue;
    let n4 = 0;
    let n2 = 0;
    let stride2 = MAX_STRIDE;
    for (let c = 0; c <= MAX_STRIDE; c += 1) {
      const count = capabilities[c]!;
      if (count === 0) continue;
      if (stride4 > 0 && c >= stride4) n4 += count;
      else {
        n2 += count;
        // Capability c is runLen − 3 (0: a run of 2 or 3 bytes).
        stride2 = Math.min(stride2, c === 0 ? Math.max(1, minRun - 1) : c + 2);
      }
    }
    if (n2 === 0) stride2 = 0;
    const fp2 = 1 - Math.exp(-(n2 * stride2) / 65536);
    const cost =
      (stride4 > 0 && n4 > 0 ? (1 + HIT_COST / 32) / stride4 : 0) +
      (stride2 > 0 ? (1 + HIT_COST * fp2) / stride2 : 0);
    if (cost < best.cost) best = { cost, stride4: n4 > 0 ? stride4 : 0, stride2 };
  }

  const entrySeg: number[] = [];
  const entryEndOff: number[] = [];
  const byGram4 = new Map<number, number[]>();
  const byGram2 = new Map<number, number[]>();
  for (const s of anchored) {
    const seg = segments[s]!;
    const b = seg.runBytes;
    const use4 = best.stride4 > 0 && seg.runLen - 3 >= best.stride4;
    const q = use4 ? 4 : 2;
    const stride = use4 ? best.stride4 : Math.min(best.stride2, seg.runLen - 1);
    // Place the `stride` registered q-grams where the run is least common: score each q-gram
    // once, then slide a window of `stride` of them.
    const grams = seg.runLen - q + 1;
    const score = new Float64Array(grams);
    for (let k = 0; k < grams; k += 1) {
      let sum = b[k] === b[k + 1] ? 2 : 0; // repeated bytes (padding, fills) are common
      for (let j = 0; j < q; j += 1) sum += COMMONNESS[b[k + j]!]!;
      score[k] = sum;
    }
    let window = 0;
    for (let k = 0; k < stride; k += 1) window += score[k]!;
    let bestStart = 0;
    let bestScore = window;
    for (let start = 1; start + stride <= grams; start += 1) {
      window += score[start + stride - 1]! - score[start - 1]!;
      if (window < bestScore) {
        bestScore = window;
        bestStart = start;
      }
    }
    for (let k = 0; k < stride; k += 1) {
      const at = bestStart + k;
      const gram = use4
        ? b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24) | 0
        : b[at]! | (b[at + 1]! << 8);
      const entry = entrySeg.length;
      entrySeg.push(s);
      entryEndOff.push(at + q - 1);
      const map = use4 ? byGram4 : byGram2;
      const list = map.get(gram);
      if (list) list.push(entry);
      else map.set(gram, [entry]);
    }
  }
  out.entrySeg = Int32Array.from(entrySeg);
  out.entryEndOff = Int32Array.from(entryEndOff);
  const entryNext = new Int32Array(entrySeg.length).fill(-1);
  const link = (list: number[]) => {
    for (let i = 0; i + 1 < list.length; i += 1) entryNext[list[i]!] = list[i + 1]!;
    return list[0] ?? -1;
  };
  out.entryNext = entryNext;

  if (byGram4.size > 0) {
    const registered = entrySeg.length;
    const bitsLog = Math.min(23, Math.max(12, Math.ceil(Math.log2(registered * 32))));
    const bits = new Int32Array(1 << (bitsLog - 5));
    const hashShift = 32 - bitsLog;
    const tableLog = Math.max(4, Math.ceil(Math.log2(byGram4.size * 2)));
    const keys = new Int32Array(1 << tableLog);
    const heads = new Int32Array(1 << tableLog).fill(-1);
    const tableMask = (1 << tableLog) - 1;
    const tableShift = 32 - tableLog;
    for (const [gram, list] of byGram4) {
      const h = Math.imul(gram, 0x9e3779b1) >>> hashShift;
      bits[h >>> 5] = bits[h >>> 5]! | (1 << (h & 31));
      let slot = Math.imul(gram, 0x85ebca6b) >>> tableShift;
      while (heads[slot]! >= 0) slot = (slot + 1) & tableMask;
      keys[slot] = gram;
      heads[slot] = link(list);
    }
    out.q4 = { q: 4, stride: best.stride4, bits, hashShift, keys, heads, tableShift, tableMask };
  }
  if (byGram2.size > 0) {
    const bits = new Int32Array(65536 >>> 5);
    const heads = new Int32Array(65536).fill(-1);
    let stride = MAX_STRIDE;
    for (const [gram, list] of byGram2) {
      bits[gram >>> 5] = bits[gram >>> 5]! | (1 << (gram & 31));
      heads[gram] = link(list);
    }
    for (const s of anchored) {
      const seg = segments[s]!;
      if (!(best.stride4 > 0 && seg.runLen - 3 >= best.stride4))
        stride = Math.min(stride, best.stride2, seg.runLen - 1);
    }
    out.q2 = {
      q: 2,
      stride,
      bits,
      hashShift: 0,
      keys: new Int32Array(0),
      heads,
      tableShift: 0,
      tableMask: 0,
    };
  }
}

import { RE2 } from 're2-wasm';
import {
  evaluateExpression,
  type LdbOffset,
  type LogicalSignature,
  type PcreSubsignature,
} from '../signatures/ldb.js';
import { releaseRegex } from '../signatures/pcre.js';

/**
 * PCRE subsignatures of logical signatures, run as clamd runs them (cli_pcre_scanbuf): once the
 * whole file has been matched, in subsignature order, each only when its trigger holds over the
 * counts so far; its matches then count like any subsignature's.
 *
 * That needs the content at the end. A session keeps the bytes of the file or member (only when
 * the database has PCRE signatures for its target) up to PCRE_MAX_CONTENT; past that it drops
 * them and runs no regex, as clamd runs none on a file over its PCREMaxFileSize: those PCRE
 * subsignatures count no match. The bound is lower than clamd's 100 MB because re2-wasm works in
 * a fixed 16 MB WebAssembly heap, which holds the content (twice over, as UTF-8) while a regex
 * runs; for the same reason each regex is compiled when its trigger holds and freed after the
 * run, not kept (load compiles each once to check it, signatures/pcre.ts). Where clamd gives up
 * on a regex at its backtracking limits (PCREMatchLimit), RE2, which does not backtrack, finishes.
 */

/** The most content a regex runs over; bigger files and members get no PCRE match. */
export const PCRE_MAX_CONTENT = 1024 * 1024;

/** Where a subsignature may start, [lo, hi], for this file; null: nowhere. */
export type WindowOf = (offset: LdbOffset) => [number, number] | null;

export class PcreRunner {
  /** Per signature with PCRE subsignatures: their numbers, in order. */
  private readonly pcreSubs = new Map<number, number[]>();
  /** Signatures a PCRE trigger of which holds with nothing matched: candidates on every file. */
  readonly holdWithoutMatches: number[] = [];
  private readonly targets = new Set<number>();

  constructor(private readonly signatures: LogicalSignature[]) {
    signatures.forEach((signature, index) => {
      const subs = signature.subsignatures.flatMap((sub, n) => (sub.pcre ? [n] : []));
      if (subs.length === 0) return;
      this.pcreSubs.set(index, subs);
      this.targets.add(signature.target);
      const none = new Array<number>(signature.subsignatures.length).fill(0);
      const triggers = subs.map((n) => signature.subsignatures[n]!.pcre!.trigger);
      if (triggers.some((trigger) => evaluateExpression(trigger, none))) {
        this.holdWithoutMatches.push(index);
      }
    });
  }

  /** Whether a file needs its content kept: some PCRE signature applies to its target. */
  wantsContent(mz: boolean): boolean {
    return this.targets.has(0) || (mz && this.targets.has(1));
  }

  /**
   * Runs the signature's PCRE subsignatures whose trigger holds, in order, and sets their counts
   * (up to the signature's countCap). `content`: the whole file, or null when it was too big.
   */
  evaluate(
    index: number,
    counts: number[],
    content: { bytes: Uint8Array; text?: string } | null,
    windowOf: WindowOf,
  ): void {
    const subs = this.pcreSubs.get(index);
    if (subs === undefined) return;
    const signature = this.signatures[index]!;
    for (const n of subs) {
      const sub = signature.subsignatures[n]!;
      if (content === null || !evaluateExpression(sub.pcre!.trigger, counts)) continue;
      const window = windowOf(sub.offset);
      if (window === null) continue;
      content.text ??= Buffer.from(
        content.bytes.buffer,
        content.bytes.byteOffset,
        content.bytes.length,
      ).toString('latin1');
      counts[n] = this.countMatches(
        sub.pcre!,
        sub.offset,
        window,
        content.text,
        signature.countCap,
      );
    }
  }

  /** cli_pcre_scanbuf for one regex: where it runs, anchoring, maxshift and `g`. */
  private countMatches(
    pcre: PcreSubsignature,
    offset: LdbOffset,
    window: [number, number],
    text: string,
    cap: number,
  ): number {
    const any = offset.kind === 'any';
    const start = any ? 0 : window[0];
    const shift = any ? 0 : window[1] - window[0];
    if (start >= text.length) return 0;
    const anchored = pcre.anchored || (!pcre.rolling && shift === 0 && !any);
    const length =
      pcre.encompass && shift !== 0 ? Math.min(shift, text.length - start) : text.length - start;
    const subject = text.slice(start, start + length);
    let regex: RE2;
    try {
      regex = new RE2(pcre.source, 'gu');
    } catch {
      // It compiled at load, so re2-wasm's heap is full: as clamd does with a regex over its limits.
      return 0;
    }
    let count = 0;
    try {
      let from = 0;
      let last = -1;
      do {
        const match = search(regex, subject, from, anchored);
        if (match === null) break;
        // Without `e`, a match must start within the shift (clamd stops at the first that does not).
        if (!pcre.encompass && shift !== 0 && match[0] > shift) break;
        // As lsig_sub_matched: a match counts only if it starts after the last one counted.
        if (start + match[0] > last) {
          count += 1;
          last = start + match[0];
        }
        from = match[1];
      } while (pcre.global && from < length && count < cap);
    } finally {
      // Compiled for this run only: re2-wasm's heap is a fixed 16 MB, never given back otherwise.
      releaseRegex(regex);
    }
    return Math.min(count, cap);
  }
}

/**
 * The first match at or after `from` ([start, end) in `subject`); with `anchored`, only one
 * starting at `from`. The search is given the subject from one byte before `from`, so `\b` and a
 * multiline `^` see that byte and `\A` cannot match (re2-wasm is slow to start deep into a
 * string). A failure inside re2-wasm (its heap is full) counts as no match, as clamd counts a
 * regex that hits its match limit.
 */
function search(
  regex: RE2,
  subject: string,
  from: number,
  anchored: boolean,
): [number, number] | null {
  const base = from > 0 ? from - 1 : 0;
  try {
    regex.lastIndex = from - base;
    const match = regex.exec(base === 0 ? subject : subject.slice(base));
    if (match === null) return null;
    const at = base + match.index;
    if (anchored && at !== from) return null;
    return [at, at + match[0]!.length];
  } catch {
    return null;
  }
}

/** The content a session keeps for PCRE subsignatures: growing, up to PCRE_MAX_CONTENT. */
export class PcreContent {
  private bytes = new Uint8Array(0);
  private length = 0;
  private overflow = false;

  constructor(expected: number) {
    if (expected > PCRE_MAX_CONTENT) this.overflow = true;
    else if (expected > 0) this.bytes = new Uint8Array(expected);
  }

  append(chunk: Uint8Array): void {
    if (this.overflow) return;
    const needed = this.length + chunk.length;
    if (needed > PCRE_MAX_CONTENT) {
      this.overflow = true;
      this.bytes = new Uint8Array(0);
      return;
    }
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(
        Math.min(PCRE_MAX_CONTENT, Math.max(needed, this.bytes.length * 2, 4096)),
      );
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(chunk, this.length);
    this.length = needed;
  }

  /** The whole content, or null when it was over the bound. */
  content(): { bytes: Uint8Array } | null {
    return this.overflow ? null : { bytes: this.bytes.subarray(0, this.length) };
  }
}

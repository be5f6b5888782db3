import type { CompiledBodies } from '../scanning/matcher/compile.js';

/**
 * A textbook Aho–Corasick automaton, for the benchmark only: the baseline the built-in matcher's
 * design is measured against (docs/engines.md). It is built over the same anchors the q-gram
 * index uses (each segment's longest run of fixed bytes) as a full DFA: one 256-entry row of
 * next states per trie node, failure links folded in, so the scan loop is one table load per
 * byte. It only counts anchor hits; verification would come on top, so it is an upper bound.
 */
export class AhoCorasickDfa {
  readonly states: number;
  private readonly next: Int32Array;
  private readonly output: Uint8Array;

  constructor(patterns: Uint8Array[]) {
    // The trie: at most one state per pattern byte, plus the root.
    const capacity = 1 + patterns.reduce((sum, p) => sum + p.length, 0);
    const next = new Int32Array(capacity * 256).fill(-1);
    const output = new Uint8Array(capacity);
    let states = 1;
    for (const pattern of patterns) {
      let state = 0;
      for (const byte of pattern) {
        const slot = state * 256 + byte;
        let target = next[slot] as number;
        if (target < 0) {
          target = states++;
          next[slot] = target;
        }
        state = target;
      }
      output[state] = 1;
    }
    // Breadth-first: missing transitions follow the failure link (already complete rows).
    const fail = new Int32Array(states);
    const queue = new Int32Array(states);
    let head = 0;
    let tail = 0;
    for (let byte = 0; byte < 256; byte++) {
      const target = next[byte] as number;
      if (target < 0) next[byte] = 0;
      else {
        fail[target] = 0;
        queue[tail++] = target;
      }
    }
    while (head < tail) {
      const state = queue[head++] as number;
      const failure = fail[state] as number;
      if (output[failure]) output[state] = 1;
      for (let byte = 0; byte < 256; byte++) {
        const slot = state * 256 + byte;
        const target = next[slot] as number;
        if (target < 0) next[slot] = next[failure * 256 + byte] as number;
        else {
          fail[target] = next[failure * 256 + byte] as number;
          queue[tail++] = target;
        }
      }
    }
    this.states = states;
    this.next = next.subarray(0, states * 256);
    this.output = output;
  }

  /** Bytes the transition table takes. */
  get tableBytes(): number {
    return this.next.byteLength;
  }

  /** Runs the automaton over `data`, returning the number of positions where an anchor ends. */
  count(data: Uint8Array): number {
    const next = this.next;
    const output = this.output;
    let state = 0;
    let hits = 0;
    for (let i = 0; i < data.length; i++) {
      state = next[(state << 8) | (data[i] as number)] as number;
      hits += output[state] as number;
    }
    return hits;
  }
}

/** The anchors of a compiled database: each segment's run of fixed bytes. */
export function anchorsOf(compiled: CompiledBodies): Uint8Array[] {
  const anchors: Uint8Array[] = [];
  for (let s = 0; s < compiled.segRunLen.length; s++) {
    const length = compiled.segRunLen[s] as number;
    const offset = compiled.segRunOffset[s] as number;
    if (length > 0) anchors.push(compiled.runBytes.subarray(offset, offset + length));
  }
  return anchors;
}

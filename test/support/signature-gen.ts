import { parseNdbLine } from '../../scanning/signatures/ndb.js';

/**
 * Seeded generation of random `.ndb` signatures, each with bytes that match it, for the matcher
 * tests, the fuzz test and benchmarks. Everything is reproducible from the seed.
 */

export type Rng = () => number;

/** mulberry32: small, fast and good enough for tests. Returns floats in [0, 1). */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (rng: Rng, min: number, max: number): number =>
  min + Math.floor(rng() * (max - min + 1));
export const pick = <T>(rng: Rng, items: readonly T[]): T =>
  items[Math.floor(rng() * items.length)]!;

export interface GenOptions {
  /** Byte values literals and filler are drawn from (a small alphabet makes near misses common). */
  alphabet?: number[];
  /** Fixed bytes per run. */
  runMin?: number;
  runMax?: number;
  /** How many parts (separated by `*` / ranges) at most. */
  maxParts?: number;
  /** Allow offsets other than `*`. */
  offsets?: boolean;
  /** Longest stretch an unbounded gap is filled with in the matching instance. */
  maxUnboundedFill?: number;
  /** false: also lines clamd would refuse (the built-in engine still accepts them). */
  clamd?: boolean;
}

export interface GeneratedSignature {
  line: string;
  name: string;
  hex: string;
  /** Bytes that match the hex pattern (offsets aside). */
  instance: Buffer;
  offset: string;
}

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/**
 * A random signature using every wildcard form, and bytes that match it. By default only lines
 * clamd 1.4 also loads are returned (so one database serves both engines); `clamd: false`
 * allows every line the built-in engine accepts.
 */
export function generateSignature(
  rng: Rng,
  name: string,
  options: GenOptions = {},
): GeneratedSignature {
  for (let attempt = 0; ; attempt += 1) {
    const generated = generateAny(rng, name, options);
    const parsed = parseNdbLine(generated.line);
    const clamdOk = parsed.ok && !parsed.warning?.includes('clamd');
    if ((options.clamd === false ? parsed.ok : clamdOk) || attempt >= 200) return generated;
  }
}

function generateAny(rng: Rng, name: string, options: GenOptions): GeneratedSignature {
  const alphabet = options.alphabet;
  const byte = () => (alphabet ? pick(rng, alphabet) : int(rng, 0, 255));
  const runMin = options.runMin ?? 2;
  const runMax = options.runMax ?? 8;
  const parts = int(rng, 1, options.maxParts ?? 3);
  const maxFill = options.maxUnboundedFill ?? 40;
  let hex = '';
  const instance: number[] = [];
  const fill = (n: number) => {
    for (let i = 0; i < n; i += 1) instance.push(byte());
  };

  for (let part = 0; part < parts; part += 1) {
    if (part > 0) {
      // A range that splits the signature into parts.
      const kind = int(rng, 0, 5);
      if (kind === 0) {
        hex += '*';
        fill(int(rng, 0, maxFill));
      } else if (kind === 1) {
        const min = int(rng, 0, 6);
        const max = min + int(rng, 0, 8);
        hex += `{${min}-${max}}`;
        fill(int(rng, min, max));
      } else if (kind === 2) {
        const max = int(rng, 0, 8);
        hex += `{-${max}}`;
        fill(int(rng, 0, max));
      } else if (kind === 3) {
        const min = int(rng, 0, 6);
        hex += `{${min}-}`;
        fill(min + int(rng, 0, maxFill));
      } else if (kind === 4) {
        const n = rng() < 0.2 ? int(rng, 128, 200) : 0;
        hex += `{${n}}`;
        fill(n);
      } else {
        hex += '*';
        fill(int(rng, 0, 3));
      }
    }
    // A part: items around a guaranteed run of fixed bytes.
    const items = int(rng, 0, 3);
    const runAt = int(rng, 0, items);
    for (let item = 0; item <= items; item += 1) {
      if (item === runAt) {
        const length = int(rng, runMin, runMax);
        for (let i = 0; i < length; i += 1) {
          const b = byte();
          hex += hex2(b);
          instance.push(b);
        }
        continue;
      }
      const kind = int(rng, 0, 8);
      if (kind === 0) {
        hex += '??';
        fill(1);
      } else if (kind === 1) {
        const b = byte();
        hex += `${hex2(b)[0]}?`;
        instance.push(b);
      } else if (kind === 2) {
        const b = byte();
        hex += `?${hex2(b)[1]}`;
        instance.push(b);
      } else if (kind === 3) {
        const n = int(rng, 1, 5);
        hex += `{${n}}`;
        fill(n);
      } else if (kind === 4) {
        // Alternatives of unequal length, with wildcards inside.
        const choices: number[][] = [];
        const texts: string[] = [];
        for (let c = int(rng, 2, 3); c > 0; c -= 1) {
          const length = int(rng, 1, 3);
          const bytes: number[] = [];
          let text = '';
          for (let i = 0; i < length; i += 1) {
            const b = byte();
            bytes.push(b);
            text += rng() < 0.15 ? '??' : hex2(b);
          }
          choices.push(bytes);
          texts.push(text);
        }
        hex += `(${texts.join('|')})`;
        instance.push(...pick(rng, choices));
      } else if (kind === 5) {
        // Single-byte alternatives, sometimes negated.
        const members = [byte(), byte(), byte()];
        if (rng() < 0.5) {
          hex += `(${members.map(hex2).join('|')})`;
          instance.push(pick(rng, members));
        } else {
          hex += `!(${members.map(hex2).join('|')})`;
          let b = byte();
          for (let tries = 0; members.includes(b) && tries < 50; tries += 1) b = int(rng, 0, 255);
          if (members.includes(b)) b = [...Array(256).keys()].find((v) => !members.includes(v))!;
          instance.push(b);
        }
      } else if (kind === 6) {
        // A negated multi-byte alternative of equal lengths.
        const members = [
          [byte(), byte()],
          [byte(), byte()],
        ];
        hex += `!(${members.map((m) => m.map(hex2).join('')).join('|')})`;
        let candidate = [byte(), byte()];
        for (
          let tries = 0;
          tries < 50 && members.some((m) => m[0] === candidate[0] && m[1] === candidate[1]);
          tries += 1
        ) {
          candidate = [int(rng, 0, 255), int(rng, 0, 255)];
        }
        instance.push(...candidate);
      } else if (kind === 7 && item > 0 && item < items) {
        // [x-y] between bytes on both sides.
        const min = int(rng, 0, 3);
        const max = min + int(rng, 0, 3);
        const before = byte();
        hex += `${hex2(before)}[${min}-${max}]`;
        instance.push(before);
        fill(int(rng, min, max));
        const after = byte();
        hex += hex2(after);
        instance.push(after);
      } else {
        const b = byte();
        hex += hex2(b);
        instance.push(b);
      }
    }
  }
  let offset = '*';
  if (options.offsets && rng() < 0.4) {
    const kind = int(rng, 0, 3);
    if (kind === 0) offset = `${int(rng, 0, 64)}`;
    else if (kind === 1) offset = `${int(rng, 0, 64)},${int(rng, 0, 16)}`;
    else if (kind === 2) offset = `EOF-${instance.length + int(rng, 0, 32)}`;
    else offset = `EOF-${instance.length + int(rng, 0, 32)},${int(rng, 0, 8)}`;
  }
  return { name, hex, offset, instance: Buffer.from(instance), line: `${name}:0:${offset}:${hex}` };
}

/** Random bytes from the alphabet (or any byte). */
export function randomBytesFrom(rng: Rng, length: number, alphabet?: number[]): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = alphabet ? pick(rng, alphabet) : int(rng, 0, 255);
  return out;
}

/** Splits content into random chunks (sizes 1..max). */
export function randomSplits(rng: Rng, content: Buffer, max: number): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at < content.length) {
    const size = int(rng, 1, max);
    chunks.push(content.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

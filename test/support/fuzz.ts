/** Shared pieces of the bounded-time fuzz tests (test/scanning/*-fuzz.test.ts). */

export type Rng = () => number;

/** mulberry32: small, fast and good enough to drive mutations. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Rejects when `promise` has not settled after `ms`: a hang is a failure, not a stuck suite. */
export function withDeadline<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no result after ${ms} ms (hang)`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * One to four rounds of bit flips, truncation, duplicated stretches, overwritten bytes and
 * splices with another sample, applied to a copy of `sample`; `how` says which, to replay a case.
 */
export function mutateSample(
  rng: Rng,
  sample: { name: string; content: Buffer },
  samples: readonly { content: Buffer }[],
): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  let content = Buffer.from(sample.content);
  const steps: string[] = [];
  const rounds = 1 + int(4);
  for (let round = 0; round < rounds && content.length > 0; round++) {
    const op = int(5);
    if (op === 0) {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) {
        const at = int(content.length);
        content.writeUInt8(content.readUInt8(at) ^ (1 << int(8)), at);
      }
      steps.push(`${flips} bit flips`);
    } else if (op === 1) {
      const at = int(content.length);
      content = content.subarray(0, at);
      steps.push(`truncated at ${at}`);
    } else if (op === 2) {
      const start = int(content.length);
      const end = Math.min(content.length, start + 1 + int(2048));
      const at = int(content.length);
      content = Buffer.concat([
        content.subarray(0, at),
        content.subarray(start, end),
        content.subarray(at),
      ]);
      steps.push(`duplicated ${start}-${end} at ${at}`);
    } else if (op === 3) {
      const at = int(content.length);
      const bytes = randomBytes(1 + int(16));
      bytes.copy(content, at);
      steps.push(`overwrote ${bytes.length} at ${at}`);
    } else {
      const other = samples[int(samples.length)]?.content ?? Buffer.alloc(0);
      const at = int(content.length);
      content = Buffer.concat([content.subarray(0, at), other.subarray(int(other.length))]);
      steps.push(`spliced at ${at}`);
    }
  }
  return { content, name: sample.name, how: `${sample.name}: ${steps.join(', ')}` };
}

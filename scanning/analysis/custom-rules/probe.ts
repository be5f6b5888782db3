/**
 * The bytes a tenant's rule set is timed on before it is accepted: 1 MiB, the same on every
 * host and every run, in 4 KiB blocks that alternate English-like text (what text patterns and
 * regular expressions scan slowest: many near-matches) with pseudo-random binary (every byte
 * value, as in executables and compressed data). A rule set too slow over it would be too slow
 * over real content; it is refused when put instead of timing out on every scan.
 */

export const PROBE_BYTES = 1024 * 1024;

const BLOCK = 4096;

const WORDS = [
  'the',
  'invoice',
  'attached',
  'please',
  'review',
  'payment',
  'account',
  'password',
  'update',
  'http://',
  'https://example.com/',
  'function',
  'return',
  'var',
  'eval(',
  'document',
  'window',
  'MZ',
  'PE',
  'This program cannot be run in DOS mode',
  'powershell',
  '-enc',
  'cmd.exe',
  '<script>',
  'base64',
  'AAAAAAAA',
  '0x41414141',
  'urgent',
  'click',
  'here',
  'login',
  'verify',
  'bank',
];

/** A fresh copy each call: callers hand it to a worker thread, which may take it over. */
export function probeContent(): Buffer {
  const bytes = Buffer.alloc(PROBE_BYTES);
  // xorshift32 from a fixed seed: deterministic, no dependency on the platform's random source.
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  for (let block = 0; block * BLOCK < PROBE_BYTES; block += 1) {
    const start = block * BLOCK;
    const end = Math.min(PROBE_BYTES, start + BLOCK);
    if (block % 2 === 0) fillText(bytes, start, end, next);
    else for (let i = start; i < end; i += 1) bytes[i] = next() & 0xff;
  }
  return bytes;
}

function fillText(bytes: Buffer, start: number, end: number, next: () => number): void {
  let at = start;
  while (at < end) {
    const word = WORDS[next() % WORDS.length]!;
    const separator = next() % 12 === 0 ? '\n' : ' ';
    at += bytes.write(`${word}${separator}`, at, end - at, 'latin1');
  }
}

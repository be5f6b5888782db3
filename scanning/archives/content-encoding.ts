import { Readable, pipeline, type Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { UnpackError } from './format.js';
import { createZstdDecoder, ZSTD_SLICE } from './zstd.js';

/**
 * HTTP content codings (`Content-Encoding`, RFC 9110 §8.4; S3's `ContentEncoding` metadata is
 * served as that header) as a browser undoes them: the bytes a user is handed are the decoded
 * ones, so they are scanned besides the bytes as sent (archives/walk.ts).
 */

/** Input bytes handed to a zlib or brotli decoder at a time (as the walker's gzip inspector). */
const ZLIB_SLICE = 64 * 1024;

/**
 * The codings of a `Content-Encoding` value, in the order they were applied (`gzip, br`: gzip
 * first, then brotli), lower-cased; `identity` (no coding at all) and empty items are left out.
 */
export function parseContentEncoding(value: string | readonly string[] | undefined): string[] {
  const joined = typeof value === 'string' ? value : (value ?? []).join(',');
  return joined
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '' && token !== 'identity');
}

/** `Content-Encoding: gzip, br`: the name the decoded content gets as a member of what was sent. */
export function decodedMemberName(codings: readonly string[]): string {
  return `(Content-Encoding: ${codings.join(', ')})`;
}

/**
 * The first coding no browser-compatible decoder exists for here (`compress`, a made-up token),
 * or undefined when every one can be undone.
 */
export function unsupportedCoding(codings: readonly string[]): string | undefined {
  return codings.find((coding) => !DECODERS.has(coding));
}

/**
 * The content `sent` decoded, the last applied coding undone first. Damaged data makes the
 * iteration throw; stopping the iteration tears every decoder down. Every coding must be known
 * (see unsupportedCoding).
 */
export function decodeContent(
  sent: AsyncIterable<Buffer>,
  codings: readonly string[],
): AsyncIterable<Buffer> {
  let data = sent;
  for (const coding of [...codings].reverse()) {
    const stage = DECODERS.get(coding);
    if (!stage) throw new UnpackError('unsupported-method', `unknown coding "${coding}"`);
    data = unlessEmpty(data, stage);
  }
  return data;
}

/**
 * `stage` over `input`, except that an empty body decodes to nothing: browsers show a body of
 * no bytes sent with any coding as empty, where each decoder here calls it cut short (which
 * would make an empty download unscannable).
 */
async function* unlessEmpty(input: AsyncIterable<Buffer>, stage: Stage): AsyncGenerator<Buffer> {
  const iterator = input[Symbol.asyncIterator]();
  try {
    let first = await iterator.next();
    while (!first.done && first.value.length === 0) first = await iterator.next();
    if (first.done) return;
    const head = first.value;
    async function* whole(): AsyncGenerator<Buffer> {
      yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        yield next.value;
      }
    }
    yield* stage(whole());
  } finally {
    await iterator.return?.();
  }
}

type Stage = (input: AsyncIterable<Buffer>) => AsyncIterable<Buffer>;

const DECODERS: ReadonlyMap<string, Stage> = new Map<string, Stage>([
  ['gzip', (input) => through(input, zlib.createGunzip(), ZLIB_SLICE)],
  // `x-gzip`: the old name, which RFC 9110 says a recipient treats as gzip.
  ['x-gzip', (input) => through(input, zlib.createGunzip(), ZLIB_SLICE)],
  ['deflate', inflateEither],
  ['br', (input) => through(input, zlib.createBrotliDecompress(), ZLIB_SLICE)],
  // fzstd decodes synchronously: small slices keep what one write produces small (zstd.ts).
  ['zstd', (input) => through(input, createZstdDecoder(), ZSTD_SLICE)],
]);

/**
 * `deflate` is meant as a zlib stream (RFC 1950), but servers have long sent raw deflate
 * (RFC 1951) under that name, and browsers accept both: the first two bytes tell which.
 */
async function* inflateEither(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = input[Symbol.asyncIterator]();
  try {
    let head = Buffer.alloc(0);
    while (head.length < 2) {
      const next = await iterator.next();
      if (next.done) break;
      head = Buffer.concat([head, next.value]);
    }
    const decoder = isZlibHeader(head) ? zlib.createInflate() : zlib.createInflateRaw();
    async function* rest(): AsyncGenerator<Buffer> {
      if (head.length > 0) yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    }
    yield* through(rest(), decoder, ZLIB_SLICE);
  } finally {
    await iterator.return?.();
  }
}

/** A zlib header: method 8 (deflate), a window of at most 32 KiB, and the header's check bits. */
function isZlibHeader(head: Buffer): boolean {
  if (head.length < 2) return false;
  const cmf = head[0] ?? 0;
  const flg = head[1] ?? 0;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

/**
 * `input` through `decoder`, `slice` bytes at a time: what one write can produce stays bounded,
 * and the decoder's output waits for its reader (backpressure), so memory does not grow with
 * the expansion. An error anywhere ends the iteration with it.
 */
function through(input: AsyncIterable<Buffer>, decoder: Duplex, slice: number): Duplex {
  return pipeline(Readable.from(sliced(input, slice)), decoder, () => undefined);
}

async function* sliced(input: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    for (let at = 0; at < chunk.length; at += size) yield chunk.subarray(at, at + size);
  }
}

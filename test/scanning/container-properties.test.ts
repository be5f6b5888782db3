import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { BuiltinEngine, DEFAULT_ARCHIVE_LIMITS } from '../../scanning/builtin-engine.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { EICAR_FINDING, unscannableFinding } from '../../scanning/findings.js';
import {
  buildGzip,
  buildLayer,
  buildNest,
  buildStreams,
  buildTar,
  buildZip,
  describeLayer,
  gzipSpecArb,
  nestArb,
  streamSpecArb,
  tarSpecArb,
  zipSpecArb,
  type Layer,
  type ZipSpec,
} from '../support/container-generators.js';
import { eicar } from '../support/content.js';
import {
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  testExecutableDatabase,
} from '../support/test-executable-corpus.js';

/**
 * Property-based tests of the container readers: generated containers around a payload made at
 * run time — the EICAR test file, or ClamAV's test executable named by its hash — must always
 * give the payload up to the built-in engine alone, with its default limits; the same structure
 * around clean bytes must be clean, with no finding at all. A sample of the
 * generated files is read by the real extractors (`unzip`, `bsdtar`, `zcat`, `bzcat`, `xzcat`,
 * GNU `tar`), so that the generators build what those tools read.
 *
 * Seeds are fixed and runs bounded: the file runs in well under a minute on two cores.
 */

const MAX_DEPTH = DEFAULT_ARCHIVE_LIMITS.maxDepth;

let dir: string;
let engine: BuiltinEngine;
let testExecutable: Buffer;
let seq = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbiter-container-properties-'));
  const signatures = path.join(dir, 'signatures');
  await mkdir(signatures);
  // EICAR is built into the engine; the test executable is named by a one-line hash database.
  await writeFile(path.join(signatures, 'test.hdb'), await testExecutableDatabase());
  testExecutable = await readFile(TEST_EXECUTABLE);
  engine = await BuiltinEngine.load(signatures, createLogger('silent'), {
    archive: DEFAULT_ARCHIVE_LIMITS,
    scratchDir: path.join(dir, 'scratch'),
    formats: createFormatSet({ sevenZip: { workers: 1 } }),
  });
});
afterAll(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

async function scan(content: Buffer, name = 'upload.bin'): Promise<EngineVerdict> {
  const file = path.join(dir, `content-${++seq}`);
  await writeFile(file, content);
  try {
    return await engine.scan({ path: file, size: content.length, name });
  } finally {
    await rm(file, { force: true });
  }
}

/** The payloads and what the engine calls each; clean bytes are text of a similar size. */
const payloadArb = fc.constantFrom('eicar' as const, 'test executable' as const);
const payloadOf = (kind: 'eicar' | 'test executable') =>
  kind === 'eicar'
    ? { bytes: eicar(), finding: EICAR_FINDING }
    : { bytes: testExecutable, finding: TEST_EXECUTABLE_FINDING };
const cleanBytesArb = fc
  .string({ minLength: 1, maxLength: 600 })
  .map((text) => Buffer.from(`clean payload stand-in: ${text}`));

const outcome = (verdict: EngineVerdict) => ({
  findings: verdict.findings,
  detections: (verdict.detections ?? []).map((d) => `${d.path.join('/')}: ${d.finding}`),
});

/**
 * Asserts, for one generated structure, that the payload is found and nothing else is, and that
 * the clean twin has no finding at all.
 */
async function foundAndCleanTwin(
  build: (payload: Buffer) => Buffer,
  kind: 'eicar' | 'test executable',
  clean: Buffer,
  options: { alsoAllowed?: string[] } = {},
): Promise<void> {
  const payload = payloadOf(kind);
  const infected = await scan(build(payload.bytes));
  expect(outcome(infected).findings, JSON.stringify(outcome(infected))).toEqual(
    [payload.finding, ...(options.alsoAllowed ?? [])].sort(),
  );
  const twin = await scan(build(clean));
  expect(outcome(twin)).toEqual({ findings: [], detections: [] });
}

describe('generated containers around a payload, built-in engine alone', () => {
  it('zips: random methods, descriptors, zip64, lies, unlisted entries, prefixes, suffixes', async () => {
    await fc.assert(
      fc.asyncProperty(zipSpecArb(), payloadArb, cleanBytesArb, (spec, kind, clean) =>
        foundAndCleanTwin((payload) => buildZip(spec, payload), kind, clean),
      ),
      { seed: 1901, numRuns: 60, interruptAfterTimeLimit: 8000 },
    );
  });

  it('multi-member gzip with random header flags (FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT)', async () => {
    await fc.assert(
      fc.asyncProperty(gzipSpecArb(), payloadArb, cleanBytesArb, (spec, kind, clean) =>
        foundAndCleanTwin((payload) => buildGzip(spec, payload), kind, clean),
      ),
      { seed: 1902, numRuns: 30, interruptAfterTimeLimit: 3000 },
    );
  });

  it('multi-stream bzip2 and xz, multi-frame zstd', async () => {
    await fc.assert(
      fc.asyncProperty(streamSpecArb(), payloadArb, cleanBytesArb, (spec, kind, clean) =>
        foundAndCleanTwin((payload) => buildStreams(spec, payload), kind, clean),
      ),
      { seed: 1903, numRuns: 24, interruptAfterTimeLimit: 6000 },
    );
  });

  it('tars, the payload in the first archive or in a second one behind its end blocks', async () => {
    await fc.assert(
      fc.asyncProperty(tarSpecArb, payloadArb, cleanBytesArb, (spec, kind, clean) =>
        foundAndCleanTwin((payload) => buildTar(spec, payload), kind, clean),
      ),
      { seed: 1904, numRuns: 20, interruptAfterTimeLimit: 3000 },
    );
  });

  it('all of them nested in one another, two to four levels', async () => {
    const layers = nestArb({ min: 2, max: 4 });
    await fc.assert(
      fc.asyncProperty(layers, payloadArb, cleanBytesArb, (chain, kind, clean) =>
        foundAndCleanTwin((payload) => buildNest(chain, payload)[0]!, kind, clean),
      ),
      { seed: 1905, numRuns: 24, interruptAfterTimeLimit: 10000 },
    );
  });
});

describe(`nesting up to the depth limit (${MAX_DEPTH})`, () => {
  // Exactly at the limit the payload is a leaf at depth MAX_DEPTH: found. One level more puts a
  // container at depth MAX_DEPTH, which is scanned as data only: limits-exceeded, never clean.
  const chainArb = (length: number) => nestArb({ min: length, max: length }, { single: true });

  it('finds the payload at the limit, and its clean twin is clean', async () => {
    // The self-extractor handler claims every executable: at the limit it cannot look for an
    // archive behind the test executable's image, and says so (limits-exceeded).
    const atLimit = (kind: 'eicar' | 'test executable') =>
      kind === 'test executable' ? [unscannableFinding('limits-exceeded')] : [];
    await fc.assert(
      fc.asyncProperty(chainArb(MAX_DEPTH), payloadArb, cleanBytesArb, (chain, kind, clean) =>
        foundAndCleanTwin((payload) => buildNest(chain, payload)[0]!, kind, clean, {
          alsoAllowed: atLimit(kind),
        }),
      ),
      { seed: 1906, numRuns: 4, interruptAfterTimeLimit: 8000 },
    );
  });

  it('calls one level beyond the limit limits-exceeded, payload or not', async () => {
    await fc.assert(
      fc.asyncProperty(chainArb(MAX_DEPTH + 1), cleanBytesArb, async (chain, clean) => {
        const labels = chain.map(describeLayer).join(' > ');
        for (const inner of [eicar(), clean]) {
          const verdict = await scan(buildNest(chain, inner)[0]!);
          expect(verdict.findings, labels).toContain(unscannableFinding('limits-exceeded'));
        }
      }),
      { seed: 1907, numRuns: 4, interruptAfterTimeLimit: 8000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The generators checked against the extractors a user would run.

type Extractor = 'unzip -p' | 'bsdtar -xOf file' | 'bsdtar -xOf - (streaming)';

/**
 * The extractors that hand the payload out of a generated zip, as measured:
 * - `unzip -p` and `bsdtar -xOf file` trust the central directory, found from the end: they read
 *   neither an entry the directory leaves out nor a zip followed by another one, nor (sizes 0 in
 *   the directory) a streamed entry; Debian's unzip 6.0 decodes no LZMA or zstd member.
 * - `bsdtar -xOf -` reads local headers in order from the first byte, as Java's
 *   `ZipInputStream` does: it reads unlisted entries, but nothing behind a prefix, and streamed
 *   (data descriptor) entries only when stored or deflated; it stops at the central directory.
 *   (Fed through a pipe: handed a file as stdin, libarchive may seek in it and read it as a
 *   file.)
 * - Behind a prefix, `bsdtar -xOf file` takes zip64 offsets as counted from the file's start
 *   (it finds no entry at the zip64 offset of the payload's, nor the zip64 end record).
 * No extractor here reads a local entry after the end record (`after-end`), nor an unlisted or
 * size-less streamed zstd entry: the walker reads them because it scans every local header
 * anywhere in the file, so those samples have no extractor to agree with.
 */
function zipExtractors(spec: ZipSpec): Extractor[] {
  const { payload, lie, prefix, suffix } = spec;
  const directoryTells =
    (lie === 'none' ||
      lie === 'name' ||
      lie === 'method' ||
      (lie === 'sizes' && !payload.descriptor)) &&
    suffix !== 'zip';
  const streamable = (m: { method: string; descriptor: boolean }) =>
    !m.descriptor || m.method === 'stored' || m.method === 'deflate';
  const extractors: Extractor[] = [];
  if (directoryTells && ['stored', 'deflate', 'bzip2'].includes(payload.method)) {
    extractors.push('unzip -p');
  }
  if (directoryTells && (prefix === 'none' || (!payload.zip64 && !spec.zip64End))) {
    extractors.push('bsdtar -xOf file');
  }
  if (prefix === 'none' && lie !== 'after-end' && [...spec.before, payload].every(streamable)) {
    extractors.push('bsdtar -xOf - (streaming)');
  }
  return extractors;
}

function extract(extractor: Extractor | Tool, file: string): Buffer {
  const [command, ...args] = COMMANDS[extractor];
  const run = spawnSync(command!, [...args, file], {
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 * 1024 * 1024,
  });
  return run.stdout;
}

type Tool = 'zcat' | 'bzcat' | 'xzcat' | 'zstdcat' | 'tar --ignore-zeros -xO';
const COMMANDS: Record<Extractor | Tool, string[]> = {
  'unzip -p': ['unzip', '-p'],
  'bsdtar -xOf file': ['bsdtar', '-xOf'],
  // Fed the file through a pipe, which cannot seek: libarchive reads the zip as a stream.
  'bsdtar -xOf - (streaming)': ['sh', '-c', 'cat "$0" | bsdtar -xOf -'],
  zcat: ['zcat'],
  bzcat: ['bzcat'],
  xzcat: ['xzcat'],
  zstdcat: ['zstdcat'],
  'tar --ignore-zeros -xO': ['tar', '--ignore-zeros', '-xOf'],
};

/** The extractor that hands out what a layer holds (a zip's: the first that reads it). */
function layerExtractor(layer: Layer): Extractor | Tool | undefined {
  switch (layer.kind) {
    case 'zip':
      return zipExtractors(layer.spec)[0];
    case 'gzip':
      return 'zcat';
    case 'stream':
      return ({ bzip2: 'bzcat', xz: 'xzcat', zstd: 'zstdcat' } as const)[layer.spec.tool];
    case 'tar':
      return 'tar --ignore-zeros -xO';
  }
}

describe('a sample of the generated files, read by real extractors', () => {
  const sample = <T>(arb: fc.Arbitrary<T>, count: number, seed: number) =>
    fc.sample(arb, { seed, numRuns: count });
  const write = async (content: Buffer) => {
    const file = path.join(dir, `sample-${++seq}`);
    await writeFile(file, content);
    return file;
  };

  it('zips: every extractor that reads the shape hands out the payload', async () => {
    const used = new Set<Extractor>();
    let unread = 0;
    const specs = sample(zipSpecArb(), 60, 1911);
    for (const spec of specs) {
      const file = await write(buildZip(spec, eicar()));
      const extractors = zipExtractors(spec);
      if (extractors.length === 0) unread += 1;
      for (const extractor of extractors) {
        used.add(extractor);
        const label = `${extractor}: ${JSON.stringify(spec)}`;
        expect(extract(extractor, file).includes(eicar()), label).toBe(true);
      }
    }
    expect([...used].sort()).toEqual(['bsdtar -xOf - (streaming)', 'bsdtar -xOf file', 'unzip -p']);
    // About half the shapes are read by at least one of them (the rest: see zipExtractors).
    expect(specs.length - unread).toBeGreaterThanOrEqual(25);
  });

  it('gzip, bzip2, xz, zstd and tar: zcat, bzcat, xzcat, zstdcat and tar --ignore-zeros hand out the payload', async () => {
    const checks: Array<[Layer, Tool]> = [
      ...sample(gzipSpecArb(), 6, 1912).map((spec): [Layer, Tool] => [
        { kind: 'gzip', spec },
        'zcat',
      ]),
      ...sample(streamSpecArb({ tools: ['bzip2'] }), 4, 1913).map((spec): [Layer, Tool] => [
        { kind: 'stream', spec },
        'bzcat',
      ]),
      ...sample(streamSpecArb({ tools: ['xz'] }), 4, 1914).map((spec): [Layer, Tool] => [
        { kind: 'stream', spec },
        'xzcat',
      ]),
      ...sample(streamSpecArb({ tools: ['zstd'] }), 3, 1915).map((spec): [Layer, Tool] => [
        { kind: 'stream', spec },
        'zstdcat',
      ]),
      ...sample(tarSpecArb, 6, 1916).map((spec): [Layer, Tool] => [
        { kind: 'tar', spec },
        'tar --ignore-zeros -xO',
      ]),
    ];
    for (const [layer, tool] of checks) {
      const file = await write(buildLayer(layer, eicar()));
      expect(extract(tool, file).includes(eicar()), `${tool}: ${JSON.stringify(layer)}`).toBe(true);
    }
  });

  it('nested samples: each layer, peeled by its extractor, hands out the next', async () => {
    let peeled = 0;
    for (const chain of sample(nestArb({ min: 2, max: 4 }), 8, 1917)) {
      const built = buildNest(chain, eicar());
      for (const [index, layer] of chain.entries()) {
        const extractor = layerExtractor(layer);
        // A zip shape no extractor reads (see zipExtractors): that layer is not peeled.
        if (!extractor) continue;
        const file = await write(built[index]!);
        const label = `${extractor} at level ${index}: ${chain.map(describeLayer).join(' > ')}`;
        expect(extract(extractor, file).includes(built[index + 1]!), label).toBe(true);
        peeled += 1;
      }
    }
    expect(peeled).toBeGreaterThan(16);
  });
});

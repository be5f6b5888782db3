import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { parseContentEncoding } from '../../scanning/archives/content-encoding.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { compressWith, zip } from '../support/archives.js';
import { eicar } from '../support/content.js';

/**
 * The built-in engine alone on content sent with HTTP content codings (`Content-Encoding`):
 * random stacks of codings around the EICAR test file (made at run time) and around clean text.
 * The codings are applied by node:zlib (zlib, libbrotli) and Debian's gzip and zstd.
 */

const CODERS: Record<string, (data: Buffer) => Buffer> = {
  gzip: (data) => compressWith('gzip', ['-c', '-n'], data),
  'x-gzip': (data) => zlib.gzipSync(data),
  'deflate(zlib)': (data) => zlib.deflateSync(data),
  'deflate(raw)': (data) => zlib.deflateRawSync(data),
  br: (data) => zlib.brotliCompressSync(data),
  zstd: (data) => compressWith('zstd', ['-c', '-q'], data),
};

/** The header token a coder is announced with. */
const token = (coder: string) => coder.replace(/\(.*\)$/, '');

describe('the built-in engine on content with a Content-Encoding', () => {
  let engine: BuiltinEngine;
  let work: string;
  let files = 0;

  beforeAll(async () => {
    engine = await BuiltinEngine.load(undefined, createLogger('silent'));
    work = await mkdtemp(path.join(tmpdir(), 'arbiter-codings-'));
  });
  afterAll(async () => {
    await engine?.close();
    await rm(work, { recursive: true, force: true });
  });

  /** Applies `coders` in order and scans the result as sent with their header. */
  const scanEncoded = async (payload: Buffer, coders: string[]) => {
    const sent = coders.reduce((data, coder) => CODERS[coder]!(data), payload);
    const file = path.join(work, `sent-${files++}`);
    await writeFile(file, sent);
    return engine.scan({
      path: file,
      size: sent.length,
      name: 'download',
      contentEncoding: parseContentEncoding(coders.map(token).join(', ')),
    });
  };

  const stacks = fc.array(fc.constantFrom(...Object.keys(CODERS)), {
    minLength: 1,
    maxLength: 3,
  });

  it('finds EICAR under any stack of codings, and finds the same stack around clean text clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        stacks,
        fc.string({ minLength: 0, maxLength: 2000 }),
        async (coders, text) => {
          const infected = await scanEncoded(eicar(), coders);
          expect(infected.findings).toEqual([EICAR_FINDING]);
          const clean = await scanEncoded(Buffer.from(`plain text: ${text}`), coders);
          expect(clean.findings).toEqual([]);
        },
      ),
      { numRuns: 40, seed: 19_004, endOnFailure: true },
    );
  });

  it('walks the decoded content as any container: a zip inside is opened', async () => {
    const archive = await zip([{ name: 'eicar.com', data: eicar() }]);
    const verdict = await scanEncoded(archive, ['br']);
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    // (A small zip may also pass through brotli stored as it is: the zip reader then finds it
    // in the bytes as sent too, as `unzip` would.)
    expect(verdict.detections?.map((d) => d.path)).toContainEqual([
      'download',
      '(Content-Encoding: br)',
      'eicar.com',
    ]);
  });

  it('calls an empty body sent with a coding clean, as a browser shows it: empty', async () => {
    const file = path.join(work, 'empty-body');
    await writeFile(file, Buffer.alloc(0));
    for (const header of ['gzip', 'deflate', 'br', 'zstd', 'gzip, br']) {
      const verdict = await engine.scan({
        path: file,
        size: 0,
        name: 'download',
        contentEncoding: parseContentEncoding(header),
      });
      expect(verdict.findings).toEqual([]);
    }
  });

  it('reads the header as RFC 9110 says: case-insensitive, identity and empty items are nothing', () => {
    expect(parseContentEncoding(' GZIP ,, identity,br ')).toEqual(['gzip', 'br']);
    expect(parseContentEncoding(['gzip', 'br'])).toEqual(['gzip', 'br']);
    expect(parseContentEncoding('identity')).toEqual([]);
    expect(parseContentEncoding(undefined)).toEqual([]);
  });
});

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { isEicar } from '../../scanning/eicar.js';
import { isPermanentClamdError } from '../../scanning/clamd-engine.js';
import { EngineError, type Engine } from '../../scanning/engine.js';
import { contentName, describeVerdict, engineSet } from '../../scanning/engines.js';
import { EICAR_FINDING, maliciousFinding } from '../../scanning/findings.js';
import {
  compressWith,
  undecodableZip,
  craftedZip,
  localRecords,
  overlappingZip,
  rawEntry,
} from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';
import {
  BODY_SIGNATURES,
  SIGNATURES_DIR,
  SeededRandom,
  encryptedZip,
  hashSample,
  makeTar,
  makeZip,
  matchBytes,
  nestedZip,
} from '../support/corpus.js';

const digest = (algorithm: string, data: Buffer) =>
  createHash(algorithm).update(data).digest('hex');

describe('the built-in engine', () => {
  let dir: string;
  let engine: BuiltinEngine;
  const byMd5 = randomContent(3000);
  const bySha256 = randomContent(5000);
  const bySha1AnySize = randomContent(700);
  const clean = randomContent(4096);
  const files = new Map<string, Buffer>();

  const scan = async (name: string) => {
    const content = files.get(name)!;
    return engine.scan({ path: path.join(dir, name), size: content.length });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-engine-'));
    const sigs = path.join(dir, 'sigs');
    await import('node:fs/promises').then((fs) => fs.mkdir(sigs));
    await writeFile(
      path.join(sigs, 'test.hdb'),
      [
        '# comment lines and blank lines are ignored',
        '',
        `${digest('md5', byMd5)}:${byMd5.length}:Test.Md5-Sample`,
        `${digest('md5', clean)}:1:Test.Wrong-Size`,
        'not-a-hash:12:Broken.Line',
      ].join('\n'),
    );
    await writeFile(
      path.join(sigs, 'test.hsb'),
      [
        `${digest('sha256', bySha256)}:${bySha256.length}:Test.Sha256 Sample`,
        `${digest('sha1', bySha1AnySize)}:*:Test.Sha1-Any:73`,
        `${digest('sha256', clean)}:x:Bad.Size`,
      ].join('\n'),
    );
    for (const [name, content] of Object.entries({
      byMd5,
      bySha256,
      bySha1AnySize,
      clean,
      eicar: eicar(),
      eicarPadded: Buffer.concat([eicar(), Buffer.from(' \r\n\t')]),
      eicarPlusJunk: Buffer.concat([eicar(), Buffer.from('junk')]),
    })) {
      files.set(name, content);
      await writeFile(path.join(dir, name), content);
    }
    engine = await BuiltinEngine.load(sigs, createLogger('silent'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches MD5, SHA-1 and SHA-256 hash signatures, honouring the size field', async () => {
    expect((await scan('byMd5')).findings).toEqual(['content.malicious.test.md5-sample']);
    expect((await scan('bySha256')).findings).toEqual(['content.malicious.test.sha256-sample']);
    expect((await scan('bySha1AnySize')).findings).toEqual(['content.malicious.test.sha1-any']);
    expect((await scan('clean')).findings).toEqual([]);
  });

  it('skips lines it cannot parse and still loads the rest', () => {
    expect(engine.version).toMatch(/\(4 signatures\)$/);
  });

  it('recognises EICAR alone or followed by whitespace, not followed by other bytes', async () => {
    expect((await scan('eicar')).findings).toEqual(['content.malicious.eicar-test-signature']);
    expect((await scan('eicarPadded')).findings).toEqual([
      'content.malicious.eicar-test-signature',
    ]);
    expect((await scan('eicarPlusJunk')).findings).toEqual([]);
    expect(isEicar(eicar().subarray(0, 60))).toBe(false);
  });

  it('turns signature names into lower-case dotted findings', () => {
    expect(maliciousFinding('Win.Trojan.Agent-1234567.UNOFFICIAL')).toBe(
      'content.malicious.win.trojan.agent-1234567',
    );
    expect(maliciousFinding('Weird Name/With:Chars')).toBe(
      'content.malicious.weird-name-with-chars',
    );
    expect(maliciousFinding('Eicar-Signature')).toBe('content.malicious.eicar-test-signature');
  });
});

describe('the built-in engine inside archives', () => {
  let dir: string;
  let scratch: string;
  let engine: BuiltinEngine;
  let seq = 0;

  const scan = async (content: Buffer, name?: string, target: BuiltinEngine = engine) => {
    const file = path.join(dir, `content-${++seq}`);
    await writeFile(file, content);
    return target.scan({ path: file, size: content.length, ...(name ? { name } : {}) });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-engine-archives-'));
    scratch = path.join(dir, 'spool', 'archives');
    engine = await BuiltinEngine.load(SIGNATURES_DIR, createLogger('silent'), {
      archive: { maxDepth: 4, maxMembers: 100, maxExpandedBytes: 64 * 1024 ** 2, maxRatio: 200 },
      scratchDir: scratch,
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds EICAR in a nested zip and names the member path', async () => {
    const verdict = await scan(await nestedZip('eicar.com', eicar(), 3), 'upload.zip');
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    expect(verdict.detections).toEqual([
      {
        path: ['upload.zip', 'level-2.zip', 'level-1.zip', 'eicar.com'],
        finding: EICAR_FINDING,
        signature: 'Arbiter.Test.EICAR-NDB',
      },
    ]);
    expect(describeVerdict(verdict)).toBe(
      `scanned by builtin (${engine.version}): ${EICAR_FINDING} in upload.zip/level-2.zip/level-1.zip/eicar.com`,
    );
  });

  it('applies hash signatures to members and body signatures to gzip and tar content', async () => {
    const md5 = await scan(await makeZip([{ name: 'a/sample.dat', content: hashSample('md5') }]));
    expect(md5.findings).toEqual(['content.malicious.arbiter.test.md5-hdb']);
    expect(md5.detections?.[0]?.path).toEqual(['content', 'a/sample.dat']);

    const signature = BODY_SIGNATURES.find((s) => s.name === 'Arbiter.Test.Range-NDB')!;
    const rng = new SeededRandom('engine-archives');
    const body = Buffer.concat([rng.bytes(3000), matchBytes(signature.tokens, rng), rng.bytes(9)]);
    const tgz = zlib.gzipSync(await makeTar([{ name: 'bin/x.bin', content: body }]));
    const verdict = await scan(tgz, 'pack.tgz');
    expect(verdict.findings).toEqual(['content.malicious.arbiter.test.range-ndb']);
    expect(verdict.detections?.map((d) => d.path.join('/'))).toEqual([
      'pack.tgz/pack.tar/bin/x.bin',
    ]);
  });

  it('finds EICAR in a zstd and a bare LZMA stream; a method nothing decodes is unsupported-method', async () => {
    const zst = await scan(compressWith('zstd', ['-q', '-c'], eicar()), 'eicar.com.zst');
    expect(zst.findings).toEqual([EICAR_FINDING]);
    expect(zst.detections?.map((d) => d.path.join('/'))).toEqual(['eicar.com.zst/eicar.com']);

    const lzma = await scan(compressWith('xz', ['--format=lzma', '-c'], eicar()), 'e.lzma');
    expect(lzma.findings).toEqual([EICAR_FINDING]);

    const wavpack = await scan(undecodableZip('e.wav', Buffer.from('audio\n')), 'audio.zip');
    expect(wavpack.findings).toEqual(['content.unscannable.unsupported-method']);
    expect(describeVerdict(wavpack)).toMatch(
      /: content\.unscannable\.unsupported-method in audio\.zip\/e\.wav \(zip: Unsupported Method \(zip:97\)\)$/,
    );
  });

  it('names the member, not its container, when a stored member matches in both', async () => {
    const stored = await makeZip([{ name: 'eicar.com', content: eicar(), compress: false }]);
    const verdict = await scan(stored, 'stored.zip');
    expect(verdict.detections?.map((d) => d.path.join('/'))).toEqual(['stored.zip/eicar.com']);
  });

  it('reports what it cannot open as unscannable, never clean, with the place and the reason', async () => {
    const encrypted = await scan(
      encryptedZip([{ name: 'secret.txt', content: Buffer.from('hidden\n') }]),
      'locked.zip',
    );
    expect(encrypted.findings).toEqual(['content.unscannable.encrypted']);
    expect(encrypted.detections).toEqual([
      {
        path: ['locked.zip', 'secret.txt'],
        finding: 'content.unscannable.encrypted',
        signature: 'zip: encrypted member',
      },
    ]);
    expect(describeVerdict(encrypted)).toMatch(
      /: content\.unscannable\.encrypted in locked\.zip\/secret\.txt \(zip: encrypted member\)$/,
    );

    const deep = await scan(await nestedZip('clean.bin', Buffer.alloc(100), 6), 'deep.zip');
    expect(deep.findings).toEqual(['content.unscannable.limits-exceeded']);

    const whole = await makeZip([{ name: 'a.bin', content: randomContent(20_000) }]);
    const truncated = await scan(whole.subarray(0, 10_000), 'cut.zip');
    expect(truncated.findings).toEqual(['content.unscannable.corrupt']);
    // Without a central directory the member is read from its local header, and is the one cut
    // short: it is the place named (the container's own "corrupt" is not repeated).
    expect(truncated.detections?.map((d) => d.path)).toEqual([
      ['cut.zip', 'a.bin (local header only, at byte 0)'],
    ]);

    // Malware next to something unscannable: both are reported.
    const mixed = await scan(
      await makeZip([
        { name: 'eicar.com', content: eicar() },
        { name: 'locked.zip', content: encryptedZip([{ name: 'x', content: Buffer.from('x') }]) },
      ]),
    );
    expect(mixed.findings).toEqual([EICAR_FINDING, 'content.unscannable.encrypted']);
  });

  it('finds EICAR in a zip member only a local header describes, and names it', async () => {
    // Deflated, so only the member's own scan can see it (not the container's bytes).
    const hidden = rawEntry('hidden.com', eicar());
    const listed = rawEntry('readme.txt', Buffer.from('nothing to see here'));
    const { bytes, offsets } = localRecords([hidden, listed]);
    const content = craftedZip(bytes, [{ ...listed, offset: offsets[1] ?? 0 }]);
    const verdict = await scan(content, 'upload.zip');
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    expect(verdict.detections?.map(({ path, finding }) => ({ path, finding }))).toEqual([
      {
        path: ['upload.zip', 'hidden.com (local header only, at byte 0)'],
        finding: EICAR_FINDING,
      },
    ]);
    expect(describeVerdict(verdict)).toBe(
      `scanned by builtin (${engine.version}): ${EICAR_FINDING} in upload.zip/hidden.com (local header only, at byte 0)`,
    );
  });

  it('reports zip entries sharing their data as limits-exceeded, not clean', async () => {
    // 50 × 1 MiB: under this engine's member and expanded-bytes limits, no member over the ratio
    // floor; only the overlap says what it is.
    const verdict = await scan(overlappingZip(50, 1024 ** 2), 'bomb.zip');
    expect(verdict.findings).toEqual(['content.unscannable.limits-exceeded']);
    expect(describeVerdict(verdict)).toMatch(
      /: content\.unscannable\.limits-exceeded \(zip: overlapping zip entries \(49 of 50 not read/,
    );
  });

  it('uses the scratch folder it was given and leaves it empty', async () => {
    await rm(scratch, { recursive: true, force: true });
    const verdict = await scan(await nestedZip('eicar.com', eicar(), 2));
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('scans members concurrently with their containers without deadlocking on many members', async () => {
    const members = Array.from({ length: 60 }, (_, i) => ({
      name: `f${i}.bin`,
      content: randomContent(70_000),
    }));
    members.push({ name: 'z/eicar.com', content: eicar() });
    const verdict = await scan(await nestedZip('inner.zip', await makeZip(members), 2));
    expect(verdict.findings).toEqual([EICAR_FINDING]);
    expect(verdict.detections?.[0]?.path).toEqual([
      'content',
      'level-1.zip',
      'inner.zip',
      'z/eicar.com',
    ]);
  });
});

describe('engine helpers', () => {
  it('names the content after the upload, the URL or the object key', () => {
    expect(contentName({ fileName: 'upload.zip' })).toBe('upload.zip');
    expect(contentName({ fileName: 'C:\\Users\\me\\x.zip' })).toBe('x.zip');
    expect(contentName({ location: 'https://example.com/files/a%20b.zip?x=1' })).toBe('a b.zip');
    expect(contentName({ location: 'https://example.com/' })).toBe('content');
    expect(contentName({ object: { bucket: 'b', key: 'in/box/doc.pdf' } })).toBe('doc.pdf');
    expect(contentName({})).toBe('content');
  });

  it('lists findings with their member paths in the trace line', () => {
    const verdict = {
      engine: 'builtin',
      version: 'v1',
      findings: ['content.malicious.x'],
      detections: [
        { path: ['a.zip'], finding: 'content.malicious.x', signature: 'X' },
        { path: ['a.zip', 'b.bin'], finding: 'content.malicious.x', signature: 'X' },
      ],
    };
    expect(describeVerdict(verdict)).toBe(
      'scanned by builtin (v1): content.malicious.x, content.malicious.x in a.zip/b.bin',
    );
    expect(describeVerdict({ engine: 'clamd', version: 'c', findings: [] })).toBe(
      'scanned by clamd (c): no findings',
    );
    expect(
      describeVerdict({ engine: 'clamd', version: 'c', findings: ['content.malicious.y'] }),
    ).toBe('scanned by clamd (c): content.malicious.y');
  });

  it('fails a scan of several engines with the error that is not retryable when there is one', async () => {
    const failing = (name: string, retryable: boolean): Engine => ({
      name,
      scan: () => Promise.reject(new EngineError(name, 'no', { retryable })),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    });
    const set = engineSet([failing('a', true), failing('b', false)]);
    const error = await set.scan({ path: '/nonexistent', size: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).engine).toBe('b');
    expect((error as EngineError).retryable).toBe(false);
    expect(new EngineError('x', 'y').retryable).toBe(true);
    expect(isPermanentClamdError('INSTREAM size limit exceeded.')).toBe(true);
    expect(isPermanentClamdError("Can't allocate memory")).toBe(false);
  });
});

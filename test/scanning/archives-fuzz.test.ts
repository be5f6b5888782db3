import { randomInt } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { walkContent, type ArchiveLimits } from '../../scanning/archives/index.js';
import {
  compressWith,
  craftedZip,
  DEFAULT_LIMITS,
  encryptedZip,
  gzip,
  localRecord,
  localRecords,
  nestedZips,
  overlappingZip,
  rawEntry,
  rawZip,
  readMember,
  streamedZip,
  tar,
  v7tar,
  Workspace,
  zip,
} from '../support/archives.js';
import { eicar } from '../support/content.js';
import { mutateSample, prng, withDeadline, type Rng } from '../support/fuzz.js';

/**
 * Feeds the archive walker random bytes and mutated archives for a bounded time: it must never
 * throw, never hang and never leave files in its scratch directory. Every case derives from
 * (seed, case number); rerun one with ARBITER_FUZZ_SEED=<seed> (ARBITER_FUZZ_MS sets the budget).
 */
const SEED = Number(process.env.ARBITER_FUZZ_SEED ?? randomInt(2 ** 31));
const BUDGET_MS = Number(process.env.ARBITER_FUZZ_MS ?? 5000);
const CASE_DEADLINE_MS = 10_000;

const SMALL_LIMITS: ArchiveLimits = {
  maxDepth: 4,
  maxMembers: 64,
  maxExpandedBytes: 8 * 1024 ** 2,
  maxRatio: 50,
};

const ws = new Workspace();
const samples: { name: string; content: Buffer }[] = [];

beforeAll(async () => {
  const text = Buffer.from(
    Array.from({ length: 400 }, (_, i) => `row ${i}, value ${i * 7}\n`).join(''),
  );
  const small = await zip([
    { name: 'a.txt', data: text },
    {
      name: 'b.bin',
      data: Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251)),
      compress: false,
    },
    { name: 'dir/', data: Buffer.alloc(0) },
  ]);
  const tarball = await tar([
    { name: 'dir', type: 'directory' },
    { name: 'dir/t.txt', data: text },
    { name: 'dir/eicar.com', data: eicar() },
    { name: 'link', type: 'symlink' },
  ]);
  samples.push(
    { name: 'small.zip', content: small },
    { name: 'z64.zip', content: await zip([{ name: 'x', data: text }], { forceZip64: true }) },
    {
      name: 'nested.zip',
      content: (await nestedZips(3, { name: 'eicar.com', data: eicar() })).content,
    },
    { name: 'files.tar', content: tarball },
    { name: 'old.tar', content: await v7tar([{ name: 'v7.txt', data: text }]) },
    { name: 'files.tar.gz', content: gzip(tarball) },
    { name: 'text.gz', content: gzip(text) },
    {
      name: 'mix.zip',
      content: await zip([
        { name: 't.tgz', data: gzip(tarball) },
        { name: 'z.zip', data: small },
      ]),
    },
    { name: 'locked.zip', content: encryptedZip([{ name: 's.txt', data: text }]) },
    // Layouts the walker plans before reading: overlap, data descriptors, local-only members.
    { name: 'overlap.zip', content: overlappingZip(20, 1024 ** 2) },
    { name: 'streamed.zip', content: await streamedZip([{ name: 's.txt', data: text }]) },
    { name: 'local-only.zip', content: localOnlyZip(text) },
    // Compressed streams: zstd is decoded (frame headers read first), the others only sniffed.
    { name: 'files.tar.zst', content: compressWith('zstd', ['-q', '-c'], tarball) },
    { name: 'text.zst', content: compressWith('zstd', ['-q', '-c', '-19'], text) },
    { name: 'zstd-member.zip', content: zstdMemberZip(text) },
    { name: 'text.bz2', content: compressWith('bzip2', ['-c'], text) },
    { name: 'text.xz', content: compressWith('xz', ['-c'], text) },
    { name: 'text.lzma', content: compressWith('xz', ['--format=lzma', '-c'], text) },
    // Read to the end: several gzip members then junk, several zstd frames in a tar (copied
    // while read), a tar with data after its end blocks.
    { name: 'members.gz', content: Buffer.concat([gzip(text), gzip(small), Buffer.from('junk')]) },
    {
      name: 'frames.tar',
      content: await tar([
        {
          name: 'f.zst',
          data: Buffer.concat([
            compressWith('zstd', ['-q', '-c'], text),
            compressWith('zstd', ['-q', '-c'], small),
          ]),
        },
      ]),
    },
    { name: 'after.tar', content: Buffer.concat([tarball, small]) },
  );
});

afterAll(() => ws.remove());

/** A zip whose one member is compressed with zstd (method 93). */
function zstdMemberZip(text: Buffer): Buffer {
  const data = compressWith('zstd', ['-q', '-c'], text);
  return rawZip([{ name: 'z.txt', method: 93, data, crc: crc32(text), size: text.length }]);
}

/** A listed member between two only local headers describe, one with a data descriptor. */
function localOnlyZip(text: Buffer): Buffer {
  const listed = rawEntry('listed.txt', text);
  const hidden = localRecords([rawEntry('hidden.txt', text, 0), listed]);
  const described = localRecord(rawEntry('described.txt', text), { descriptor: true });
  return craftedZip(Buffer.concat([hidden.bytes, described]), [
    { ...listed, offset: hidden.offsets[1] ?? 0 },
  ]);
}

it(`never throws, hangs or leaves temp files on random and mutated input (seed ${SEED})`, async () => {
  const started = Date.now();
  let cases = 0;
  while (Date.now() - started < BUDGET_MS) {
    const rng = prng(SEED * 1_000_003 + cases);
    const { content, name, how } = makeCase(rng);
    const limits = rng() < 0.5 ? SMALL_LIMITS : DEFAULT_LIMITS;
    const label = `seed ${SEED} case ${cases} (${how}, ${content.length} bytes)`;
    const path = ws.write(content);
    try {
      const readAll = rng() < 0.8;
      let topLength = -1;
      const walk = walkContent(
        { path, size: content.length, name },
        limits,
        async (member) => {
          if (!readAll && member.depth > 0) return;
          const seen = await readMember(member);
          if (member.depth === 0) topLength = seen.length;
        },
        { scratchDir: ws.scratchDir },
      );
      const result = await withDeadline(walk, CASE_DEADLINE_MS, label);
      expect(topLength, label).toBe(content.length);
      expect(result.members, label).toBeLessThanOrEqual(limits.maxMembers);
      for (const u of result.unscannable) {
        expect(['encrypted', 'limits-exceeded', 'corrupt', 'unsupported-method'], label).toContain(
          u.reason,
        );
        expect(u.path[0], label).toBe(name);
      }
      expect(ws.scratchFiles(), label).toEqual([]);
    } catch (err) {
      const saved = join(tmpdir(), `arbiter-fuzz-${SEED}-${cases}.bin`);
      writeFileSync(saved, content);
      throw new Error(`${label}: ${(err as Error).message} (input saved to ${saved})`, {
        cause: err,
      });
    } finally {
      rmSync(path, { force: true });
    }
    cases += 1;
  }
  expect(cases).toBeGreaterThan(20);
  console.info(`archive fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED})`);
});

function makeCase(rng: Rng): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  const pick = <T>(items: T[]): T => items[int(items.length)] as T;
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const kind = rng();
  if (kind < 0.15) {
    // random bytes, often behind a magic number
    const magic = pick(['', '504b0304', '504b0506', '1f8b08', '1f8b0800000000000003']);
    const body = randomBytes(int(4096));
    const content = Buffer.concat([Buffer.from(magic, 'hex'), body]);
    if (rng() < 0.3 && content.length > 262) content.write('ustar', 257, 'latin1');
    return { content, name: 'random.bin', how: `random after '${magic}'` };
  }
  return mutateSample(rng, pick(samples), samples);
}

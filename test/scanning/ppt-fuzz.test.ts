import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { walkContent, type ArchiveLimits } from '../../scanning/archives/index.js';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { DEFAULT_LIMITS, readMember, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import {
  VBA_PROJECT_STG,
  container,
  documentStream,
  packageObject,
  presentation,
  record,
  storageRecord,
} from '../support/ppt.js';
import { CLAMAV_TESTFILES_DIR } from '../support/test-executable-corpus.js';
import { mutateSample, prng, withDeadline, type Rng } from '../support/fuzz.js';

/**
 * Feeds the PowerPoint handler mutated `PowerPoint Document` streams, random record sequences and
 * mutated presentations for a bounded time: no error escapes the walker, no case hangs, memory
 * stays bounded and the scratch folder ends empty. Every case derives from (seed, case number);
 * rerun one with ARBITER_FUZZ_SEED=<seed> (ARBITER_FUZZ_MS sets the budget).
 */
const SEED = Number(process.env.ARBITER_FUZZ_SEED ?? randomInt(2 ** 31));
const BUDGET_MS = Number(process.env.ARBITER_FUZZ_MS ?? 5000);
const CASE_DEADLINE_MS = 20_000;
/** Far above what any sample needs: a parser buffering what it should stream crosses it. */
const HEAP_CEILING = 1024 ** 3;
const STREAM = 'PowerPoint Document';

const SMALL_LIMITS: ArchiveLimits = {
  maxDepth: 4,
  maxMembers: 64,
  maxExpandedBytes: 8 * 1024 ** 2,
  maxRatio: 50,
};

const ws = new Workspace();
const formats = createFormatSet({ sevenZip: { workers: 1, timeoutMs: 10_000 } });
const samples: { name: string; content: Buffer }[] = [];

beforeAll(() => {
  const object = packageObject('eicar.com', eicar());
  const stream = documentStream([
    storageRecord(object, { compressed: true }),
    container(0x03f8, [storageRecord(object, { compressed: false })]),
    storageRecord(Buffer.alloc(200_000), { compressed: true, type: VBA_PROJECT_STG }),
  ]);
  const clamPpt = join(CLAMAV_TESTFILES_DIR, 'clam.ppt');
  samples.push(
    { name: STREAM, content: stream },
    {
      name: STREAM,
      content: execFileSync('7z', ['e', '-so', clamPpt, STREAM], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    },
    { name: 'deck.ppt', content: presentation(stream) },
    { name: 'clam.ppt', content: readFileSync(clamPpt) },
  );
});

afterAll(async () => {
  await formats.close();
  ws.remove();
});

it(`never throws, hangs or leaves files on mutated PowerPoint streams (seed ${SEED})`, async () => {
  const started = Date.now();
  let cases = 0;
  while (Date.now() - started < BUDGET_MS) {
    const rng = prng(SEED * 1_000_003 + cases);
    const { content, name, how } = makeCase(rng);
    const limits = rng() < 0.5 ? SMALL_LIMITS : DEFAULT_LIMITS;
    const label = `seed ${SEED} case ${cases} (${how}, ${content.length} bytes)`;
    const path = ws.write(content);
    try {
      let topLength = -1;
      const walk = walkContent(
        { path, size: content.length, name },
        limits,
        async (member) => {
          const seen = await readMember(member);
          if (member.depth === 0) topLength = seen.length;
        },
        { scratchDir: ws.scratchDir, formats: formats.handlers },
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
      expect(process.memoryUsage().heapUsed, label).toBeLessThan(HEAP_CEILING);
    } catch (err) {
      const saved = join(tmpdir(), `arbiter-ppt-fuzz-${SEED}-${cases}.bin`);
      writeFileSync(saved, content);
      throw new Error(`${label}: ${(err as Error).message} (input saved to ${saved})`, {
        cause: err,
      });
    } finally {
      rmSync(path, { force: true });
    }
    cases += 1;
  }
  expect(cases).toBeGreaterThan(10);
  console.info(`PowerPoint fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED})`);
}, 120_000);

function makeCase(rng: Rng): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  if (rng() < 0.25) return { content: randomRecords(rng), name: STREAM, how: 'random records' };
  const sample = samples[int(samples.length)] ?? samples[0]!;
  const mutated = mutateSample(rng, sample, samples);
  const { content } = mutated;
  if (content.length < 8 || rng() < 0.5) return mutated;
  // A record header's length rewritten: the walk's bookkeeping is what is tested.
  const at = int(content.length - 7);
  content.writeUInt32LE(
    rng() < 0.5 ? int(2 ** 32) : int(4096),
    Math.min(at + 4, content.length - 4),
  );
  return { ...mutated, how: `${mutated.how}, length at ${at}` };
}

/** A sequence of records of PowerPoint types, nested at random, some of them storages. */
function randomRecords(rng: Rng): Buffer {
  const int = (n: number) => Math.floor(rng() * n);
  const build = (depth: number): Buffer[] =>
    Array.from({ length: 1 + int(4) }, () => {
      const pick = int(5);
      if (pick === 0 && depth < 4) return container(0x03e8 + int(64), build(depth + 1));
      if (pick === 1) {
        return storageRecord(Buffer.from(Array.from({ length: int(300) }, () => int(256))), {
          compressed: rng() < 0.5,
        });
      }
      const body = Buffer.alloc(int(64), int(256));
      return record(0x03e8 + int(0x2000), body, { instance: int(16), version: int(15) });
    });
  return Buffer.concat(build(0));
}

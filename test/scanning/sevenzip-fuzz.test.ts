import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { walkContent, type ArchiveLimits } from '../../scanning/archives/index.js';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { DEFAULT_LIMITS, readMember, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { installShieldLauncher, installShieldSetup } from '../support/installshield.js';
import { ole2 } from '../support/ole2.js';
import { buildPe } from '../support/pe-builder.js';
import { prng, withDeadline, type Rng } from '../support/fuzz.js';

/**
 * Feeds the formats opened through 7-Zip (and InstallShield launchers) mutated archives for a
 * bounded time: the walk never throws, never hangs, never leaves scratch files, and the process's
 * memory stays bounded. Every case derives from (seed, case number); rerun one with
 * ARBITER_FUZZ_SEED=<seed> (ARBITER_FUZZ_MS sets the budget).
 */
const SEED = Number(process.env.ARBITER_FUZZ_SEED ?? randomInt(2 ** 31));
const BUDGET_MS = Number(process.env.ARBITER_FUZZ_MS ?? 5000);
const CASE_DEADLINE_MS = 20_000;
const MAX_RSS = 1.5 * 1024 ** 3;

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
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-7zfuzz-'));
  try {
    const text = Array.from({ length: 300 }, (_, i) => `row ${i}, value ${i * 7}\n`).join('');
    writeFileSync(join(dir, 'a.txt'), text);
    writeFileSync(join(dir, 'eicar.com'), eicar());
    const recipes: Array<[string, string]> = [
      ['t.7z', '7z a -bd t.7z a.txt eicar.com'],
      ['locked.7z', '7z a -bd -psecret locked.7z a.txt'],
      ['t.cab', 'gcab -c -z t.cab a.txt eicar.com'],
      ['t.arj', 'arj a t.arj a.txt eicar.com'],
      ['t.cpio', 'printf "a.txt\\neicar.com\\n" | cpio -o -H newc > t.cpio'],
      ['a.txt.bz2', 'bzip2 -k a.txt'],
      ['a.txt.xz', 'xz -k a.txt'],
      ['a.txt.lzma', 'xz --format=lzma -k -c a.txt > a.txt.lzma'],
      ['t.wim', '7z a -bd -twim t.wim a.txt'],
      ['bzip2.zip', 'zip -q -Z bzip2 bzip2.zip a.txt eicar.com'],
      ['sfx.exe', `7z a -bd s.7z a.txt && cat /usr/share/clamav-testfiles/clam.exe s.7z > sfx.exe`],
    ];
    for (const [name, command] of recipes) {
      execFileSync('sh', ['-c', command], { cwd: dir, stdio: 'ignore' });
      samples.push({ name, content: readFileSync(join(dir, name)) });
    }
    samples.push({
      name: 'doc.doc',
      content: ole2([
        { path: 'WordDocument', data: Buffer.from(text) },
        { path: 'Macros/VBA/Module1', data: eicar() },
        { path: 'ObjectPool/_1/\x01Ole10Native', data: packageStream(eicar()) },
      ]),
    });
    const stub = buildPe({
      sections: [{ data: Buffer.alloc(64) }],
      entry: { section: 0, offset: 0 },
    });
    samples.push({
      name: 'setup.exe',
      content: installShieldLauncher(stub.bytes, [
        { name: 'setup.ini', data: Buffer.from(text) },
        { name: 'eicar.com', data: eicar() },
      ]),
    });
    samples.push({
      name: 'setup-msi.exe',
      content: installShieldSetup(stub.bytes, [
        { name: 'Setup.ini', data: Buffer.from(text) },
        { name: 'eicar.com', data: eicar() },
      ]),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  await formats.close();
  ws.remove();
});

it(`never throws, hangs or leaves files on mutated archives (seed ${SEED})`, async () => {
  const started = Date.now();
  let cases = 0;
  while (Date.now() - started < BUDGET_MS) {
    const rng = prng(SEED * 1_000_003 + cases);
    const { content, name, how } = mutate(rng);
    const limits = rng() < 0.5 ? SMALL_LIMITS : DEFAULT_LIMITS;
    const label = `seed ${SEED} case ${cases} (${how}, ${content.length} bytes)`;
    const path = ws.write(content);
    try {
      const walk = walkContent(
        { path, size: content.length, name },
        limits,
        async (member) => {
          await readMember(member);
        },
        { scratchDir: ws.scratchDir, formats: formats.handlers },
      );
      const result = await withDeadline(walk, CASE_DEADLINE_MS, label);
      expect(result.members, label).toBeLessThanOrEqual(limits.maxMembers);
      for (const u of result.unscannable) {
        expect(['encrypted', 'limits-exceeded', 'corrupt', 'unsupported-method'], label).toContain(
          u.reason,
        );
      }
      expect(ws.scratchFiles(), label).toEqual([]);
      expect(process.memoryUsage().rss, label).toBeLessThan(MAX_RSS);
    } catch (err) {
      const saved = join(tmpdir(), `arbiter-7zfuzz-${SEED}-${cases}.bin`);
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
  console.info(`7-Zip format fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED})`);
}, 120_000);

/** An OLE "Package" object's native data wrapping `data` (see formats/ole10native.ts). */
function packageStream(data: Buffer): Buffer {
  const strings = Buffer.from('e.com\0C:\\e.com\0', 'latin1');
  const temp = Buffer.from('C:\\e.com\0', 'latin1');
  const numbers = Buffer.alloc(8);
  numbers.writeUInt32LE(0x00030000, 0);
  numbers.writeUInt32LE(temp.length, 4);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  const body = Buffer.concat([Buffer.from([2, 0]), strings, numbers, temp, size, data]);
  const total = Buffer.alloc(4);
  total.writeUInt32LE(body.length);
  return Buffer.concat([total, body]);
}

function mutate(rng: Rng): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  const sample = samples[int(samples.length)] ?? samples[0]!;
  let content = Buffer.from(sample.content);
  const steps: string[] = [];
  const rounds = 1 + int(3);
  for (let round = 0; round < rounds && content.length > 0; round++) {
    const op = int(3);
    if (op === 0) {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) {
        const at = int(content.length);
        content.writeUInt8(content.readUInt8(at) ^ (1 << int(8)), at);
      }
      steps.push(`${flips} bit flips`);
    } else if (op === 1) {
      const at = 1 + int(content.length - 1);
      content = content.subarray(0, at);
      steps.push(`truncated at ${at}`);
    } else {
      const at = int(content.length);
      const bytes = Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)));
      bytes.copy(content, at);
      steps.push(`overwrote ${bytes.length} at ${at}`);
    }
  }
  return { content, name: sample.name, how: `${sample.name}: ${steps.join(', ')}` };
}

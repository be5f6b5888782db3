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
  binhexed,
  emlMessage,
  mboxFile,
  oldSisFile,
  sis9File,
  tnefFile,
  uuencoded,
  yencoded,
} from '../support/mail-formats.js';
import { CLAMAV_TESTFILES_DIR } from '../support/test-executable-corpus.js';
import { mutateSample, prng, withDeadline, type Rng } from '../support/fuzz.js';

/**
 * Feeds the mail and encoding handlers (MIME, mbox, uuencode, yEnc, BinHex, TNEF, SIS) mutated
 * samples and random bytes behind their magic for a bounded time: no error escapes the walker,
 * no case hangs, memory stays bounded and the scratch folder ends empty. Every case derives from
 * (seed, case number); rerun one with ARBITER_FUZZ_SEED=<seed> (ARBITER_FUZZ_MS sets the budget).
 */
const SEED = Number(process.env.ARBITER_FUZZ_SEED ?? randomInt(2 ** 31));
const BUDGET_MS = Number(process.env.ARBITER_FUZZ_MS ?? 5000);
const CASE_DEADLINE_MS = 10_000;
/** Far above what any sample needs: a parser buffering what it should stream crosses it. */
const HEAP_CEILING = 1024 ** 3;

const SMALL_LIMITS: ArchiveLimits = {
  maxDepth: 4,
  maxMembers: 64,
  maxExpandedBytes: 8 * 1024 ** 2,
  maxRatio: 50,
};

const ws = new Workspace();
const formats = createFormatSet().handlers;
const samples: { name: string; content: Buffer }[] = [];

beforeAll(() => {
  const text = Buffer.from(Array.from({ length: 300 }, (_, i) => `line ${i} of text\n`).join(''));
  const binary = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 37) % 256));
  const message = emlMessage({
    attachments: [
      { name: 'eicar.com', data: eicar() },
      { name: 'data.bin', data: binary, encoding: 'quoted-printable' },
    ],
    attachedMessages: [{ attachments: [{ name: 'inner.txt', data: text }] }],
  });
  samples.push(
    { name: 'mail.eml', content: message },
    {
      name: 'box.mbox',
      content: mboxFile([{ text: 'first\n' }, { attachments: [{ name: 'b.bin', data: binary }] }]),
    },
    {
      name: 'long.eml',
      content: emlMessage({
        text: `${'words '.repeat(7000)}\n${uuencoded('b.bin', binary).toString('latin1')}end\n`,
      }),
    },
    { name: 'file.uu', content: uuencoded('b.bin', binary) },
    { name: 'file64.uu', content: uuencoded('b.bin', binary, { base64: true }) },
    { name: 'file.yenc', content: yencoded('b.bin', binary) },
    {
      name: 'file.hqx',
      content: binhexed('b.bin', Buffer.concat([Buffer.alloc(900), binary]), { resource: text }),
    },
    {
      name: 'winmail.dat',
      content: tnefFile(
        [
          { title: 'b.bin', data: binary },
          { title: 't.txt', data: text },
        ],
        {
          body: 'body',
        },
      ),
    },
    { name: 'app.sis', content: oldSisFile([{ target: 'b.bin', data: binary }]) },
    { name: 'app.sisx', content: sis9File([binary, text], { names: ['b.bin', 't.txt'] }) },
  );
  for (const name of [
    'clam.mail',
    'clam.exe.mbox.uu',
    'clam.exe.binhex',
    'clam.tnef',
    'clam.sis',
  ]) {
    samples.push({ name, content: readFileSync(join(CLAMAV_TESTFILES_DIR, name)) });
  }
});

afterAll(() => ws.remove());

it(`never throws, hangs or leaves temp files on mutated mail and encodings (seed ${SEED})`, async () => {
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
        { scratchDir: ws.scratchDir, formats },
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
      const saved = join(tmpdir(), `arbiter-mail-fuzz-${SEED}-${cases}.bin`);
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
  console.info(`mail fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED})`);
});

function makeCase(rng: Rng): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  const pick = <T>(items: T[]): T => items[int(items.length)] as T;
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  if (rng() < 0.15) {
    // random bytes behind a format's opening
    const opening = pick([
      'From a@b Thu Jul 31 13:49:50 2008\nFrom: a@b\nSubject: x\n\n',
      'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n',
      'begin 644 x.bin\nM',
      '=ybegin line=128 size=100 name=x\n',
      '(This file must be converted with BinHex 4.0)\n:',
      '\x78\x9f\x3e\x22\x01\x00\x02',
      '\x00\x00\x00\x01\x12\x3a\x00\x10\x19\x04\x00\x10\x00\x00\x00\x00\x01\x00',
      '\x7a\x1a\x20\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00',
    ]);
    const content = Buffer.concat([Buffer.from(opening, 'latin1'), randomBytes(int(4096))]);
    return { content, name: 'random.bin', how: `random after ${JSON.stringify(opening)}` };
  }
  return mutateSample(rng, pick(samples), samples);
}

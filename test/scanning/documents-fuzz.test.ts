import { randomInt } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { htmlFormat } from '../../scanning/archives/formats/html.js';
import { pdfFormat } from '../../scanning/archives/formats/pdf.js';
import { rtfFormat } from '../../scanning/archives/formats/rtf.js';
import { vbaFormat } from '../../scanning/archives/formats/vba.js';
import { walkContent, type ArchiveLimits } from '../../scanning/archives/index.js';
import { DEFAULT_LIMITS, readMember, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import {
  appendUpdate,
  attachmentPdf,
  flateStream,
  qpdfAttachment,
  writePdf,
} from '../support/pdf.js';
import { ole1Object, packageNative, rtfWithBin, rtfWithObject } from '../support/rtf.js';
import { CLAMAV_TESTFILES_DIR } from '../support/test-executable-corpus.js';
import { moduleStream } from '../support/vba.js';
import { prng, withDeadline, type Rng } from '../support/fuzz.js';

/**
 * Feeds the PDF, RTF, HTML and VBA handlers mutated documents for a bounded time: no error escapes
 * the walker, no case hangs, no scratch file stays behind, and nothing is reported but the four
 * reasons. Every case derives from (seed, case number); rerun one with ARBITER_FUZZ_SEED=<seed>
 * (ARBITER_FUZZ_MS sets the budget).
 */
const SEED = Number(process.env.ARBITER_FUZZ_SEED ?? randomInt(2 ** 31));
const BUDGET_MS = Number(process.env.ARBITER_FUZZ_MS ?? 5000);
const CASE_DEADLINE_MS = 10_000;
const FORMATS = [pdfFormat, rtfFormat, htmlFormat, vbaFormat];

const SMALL_LIMITS: ArchiveLimits = {
  maxDepth: 4,
  maxMembers: 64,
  maxExpandedBytes: 8 * 1024 ** 2,
  maxRatio: 50,
};

/** Tokens spliced in: the syntax each parser keys on. */
const TOKENS = [
  '{',
  '}',
  '\\',
  '\\bin12 ',
  '\\bin999999 ',
  '{\\*\\objdata ',
  '0105000002000000',
  "\\'",
  ' 0 obj ',
  'endobj',
  'stream\n',
  '\nendstream',
  '<<',
  '>>',
  '/Filter /FlateDecode',
  '/Length 99999',
  '/Type /ObjStm /N 3 /First 5',
  '(',
  ')',
  '[',
  ']',
  'trailer << /Encrypt 1 0 R >>',
  'data:',
  ';base64,',
  '"',
  "'",
  '`',
  '<script>',
  '</script>',
  '%',
  '=',
];

const ws = new Workspace();
const samples: { name: string; content: Buffer }[] = [];

beforeAll(() => {
  const text = Buffer.from('Plain words for a page, repeated. '.repeat(40));
  const exe = readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.exe`);
  const b64 = exe.toString('base64');
  const filtered = writePdf([
    '<< /Type /Catalog >>',
    flateStream(text),
    { dict: '/Filter [/AHx /Fl]', data: Buffer.from(`${zlib.deflateSync(text).toString('hex')}>`) },
    { dict: '/Filter /LZWDecode', data: Buffer.from('800b6050220c0c8501', 'hex') },
    {
      dict: '/Filter /RunLengthDecode',
      data: Buffer.from([3, 0x61, 0x62, 0x63, 0x64, 0xfd, 0x65, 128]),
    },
    { dict: '/Filter /ASCII85Decode', data: Buffer.from('87cURD]i,"Ebo80~>') },
    {
      dict: '/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>',
      data: zlib.deflateSync(Buffer.from([2, 1, 2, 3, 4, 2, 1, 1, 1, 1])),
    },
  ]);
  samples.push(
    { name: 'clam.pdf', content: readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.pdf`) },
    { name: 'filters.pdf', content: filtered },
    {
      name: 'update.pdf',
      content: appendUpdate(writePdf(attachmentPdf('a.exe', exe)), 5, [flateStream(eicar())]),
    },
    { name: 'objstm.pdf', content: qpdfAttachment('e.com', eicar()) },
    {
      name: 'aes.pdf',
      content: qpdfAttachment('e.com', eicar(), ['--encrypt', '', 'o', '256', '--']),
    },
    {
      name: 'rc4.pdf',
      content: qpdfAttachment('e.com', eicar(), [
        '--allow-weak-crypto',
        '--encrypt',
        '',
        'o',
        '128',
        '--use-aes=n',
        '--',
      ]),
    },
    { name: 'clam.exe.rtf', content: readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.exe.rtf`) },
    {
      name: 'package.rtf',
      content: rtfWithObject(ole1Object('Package', packageNative('p.exe', exe)), { lineLength: 5 }),
    },
    { name: 'native.rtf', content: rtfWithObject(ole1Object('Word.Document.8', text)) },
    { name: 'bin.rtf', content: rtfWithBin(exe) },
    {
      name: 'Macros/VBA/Module1',
      content: moduleStream(
        `Attribute VB_Name = "Module1"\r\n${'Sub A()\r\nEnd Sub\r\n'.repeat(300)}`,
      ),
    },
    { name: 'clam.exe.html', content: readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.exe.html`) },
    {
      name: 'page.html',
      content: Buffer.from(
        `<!DOCTYPE html><html><style>a{background:url(data:image/png;base64,${b64})}</style>` +
          `<script>var s = atob('${b64}'); // it's</script><a href="data:,%41%42">x</a></html>`,
      ),
    },
  );
});

afterAll(() => ws.remove());

it(`never throws, hangs or leaves temp files on mutated documents (seed ${SEED})`, async () => {
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
        { scratchDir: ws.scratchDir, formats: FORMATS },
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
      const saved = join(tmpdir(), `arbiter-documents-fuzz-${SEED}-${cases}.bin`);
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
  console.info(`documents fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED})`);
});

function makeCase(rng: Rng): { content: Buffer; name: string; how: string } {
  const int = (n: number) => Math.floor(rng() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const sample = pick(samples);
  let content = Buffer.from(sample.content);
  const steps: string[] = [];
  const rounds = 1 + int(5);
  for (let round = 0; round < rounds && content.length > 0; round++) {
    const op = int(6);
    const at = int(content.length);
    if (op === 0) {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) {
        const where = int(content.length);
        content.writeUInt8(content.readUInt8(where) ^ (1 << int(8)), where);
      }
      steps.push(`${flips} bit flips`);
    } else if (op === 1) {
      content = content.subarray(0, Math.max(at, 8));
      steps.push(`truncated at ${at}`);
    } else if (op === 2) {
      const start = int(content.length);
      const end = Math.min(content.length, start + 1 + int(2048));
      content = Buffer.concat([
        content.subarray(0, at),
        content.subarray(start, end),
        content.subarray(at),
      ]);
      steps.push(`duplicated ${start}-${end} at ${at}`);
    } else if (op === 3) {
      const bytes = randomBytes(1 + int(16));
      bytes.copy(content, at);
      steps.push(`overwrote ${bytes.length} at ${at}`);
    } else if (op === 4) {
      const token = pick(TOKENS);
      const times = 1 + int(rng() < 0.1 ? 5000 : 4);
      content = Buffer.concat([
        content.subarray(0, at),
        Buffer.from(token.repeat(times)),
        content.subarray(at),
      ]);
      steps.push(`inserted ${JSON.stringify(token)}×${times} at ${at}`);
    } else {
      const other = pick(samples).content;
      content = Buffer.concat([content.subarray(0, at), other.subarray(int(other.length))]);
      steps.push(`spliced at ${at}`);
    }
  }
  return { content, name: sample.name, how: `${sample.name}: ${steps.join(', ')}` };
}

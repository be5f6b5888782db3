import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { parsePe, PE_HEAD_BYTES } from '../../scanning/pe.js';
import { versionInfoOffsets } from '../../scanning/pe-version-info.js';
import { gzip, zip } from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { disagreementsOf, namesFromBoth } from '../support/agreement.js';
import { buildPe } from '../support/pe-builder.js';
import { resourceSection, versionBlock } from '../support/pe-version-resource.js';
import { int, pick, seededRng } from '../support/signature-gen.js';

/**
 * `VI` (version information) subsignatures in the built-in engine and in a real clamd, on the
 * same database and files: PEs with VS_VERSIONINFO resources (one or two languages, several
 * string tables, a VarFileInfo first, a String without value, PE32+, the resources past the
 * first 64 KiB, inside zip and gzip), PEs holding the same bytes elsewhere (in a section, in the
 * overlay, with no version resource or a broken one), and a file that is no PE. A `VI` match
 * counts only where it starts a version String's key, so only the first kind of file matches.
 * clamd scans with ALLMATCHSCAN; both engines must name the same signatures for every file,
 * and each signature must match exactly the files it is labelled with.
 */

const utf16 = (text: string) => Buffer.from(text, 'utf16le').toString('hex');
const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');

const STRINGS: [string, string][] = [
  ['CompanyName', 'Acme Corp'],
  ['FileDescription', 'Widget tool'],
  ['Comments', ''],
  ['FileVersion', '1.2.3.4'],
  ['ProductName', 'Widget'],
];
const MAIN = versionBlock({ tables: [STRINGS] });
const COMPANY = MAIN.viBodies[0]!;
const PRODUCT = MAIN.viBodies[3]!;
/** The bytes of the CompanyName String (key and value), to plant outside the version info. */
const COMPANY_BYTES = Buffer.from(COMPANY, 'hex');
const TEXT_MARKER = 'TEXT-MARKER';

interface TestFile {
  name: string;
  bytes: Buffer;
}

function executable(options: {
  blocks?: Buffer[];
  text?: Buffer;
  overlay?: Buffer;
  pe32plus?: boolean;
}): Buffer {
  const text = options.text ?? Buffer.concat([Buffer.alloc(64, 0x90), Buffer.from(TEXT_MARKER)]);
  const blocks = options.blocks;
  return buildPe({
    sections: [
      { name: '.text', data: text },
      ...(blocks
        ? [{ name: '.rsrc', data: (rva: number) => resourceSection(rva, blocks).data }]
        : []),
    ],
    entry: { section: 0, offset: 0 },
    ...(blocks ? { resourceSection: 1 } : {}),
    ...(options.overlay ? { overlay: options.overlay } : {}),
    ...(options.pe32plus ? { pe32plus: true } : {}),
  }).bytes;
}

async function buildFiles(): Promise<TestFile[]> {
  const big = executable({
    blocks: [MAIN.bytes],
    text: Buffer.concat([Buffer.alloc(150_000, 0x90), COMPANY_BYTES, Buffer.from(TEXT_MARKER)]),
  });
  const broken = Buffer.from(MAIN.bytes);
  broken.writeUInt32LE(0, 0x28); // VS_FIXEDFILEINFO's magic
  const files: TestFile[] = [
    { name: 'version.exe', bytes: executable({ blocks: [MAIN.bytes] }) },
    { name: 'version-big.exe', bytes: big },
    {
      name: 'two-languages.exe',
      bytes: executable({
        blocks: [MAIN.bytes, versionBlock({ tables: [[['CompanyName', 'Acme Corp']]] }).bytes],
      }),
    },
    {
      name: 'two-tables.exe',
      bytes: executable({
        blocks: [
          versionBlock({
            tables: [[STRINGS[0]!], [STRINGS[4]!, STRINGS[2]!]],
            varFileInfoFirst: true,
          }).bytes,
        ],
      }),
    },
    { name: 'version64.exe', bytes: executable({ blocks: [MAIN.bytes], pe32plus: true }) },
    {
      name: 'decoy-text.exe',
      bytes: executable({ text: Buffer.concat([COMPANY_BYTES, Buffer.from(TEXT_MARKER)]) }),
    },
    {
      name: 'decoy-overlay.exe',
      bytes: executable({
        blocks: [versionBlock({ tables: [[['ProductName', 'Widget']]] }).bytes],
        overlay: Buffer.concat([Buffer.alloc(3), COMPANY_BYTES]),
      }),
    },
    { name: 'broken-version.exe', bytes: executable({ blocks: [broken] }) },
    { name: 'not-pe.bin', bytes: Buffer.concat([Buffer.from('MZ'), MAIN.bytes]) },
  ];
  files.push(
    ...mutatedVersions([files[0]!.bytes, files[3]!.bytes], 80, 'mutated'),
    ...mutatedVersions([big], 30, 'mutated-big'),
  );
  files.push(
    { name: 'version-big.zip', bytes: await zip([{ name: 'big.exe', data: big }]) },
    { name: 'version-big.exe.gz', bytes: gzip(big) },
  );
  return files;
}

/**
 * Seeded mutations of the resource section of version PEs: counts, offsets, sizes and String
 * lengths set to edge values, half of them in the directories and data entries. For a file
 * whose resources lie past the first 64 KiB, only mutations the built-in engine can follow in
 * one pass are kept (a pointer back to bytes gone leaves its version strings unknown, see
 * docs/engines.md). Both engines must agree on each; no label is asked of them.
 */
function mutatedVersions(samples: Buffer[], count: number, prefix: string): TestFile[] {
  const rng = seededRng(20261205 + count);
  const out: TestFile[] = [];
  for (let index = 0; out.length < count && index < count * 4; index += 1) {
    const bytes = Buffer.from(samples[index % samples.length]!);
    const parsed = parsePe(bytes.subarray(0, PE_HEAD_BYTES), bytes.length);
    if (!parsed.ok) throw new Error(parsed.reason);
    const rsrcRaw = parsed.pe.sections[1]!.raw;
    const span = bytes.length - rsrcRaw - 4;
    for (let n = int(rng, 1, 4); n > 0; n -= 1) {
      const at = rsrcRaw + int(rng, 0, rng() < 0.5 ? 0x60 : span);
      const kind = int(rng, 0, 3);
      if (kind === 0) bytes.writeUInt16LE(pick(rng, [0, 1, 6, 0x18, 0x5c, 0xff, 0xffff]), at);
      else if (kind === 1)
        bytes.writeUInt32LE(pick(rng, [0, 0x80000000, 0x80000018, 0xffffffff, 0x1000]), at);
      else if (kind === 2) bytes[at] = int(rng, 0, 255);
      else bytes.writeUInt16LE((bytes.readUInt16LE(at) + int(rng, -8, 8)) & 0xffff, at);
    }
    if (versionInfoOffsets(parsed.pe, bytes) === null) continue;
    out.push({ name: `${prefix}-${out.length}.exe`, bytes });
  }
  return out;
}

/** Files that carry the CompanyName String in their version information. */
const WITH_COMPANY = [
  'version.exe',
  'version-big.exe',
  'two-languages.exe',
  'two-tables.exe',
  'version64.exe',
  'version-big.zip',
  'version-big.exe.gz',
];
const WITH_PRODUCT = [
  'version.exe',
  'version-big.exe',
  'two-languages.exe',
  'two-tables.exe',
  'version64.exe',
  'decoy-overlay.exe',
  'version-big.zip',
  'version-big.exe.gz',
];
const WITH_TEXT_MARKER = [
  'version.exe',
  'version-big.exe',
  'two-languages.exe',
  'two-tables.exe',
  'version64.exe',
  'decoy-text.exe',
  'decoy-overlay.exe',
  'broken-version.exe',
  'version-big.zip',
  'version-big.exe.gz',
];
const minus = (list: string[], ...names: string[]) => list.filter((n) => !names.includes(n));
const both = (a: string[], b: string[]) => a.filter((n) => b.includes(n));

/** `Name;Engine:51-255,Target:1;logic;subsigs…` and the files it must match. */
const SIGNATURES: { name: string; logic: string; subsigs: string[]; matches: string[] }[] = [
  { name: 'VI.Company', logic: '0', subsigs: [`VI:${COMPANY}`], matches: WITH_COMPANY },
  { name: 'VI.Product', logic: '0', subsigs: [`VI:${PRODUCT}`], matches: WITH_PRODUCT },
  {
    name: 'VI.KeyOnly',
    logic: '0',
    subsigs: [`VI:${utf16('CompanyName')}`],
    matches: WITH_COMPANY,
  },
  { name: 'VI.ValueOnly', logic: '0', subsigs: [`VI:${utf16('Acme Corp')}`], matches: [] },
  { name: 'VI.NoValue', logic: '0', subsigs: [`VI:${utf16('Comments')}`], matches: [] },
  { name: 'VI.Shift', logic: '0', subsigs: [`VI,8:${COMPANY}`], matches: WITH_COMPANY },
  {
    name: 'Any.Company',
    logic: '0',
    subsigs: [COMPANY],
    matches: [
      ...WITH_COMPANY,
      'decoy-text.exe',
      'decoy-overlay.exe',
      'broken-version.exe',
      'not-pe.bin',
    ],
  },
  {
    name: 'VI.Nocase',
    logic: '0',
    subsigs: [`VI:${utf16('companyNAME')}::i`],
    matches: WITH_COMPANY,
  },
  { name: 'VI.Wide', logic: '0', subsigs: [`VI:${hex('CompanyName')}::w`], matches: WITH_COMPANY },
  {
    name: 'VI.WideAscii',
    logic: '0',
    subsigs: [`VI:${hex('CompanyName')}::wa`],
    matches: WITH_COMPANY,
  },
  {
    name: 'VI.Fullword',
    logic: '0',
    subsigs: [`VI:${hex('CompanyName')}::wf`],
    matches: WITH_COMPANY,
  },
  { name: 'VI.Gap', logic: '0', subsigs: [`VI:43006f00{4}61006e00`], matches: WITH_COMPANY },
  {
    name: 'VI.Range',
    logic: '0',
    subsigs: [`VI:43006f006d00700061006e00[1-3]4e`],
    matches: WITH_COMPANY,
  },
  {
    name: 'VI.Alt',
    logic: '0',
    subsigs: [`VI:43006f00(6d|6e)00`],
    matches: WITH_COMPANY,
  },
  { name: 'VI.Wildcard', logic: '0', subsigs: [`VI:??006f006d00`], matches: WITH_COMPANY },
  { name: 'VI.Count2', logic: '0>1', subsigs: [`VI:${COMPANY}`], matches: ['two-languages.exe'] },
  {
    name: 'VI.Count1',
    logic: '0=1',
    subsigs: [`VI:${COMPANY}`],
    matches: minus(WITH_COMPANY, 'two-languages.exe'),
  },
  {
    name: 'VI.None',
    logic: '0=0&1',
    subsigs: [`VI:${COMPANY}`, hex(TEXT_MARKER)],
    matches: ['decoy-text.exe', 'decoy-overlay.exe', 'broken-version.exe'],
  },
  {
    name: 'VI.And',
    logic: '0&1',
    subsigs: [`VI:${COMPANY}`, hex(TEXT_MARKER)],
    matches: both(WITH_COMPANY, WITH_TEXT_MARKER),
  },
  {
    name: 'VI.Group',
    logic: '(0|1)>1',
    subsigs: [`VI:${COMPANY}`, `VI:${PRODUCT}`],
    matches: both(WITH_COMPANY, WITH_PRODUCT),
  },
  {
    name: 'VI.Distinct',
    logic: '(0|1)>1,2',
    subsigs: [`VI:${COMPANY}`, `VI:${PRODUCT}`],
    matches: both(WITH_COMPANY, WITH_PRODUCT),
  },
  {
    name: 'VI.WithEP',
    logic: '0&1',
    subsigs: [`VI:${PRODUCT}`, `EP+0:909090`],
    matches: WITH_PRODUCT,
  },
];

describe('VI (version information) subsignatures: the built-in engine and clamd agree', () => {
  let dir: string;
  let clamd: TestClamd;
  let files: TestFile[];
  const results = new Map<string, { builtin: string[]; clamd: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-ldb-vi-'));
    files = await buildFiles();
    const dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    const lines = SIGNATURES.map(
      (s) => `${s.name};Engine:51-255,Target:1;${s.logic};${s.subsigs.join(';')}`,
    );
    await writeFile(path.join(dbDir, 'test.ldb'), lines.join('\n') + '\n');
    const filesDir = path.join(dir, 'files');
    await mkdir(filesDir);
    for (const file of files) await writeFile(path.join(filesDir, file.name), file.bytes);
    clamd = await startTestClamd({ databaseDir: dbDir });
    const builtin = await BuiltinEngine.load(dbDir, createLogger('silent'));
    expect(builtin.database.problems).toEqual([]);
    expect(builtin.database.logical.length).toBe(SIGNATURES.length);
    for (const file of files) {
      const target = path.join(filesDir, file.name);
      results.set(
        file.name,
        await namesFromBoth(builtin, clamd.socketPath, {
          path: target,
          size: file.bytes.length,
          name: file.name,
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names the same signatures as clamd for every file', () => {
    expect(disagreementsOf(results)).toEqual([]);
  });

  it('has mutated files where the version strings still count, and ones where they no longer do', () => {
    const mutated = [...results].filter(([name]) => name.startsWith('mutated-'));
    expect(mutated.filter(([name]) => name.startsWith('mutated-big-')).length).toBe(30);
    const company = mutated.filter(([, r]) => r.builtin.includes('VI.Company')).length;
    expect(company).toBeGreaterThan(5);
    expect(company).toBeLessThan(mutated.length - 5);
  });

  it('matches each signature on exactly its labelled files', () => {
    const wrong: string[] = [];
    for (const { name, matches } of SIGNATURES) {
      const found = files
        .filter((f) => !f.name.startsWith('mutated-'))
        .filter((f) => results.get(f.name)?.builtin.includes(name))
        .map((f) => f.name);
      if (found.sort().join() !== [...matches].sort().join()) {
        wrong.push(
          `${name}: matched [${found.join(', ')}], expected [${[...matches].sort().join(', ')}]`,
        );
      }
    }
    expect(wrong).toEqual([]);
  });
});

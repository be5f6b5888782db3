import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { parseLdbLine } from '../../scanning/signatures/ldb.js';
import { gzip, zip } from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { disagreementsOf, namesFromBoth } from '../support/agreement.js';

/**
 * `Container:` conditions of logical signatures in the built-in engine and in a real clamd: for
 * each container type the built-in engine maps, a member inside such a container (written by the
 * Debian tools) is detected by both engines with `Container:<type>`, and the signatures naming
 * every other type stay silent in both. The marker is compressed in most containers, so only the
 * member itself can match; where it is stored as is, the container matches as the top-level
 * file too (`Container:CL_TYPE_ANY`), in both engines.
 */

const MARK = 'CONTAINED-MARKER-7Q';
const hex = (text: string) => Buffer.from(text).toString('hex');
const MEMBER = Buffer.concat([
  Buffer.from([0, 1, 2, 0, 0]),
  Buffer.from(MARK),
  Buffer.from([0, 0, 3, 4, 0xfe, 0]),
]);

const TYPES = [
  'CL_TYPE_ANY',
  'CL_TYPE_ZIP',
  'CL_TYPE_GZ',
  'CL_TYPE_7Z',
  'CL_TYPE_MSCAB',
  'CL_TYPE_ARJ',
  'CL_TYPE_ISO9660',
  'CL_TYPE_BZ',
  'CL_TYPE_XZ',
  'CL_TYPE_MSSZDD',
];
const signatureName = (type: string) => `K.${type.slice('CL_TYPE_'.length)}`;

interface ContainerFile {
  name: string;
  bytes: Buffer;
  /** The container type the marker's member comes out of; null: none the list maps. */
  type: string | null;
  /** The marker is stored as is, so the file itself matches (Container:CL_TYPE_ANY). */
  raw: boolean;
}

async function buildFiles(work: string): Promise<ContainerFile[]> {
  const run = (command: string, args: string[], cwd = work) =>
    execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (name: string) => readFile(path.join(work, name));
  await writeFile(path.join(work, 'member.bin'), MEMBER);
  await mkdir(path.join(work, 'tree', 'deeper'), { recursive: true });
  await writeFile(path.join(work, 'tree', 'deeper', 'member.bin'), MEMBER);
  run('7z', ['a', '-bd', 'plain.7z', 'member.bin']);
  run('7z', ['a', '-bd', 'tree.7z', 'tree']);
  run('gcab', ['-c', 'stored.cab', 'member.bin']);
  run('gcab', ['-c', '-z', 'deflated.cab', 'member.bin']);
  run('arj', ['a', '-r', 'tree.arj', 'tree']);
  run('genisoimage', ['-quiet', '-R', '-J', '-o', 'tree.iso', 'tree']);
  run('bzip2', ['-k', 'member.bin']);
  run('xz', ['-k', 'member.bin']);
  run('mscompress', ['member.bin']);
  run('tar', ['-cjf', 'member.tar.bz2', 'member.bin']);
  const deflatedCab = await read('deflated.cab');
  return [
    { name: 'plain.7z', bytes: await read('plain.7z'), type: 'CL_TYPE_7Z', raw: true },
    { name: 'tree.7z', bytes: await read('tree.7z'), type: 'CL_TYPE_7Z', raw: true },
    { name: 'stored.cab', bytes: await read('stored.cab'), type: 'CL_TYPE_MSCAB', raw: true },
    { name: 'deflated.cab', bytes: deflatedCab, type: 'CL_TYPE_MSCAB', raw: false },
    { name: 'tree.arj', bytes: await read('tree.arj'), type: 'CL_TYPE_ARJ', raw: true },
    { name: 'tree.iso', bytes: await read('tree.iso'), type: 'CL_TYPE_ISO9660', raw: true },
    { name: 'member.bin.bz2', bytes: await read('member.bin.bz2'), type: 'CL_TYPE_BZ', raw: false },
    { name: 'member.bin.xz', bytes: await read('member.bin.xz'), type: 'CL_TYPE_XZ', raw: true },
    { name: 'member.bin_', bytes: await read('member.bin_'), type: 'CL_TYPE_MSSZDD', raw: false },
    {
      name: 'member.zip',
      bytes: await zip([{ name: 'member.bin', data: MEMBER }]),
      type: 'CL_TYPE_ZIP',
      raw: false,
    },
    { name: 'member.bin.gz', bytes: gzip(MEMBER), type: 'CL_TYPE_GZ', raw: false },
    // A cab inside a zip: the member's container is the cab, not the zip.
    {
      name: 'cab-in.zip',
      bytes: await zip([{ name: 'deflated.cab', data: deflatedCab }]),
      type: 'CL_TYPE_MSCAB',
      raw: false,
    },
    // A tar inside bzip2: the tar (which holds the marker as is) comes out of the bzip2 stream;
    // the member comes out of the tar, whose type is not mapped.
    { name: 'member.tar.bz2', bytes: await read('member.tar.bz2'), type: 'CL_TYPE_BZ', raw: false },
  ];
}

describe('Container conditions of logical signatures: the built-in engine and clamd agree', () => {
  let dir: string;
  let clamd: TestClamd;
  let files: ContainerFile[];
  const results = new Map<string, { builtin: string[]; clamd: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-ldb-container-'));
    const work = path.join(dir, 'work');
    await mkdir(work);
    files = await buildFiles(work);
    const dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    const lines = [
      `K.Plain;Target:0;0;${hex(MARK)}`,
      ...TYPES.map(
        (type) => `${signatureName(type)};Engine:81-255,Target:0,Container:${type};0;${hex(MARK)}`,
      ),
    ];
    await writeFile(path.join(dbDir, 'container.ldb'), lines.join('\n') + '\n');
    const filesDir = path.join(dir, 'files');
    await mkdir(filesDir);
    clamd = await startTestClamd({ databaseDir: dbDir });
    const builtin = await BuiltinEngine.load(dbDir, createLogger('silent'));
    expect(builtin.database.problems).toEqual([]);
    expect(builtin.database.logical.length).toBe(lines.length);
    for (const file of files) {
      const target = path.join(filesDir, file.name);
      await writeFile(target, file.bytes);
      results.set(
        file.name,
        await namesFromBoth(builtin, clamd.socketPath, {
          path: target,
          size: file.bytes.length,
          name: file.name,
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names the same signatures as clamd for every container', () => {
    expect(disagreementsOf(results)).toEqual([]);
  });

  it("fires the member's own container type, and no other", () => {
    for (const file of files) {
      const expected = ['K.Plain', ...(file.raw ? ['K.ANY'] : [])];
      if (file.type !== null) expected.push(signatureName(file.type));
      expect(results.get(file.name)?.builtin, file.name).toEqual(expected.sort());
    }
    // Every mapped type is exercised.
    expect(new Set(files.map((f) => f.type))).toEqual(new Set(TYPES.slice(1)));
  });

  it('skips the types where clamd sees other layers than the walker, with the reason', () => {
    const problem = (type: string) => {
      const result = parseLdbLine(`S;Engine:81-255,Target:0,Container:${type};0;${hex(MARK)}`);
      return result.ok ? 'loaded' : result.message;
    };
    expect(problem('CL_TYPE_POSIX_TAR')).toMatch(/^skipped: .*POSIX tars from old ones/);
    expect(problem('CL_TYPE_CPIO_NEWC')).toMatch(/^skipped: .*cpio flavours/);
    expect(problem('CL_TYPE_MAIL')).toMatch(/^skipped: .*uuencoded/);
    expect(problem('CL_TYPE_PDF')).toMatch(/^skipped: .*JavaScript/);
    expect(problem('CL_TYPE_MSOLE2')).toMatch(/^skipped: .*VBA source/);
    expect(problem('CL_TYPE_MSEXE')).toBe('skipped: Container:CL_TYPE_MSEXE is not supported');
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import type { ListedMember } from '../../scanning/archives/index.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ContainerMetadataMatcher } from '../../scanning/matcher/container-metadata.js';
import { REGEX_REASONS, translatePosixPattern } from '../../scanning/matcher/file-name-regex.js';
import { parseCdbText } from '../../scanning/signatures/cdb.js';
import { encryptedZip, gzip, tar, zip } from '../support/archives.js';

const regexOf = (pattern: string): RegExp => {
  const translated = translatePosixPattern(pattern);
  if ('reason' in translated) throw new Error(`${pattern}: ${translated.reason}`);
  return translated.regex;
};
const reasonOf = (pattern: string) => {
  const translated = translatePosixPattern(pattern);
  return 'reason' in translated ? translated.reason : undefined;
};

describe('POSIX extended regular expressions as ClamAV compiles .cdb file names', () => {
  it('searches unanchored unless ^ or $ anchor the pattern', () => {
    expect(regexOf('evil\\.exe').test('dir/evil.exe.txt')).toBe(true);
    expect(regexOf('^evil').test('dir/evil.exe')).toBe(false);
    expect(regexOf('\\.exe$').test('a.exe.txt')).toBe(false);
    expect(regexOf('(exe|scr)$').test('a.scr')).toBe(true);
  });

  it('reads a backslash as making the next character literal (no \\d, no backreferences)', () => {
    expect(regexOf('a\\d').test('ad')).toBe(true);
    expect(regexOf('a\\d').test('a1')).toBe(false);
    expect(regexOf('(a)\\1').test('a1')).toBe(true);
    expect(regexOf('(a)\\1').test('aa')).toBe(false);
  });

  it('reads bracket expressions the POSIX way: literal backslash, ] first, [:classes:]', () => {
    expect(regexOf('[\\d]').test('\\')).toBe(true);
    expect(regexOf('[\\d]').test('1')).toBe(false);
    expect(regexOf('[]a]').test(']')).toBe(true);
    expect(regexOf('[^]a]').test(']')).toBe(false);
    expect(regexOf('^[[:digit:]]{3}[[:alpha:]-]+$').test('123ab-c')).toBe(true);
    expect(regexOf('^[[:digit:]]{3}$').test('12')).toBe(false);
    expect(regexOf('x{').test('x{')).toBe(true);
    // An unmatched ) is an ordinary character in ClamAV's copy of Spencer's library.
    expect(regexOf('a)$').test('a)')).toBe(true);
    expect(regexOf('^a{2,}$').test('aaaa')).toBe(true);
  });

  it('is case-insensitive after a leading (?i), as cli_regcomp', () => {
    expect(regexOf('(?i)^evil\\.EXE$').test('EVIL.exe')).toBe(true);
    expect(regexOf('^evil').test('EVIL')).toBe(false);
  });

  it('refuses what could backtrack heavily or what it does not translate', () => {
    expect(reasonOf('(a+)+b')).toBe(REGEX_REASONS.backtracking);
    expect(reasonOf('(a|ab)*c')).toBe(REGEX_REASONS.backtracking);
    expect(reasonOf('.*a.*b.*c.*d')).toBe(REGEX_REASONS.backtracking);
    expect(reasonOf('.*a.*b.*c')).toBeUndefined();
    expect(reasonOf('\\<word\\>')).toBe(REGEX_REASONS.wordBoundary);
    expect(reasonOf('[[.a.]]')).toBe(REGEX_REASONS.collating);
    for (const invalid of ['*a', 'a**', 'a|', '(a', '[a', '[z-a]', 'a{300}', '^*', '\\'])
      expect(reasonOf(invalid), invalid).toBe(REGEX_REASONS.invalid);
  });
});

describe('container metadata signatures against listed members', () => {
  const member = (fields: Partial<ListedMember> = {}): ListedMember => ({
    path: ['a.zip', 'invoice.pdf.exe'],
    container: 'zip',
    containerSize: 4000,
    name: 'invoice.pdf.exe',
    size: 1500,
    compressedSize: 700,
    encrypted: false,
    position: 2,
    ...fields,
  });
  const matcher = (line: string) =>
    new ContainerMetadataMatcher(parseCdbText(line, 't.cdb').signatures);
  const hit = (line: string, fields: Partial<ListedMember> = {}) =>
    matcher(line).match(member(fields)).length > 0;

  it('matches when every field holds, * holding always', () => {
    expect(hit('S:CL_TYPE_ZIP:*:\\.pdf\\.exe$:*:*:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:*:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:*:*:*:*:*', { container: 'tar' })).toBe(true);
    expect(hit('S:CL_TYPE_POSIX_TAR:*:*:*:*:*:*:*:*')).toBe(false);
    expect(hit('S:CL_TYPE_ZIP:*:\\.doc$:*:*:*:*:*:*')).toBe(false);
  });

  it('compares sizes and positions as ClamAV: n exactly, n-m with 0 meaning no bound', () => {
    expect(hit('S:*:*:*:*:1500:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:1499:*:*:*:*')).toBe(false);
    expect(hit('S:*:*:*:*:1000-2000:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:1600-2000:*:*:*:*')).toBe(false);
    expect(hit('S:*:*:*:*:0-1000:*:*:*:*')).toBe(false);
    expect(hit('S:*:*:*:*:0-2000:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:1000-0:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:700:*:*:*:*:*')).toBe(true);
    expect(hit('S:*:3000-5000:*:*:*:*:*:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:*:*:2:*:*')).toBe(true);
    expect(hit('S:*:*:*:*:*:*:1:*:*')).toBe(false);
  });

  it('matches the encrypted flag, and never a field the container did not give', () => {
    expect(hit('S:*:*:*:*:*:1:*:*:*', { encrypted: true })).toBe(true);
    expect(hit('S:*:*:*:*:*:1:*:*:*')).toBe(false);
    expect(hit('S:*:*:*:*:*:0:*:*:*')).toBe(true);
    expect(hit('S:*:100-0:*:*:*:*:*:*:*', { containerSize: undefined })).toBe(false);
    expect(hit('S:*:*:*:*:*:*:*:*:*', { containerSize: undefined })).toBe(true);
    const sevenZip = { container: '7z', compressedSize: 0, position: undefined };
    expect(hit('S:CL_TYPE_7Z:*:*:0:1500:0:*:*:*', sevenZip)).toBe(true);
    expect(hit('S:CL_TYPE_7Z:*:*:*:*:*:1:*:*', sevenZip)).toBe(false);
  });

  it('in a zip laid out as an office document, applies zip signatures as ClamAV does', () => {
    const zipOnly = 'S:CL_TYPE_ZIP:*:*:*:*:*:*:*:*';
    expect(hit(zipOnly, { documentLike: true, position: 1 })).toBe(false);
    // Past the first entry, ClamAV also opens the member as a zip embedded at its local header.
    expect(hit(zipOnly, { documentLike: true, position: 3 })).toBe(true);
    expect(hit('S:CL_TYPE_ZIP:*:*:*:*:*:3:*:*', { documentLike: true, position: 3 })).toBe(false);
    expect(hit('S:CL_TYPE_ZIP:*:*:*:*:*:0:*:*', { documentLike: true, position: 3 })).toBe(true);
    expect(hit('S:*:*:*:*:*:*:1:*:*', { documentLike: true, position: 1 })).toBe(true);
  });

  it('matches the name as ClamAV reads it: 100 characters of a tar header', () => {
    const long = `${'d/'.repeat(60)}x.exe`;
    expect(hit('S:*:*:x\\.exe$:*:*:*:*:*:*', { name: long })).toBe(true);
    expect(hit('S:*:*:x\\.exe$:*:*:*:*:*:*', { name: long, container: 'tar' })).toBe(false);
  });
});

describe('the built-in engine and .cdb signatures', () => {
  let dir: string;
  let engine: BuiltinEngine;
  const lines = [
    'Cdb.Test.Name:CL_TYPE_ZIP:*:(^|/)cdbtest-[a-z]+\\.pdf\\.exe$:*:*:0:*:*:*',
    'Cdb.Test.Encrypted:CL_TYPE_ZIP:*:^secret\\.txt$:*:*:1:*:*:*',
    'Cdb.Test.Tar:CL_TYPE_POSIX_TAR:1-0:^bin/cdbtest\\.sh$:*:10-0:*:2:*:*',
    'Cdb.Test.Rar:CL_TYPE_RAR:*:.*:*:*:*:*:*:*',
  ];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-cdb-'));
    await mkdir(path.join(dir, 'db'));
    await writeFile(path.join(dir, 'db', 'test.cdb'), `${lines.join('\n')}\n`);
    engine = await BuiltinEngine.load(path.join(dir, 'db'), createLogger('silent'));
  });

  afterAll(async () => {
    await engine?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const scan = async (name: string, content: Buffer) => {
    await writeFile(path.join(dir, name), content);
    return engine.scan({ path: path.join(dir, name), size: content.length, name });
  };

  it('reports the signatures it matches and those it skips', () => {
    expect(engine.loadReport().types).toContainEqual(
      expect.objectContaining({
        type: 'cdb',
        loaded: 3,
        skipped: 1,
        reasons: {
          'container type not listed with its metadata (only zip, POSIX tar and 7z are)': 1,
        },
      }),
    );
  });

  it('names a zip member by its metadata, at its path, nested zips included', async () => {
    const inner = await zip([{ name: 'docs/cdbtest-invoice.pdf.exe', data: Buffer.from('hi') }]);
    const verdict = await scan('outer.zip', await zip([{ name: 'inner.zip', data: inner }]));
    expect(verdict.findings).toEqual(['content.malicious.cdb.test.name']);
    expect(verdict.detections).toEqual([
      {
        path: ['outer.zip', 'inner.zip', 'docs/cdbtest-invoice.pdf.exe'],
        finding: 'content.malicious.cdb.test.name',
        signature: 'Cdb.Test.Name',
      },
    ]);
    const clean = await scan(
      'clean.zip',
      await zip([{ name: 'cdbtest-a.pdf', data: Buffer.from('hi') }]),
    );
    expect(clean.findings).toEqual([]);
  });

  it('names an encrypted zip member it cannot read by its metadata alone', async () => {
    const data = Buffer.from('top secret');
    const verdict = await scan('secret.zip', encryptedZip([{ name: 'secret.txt', data }]));
    expect(verdict.findings).toEqual([
      'content.malicious.cdb.test.encrypted',
      'content.unscannable.encrypted',
    ]);
    const other = await scan('other.zip', encryptedZip([{ name: 'other.txt', data }]));
    expect(other.findings).toEqual(['content.unscannable.encrypted']);
  });

  it('counts tar positions over regular files, and needs the tar size to be known', async () => {
    const entries = [
      { name: 'bin/', type: 'directory' as const },
      { name: 'bin/readme.txt', data: Buffer.from('read me') },
      { name: 'bin/cdbtest.sh', data: Buffer.alloc(64, 0x23) },
    ];
    const archive = await tar(entries);
    expect((await scan('a.tar', archive)).findings).toEqual(['content.malicious.cdb.test.tar']);
    const reordered = await tar([entries[2]!, entries[1]!]);
    expect((await scan('b.tar', reordered)).findings).toEqual([]);
    // Inside a gzip the tar's size is unknown while it is read: ContainerSize cannot hold.
    expect((await scan('a.tar.gz', gzip(archive))).findings).toEqual([]);
  });
});

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { parseCdbText } from '../../scanning/signatures/cdb.js';
import {
  buildSignatureDatabase,
  skipReason,
  type SignatureDatabase,
  type TypeReport,
} from '../../scanning/signatures/database.js';
import { IgnoreList, parseIgnoreText } from '../../scanning/signatures/ign.js';
import { zip } from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const typeReport = (db: SignatureDatabase, type: string): TypeReport | undefined =>
  db.report.types.find((t) => t.type === type);

describe('database types by extension', () => {
  it('skips the PUA databases (.hdu, .hsu, .ndu) unless PUA detection is on, as clamd', () => {
    const sample = randomContent(100);
    const sources = [
      { file: 'x.hdu', text: `${md5(sample)}:100:PUA.Test.Md5\n` },
      { file: 'x.hsu', text: `${sha256(sample)}:*:PUA.Test.Sha256:73\n` },
      { file: 'x.ndu', text: 'PUA.Test.Body:0:*:4142434445\n' },
    ];
    const off = buildSignatureDatabase(sources);
    expect(off.count).toBe(0);
    for (const type of ['hdu', 'hsu', 'ndu']) {
      expect(typeReport(off, type)).toMatchObject({
        loaded: 0,
        skipped: 1,
        reasons: { 'PUA detection is off': 1 },
      });
    }
    const on = buildSignatureDatabase(sources, { detectPua: true });
    expect(on.count).toBe(3);
    expect(on.report.types.map((t) => [t.type, t.loaded, t.skipped])).toEqual([
      ['hdu', 1, 0],
      ['hsu', 1, 0],
      ['ndu', 1, 0],
    ]);
  });

  it('counts what it does not read, per type, with the reason', () => {
    const db = buildSignatureDatabase([
      { file: 'a.cbc', text: 'ClamBCafhm…bytecode…\nmore lines of the same program\n' },
      {
        file: 'a.ldb',
        text: 'Sig.One;Engine:51-255,Target:0;0;414243\n# comment\n\nSig.Two;Target:0;0;44\n',
      },
      { file: 'a.wdb', text: 'X:example.com:example.net\n' },
      { file: 'a.crb', text: 'Trusted:1:2:3\n' },
      { file: 'a.idb', text: 'Icon:group:group:hash\n' },
      { file: 'a.ftm', text: '0:0:414243:Test:CL_TYPE_ANY:CL_TYPE_TEXT\n' },
      { file: 'a.cfg', text: 'DOCUMENT:0x3:17:45\n' },
    ]);
    const reasons = Object.fromEntries(db.report.types.map((t) => [t.type, t.reasons]));
    expect(reasons).toEqual({
      cbc: { 'bytecode runs only in clamd': 1 },
      cfg: { "engine settings (dconf) for clamd's own modules": 1 },
      crb: { 'Authenticode trust rules are not checked (no certificate parser)': 1 },
      ftm: { "file type magic drives clamd's own type detection": 1 },
      idb: { 'icon signatures need a PE icon extractor': 1 },
      ldb: { 'subsignature n: the signature has no block of two fixed bytes to anchor on': 1 },
      wdb: { 'phishing URL lists apply to links in mail and HTML, which are not scanned': 1 },
    });
    expect(db.count).toBe(1); // Sig.One
  });

  it('groups unparseable lines by a reason free of the line’s own content', () => {
    const db = buildSignatureDatabase([
      {
        file: 'a.ndb',
        text: 'A:0:EP+0:41424344\nB:0:EP+12:41424344\nC:0:*:zz41\nD:0:*:41424344\n',
      },
    ]);
    expect(typeReport(db, 'ndb')).toEqual({
      type: 'ndb',
      loaded: 1,
      skipped: 3,
      reasons: {
        'offset "…" is relative to an executable\'s layout, which is not supported': 2,
        '"…" at position n is not a hex byte, ?? or a nibble wildcard': 1,
      },
      warnings: 0,
    });
    expect(skipReason('range {12-3} has its bounds reversed')).toBe(
      'range {…} has its bounds reversed',
    );
  });

  it('parses .cdb lines; loads those it can match and counts the others as skipped', () => {
    const text = [
      'Cdb.Good:CL_TYPE_ZIP:*:evil\\.exe:*:1024-2048:0:*:*:*',
      'Cdb.Levels:*:100-200:.*:*:*:*:0:*:*:51:255',
      'Cdb.Short:CL_TYPE_ZIP:*',
      'Cdb.BadType:ZIP:*:x:*:*:*:*:*:*',
      'Cdb.Rar:CL_TYPE_RAR:*:x:*:*:*:*:*:*',
      'Cdb.Nested:CL_TYPE_ZIP:*:(a+)+b:*:*:*:*:*:*',
      'Cdb.Future:CL_TYPE_ZIP:*:x:*:*:*:*:*:*:9999',
      'Cdb.SevenZipPosition:CL_TYPE_7Z:*:x:*:*:*:3:*:*',
    ].join('\n');
    const parsed = parseCdbText(text, 'a.cdb');
    expect(parsed.signatures.map((s) => s.name)).toEqual([
      'Cdb.Good',
      'Cdb.Levels',
      'Cdb.Rar',
      'Cdb.Nested',
      'Cdb.Future',
      'Cdb.SevenZipPosition',
    ]);
    expect(parsed.problems.map((p) => p.line)).toEqual([3, 4]);
    expect(parsed.signatures[0]).toMatchObject({
      containerType: 'CL_TYPE_ZIP',
      containerSize: undefined,
      fileNamePattern: 'evil\\.exe',
      size: { low: 1024, high: 2048 },
      encrypted: false,
      position: undefined,
    });
    const db = buildSignatureDatabase([{ file: 'a.cdb', text }]);
    expect(db.containerMetadata.map((s) => s.name)).toEqual(['Cdb.Good', 'Cdb.Levels']);
    expect(typeReport(db, 'cdb')).toMatchObject({ loaded: 2, skipped: 6 });
    expect(typeReport(db, 'cdb')?.reasons).toMatchObject({
      'container type not listed with its metadata (only zip, POSIX tar and 7z are)': 1,
      'file name pattern could backtrack heavily (nested or many repetitions)': 1,
      'functionality level range excludes this engine': 1,
      'FilePos of a 7z member is not known': 1,
    });
  });
});

describe('ignore lists (.ign2, .ign)', () => {
  it('reads names, name:md5 and the old db:line:name form', () => {
    const parsed = parseIgnoreText(
      `Sig.A\nSig.B:${'ab'.repeat(16)}\ndaily.ndb:12:Sig.C\n# comment\nSig.D:not-an-md5\na:b:c:d\n`,
      'x.ign2',
    );
    expect(parsed.signatures).toEqual([
      { name: 'Sig.A', line: 1 },
      { name: 'Sig.B', md5: 'ab'.repeat(16), line: 2 },
      { name: 'Sig.C', line: 3 },
    ]);
    expect(parsed.problems.map((p) => p.line)).toEqual([5, 6]);
  });

  it('compares names as clamd does, without .UNOFFICIAL or a .{…} clause', () => {
    const list = new IgnoreList();
    list.add([{ name: 'Sig.A', line: 1 }]);
    expect(list.disables('Sig.A', () => '')).toBe(true);
    expect(list.disables('Sig.A.UNOFFICIAL', () => '')).toBe(true);
    expect(list.disables('Sig.A.{x}', () => '')).toBe(true);
    expect(list.disables('Sig.AB', () => '')).toBe(false);
  });

  it('disables signatures by name, or only the line whose MD5 it names', () => {
    const lineB = 'Sig.B:0:*:4546474849';
    const lineC = 'Sig.C:0:*:5051525354';
    const db = buildSignatureDatabase([
      { file: 'local.ign2', text: `Sig.A\nSig.B:${md5(lineB)}\nSig.C:${md5('another line')}\n` },
      { file: 'b.ndb', text: `Sig.A:0:*:4142434445\n${lineB}\n${lineC}\r\n` },
      { file: 'c.hdb', text: `${md5('x')}:1:Sig.A\n` },
    ]);
    expect(db.bodies.map((b) => b.name)).toEqual(['Sig.C']);
    expect(db.hashes.count).toBe(0);
    expect(typeReport(db, 'ndb')).toMatchObject({
      loaded: 1,
      skipped: 2,
      reasons: { 'disabled by an .ign/.ign2 entry': 2 },
    });
    expect(typeReport(db, 'ign2')).toMatchObject({ loaded: 3, skipped: 0 });
  });
});

describe('allow lists (.fp, .sfp) in the built-in engine', () => {
  let dir: string;
  let engine: BuiltinEngine;
  const marked = Buffer.concat([
    randomContent(300),
    Buffer.from('ARBITER-FP-MARKER'),
    randomContent(300),
  ]);
  const otherMarked = Buffer.concat([Buffer.from('ARBITER-FP-MARKER'), randomContent(200)]);
  const write = async (name: string, data: Buffer) => {
    await writeFile(path.join(dir, name), data);
    return { path: path.join(dir, name), size: data.length, name };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-fp-'));
    const sigs = path.join(dir, 'sigs');
    await mkdir(sigs);
    await writeFile(
      path.join(sigs, 'test.ndb'),
      `Test.Marker:0:*:${Buffer.from('ARBITER-FP-MARKER').toString('hex')}\n`,
    );
    await writeFile(path.join(sigs, 'local.fp'), `${md5(eicar())}:${eicar().length}:Eicar.Known\n`);
    await writeFile(
      path.join(sigs, 'local.sfp'),
      `${sha256(marked)}:${marked.length}:Marked.Known\n${sha256(otherMarked)}:1:Wrong.Size\n`,
    );
    engine = await BuiltinEngine.load(sigs, createLogger('silent'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('calls allow-listed content clean whatever matched (MD5 in .fp, SHA-256 in .sfp)', async () => {
    expect((await engine.scan(await write('eicar.com', eicar()))).findings).toEqual([]);
    expect((await engine.scan(await write('marked.bin', marked))).findings).toEqual([]);
  });

  it('needs the size to match too', async () => {
    const verdict = await engine.scan(await write('other.bin', otherMarked));
    expect(verdict.findings).toEqual(['content.malicious.test.marker']);
  });

  it('applies to an archive member, and to everything inside an allow-listed archive', async () => {
    const mixed = await zip([
      { name: 'eicar.com', data: eicar() },
      { name: 'other.bin', data: otherMarked },
    ]);
    const verdict = await engine.scan(await write('mixed.zip', mixed));
    expect(verdict.findings).toEqual(['content.malicious.test.marker']);
    expect(verdict.detections?.map((d) => d.path.join('/'))).toEqual(['mixed.zip/other.bin']);

    const archive = await zip([{ name: 'other.bin', data: otherMarked }]);
    const listed = path.join(dir, 'sigs', 'archive.fp');
    await writeFile(listed, `${md5(archive)}:${archive.length}:Archive.Known\n`);
    try {
      await engine.reload();
      expect((await engine.scan(await write('known.zip', archive))).findings).toEqual([]);
    } finally {
      await rm(listed);
      await engine.reload();
    }
    expect((await engine.scan(await write('known.zip', archive))).findings).toEqual([
      'content.malicious.test.marker',
    ]);
  });

  it('reports the allow lists as loaded per type', () => {
    const types = engine.loadReport().types.map((t) => [t.type, t.loaded, t.skipped]);
    expect(types).toEqual([
      ['fp', 1, 0],
      ['ndb', 1, 0],
      ['sfp', 2, 0],
    ]);
  });
});

describe('the load log', () => {
  it('has one info line per type, with the skip reasons counted', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-log-'));
    try {
      await writeFile(path.join(dir, 'a.ndb'), 'A:0:*:4142434445\nB:0:EP+0:4142434445\n');
      await writeFile(path.join(dir, 'a.idb'), 'Icon:group:group:hash\n');
      const lines: Array<{ msg: string; level: number }> = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean))
            lines.push(JSON.parse(line) as { msg: string; level: number });
          done();
        },
      });
      await BuiltinEngine.load(dir, createLogger('info', 'arbiter', sink));
      const typeLines = lines.filter((l) => l.msg.startsWith('signatures ')).map((l) => l.msg);
      expect(typeLines).toEqual([
        'signatures idb: 0 loaded, 1 skipped (icon signatures need a PE icon extractor: 1)',
        'signatures ndb: 1 loaded, 1 skipped (offset "…" is relative to an executable\'s layout, which is not supported: 1)',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

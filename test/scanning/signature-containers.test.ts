import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ContainerError, readContainer } from '../../scanning/signatures/container.js';
import { loadSignatureDatabase, type LoadOptions } from '../../scanning/signatures/database.js';
import {
  CLAMAV_PUBLIC_KEY,
  decodeSignatureNumber,
  encodeSignatureNumber,
  verifyDigitalSignature,
} from '../../scanning/signatures/dsig.js';
import {
  buildContainer,
  generateSigningKey,
  tarMember,
  tarOf,
  type TestSigningKey,
} from '../support/cvd-builder.js';

const hex = (text: string) => Buffer.from(text).toString('hex');
const marker = (name: string) => `${name}:0:*:${hex(`MARKER-${name}`)}\n`;

describe('ClamAV digital signatures (dsig)', () => {
  it('accepts a header ClamAV signed with its own key, and nothing else', () => {
    // The MD5 and dsig of ClamAV's freshclam test database test-1.cvd (22 Jun 2021, version 1).
    const md5 = 'a4ab60ae1c1c4e8f787459102dcfd90b';
    const dsig =
      'ttQeKzTSL5iF5/IWsA8weveL64WDVkhgfbm/ABaW3xAWalVKcAp65Q/cWmhkhKFfHSLIXNfCzTLbhfTeISKpfWAheL7NZk+t6nQ8NEFBBst6CQcoFTwwyVLwwTSN38VYLW/vZFYphnkBcCotyo++NYU5VQ9JUA6dFQXxaU00b6c';
    expect(verifyDigitalSignature(md5, dsig, CLAMAV_PUBLIC_KEY)).toBe(true);
    expect(verifyDigitalSignature(md5.replace('a4', 'a5'), dsig, CLAMAV_PUBLIC_KEY)).toBe(false);
    expect(verifyDigitalSignature(md5, `b${dsig.slice(1)}`, CLAMAV_PUBLIC_KEY)).toBe(false);
    expect(
      verifyDigitalSignature(md5, `${dsig.slice(0, 50)}-${dsig.slice(51)}`, CLAMAV_PUBLIC_KEY),
    ).toBe(false);
    expect(verifyDigitalSignature(md5, '', CLAMAV_PUBLIC_KEY)).toBe(false);
  });

  it('writes numbers in 6-bit digits, least significant first', () => {
    expect(decodeSignatureNumber('ba')).toBe(1n);
    expect(decodeSignatureNumber('ab')).toBe(64n);
    expect(decodeSignatureNumber('/')).toBe(63n);
    expect(decodeSignatureNumber('a=')).toBeUndefined();
    for (const n of [0n, 1n, 63n, 64n, 2n ** 1000n + 12345n]) {
      expect(decodeSignatureNumber(encodeSignatureNumber(n))).toBe(n);
    }
  });

  it('checks signatures made with a generated key pair', () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const body = Buffer.from('anything');
    const container = buildContainer({ 'a.ndb': marker('A') }, { version: 1, key, body });
    const header = container.toString('latin1', 0, 512).trimEnd().split(':');
    const [md5, dsig] = [header[5]!, header[6]!];
    expect(verifyDigitalSignature(md5, dsig, key.publicKey)).toBe(true);
    expect(verifyDigitalSignature(md5, dsig, other.publicKey)).toBe(false);
    expect(verifyDigitalSignature(md5, dsig, CLAMAV_PUBLIC_KEY)).toBe(false);
  });
});

describe('ClamAV containers in the signature folder', () => {
  let root: string;
  let key: TestSigningKey;
  let options: LoadOptions;
  let count = 0;

  /** A fresh signature folder holding the given files. */
  const folder = async (files: Record<string, Buffer | string>): Promise<string> => {
    const dir = path.join(root, `db${(count += 1)}`);
    await mkdir(dir);
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, name), data);
    return dir;
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'arbiter-cvd-'));
    key = generateSigningKey();
    options = { publicKey: key.publicKey };
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('loads a signed .cvd: every member through the parser of its type', async () => {
    const cvd = buildContainer(
      {
        'daily.ndb': marker('Cvd.Body'),
        'daily.hdb': `${createHash('md5').update('x').digest('hex')}:1:Cvd.Hash\n`,
        'daily.ldb': 'Cvd.Logical;Target:0;0;414243\n',
        'daily.info': 'ClamAV-VDB:…\ndaily.ndb:12:abc\n',
      },
      { version: 27000, key },
    );
    const db = await loadSignatureDatabase(await folder({ 'daily.cvd': cvd }), options);
    expect(db.bodies.map((b) => b.name)).toEqual(['Cvd.Body']);
    expect(db.hashes.count).toBe(1);
    expect(db.files).toEqual(['daily.cvd/daily.ndb', 'daily.cvd/daily.hdb', 'daily.cvd/daily.ldb']);
    expect(db.report.containers).toEqual([
      expect.objectContaining({
        file: 'daily.cvd',
        database: 'daily',
        version: 27000,
        loaded: true,
        verification: 'signed',
        signatures: 3,
      }),
    ]);
    expect(db.report.types.map((t) => [t.type, t.loaded, t.skipped])).toEqual([
      ['hdb', 1, 0],
      ['ldb', 1, 0],
      ['ndb', 1, 0],
    ]);
  });

  it('refuses a .cvd signed by another key (ClamAV’s own by default)', async () => {
    const cvd = buildContainer({ 'daily.ndb': marker('A') }, { version: 1, key });
    const dir = await folder({ 'daily.cvd': cvd });
    const db = await loadSignatureDatabase(dir);
    expect(db.count).toBe(0);
    expect(db.report.containers[0]?.loaded).toBe(false);
    expect(db.report.containers[0]?.error).toMatch(/digital signature does not match/);
    const forged = buildContainer(
      { 'daily.ndb': marker('A') },
      { version: 1, key: generateSigningKey() },
    );
    const refused = await loadSignatureDatabase(await folder({ 'daily.cvd': forged }), options);
    expect(refused.report.containers[0]?.loaded).toBe(false);
  });

  it('refuses a .cvd whose body does not have the MD5 its header names', async () => {
    const good = gzipSync(tarOf({ 'daily.ndb': marker('A') }));
    const md5 = createHash('md5').update(good).digest('hex');
    const tampered = gzipSync(tarOf({ 'daily.ndb': marker('B') }));
    const cvd = buildContainer({}, { version: 1, key, body: tampered, md5 });
    const db = await loadSignatureDatabase(await folder({ 'daily.cvd': cvd }), options);
    expect(db.count).toBe(0);
    expect(db.report.containers[0]?.loaded).toBe(false);
    expect(db.report.containers[0]?.error).toMatch(
      /damaged: the MD5 of its content is [0-9a-f]{32}/,
    );
  });

  it('refuses a truncated container and loads nothing of it', async () => {
    const cvd = buildContainer(
      { 'daily.ndb': marker('A').repeat(200), 'daily.hdb': '' },
      { version: 1, key },
    );
    for (const length of [0, 100, 511, 512, 530, cvd.length - 30, cvd.length - 1]) {
      const db = await loadSignatureDatabase(
        await folder({ 'daily.cvd': cvd.subarray(0, length) }),
        options,
      );
      expect(db.count, `cut at ${length}`).toBe(0);
      expect(db.report.containers[0]?.loaded, `cut at ${length}`).toBe(false);
    }
  });

  it('loads a .cud unsigned but checks its MD5', async () => {
    const cud = buildContainer({ 'custom.ndb': marker('Cud') }, { version: 2 });
    const db = await loadSignatureDatabase(await folder({ 'custom.cud': cud }), options);
    expect(db.bodies.map((b) => b.name)).toEqual(['Cud']);
    expect(db.report.containers[0]).toMatchObject({ loaded: true, verification: 'digest' });
    const damaged = buildContainer(
      { 'custom.ndb': marker('Cud') },
      { version: 2, md5: '0'.repeat(32) },
    );
    const refused = await loadSignatureDatabase(await folder({ 'custom.cud': damaged }), options);
    expect(refused.report.containers[0]?.loaded).toBe(false);
  });

  it('reads a .cld without checks: its header is the one of the .cvd it was patched from', async () => {
    const cld = buildContainer(
      { 'daily.ndb': marker('Cld') },
      { version: 5, md5: 'f'.repeat(32), key },
    );
    const db = await loadSignatureDatabase(await folder({ 'daily.cld': cld }), options);
    expect(db.bodies.map((b) => b.name)).toEqual(['Cld']);
    expect(db.report.containers[0]).toMatchObject({ loaded: true, verification: 'unchecked' });
  });

  it('of a .cvd and a .cld of the same database, reads the newer (the .cld on a tie)', async () => {
    const cvd = (version: number) =>
      buildContainer({ 'daily.ndb': marker(`Cvd.${version}`) }, { version, key });
    const cld = (version: number) =>
      buildContainer({ 'daily.ndb': marker(`Cld.${version}`) }, { version });
    const cases: Array<[number, number, string]> = [
      [3, 5, 'Cld.5'],
      [6, 5, 'Cvd.6'],
      [5, 5, 'Cld.5'],
    ];
    for (const [cvdVersion, cldVersion, expected] of cases) {
      const dir = await folder({ 'daily.cvd': cvd(cvdVersion), 'daily.cld': cld(cldVersion) });
      const db = await loadSignatureDatabase(dir, options);
      expect(db.bodies.map((b) => b.name)).toEqual([expected]);
      const left = db.report.containers.find((c) => !c.loaded);
      expect(left?.error).toMatch(/^superseded by daily\.c[lv]d/);
    }
  });

  it('reads plain files and containers of one folder together, ignore lists first', async () => {
    const daily = buildContainer(
      { 'daily.ign2': 'Main.Ignored\nPlain.Ignored\n', 'daily.ndb': marker('Daily.Kept') },
      { version: 10, key },
    );
    const main = buildContainer(
      { 'main.ndb': marker('Main.Ignored') + marker('Main.Kept') },
      { version: 60, key },
    );
    const dir = await folder({
      'daily.cvd': daily,
      'main.cvd': main,
      'local.ndb': marker('Plain.Ignored') + marker('Plain.Kept'),
      'local.ign2': 'Daily.Kept.Not\n',
    });
    const db = await loadSignatureDatabase(dir, options);
    expect(db.bodies.map((b) => b.name).sort()).toEqual(['Daily.Kept', 'Main.Kept', 'Plain.Kept']);
    // Entries loaded: daily's two ignore entries and its body signature.
    expect(db.report.containers.map((c) => [c.file, c.loaded, c.signatures])).toEqual([
      ['daily.cvd', true, 3],
      ['main.cvd', true, 1],
    ]);
    expect(db.report.types.find((t) => t.type === 'ndb')).toMatchObject({
      loaded: 3,
      skipped: 2,
      reasons: { 'disabled by an .ign/.ign2 entry': 2 },
    });
  });

  it('drops everything a failing container held, its ignore entries too', async () => {
    const bad = buildContainer(
      { 'daily.ign2': 'Plain.Sig\n', 'daily.ndb': marker('Daily.Sig') },
      { version: 10, key: generateSigningKey() },
    );
    const dir = await folder({ 'daily.cvd': bad, 'local.ndb': marker('Plain.Sig') });
    const db = await loadSignatureDatabase(dir, options);
    expect(db.bodies.map((b) => b.name)).toEqual(['Plain.Sig']);
    expect(db.report.types.map((t) => t.type)).toEqual(['ndb']);
  });

  it('reads a plain tar body (starting with COPYING) as libclamav does', async () => {
    const cud = buildContainer({}, { version: 1, body: tarOf({ 'x.ndb': marker('Plain.Tar') }) });
    const db = await loadSignatureDatabase(await folder({ 'x.cud': cud }), options);
    expect(db.bodies.map((b) => b.name)).toEqual(['Plain.Tar']);
  });

  it('refuses members with a path or that are not regular files', async () => {
    const withPath = Buffer.concat([tarMember('sub/x.ndb', marker('A')), Buffer.alloc(1024)]);
    const directory = Buffer.concat([tarMember('x', '', '5'), Buffer.alloc(1024)]);
    for (const [body, message] of [
      [withPath, /has a path/],
      [directory, /not a regular file/],
    ] as const) {
      const file = path.join(await folder({}), 'x.cud');
      await writeFile(file, buildContainer({}, { version: 1, body: gzipSync(body) }));
      await expect(
        readContainer(file, { publicKey: key.publicKey, wants: () => true, onMember: () => {} }),
      ).rejects.toThrow(message);
    }
  });

  it('lets the built-in engine detect with a container’s signatures and report it', async () => {
    const cvd = buildContainer({ 'daily.ndb': marker('Engine.Cvd') }, { version: 7, key });
    const dir = await folder({ 'daily.cvd': cvd });
    const engine = await BuiltinEngine.load(dir, createLogger('silent'), { signatures: options });
    const sample = path.join(root, 'sample.bin');
    const content = Buffer.from('....MARKER-Engine.Cvd....');
    await writeFile(sample, content);
    const verdict = await engine.scan({ path: sample, size: content.length });
    expect(verdict.findings).toEqual(['content.malicious.engine.cvd']);
    expect(engine.loadReport().containers[0]).toMatchObject({ file: 'daily.cvd', version: 7 });
  });

  it('survives damaged containers: no throw but ContainerError, no hang (bounded fuzz)', async () => {
    const files = {
      'daily.ndb': marker('Fuzz.A').repeat(50),
      'daily.hsb': `${'a'.repeat(64)}:*:Fuzz.H:73\n`,
      'daily.ign2': 'Nothing\n',
    };
    const seeds = [
      buildContainer(files, { version: 3, key }),
      buildContainer(files, { version: 3, body: tarOf(files) }),
    ];
    let state = 12345;
    const random = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const dir = await folder({});
    const deadline = Date.now() + 8_000;
    let runs = 0;
    while (Date.now() < deadline && runs < 400) {
      runs += 1;
      const seed = seeds[random(seeds.length)]!;
      const data = Buffer.from(seed);
      const mutations = 1 + random(8);
      for (let i = 0; i < mutations; i += 1) {
        data[512 + random(data.length - 512)] = random(256);
      }
      const cut = random(3) === 0 ? 512 + random(data.length - 512) : data.length;
      const file = path.join(dir, random(2) === 0 ? 'daily.cvd' : 'daily.cud');
      await writeFile(file, data.subarray(0, cut));
      const started = Date.now();
      try {
        await readContainer(file, {
          publicKey: key.publicKey,
          wants: () => true,
          onMember: () => {},
        });
      } catch (error) {
        expect(error).toBeInstanceOf(ContainerError);
      }
      expect(Date.now() - started).toBeLessThan(2_000);
      await rm(file);
    }
    expect(runs).toBeGreaterThan(20);
  }, 20_000);
});

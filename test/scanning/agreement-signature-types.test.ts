import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { buildUnsignedDatabase } from '../support/clamav-databases.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';

const digest = (algorithm: string, data: Buffer | string) =>
  createHash(algorithm).update(data).digest('hex');

/** Content carrying `marker` between filler, and the `.ndb` line that detects it. */
function marked(name: string, marker: string): { line: string; sample: Buffer } {
  const bytes = Buffer.from(marker, 'latin1');
  return {
    line: `${name}:0:*:${bytes.toString('hex')}`,
    sample: Buffer.concat([Buffer.alloc(300, 0x2e), bytes, Buffer.alloc(300, 0x2e)]),
  };
}

/**
 * The types the built-in engine reads besides hashes and body signatures, given to it and to a
 * real clamd in the same folder: allow lists (`.fp`, `.sfp`), ignore lists (`.ign2`) and a
 * `.cud` container built by sigtool. Both engines must call each sample the same.
 */
describe('the built-in engine and clamd agree on allow lists, ignore lists and .cud files', () => {
  let dir: string;
  let clamd: TestClamd;
  let builtin: BuiltinEngine;
  let clamdEngine: ClamdEngine;

  const kept = marked('Agree.Kept', 'arbiter-agree-kept-7c1d');
  const byFp = marked('Agree.ByFp', 'arbiter-agree-fp-2b9e');
  const bySfp = marked('Agree.BySfp', 'arbiter-agree-sfp-81aa');
  const sizeMismatch = marked('Agree.SizeMismatch', 'arbiter-agree-size-40f2');
  const ignored = marked('Agree.Ignored', 'arbiter-agree-ign-5e07');
  const ignoredByMd5 = marked('Agree.IgnoredByMd5', 'arbiter-agree-ignmd5-c3a1');
  const staleMd5 = marked('Agree.StaleMd5', 'arbiter-agree-stale-9d60');
  const inCud = marked('Agree.InCud', 'arbiter-agree-cud-12fe');
  const samples = { kept, byFp, bySfp, sizeMismatch, ignored, ignoredByMd5, staleMd5, inCud };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-agree-types-'));
    const db = path.join(dir, 'db');
    await mkdir(db);
    const ndb = [kept, byFp, bySfp, sizeMismatch, ignored, ignoredByMd5, staleMd5].map(
      (s) => s.line,
    );
    await writeFile(path.join(db, 'agree.ndb'), `${ndb.join('\n')}\n`);
    await writeFile(
      path.join(db, 'agree.fp'),
      `${digest('md5', byFp.sample)}:${byFp.sample.length}:Agree.Fp.Entry\n`,
    );
    await writeFile(
      path.join(db, 'agree.sfp'),
      [
        `${digest('sha256', bySfp.sample)}:${bySfp.sample.length}:Agree.Sfp.Entry`,
        `${digest('sha256', sizeMismatch.sample)}:${sizeMismatch.sample.length + 1}:Agree.Sfp.Wrong`,
      ].join('\n') + '\n',
    );
    await writeFile(
      path.join(db, 'agree.ign2'),
      [
        'Agree.Ignored',
        `Agree.IgnoredByMd5:${digest('md5', ignoredByMd5.line)}`,
        `Agree.StaleMd5:${digest('md5', `${staleMd5.line} (an older version)`)}`,
      ].join('\n') + '\n',
    );
    await writeFile(
      path.join(db, 'custom.cud'),
      await buildUnsignedDatabase('custom', 3, { 'custom.ndb': `${inCud.line}\n` }),
    );
    for (const [name, { sample }] of Object.entries(samples))
      await writeFile(path.join(dir, name), sample);
    const logger = createLogger('silent');
    [clamd, builtin] = await Promise.all([
      startTestClamd({ databaseDir: db }),
      BuiltinEngine.load(db, logger),
    ]);
    clamdEngine = await ClamdEngine.create(
      {
        address: clamd.unixAddress,
        timeoutMs: 20_000,
        poolSize: 2,
        databaseDir: clamd.databaseDir,
      },
      logger,
    );
  }, 60_000);

  afterAll(async () => {
    await clamdEngine?.close();
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const scanBoth = async (name: keyof typeof samples) => {
    const target = { path: path.join(dir, name), size: samples[name].sample.length, name };
    const [fromBuiltin, fromClamd] = await Promise.all([
      builtin.scan(target),
      clamdEngine.scan(target),
    ]);
    return { builtin: fromBuiltin, clamd: fromClamd };
  };
  const findings = (verdicts: { builtin: EngineVerdict; clamd: EngineVerdict }) => [
    verdicts.builtin.findings,
    verdicts.clamd.findings,
  ];

  it('both detect a signature nothing disables', async () => {
    expect(findings(await scanBoth('kept'))).toEqual([
      ['content.malicious.agree.kept'],
      ['content.malicious.agree.kept'],
    ]);
  });

  it('both call content listed in .fp (MD5) or .sfp (SHA-256) clean, if the size matches', async () => {
    expect(findings(await scanBoth('byFp'))).toEqual([[], []]);
    expect(findings(await scanBoth('bySfp'))).toEqual([[], []]);
    expect(findings(await scanBoth('sizeMismatch'))).toEqual([
      ['content.malicious.agree.sizemismatch'],
      ['content.malicious.agree.sizemismatch'],
    ]);
  });

  it('both drop signatures an .ign2 names, by name or by the MD5 of their line', async () => {
    expect(findings(await scanBoth('ignored'))).toEqual([[], []]);
    expect(findings(await scanBoth('ignoredByMd5'))).toEqual([[], []]);
    expect(findings(await scanBoth('staleMd5'))).toEqual([
      ['content.malicious.agree.stalemd5'],
      ['content.malicious.agree.stalemd5'],
    ]);
  });

  it('both load the same .cud container made by sigtool', async () => {
    expect(findings(await scanBoth('inCud'))).toEqual([
      ['content.malicious.agree.incud'],
      ['content.malicious.agree.incud'],
    ]);
    const listed = (engine: { loadReport(): { containers: object[] } | undefined }) =>
      engine.loadReport()?.containers;
    expect(listed(builtin)).toEqual([
      expect.objectContaining({ file: 'custom.cud', version: 3, loaded: true, signatures: 1 }),
    ]);
    // For clamd, what its folder's headers say (clamd keeps its own counts).
    expect(listed(clamdEngine)).toEqual([
      expect.objectContaining({ file: 'custom.cud', version: 3, declaredSignatures: 1 }),
    ]);
  });
});

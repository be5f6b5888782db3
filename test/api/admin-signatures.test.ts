import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignaturesReportSchema } from '../../api/response-schemas.js';
import { buildContainer } from '../support/cvd-builder.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../support/service.js';

const hex = (text: string) => Buffer.from(text).toString('hex');

describe('GET /admin/signatures', () => {
  let dir: string;
  let service: TestService;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-admin-sigs-'));
    await writeFile(
      path.join(dir, 'local.ndb'),
      `Local.One:0:*:${hex('local-one')}\nLocal.Exe:0:EP+0:${hex('entry')}\n`,
    );
    await writeFile(path.join(dir, 'local.idb'), 'Icon.One:group1:group2:0123456789abcdef\n');
    await writeFile(
      path.join(dir, 'custom.cud'),
      buildContainer({ 'custom.hsb': `${'a'.repeat(64)}:*:Custom.Hash:73\n` }, { version: 4 }),
    );
    // Signed by no key the service trusts: reported, not loaded.
    await writeFile(
      path.join(dir, 'daily.cvd'),
      buildContainer({ 'daily.ndb': `Daily.One:0:*:${hex('daily')}\n` }, { version: 9 }),
    );
    service = await startTestService({ ARBITER_SIGNATURES_DIR: dir, ARBITER_ENGINES: 'builtin' });
  });
  afterAll(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const report = (authorization?: string) =>
    fetch(`${service.url}/admin/signatures`, {
      headers: authorization ? { authorization } : {},
    });

  it('needs the admin token', async () => {
    expect((await report()).status).toBe(401);
    expect((await report('Bearer wrong-token')).status).toBe(401);
  });

  it('answers with each engine’s per-type counts and containers, as documented', async () => {
    const response = await report(`Bearer ${ADMIN_TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = SignaturesReportSchema.parse(await response.json());
    expect(body.engines).toHaveLength(1);
    const builtin = body.engines[0]!;
    expect(builtin).toMatchObject({ name: 'builtin', signatures: 2, problems: 1 });
    expect(builtin.types).toEqual([
      { type: 'hsb', loaded: 1, skipped: 0, reasons: {}, warnings: 0 },
      {
        type: 'idb',
        loaded: 0,
        skipped: 1,
        reasons: { 'icon signatures need a PE icon extractor': 1 },
        warnings: 0,
      },
      {
        type: 'ndb',
        loaded: 1,
        skipped: 1,
        reasons: {
          'offset "…" is relative to an executable\'s layout, which is not supported': 1,
        },
        warnings: 0,
      },
    ]);
    expect(builtin.containers?.map((c) => [c.file, c.version, c.loaded, c.verification])).toEqual([
      ['daily.cvd', 9, false, undefined],
      ['custom.cud', 4, true, 'digest'],
    ]);
    expect(builtin.containers?.[0]?.error).toMatch(/digital signature does not match/);
  });

  it('exports the same counts as metrics, replaced at each reload', async () => {
    const metrics = async () => (await fetch(`${service.url}/metrics`)).text();
    let text = await metrics();
    expect(text).toContain('arbiter_signatures_loaded{engine="builtin",type="ndb"} 1');
    expect(text).toContain(
      'arbiter_signatures_skipped{engine="builtin",type="idb",reason="icon signatures need a PE icon extractor"} 1',
    );
    await rm(path.join(dir, 'local.idb'));
    const reloaded = await fetch(`${service.url}/admin/signatures/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reloaded.status).toBe(200);
    text = await metrics();
    expect(text).toContain('arbiter_signatures_loaded{engine="builtin",type="hsb"} 1');
    expect(text).not.toContain('type="ldb"');
  });
});

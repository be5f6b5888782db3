import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { fileForm } from '../support/content.js';
import {
  ADMIN_TOKEN,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

const marker = Buffer.from('arbiter-reload-test-marker-5f0c1e', 'latin1');
const sample = Buffer.concat([Buffer.alloc(1000, 0x2e), marker, Buffer.alloc(1000, 0x2e)]);

describe('reloading signatures', () => {
  let dir: string;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-reload-'));
    await writeFile(path.join(dir, 'start.ndb'), 'Start.Only:0:*:000102030405\n');
    service = await startTestService({ ARBITER_SIGNATURES_DIR: dir, ARBITER_ENGINES: 'builtin' });
    tenant = await service.createTenant('reload');
  });
  afterAll(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = async () => {
    const response = await fetch(`${service.url}/v2.2/files`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: fileForm(sample),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { findings: string[] }).findings;
  };
  const reload = (authorization = `Bearer ${ADMIN_TOKEN}`) =>
    fetch(`${service.url}/admin/signatures/reload`, { method: 'POST', headers: { authorization } });

  it('needs the admin token', async () => {
    expect((await reload('Bearer wrong-token')).status).toBe(401);
    expect((await fetch(`${service.url}/admin/signatures/reload`, { method: 'POST' })).status).toBe(
      401,
    );
  });

  it('picks up a new signature file: a file that was clean is then infected', async () => {
    expect(await upload()).toEqual([]);
    await writeFile(
      path.join(dir, 'added.ndb'),
      [
        `Test.Reload.Marker:0:*:${marker.toString('hex')}`,
        'Broken.Line:0:*:not-hex',
        'Other.Broken',
      ].join('\n'),
    );
    const response = await reload();
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      engines: { name: string; version: string; signatures: number; problems: number }[];
    };
    expect(body.engines.map((e) => [e.name, e.signatures, e.problems])).toEqual([
      ['builtin', 2, 2],
    ]);
    expect(body.engines[0]?.version).toMatch(
      /^arbiter-builtin\/\S+ db:[0-9a-f]{12} \(2 signatures\)$/,
    );
    expect(await upload()).toEqual(['content.malicious.test.reload.marker']);
  });
});

describe('reloading the built-in engine', () => {
  it('swaps the database at once while sessions already open keep the old one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-reload-'));
    try {
      await writeFile(path.join(dir, 'a.ndb'), `Old.Marker:0:*:${marker.toString('hex')}\n`);
      const engine = await BuiltinEngine.load(dir, createLogger('silent'));
      const before = engine.version;
      const inFlight = engine.scanner.session(sample.length);
      inFlight.update(sample.subarray(0, 500));
      await writeFile(path.join(dir, 'a.ndb'), `New.Marker:0:*:${marker.toString('hex')}\n`);
      await engine.reload();
      inFlight.update(sample.subarray(500));
      expect(inFlight.finish()).toEqual(['Old.Marker']);
      expect(engine.version).not.toBe(before);
      const fresh = engine.scanner.session(sample.length);
      fresh.update(sample);
      expect(fresh.finish()).toEqual(['New.Marker']);
      expect(engine.describe()).toMatchObject({ name: 'builtin', signatures: 1, problems: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

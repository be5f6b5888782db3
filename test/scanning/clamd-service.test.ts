import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR } from '../../scanning/eicar.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { fileForm, sha1 } from '../support/content.js';
import {
  BODY_SIGNATURES,
  SIGNATURES_DIR,
  SeededRandom,
  hashSample,
  matchBytes,
} from '../support/corpus.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/** The whole service with both engines: the built-in one in-process and a real clamd. */
describe('scanning with builtin and clamd together', () => {
  let clamd: TestClamd;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    clamd = await startTestClamd();
    service = await startTestService({
      ARBITER_ENGINES: 'builtin,clamd',
      CLAMD_ADDRESS: clamd.unixAddress,
      CLAMD_TIMEOUT_MS: '5000',
      ARBITER_SIGNATURES_DIR: SIGNATURES_DIR,
    });
    tenant = await service.createTenant('two-engines');
  });
  afterAll(async () => {
    await service?.stop();
    await clamd?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}/v2.2${path}`, {
      ...init,
      headers: { authorization: tenant.auth, ...(init.headers ?? {}) },
    });
  const traceOf = async (id: string) =>
    (
      (await (await api(`/files/${id}/trace`)).json()) as { events: Array<{ message: string }> }
    ).events.map((e) => e.message);

  interface Result {
    id: string;
    findings: string[];
    checksum: string;
    engines: Array<{ name: string; version: string }>;
    error?: string;
  }

  it('runs both engines on an upload, unites their findings and records both versions', async () => {
    const sample = hashSample('md5');
    const response = await api('/files', { method: 'POST', body: fileForm(sample) });
    expect(response.status).toBe(201);
    const result = (await response.json()) as Result;
    expect(result.findings).toEqual(['content.malicious.arbiter.test.md5-hdb']);
    expect(result.checksum).toBe(sha1(sample));
    expect(result.engines.map((e) => e.name).sort()).toEqual(['builtin', 'clamd']);
    const clamdVersion = result.engines.find((e) => e.name === 'clamd')?.version;
    expect(clamdVersion).toMatch(/^ClamAV \d+\.\d+\.\d+/);
    const trace = await traceOf(result.id);
    expect(
      trace.some((m) =>
        /^scanned by builtin \(.+\): content\.malicious\.arbiter\.test\.md5-hdb$/.test(m),
      ),
    ).toBe(true);
    expect(trace).toContain(
      `scanned by clamd (${clamdVersion}): content.malicious.arbiter.test.md5-hdb`,
    );
  });

  it('reports EICAR once, under its one name, whichever engines found it', async () => {
    const response = await api('/files', {
      method: 'POST',
      body: fileForm(Buffer.concat([EICAR, Buffer.from('\n')])),
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as Result).findings).toEqual([EICAR_FINDING]);
  });

  it('scans async uploads with both engines', async () => {
    const signature = BODY_SIGNATURES.find((s) => s.name === 'Arbiter.Test.Combined-NDB')!;
    const rng = new SeededRandom('service-async');
    const content = Buffer.concat([
      rng.bytes(70_000),
      matchBytes(signature.tokens, rng),
      rng.bytes(1000),
    ]);
    const response = await api('/files/async', { method: 'POST', body: fileForm(content) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await waitFor(
      async () => {
        const poll = await api(`/files/${id}`);
        return poll.status === 200 ? ((await poll.json()) as Result) : undefined;
      },
      { what: `result ${id}` },
    );
    // clamd finds the body pattern; the built-in engine either finds it too or nothing: the union is the same.
    expect(result.findings).toEqual(['content.malicious.arbiter.test.combined-ndb']);
    expect(result.engines.map((e) => e.name).sort()).toEqual(['builtin', 'clamd']);
    const trace = await traceOf(id);
    expect(trace.filter((m) => m.startsWith('scanned by ')).length).toBe(2);
  });

  it('never answers clean while clamd is down: not ready, and a sync scan is a 503 error', async () => {
    await clamd.kill();
    try {
      const ready = await fetch(`${service.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: Record<string, string> }).checks.engines).toMatch(
        /^unreachable: clamd: could not connect/,
      );

      const response = await api('/files', {
        method: 'POST',
        body: fileForm(new SeededRandom('down').bytes(5000)),
      });
      expect(response.status).toBe(503);
      const body = (await response.json()) as { error: string; id: string };
      expect(body.error).toMatch(/could not be scanned: clamd: could not connect to clamd/);
      const stored = (await (await api(`/files/${body.id}`)).json()) as Result;
      expect(stored.error).toBe(body.error);
      expect(stored.findings).toEqual([]);
      const trace = await traceOf(body.id);
      expect(trace.some((m) => m.startsWith('engine failed: clamd: could not connect'))).toBe(true);
    } finally {
      await clamd.start();
    }
    await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 200, {
      what: 'readyz to recover',
    });
    const response = await api('/files', { method: 'POST', body: fileForm(EICAR) });
    expect(response.status).toBe(201);
    expect(((await response.json()) as Result).findings).toEqual([EICAR_FINDING]);
  });
});

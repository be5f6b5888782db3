import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR } from '../../scanning/eicar.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { fileForm, sha1 } from '../support/content.js';
import {
  BODY_SIGNATURES,
  MIB,
  SIGNATURES_DIR,
  SeededRandom,
  hashSample,
  makeZip,
  matchBytes,
  nestedZip,
} from '../support/corpus.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The whole service with both engines: the built-in one in-process and a real clamd. Scans get
 * two attempts 100 ms apart, so failures end in an error result quickly.
 */
describe('scanning with builtin and clamd together', () => {
  let clamd: TestClamd;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let nested: Buffer;

  beforeAll(async () => {
    // clamd refuses streams over 4 MiB (the service allows 200 MB): a permanent engine error.
    clamd = await startTestClamd({ streamMaxLength: '4M' });
    service = await startTestService({
      ARBITER_ENGINES: 'builtin,clamd',
      CLAMD_ADDRESS: clamd.unixAddress,
      CLAMD_TIMEOUT_MS: '5000',
      ARBITER_SIGNATURES_DIR: SIGNATURES_DIR,
      ARBITER_SCAN_ATTEMPTS: '2',
      ARBITER_SCAN_RETRY_BASE_MS: '100',
    });
    tenant = await service.createTenant('two-engines');
    nested = await nestedZip('eicar.com', Buffer.from(EICAR), 3);
    content = await startHttpServer({ '/downloads/nested.zip': nested });
  });
  afterAll(async () => {
    await content?.close();
    await service?.stop();
    await clamd?.stop();
  });

  const api = (path: string, init: RequestInit = {}) => scaniiRequest(service, tenant, path, init);
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

  const resultOf = (id: string, timeoutMs = 15_000) =>
    pollScanResult<Result>(service, tenant, id, timeoutMs);

  /** Both engines found EICAR; the built-in one names the member inside the nested zips. */
  const expectNestedEicar = async (result: Result, top: string) => {
    expect(result.error).toBeUndefined();
    expect(result.findings).toEqual([EICAR_FINDING]);
    expect(result.checksum).toBe(sha1(nested));
    expect(result.engines.map((e) => e.name).sort()).toEqual(['builtin', 'clamd']);
    const clamdVersion = result.engines.find((e) => e.name === 'clamd')?.version;
    const builtinVersion = result.engines.find((e) => e.name === 'builtin')?.version;
    const trace = await traceOf(result.id);
    expect(trace).toContain(
      `scanned by builtin (${builtinVersion}): ${EICAR_FINDING} in ${top}/level-2.zip/level-1.zip/eicar.com`,
    );
    expect(trace).toContain(`scanned by clamd (${clamdVersion}): ${EICAR_FINDING}`);
  };

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

  it('finds EICAR in a nested zip upload with both engines and names the member path', async () => {
    const response = await api('/files', {
      method: 'POST',
      body: fileForm(nested, {}, 'upload.zip'),
    });
    expect(response.status).toBe(201);
    await expectNestedEicar((await response.json()) as Result, 'upload.zip');
  });

  it('finds EICAR in a nested zip fetched from a location with both engines', async () => {
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ location: `${content.url}/downloads/nested.zip` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await expectNestedEicar(await resultOf(id), 'nested.zip');
  });

  it('unites the findings of both engines: what only one of them reports is kept', async () => {
    // A zip holding EICAR and a sample of the .hsb hashes: clamd names one signature per file,
    // the built-in engine both, each with its member.
    const zip = await makeZip([
      { name: 'eicar.com', content: Buffer.from(EICAR) },
      { name: 'data/sample.dat', content: hashSample('sha256') },
    ]);
    const response = await api('/files', { method: 'POST', body: fileForm(zip, {}, 'two.zip') });
    expect(response.status).toBe(201);
    const result = (await response.json()) as Result;
    expect(result.findings).toEqual(['content.malicious.arbiter.test.sha256-hsb', EICAR_FINDING]);
    const trace = await traceOf(result.id);
    expect(trace.find((m) => m.startsWith('scanned by builtin'))).toMatch(
      /: content\.malicious\.arbiter\.test\.sha256-hsb in two\.zip\/data\/sample\.dat, content\.malicious\.eicar-test-signature in two\.zip\/eicar\.com$/,
    );
    expect(trace.filter((m) => m.startsWith('scanned by clamd'))).toHaveLength(1);

    // A truncated zip: clamd answers OK; the built-in engine reads what its local headers hold
    // and names the member that was cut short. Never clean.
    const whole = await makeZip([
      { name: 'a.bin', content: new SeededRandom('cut').bytes(20_000) },
      { name: 'b.bin', content: new SeededRandom('cut2').bytes(20_000) },
    ]);
    const cut = await api('/files', {
      method: 'POST',
      body: fileForm(whole.subarray(0, 30_000), {}, 'cut.zip'),
    });
    const cutResult = (await cut.json()) as Result;
    expect(cutResult.findings).toEqual(['content.unscannable.corrupt']);
    const cutTrace = await traceOf(cutResult.id);
    expect(cutTrace.find((m) => m.startsWith('scanned by clamd'))).toMatch(/: no findings$/);
    expect(cutTrace.find((m) => m.startsWith('scanned by builtin'))).toMatch(
      /: content\.unscannable\.corrupt in cut\.zip\/b\.bin \(local header only, at byte \d+\) \(zip: .+\)$/,
    );
  });

  it('stores the error result at once for a permanent engine error, without retrying', async () => {
    // 5 MiB is within the service's limit but over clamd's StreamMaxLength.
    const big = new SeededRandom('too-big-for-clamd').bytes(5 * MIB);
    const response = await api('/files/async', { method: 'POST', body: fileForm(big) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await resultOf(id);
    expect(result.error).toMatch(/could not be scanned: clamd: .*size limit exceeded/);
    expect(result.findings).toEqual([]);
    expect(result.checksum).toBe(sha1(big));
    const trace = await traceOf(id);
    expect(trace.filter((m) => m.startsWith('engine failed:'))).toHaveLength(1);
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

      // An async upload is retried (ARBITER_SCAN_ATTEMPTS=2, 100 ms apart), then ends with an
      // error result: never clean, never pending for long.
      const started = Date.now();
      const accepted = await api('/files/async', {
        method: 'POST',
        body: fileForm(nested, {}, 'while-down.zip'),
      });
      expect(accepted.status).toBe(202);
      const { id } = (await accepted.json()) as { id: string };
      const failed = await resultOf(id, 10_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(failed.error).toMatch(/could not be scanned: clamd: could not connect to clamd/);
      expect(failed.findings).toEqual([]);
      expect(failed.checksum).toBe(sha1(nested));
      const failedTrace = await traceOf(id);
      expect(failedTrace.filter((m) => m.startsWith('engine failed: clamd:'))).toHaveLength(2);
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

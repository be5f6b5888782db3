import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EICAR } from '../../scanning/eicar.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { randomContent, sha1 } from '../support/content.js';
import { SIGNATURES_DIR } from '../support/corpus.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
  scaniiRequest,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  killAllArbiterProcesses,
  startWorkerProcess,
  type ArbiterProcess,
} from '../support/worker-process.js';

afterEach(async () => {
  await killAllArbiterProcesses();
});

interface Result {
  id: string;
  findings: string[];
  checksum?: string;
  engines?: Array<{ name: string; version: string }>;
  error?: string;
}

/**
 * clamd killed (SIGKILL) under a running deployment: api in this process, a worker process, clamd
 * over TCP as compose runs it, both engines configured. A scan never comes back clean without
 * clamd's say: while clamd is gone (and for scans it dropped mid-stream) the result is an error,
 * delivered by callback like any result, and `/readyz` answers 503; once clamd is back the same
 * processes (with their connection pool) scan again without being restarted.
 */
describe('clamd killed and started again', () => {
  let redis: TestRedis;
  let clamd: TestClamd;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let worker: ArbiterProcess;
  let clamdDown = false;
  const clean = randomContent(64 * 1024);
  const big = randomContent(2 * 1024 * 1024);

  beforeAll(async () => {
    redis = await startTestRedis();
    clamd = await startTestClamd({ tcp: true });
    service = await startTestService(
      {
        ARBITER_ENGINES: 'builtin,clamd',
        CLAMD_ADDRESS: clamd.tcpAddress ?? '',
        CLAMD_TIMEOUT_MS: '5000',
        ARBITER_SIGNATURES_DIR: SIGNATURES_DIR,
        ARBITER_SCAN_ATTEMPTS: '2',
        ARBITER_SCAN_RETRY_BASE_MS: '100',
        ARBITER_CALLBACK_TENANT_CONCURRENCY: '8',
      },
      { redis, roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('clamd-outage');
    content = await startHttpServer({
      '/clean.bin': clean,
      '/eicar.txt': Buffer.from(EICAR),
      '/big.bin': big,
    });
    receiver = await startCallbackReceiver();
    worker = await startWorkerProcess(service.env);
  });
  afterAll(async () => {
    if (clamdDown) await clamd.start();
    await killAllArbiterProcesses();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await clamd?.stop();
    await redis?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    scaniiRequest(service, tenant, path, init, 15_000);
  const submit = async (file: string) => {
    const response = await api('/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        location: `${content.url}/${file}`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const resultOf = (id: string, timeoutMs = 20_000) =>
    pollScanResult<Result>(service, tenant, id, timeoutMs);
  const readiness = async () => {
    const response = await fetch(`${service.url}/readyz`);
    return {
      status: response.status,
      checks: ((await response.json()) as { checks: Record<string, string> }).checks,
    };
  };
  const callbackFor = (id: string) =>
    waitFor(() => receiver.deliveries.find((d) => d.json.id === id)?.json, {
      timeoutMs: 20_000,
      what: `the callback of ${id}`,
    });
  const engineNames = (result: Result) => (result.engines ?? []).map((e) => e.name).sort();

  /** Clean or infected, with both engines' say; else an error result. Never clean without clamd. */
  const expectScannedByBoth = (result: Result, findings: string[]) => {
    expect(result.error).toBeUndefined();
    expect(result.findings).toEqual(findings);
    expect(engineNames(result)).toEqual(['builtin', 'clamd']);
  };
  const expectError = (result: Result) => {
    expect(result.error).toMatch(/could not be scanned: clamd: /);
    expect(result.findings).toEqual([]);
  };

  it('answers error (never clean) while clamd is gone, fails readiness, and recovers when it is back', async () => {
    // Before: both engines answer.
    expect((await readiness()).status).toBe(200);
    expectScannedByBoth(await resultOf(await submit('clean.bin')), []);
    expectScannedByBoth(await resultOf(await submit('eicar.txt')), [EICAR_FINDING]);

    // A burst of 2 MiB scans, with clamd killed once the first of them has a result: whatever
    // each one was doing then, its result is clamd's verdict or an error.
    const burst: string[] = [];
    for (let i = 0; i < 12; i += 1) burst.push(await submit('big.bin'));
    await waitFor(
      async () => {
        for (const id of burst) if ((await api(`/files/${id}`)).status === 200) return true;
        return false;
      },
      { timeoutMs: 20_000, what: 'the first scan of the burst' },
    );
    await clamd.kill();
    clamdDown = true;
    const burstResults = await Promise.all(burst.map((id) => resultOf(id)));
    for (const result of burstResults) {
      if (result.error) expectError(result);
      else expectScannedByBoth(result, []);
      expect(result.checksum).toBe(sha1(big));
    }

    // While clamd is down: not ready, and new scans end as errors (after the retry), called back.
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.checks.engines).toMatch(/^unreachable: clamd: /);
    expect(down.checks.redis).toBe('ok');
    const whileDown = [
      await submit('clean.bin'),
      await submit('eicar.txt'),
      await submit('clean.bin'),
      await submit('eicar.txt'),
    ];
    for (const id of whileDown) {
      const result = await resultOf(id);
      expectError(result);
      const callback = await callbackFor(id);
      expect(callback.error).toBe(result.error);
      expect(callback.findings).toEqual([]);
    }
    expect(worker.child.exitCode).toBeNull();

    // clamd back (same address): the same api and worker scan again, no restart needed.
    await clamd.start();
    clamdDown = false;
    await waitFor(async () => (await readiness()).status === 200, {
      timeoutMs: 20_000,
      what: 'readyz to recover',
    });
    const after = await Promise.all([
      submit('clean.bin'),
      submit('eicar.txt'),
      submit('clean.bin'),
      submit('eicar.txt'),
    ]);
    const afterResults = await Promise.all(after.map((id) => resultOf(id)));
    afterResults.forEach((result, i) =>
      expectScannedByBoth(result, i % 2 === 0 ? [] : [EICAR_FINDING]),
    );
    for (const id of after) expect((await callbackFor(id)).error).toBeUndefined();
  });
});

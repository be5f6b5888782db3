import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  ADMIN_TOKEN,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

/**
 * A rescan whose worker dies (SIGKILL) part-way: the API runs in this process, the workers
 * (scans, callbacks and the rescan's own job) in `arbiter worker` child processes. The next worker
 * resumes the rescan from its checkpoint, and every result is counted and updated once.
 */
const marker = Buffer.from('arbiter-rescan-resume-marker-19c2', 'latin1');
const sample = Buffer.concat([Buffer.alloc(500, 0x2e), marker, Buffer.alloc(500, 0x2e)]);
const RESULTS = 8;
const PAGE = 2;

describe('a rescan whose worker dies', () => {
  let dir: string;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let workerEnv: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-rescan-resume-'));
    await writeFile(path.join(dir, 'start.ndb'), 'Start.Only:0:*:000102030405\n');
    service = await startTestService(
      { ARBITER_SIGNATURES_DIR: dir, ARBITER_ENGINES: 'builtin' },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('rescan-resume');
    workerEnv = {
      ...service.env,
      ARBITER_RESCAN_PAGE_SIZE: String(PAGE),
      ARBITER_JOB_LOCK_MS: '2000',
      ARBITER_STALLED_INTERVAL_MS: '500',
    };
    // Each download takes a while, so the rescan is still going when its worker is killed.
    content = await startHttpServer(
      Object.fromEntries(
        Array.from({ length: RESULTS }, (_, i) => [
          `/file-${i}.bin`,
          async (_req: unknown, res: ServerResponse) => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            res.writeHead(200).end(sample);
          },
        ]),
      ),
    );
    receiver = await startCallbackReceiver();
  }, 60_000);

  afterAll(async () => {
    await killAllArbiterProcesses();
    await receiver?.close();
    await content?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const rescanState = async (id: string) =>
    (await (
      await fetch(`${service.url}/v1/rescans/${id}`, { headers: { authorization: tenant.auth } })
    ).json()) as {
      state: string;
      counters: Record<string, unknown> & { queued: number };
    };

  it('resumes from its checkpoint in another worker: every result rescanned, changed and called back', async () => {
    const first = await startWorkerProcess(workerEnv);
    const ids: string[] = [];
    for (let i = 0; i < RESULTS; i++) {
      const response = await fetch(`${service.url}/v2.2/files/fetch`, {
        method: 'POST',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          location: `${content.url}/file-${i}.bin`,
          callback: `${receiver.url}/callback`,
        }),
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    for (const id of ids)
      expect(
        (await pollScanResult<{ findings: string[] }>(service, tenant, id, 30_000)).findings,
      ).toEqual([]);
    await receiver.waitForDeliveries(RESULTS, 30_000);
    await first.signal('SIGTERM');

    // The signature update, seen by the API (for "current") and by the workers started from now.
    await writeFile(
      path.join(dir, 'added.ndb'),
      `Test.Resume.Marker:0:*:${marker.toString('hex')}\n`,
    );
    const reloaded = await fetch(`${service.url}/admin/signatures/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reloaded.status).toBe(200);

    const doomed = await startWorkerProcess(workerEnv);
    const created = await fetch(`${service.url}/v1/rescans`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ older_than: 'current' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // Killed once its first page is checkpointed, well before the last.
    await waitFor(async () => (await rescanState(id)).counters.queued >= PAGE, {
      timeoutMs: 30_000,
      intervalMs: 10,
      what: 'the first page of the rescan',
    });
    await doomed.kill();
    const atKill = await rescanState(id);
    expect(atKill.state).toBe('listing');
    expect(atKill.counters.queued).toBeLessThan(RESULTS);

    await startWorkerProcess(workerEnv);
    const ended = await waitFor(
      async () => {
        const state = await rescanState(id);
        return state.state === 'listing' || state.state === 'scanning' ? undefined : state;
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'the resumed rescan to end' },
    );
    expect(ended).toMatchObject({
      state: 'completed',
      counters: {
        listed: RESULTS,
        matched: RESULTS,
        queued: RESULTS,
        rescanned: RESULTS,
        changed: RESULTS,
        errors: 0,
        skipped: {},
      },
    });
    for (const resultId of ids) {
      const result = await pollScanResult<{ findings: string[]; rescan?: { id: string } }>(
        service,
        tenant,
        resultId,
      );
      expect(result.findings).toEqual(['content.malicious.test.resume.marker']);
      expect(result.rescan?.id).toBe(id);
    }
    // Every changed result was called back (at least once: a delivery cut by the kill is retried).
    await waitFor(
      () =>
        ids.every((resultId) =>
          receiver.deliveries.some(
            (d) => d.json.id === resultId && (d.json.rescan as { id?: string })?.id === id,
          ),
        ),
      { timeoutMs: 60_000, what: 'a rescan callback for every result' },
    );
    // The rescan's own scans are gone: the tenant holds its results and nothing else.
    const keys = service.keys;
    await waitFor(
      async () =>
        (await service.service.runtime.redis.keys(keys.scan(tenant.id, '*'))).length === RESULTS,
      { timeoutMs: 15_000, what: 'only the results to remain' },
    );
  }, 240_000);
});

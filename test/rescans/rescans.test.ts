import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rescanScanId } from '../../rescans/runner.js';
import { verifyDeliveryDetails } from '../../webhooks/receiver.js';
import { fileForm } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  ADMIN_TOKEN,
  basic,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Rescans by database version, against the whole service: the built-in engine reads a signature
 * folder written here, so a signature can be added between the first scans and the rescan (and
 * loaded with the admin reload), as an operator's signature update would.
 */
const marker = Buffer.from('arbiter-rescan-test-marker-7d41aa', 'latin1');
const sample = Buffer.concat([Buffer.alloc(800, 0x2e), marker, Buffer.alloc(800, 0x2e)]);
const other = Buffer.alloc(1600, 0x2d);
const NOW_INFECTED = 'content.malicious.test.rescan.marker';

interface RescanBody {
  id: string;
  state: string;
  databases: string[];
  counters: {
    listed: number;
    matched: number;
    queued: number;
    rescanned: number;
    changed: number;
    errors: number;
    skipped: Record<string, number>;
  };
  last_error?: string;
  started_at: string | null;
  finished_at: string | null;
}

interface ResultBody {
  id: string;
  findings: string[];
  engines?: Array<{ name: string; version: string }>;
  rescan?: { id: string; previous_findings: string[]; previous_engines: unknown[] };
}

describe('rescans by database version', () => {
  let dir: string;
  let service: TestService;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let tenantA: TestTenant;
  let tenantB: TestTenant;
  let goneAnswers404 = false;
  let holdSlow = false;
  let releaseSlow: () => void = () => undefined;
  const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));

  const v1 = (tenant: TestTenant, route: string, init: RequestInit = {}) =>
    fetch(`${service.url}/v1${route}`, {
      ...init,
      headers: { authorization: tenant.auth, ...(init.headers ?? {}) },
    });
  const postRescan = (tenant: TestTenant, body: unknown, auth = tenant.auth) =>
    fetch(`${service.url}/v1/rescans`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const fetchScan = async (tenant: TestTenant, location: string, callback?: string) => {
    const response = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location, ...(callback ? { callback } : {}) }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const waitForRescanEnd = (tenant: TestTenant, id: string) =>
    waitFor(
      async () => {
        const body = (await (await v1(tenant, `/rescans/${id}`)).json()) as RescanBody;
        return ['completed', 'failed', 'cancelled'].includes(body.state) ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `rescan ${id} to end` },
    );

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-rescan-'));
    await writeFile(path.join(dir, 'start.ndb'), 'Start.Only:0:*:000102030405\n');
    service = await startTestService({
      ARBITER_SIGNATURES_DIR: dir,
      ARBITER_ENGINES: 'builtin',
      // Small pages: the four results of tenant A take two pages and a checkpoint between.
      ARBITER_RESCAN_PAGE_SIZE: '2',
    });
    tenantA = await service.createTenant('rescan-a');
    tenantB = await service.createTenant('rescan-b');
    content = await startHttpServer({
      '/sample.bin': sample,
      '/other.bin': other,
      '/slow.bin': async (_req, res) => {
        if (holdSlow) await slowGate;
        res.writeHead(200).end(other);
      },
      '/gone.bin': (_req, res) => {
        if (goneAnswers404) res.writeHead(404).end('gone');
        else res.writeHead(200).end(other);
      },
    });
    receiver = await startCallbackReceiver();
  }, 60_000);

  afterAll(async () => {
    await receiver?.close();
    await content?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses bad input: unknown fields, malformed versions, from after to, tokens, non-JSON, oversize', async () => {
    const unknown = await postRescan(tenantA, { older_than: 'current', bucket: 'x' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/Unknown field "bucket"/);
    for (const older_than of [
      'ClamAV 1.4.6',
      'ClamAV 1.4.6/not-a-number/x',
      'arbiter-builtin/0.3.0 db:NOT-HEX (3 signatures)',
      '',
      'yesterday',
    ]) {
      const response = await postRescan(tenantA, { older_than });
      expect({ older_than, status: response.status }).toEqual({ older_than, status: 400 });
      expect(((await response.json()) as { error: string }).error).toMatch(/older_than/);
    }
    expect((await postRescan(tenantA, {})).status).toBe(400);
    expect((await postRescan(tenantA, { older_than: 'current', findings: 'dirty' })).status).toBe(
      400,
    );
    const backwards = await postRescan(tenantA, {
      older_than: 'current',
      from: '2026-02-01T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
    });
    expect(backwards.status).toBe(400);
    expect(((await backwards.json()) as { error: string }).error).toMatch(/after/);
    expect((await postRescan(tenantA, { older_than: 'current', from: 'soon' })).status).toBe(400);

    const form = await fetch(`${service.url}/v1/rescans`, {
      method: 'POST',
      headers: { authorization: tenantA.auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'older_than=current',
    });
    expect(form.status).toBe(415);
    const oversize = await postRescan(tenantA, {
      older_than: 'current',
      padding: 'x'.repeat(20_000),
    });
    expect(oversize.status).toBe(413);

    const minted = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: tenantA.auth },
    });
    const token = ((await minted.json()) as { id: string }).id;
    const refused = await postRescan(tenantA, { older_than: 'current' }, basic(token, ''));
    expect(refused.status).toBe(403);
    expect(
      (await fetch(`${service.url}/v1/rescans`, { headers: { authorization: basic(token, '') } }))
        .status,
    ).toBe(403);
    // Nothing was created by any of these.
    const list = (await (await v1(tenantA, '/rescans')).json()) as { rescans: unknown[] };
    expect(list.rescans).toEqual([]);
  });

  it('rescans a tenant’s results after a signature update: changed verdicts are stored and called back, the rest counted', async () => {
    const callback = `${receiver.url}/callback`;
    const sampleId = await fetchScan(tenantA, `${content.url}/sample.bin`, callback);
    const otherId = await fetchScan(tenantA, `${content.url}/other.bin`, callback);
    const goneId = await fetchScan(tenantA, `${content.url}/gone.bin`, callback);
    const upload = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: tenantA.auth },
      body: fileForm(sample),
    });
    expect(upload.status).toBe(202);
    const uploadId = ((await upload.json()) as { id: string }).id;
    const heldUpload = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: tenantA.auth },
      body: fileForm(sample),
    });
    const heldId = ((await heldUpload.json()) as { id: string }).id;
    const bSampleId = await fetchScan(
      tenantB,
      `${content.url}/sample.bin`,
      `${receiver.url}/other-callback`,
    );
    for (const [tenant, id] of [
      [tenantA, sampleId],
      [tenantA, otherId],
      [tenantA, goneId],
      [tenantA, uploadId],
      [tenantA, heldId],
      [tenantB, bSampleId],
    ] as const) {
      expect((await pollScanResult<ResultBody>(service, tenant, id)).findings).toEqual([]);
    }
    // One upload's spool copy is still there (as if its removal had failed): it can be read again.
    await writeFile(service.service.runtime.spool.uploadPath(tenantA.id, heldId), sample);
    await receiver.waitForDeliveries(4);
    const before = (await pollScanResult<ResultBody>(service, tenantA, sampleId)).engines;

    // The signature update: the sample's marker is now known.
    await writeFile(
      path.join(dir, 'added.ndb'),
      `Test.Rescan.Marker:0:*:${marker.toString('hex')}\n`,
    );
    const reloaded = await fetch(`${service.url}/admin/signatures/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reloaded.status).toBe(200);
    const current = ((await reloaded.json()) as { engines: Array<{ version: string }> }).engines[0]!
      .version;
    expect(current).not.toBe(before?.[0]?.version);
    goneAnswers404 = true;

    const created = await postRescan(tenantA, { older_than: 'current', findings: 'clean' });
    expect(created.status).toBe(201);
    const rescan = (await created.json()) as RescanBody;
    expect(created.headers.get('location')).toBe(`/v1/rescans/${rescan.id}`);
    expect(rescan.databases).toEqual([current]);

    const ended = await waitForRescanEnd(tenantA, rescan.id);
    expect(ended.state).toBe('completed');
    expect(ended.counters).toEqual({
      listed: 5,
      matched: 5,
      // the sample, the other file, the location that is now gone, the upload still held
      queued: 4,
      rescanned: 3,
      changed: 2,
      errors: 1,
      skipped: { 'content no longer held': 1 }, // the upload: its spool copy went with its scan
    });
    expect(ended.last_error).toMatch(/404/);
    expect(ended.started_at).not.toBeNull();
    expect(ended.finished_at).not.toBeNull();

    // The stored result now says what the new database says, and what it said before.
    const updated = await pollScanResult<ResultBody>(service, tenantA, sampleId);
    expect(updated.findings).toEqual([NOW_INFECTED]);
    expect(updated.engines?.[0]?.version).toBe(current);
    expect(updated.rescan).toMatchObject({
      id: rescan.id,
      previous_findings: [],
      previous_engines: before,
    });
    expect((await pollScanResult<ResultBody>(service, tenantA, heldId)).findings).toEqual([
      NOW_INFECTED,
    ]);
    // Unchanged, and errored, results are left as they were.
    expect((await pollScanResult<ResultBody>(service, tenantA, otherId)).rescan).toBeUndefined();
    expect((await pollScanResult<ResultBody>(service, tenantA, goneId)).findings).toEqual([]);

    // The callback fires again for the changed verdict only, signed, with its own webhook id.
    const deliveries = await receiver.waitForDeliveries(5, 30_000);
    const again = deliveries.filter((d) => d.json.id === sampleId);
    expect(again).toHaveLength(2);
    const verified = await verifyDeliveryDetails({
      body: again[1]!.body,
      headers: again[1]!.headers,
      secret: tenantA.signing_secret,
    });
    expect(verified.id).toBe(`msg_${sampleId}_${rescan.id}`);
    expect(verified.result).toMatchObject({
      id: sampleId,
      findings: [NOW_INFECTED],
      rescan: { id: rescan.id, previous_findings: [] },
    });
    expect(deliveries.filter((d) => d.json.id === otherId)).toHaveLength(1);
    expect(deliveries.filter((d) => d.json.id === goneId)).toHaveLength(1);

    // Tenant B: its result was not rescanned, and A's rescan is not B's to see.
    expect((await pollScanResult<ResultBody>(service, tenantB, bSampleId)).findings).toEqual([]);
    expect(deliveries.filter((d) => d.json.id === bSampleId)).toHaveLength(1);
    expect((await v1(tenantB, `/rescans/${rescan.id}`)).status).toBe(404);
    expect((await v1(tenantB, `/rescans/${rescan.id}/cancel`, { method: 'POST' })).status).toBe(
      404,
    );
    expect(
      ((await (await v1(tenantB, '/rescans')).json()) as { rescans: unknown[] }).rescans,
    ).toEqual([]);
    const listed = (await (await v1(tenantA, '/rescans')).json()) as { rescans: RescanBody[] };
    expect(listed.rescans.map((r) => r.id)).toEqual([rescan.id]);
    expect((await v1(tenantA, `/rescans/${rescan.id}/cancel`, { method: 'POST' })).status).toBe(
      409,
    );

    // The rescan's own scans are gone: tenant A holds its five results and nothing else.
    const keys = service.keys;
    const redis = service.service.runtime.redis;
    const scanKeys = await redis.keys(keys.scan(tenantA.id, '*'));
    expect(scanKeys.sort()).toEqual(
      [sampleId, otherId, goneId, uploadId, heldId].map((id) => keys.scan(tenantA.id, id)).sort(),
    );
    expect(await redis.zcard(keys.tenantResults(tenantA.id))).toBe(5);

    // Against a named version: the updated result is current and no longer matches; the unchanged
    // ones still carry the old database, so they are looked at again (and still do not change).
    const again2 = await postRescan(tenantA, { older_than: current, findings: 'any' });
    expect(again2.status).toBe(201);
    const second = await waitForRescanEnd(tenantA, ((await again2.json()) as RescanBody).id);
    expect(second.counters).toEqual({
      listed: 5,
      matched: 3,
      queued: 2,
      rescanned: 1,
      changed: 0,
      errors: 1,
      skipped: { 'content no longer held': 1 },
    });
    expect(receiver.deliveries).toHaveLength(5);

    // A deleted result leaves the index with its record.
    expect(
      (
        await fetch(`${service.url}/v2.2/files/${otherId}`, {
          method: 'DELETE',
          headers: { authorization: tenantA.auth },
        })
      ).status,
    ).toBe(204);
    expect(await redis.zscore(keys.tenantResults(tenantA.id), otherId)).toBeNull();
  }, 120_000);

  it('runs one rescan per tenant at a time; a cancelled one drops its scans and changes nothing', async () => {
    const slowId = await fetchScan(tenantA, `${content.url}/slow.bin`, `${receiver.url}/callback`);
    const stored = await pollScanResult<ResultBody>(service, tenantA, slowId);
    const deliveriesBefore = await receiver.waitForDeliveries(6);
    // Another signature update: every result of tenant A is now from an older database.
    await writeFile(path.join(dir, 'third.ndb'), 'Third.Only:0:*:0a0b0c0d0e0f1011\n');
    expect(
      (
        await fetch(`${service.url}/admin/signatures/reload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(200);
    holdSlow = true;
    const created = await postRescan(tenantA, { older_than: 'current' });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as RescanBody;
    // The rescan's download of the slow location has started (and is held there).
    await waitFor(() => (content.hits.get('/slow.bin') ?? 0) >= 2, {
      timeoutMs: 30_000,
      what: 'the rescan to fetch the slow location',
    });
    const second = await postRescan(tenantA, { older_than: 'current' });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: string }).error).toContain(id);
    // Tenant B is not held up by tenant A's rescan.
    const forB = await postRescan(tenantB, { older_than: 'current' });
    expect(forB.status).toBe(201);

    const cancelled = await v1(tenantA, `/rescans/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as RescanBody).state).toBe('cancelled');
    const keys = service.keys;
    const redis = service.service.runtime.redis;
    // The rescan's scan of the slow location is dropped; tenant A keeps only its results.
    await waitFor(async () => (await redis.hlen(keys.rescanInflight(tenantA.id, id))) === 0, {
      timeoutMs: 15_000,
      what: 'the cancelled rescan to drop its scans',
    });
    releaseSlow();
    // Its download, released, finds its scan gone: nothing is stored for it, nothing comes back.
    const scanJob = await service.service.runtime.queues.scan.getJob(rescanScanId(id, slowId));
    await waitFor(async () => (await scanJob?.getState()) === 'completed', {
      timeoutMs: 15_000,
      what: 'the dropped scan’s job to end',
    });
    expect(await redis.exists(keys.scan(tenantA.id, rescanScanId(id, slowId)))).toBe(0);
    expect(await pollScanResult<ResultBody>(service, tenantA, slowId)).toEqual(stored);
    expect(receiver.deliveries).toHaveLength(deliveriesBefore.length);
    expect(((await (await v1(tenantA, `/rescans/${id}`)).json()) as RescanBody).state).toBe(
      'cancelled',
    );
    // The tenant may start another one now.
    const next = await postRescan(tenantA, { older_than: 'current', findings: 'clean' });
    expect(next.status).toBe(201);
    expect((await waitForRescanEnd(tenantA, ((await next.json()) as RescanBody).id)).state).toBe(
      'completed',
    );
  }, 120_000);
});

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import type { ScanRequest } from '../../scans/results.js';
import { ObjectLeases } from '../../s3/object-scans.js';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A process killed between writing a pending scan and queueing its job leaves a record that
 * would say "pending" for 30 days. The reaper finds such scans (older than the grace period,
 * with no job) and queues them again when their content can still be read, or stores an error
 * result (and fires the callback) when it cannot.
 *
 * The crash is reproduced by writing the pending record through the store, exactly as the API
 * does before it queues the job, and never queueing the job.
 */
describe('the pending reaper', () => {
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  const payload = randomContent(32 * 1024);

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_PENDING_GRACE_MS: '300',
      ARBITER_PENDING_REAP_INTERVAL_MS: '100',
    });
    tenant = await service.createTenant('reaper');
    content = await startHttpServer({ '/file.bin': payload });
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await content?.close();
    await service?.stop();
  });

  /** A pending scan as the API writes it, whose job was never added (the process died). */
  const orphan = async (fields: Partial<ScanRequest>): Promise<ScanRequest> => {
    const request: ScanRequest = {
      id: newId(),
      tenantId: tenant.id,
      source: 'location',
      metadata: { case: 'orphan' },
      creationDate: new Date().toISOString(),
      callback: `${receiver.url}/callback`,
      ...fields,
    };
    await service.service.runtime.scans.createPending(request);
    return request;
  };

  const deliveryFor = (id: string) =>
    waitFor(() => receiver.deliveries.find((delivery) => delivery.json.id === id), {
      what: `the callback of ${id}`,
    });

  /**
   * The count of scans reaped with `action`, once it is at least 1: the reaper counts a scan
   * after resolving it, so the result and even its callback can be seen a moment earlier.
   */
  const reaped = (action: string) =>
    waitFor(
      async () => {
        const text = await (await fetch(`${service.url}/metrics`)).text();
        const line = text
          .split('\n')
          .find((l) => l.startsWith(`arbiter_pending_scans_reaped_total{action="${action}"}`));
        const count = Number(line?.split(' ')[1] ?? 0);
        return count >= 1 ? count : undefined;
      },
      { what: `a pending scan reaped with action ${action}` },
    );

  it('queues a location scan again: it completes with a result and its callback', async () => {
    const request = await orphan({ location: `${content.url}/file.bin` });
    const result = await pollScanResult<Record<string, unknown>>(service, tenant, request.id);
    expect(result).toMatchObject({
      id: request.id,
      checksum: sha1(payload),
      content_length: payload.length,
      findings: [],
      metadata: { case: 'orphan' },
    });
    expect((await deliveryFor(request.id)).json).toMatchObject({ checksum: sha1(payload) });
    const trace = (await (
      await scaniiRequest(service, tenant, `/files/${request.id}/trace`)
    ).json()) as { events: Array<{ message: string }> };
    expect(trace.events.map((event) => event.message)).toContainEqual(
      expect.stringMatching(/no job was found .* queued again/),
    );
    expect(await reaped('requeued')).toBeGreaterThanOrEqual(1);
  });

  it('queues an upload still in the spool again', async () => {
    const upload = randomContent(8 * 1024);
    const { spool } = service.service.runtime;
    const received = path.join(spool.incomingDir, newId());
    await writeFile(received, upload);
    // As the API does: the record, then the upload moved into place; then the crash.
    const request = await orphan({ source: 'upload', fileName: 'kept.bin' });
    await spool.adopt(received, tenant.id, request.id);
    const result = await pollScanResult<Record<string, unknown>>(service, tenant, request.id);
    expect(result).toMatchObject({ id: request.id, checksum: sha1(upload), findings: [] });
  });

  it('answers an upload whose file is gone with an error result, and calls back', async () => {
    const request = await orphan({ source: 'upload', fileName: 'lost.bin' });
    const result = await pollScanResult<Record<string, unknown>>(service, tenant, request.id);
    expect(result).toMatchObject({
      id: request.id,
      checksum: null,
      findings: [],
      error: expect.stringMatching(/uploaded content was lost/) as unknown,
    });
    expect((await deliveryFor(request.id)).json).toMatchObject({
      id: request.id,
      error: result.error,
    });
    expect(await reaped('failed')).toBeGreaterThanOrEqual(1);
  });

  it('leaves scans with a job alone, and drops finished scans from its index', async () => {
    // An ordinary submission: its job exists, so the reaper (grace 300 ms) never touches it.
    const response = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(payload),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await pollScanResult(service, tenant, id);
    const trace = (await (await scaniiRequest(service, tenant, `/files/${id}/trace`)).json()) as {
      events: Array<{ message: string }>;
    };
    expect(trace.events.some((event) => event.message.includes('queued again'))).toBe(false);
    // Finished and reaped scans leave the pending index.
    const { redis, config } = service.service.runtime;
    await waitFor(async () => (await redis.zcard(`${config.redisPrefix}:pending-scans`)) === 0, {
      what: 'the pending index to empty',
    });
  });
});

describe('the pending reaper and a bucket object scan', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    service = await startTestService({
      ARBITER_SECRET_KEY: Buffer.alloc(32, 9).toString('base64'),
      ARBITER_PENDING_GRACE_MS: '300',
      ARBITER_PENDING_REAP_INTERVAL_MS: '100',
    });
    tenant = await service.createTenant('reaper-objects');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
  });

  it('queues it again under the lease it holds: the object is tagged and called back', async () => {
    await harness.createBucket('orphans');
    await registerBucket(service, tenant.auth, harness, 'orphans', {
      callback: `${receiver.url}/callback`,
    });
    await harness.putObject('orphans', 'report.txt', 'nothing to see here');
    const { runtime } = service.service;
    const keys = service.keys;
    const leases = new ObjectLeases(runtime.redis, keys);
    // What ObjectScanService.submit does before it adds the job: the lease, then the record.
    const request: ScanRequest = {
      id: newId(),
      tenantId: tenant.id,
      source: 'object',
      object: { bucket: 'orphans', key: 'report.txt' },
      origin: 'api',
      metadata: {},
      creationDate: new Date().toISOString(),
      callback: `${receiver.url}/callback`,
    };
    const [lease] = await leases.acquireMany(tenant.id, [
      { ref: request.object!, scanId: request.id },
    ]);
    expect(lease?.acquired).toBe(true);
    await runtime.scans.createPendingMany([{ request, trace: 'scan of s3://orphans/report.txt' }]);

    const result = await pollScanResult<Record<string, unknown>>(service, tenant, request.id);
    expect(result).toMatchObject({ id: request.id, findings: [], outcome: 'clean' });
    expect(await harness.tags('orphans', 'report.txt')).toMatchObject({ 'scan-result': 'clean' });
    await waitFor(() => receiver.deliveries.some((delivery) => delivery.json.id === request.id), {
      what: 'the callback',
    });
    // Settled: the version's lease is free for the next scan.
    expect(await runtime.redis.exists(leases.leaseKey(tenant.id, request.object!))).toBe(0);
  });
});

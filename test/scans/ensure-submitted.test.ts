import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import type { ScanRequest, ScanResult } from '../../scans/results.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';

/**
 * ScanService.ensureSubmitted, the door of scans whose ids the caller derives (a rescan's): what
 * a first attempt wrote before its process died is reused, not written twice, and a scan that
 * finished is not queued again. No worker runs, so the jobs stay where they were queued.
 */
describe('ScanService.ensureSubmitted', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService({}, { roles: { api: true, workers: false } });
    tenant = await service.createTenant('ensure-submitted');
  });
  afterAll(async () => {
    await service?.stop();
  });

  const request = (): ScanRequest => ({
    id: newId(),
    tenantId: tenant.id,
    source: 'location',
    location: 'http://127.0.0.1/x',
    metadata: {},
    creationDate: new Date().toISOString(),
  });
  const intake = (scan: ScanRequest) => ({ request: scan, received: 'received', unlisted: true });

  it('creates what is missing, queues again what is unfinished, leaves what finished', async () => {
    const { scanning, scans, queues } = service.service.runtime;
    const queued = async (scanId: string) => (await queues.scan.getJob(scanId)) !== undefined;
    const [stranded, finished, fresh] = [request(), request(), request()];

    await scanning.ensureSubmitted(tenant.id, [intake(stranded), intake(finished)]);
    expect(await scans.states(tenant.id, [stranded.id, finished.id])).toEqual([
      'pending',
      'pending',
    ]);
    expect(await queued(stranded.id)).toBe(true);
    // A job lost before it ran (the process died between the records and the jobs)…
    await queues.scan.remove(stranded.id);
    // …and a scan that finished meanwhile, its job gone.
    await queues.scan.remove(finished.id);
    const result: ScanResult = {
      id: finished.id,
      checksum: null,
      content_length: 1,
      findings: [],
      creation_date: finished.creationDate,
      content_type: null,
      metadata: {},
    };
    expect(await scans.complete(tenant.id, result)).toBe(true);

    await scanning.ensureSubmitted(tenant.id, [intake(stranded), intake(finished), intake(fresh)]);
    expect(await queued(stranded.id)).toBe(true);
    expect(await queued(fresh.id)).toBe(true);
    expect(await queued(finished.id)).toBe(false);
    // Created once: the first attempt's record and trace are kept.
    expect(await scans.getTrace(tenant.id, stranded.id)).toHaveLength(1);
    expect((await scans.get(tenant.id, finished.id))?.result?.id).toBe(finished.id);
    // Unlisted: never in the result index rescans walk.
    const everything = { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, skip: 0, limit: 100 };
    expect(await scans.listResults(tenant.id, everything)).toEqual([]);
  });
});

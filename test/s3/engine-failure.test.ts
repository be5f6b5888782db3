import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * An engine that cannot scan must never leave an object untagged or move it. Real components
 * only: the clamd engine pointed at a loopback port nothing listens on (connection refused),
 * s3rver as the bucket. Once through `scanExistingObject` (in the calling process, as the last
 * attempt), once from an S3 event (the scan job's retries shortened with ARBITER_SCAN_ATTEMPTS=2
 * and ARBITER_SCAN_RETRY_BASE_MS=100; by default 5 attempts over about 30 s).
 */
describe('an engine failure on a bucket object', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    const closed = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    service = await startTestService({
      ARBITER_SECRET_KEY: 'ef'.repeat(32),
      ARBITER_ENGINES: 'clamd',
      CLAMD_ADDRESS: `tcp://127.0.0.1:${port}`,
      CLAMD_TIMEOUT_MS: '2000',
      ARBITER_SCAN_ATTEMPTS: '2',
      ARBITER_SCAN_RETRY_BASE_MS: '100',
    });
    tenant = await service.createTenant('unlucky');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
  });

  it('tags it scan-result=error in place, keeps the owner’s tags, does not promote or quarantine it, and calls back', async () => {
    for (const name of ['staging', 'production', 'quarantine']) await harness.createBucket(name);
    const registered = await registerBucket(service, tenant.auth, harness, 'staging', {
      callback: `${receiver.url}/callback`,
      actions: {
        onClean: 'promote',
        production: { bucket: 'production', prefix: '' },
        onInfected: 'quarantine',
        onUnscannable: 'quarantine',
        quarantine: { bucket: 'quarantine', prefix: '' },
      },
    });
    expect(registered.status).toBe(201);
    await harness.putObject('staging', 'upload 1.pdf', 'some content', { owner: 'alice' });

    const scan = await service.service.runtime.s3.objectScans.scanExistingObject(
      tenant.id,
      'staging',
      'upload 1.pdf',
    );
    expect(scan.result).toMatchObject({
      outcome: 'error',
      action: 'tag',
      bucket: 'staging',
      key: 'upload 1.pdf',
      findings: [],
    });
    expect(scan.result?.error).toMatch(/could not be scanned: clamd/);
    expect(await harness.tags('staging', 'upload 1.pdf')).toMatchObject({
      owner: 'alice',
      'scan-result': 'error',
    });
    expect(await harness.listKeys('staging')).toEqual(['upload 1.pdf']);
    expect(await harness.listKeys('production')).toEqual([]);
    expect(await harness.listKeys('quarantine')).toEqual([]);

    const delivery = await waitFor(
      () => receiver.deliveries.find((d) => d.json.id === scan.scanId),
      { what: 'the error callback' },
    );
    expect(delivery.json).toMatchObject({
      outcome: 'error',
      action: 'tag',
      bucket: 'staging',
      key: 'upload 1.pdf',
      versionId: null,
    });
    const trace = (await (
      await fetch(`${service.url}/v2.2/files/${scan.scanId}/trace`, {
        headers: { authorization: tenant.auth },
      })
    ).json()) as { events: Array<{ message: string }> };
    const messages = trace.events.map((e) => e.message);
    expect(messages.some((m) => m.startsWith('engine failed: clamd'))).toBe(true);
    expect(messages).toContain(
      'tagged s3://staging/upload 1.pdf: scan-result=error, scan-date (kept its 1 other tag)',
    );
    // Operators see it among the recent errors, with the scan it hit.
    const errors = await waitFor(
      async () => {
        const body = (await (await service.admin('/errors')).json()) as {
          errors: Array<{ kind: string; tenant_id?: string; scan_id?: string; message: string }>;
        };
        return body.errors.find((entry) => entry.scan_id === scan.scanId);
      },
      { what: 'the engine failure among the errors' },
    );
    expect(errors).toMatchObject({ kind: 'engine', tenant_id: tenant.id });
    expect(errors.message).toMatch(/^engine failed: clamd/);
  });

  it('from an S3 event: retried, then tagged scan-result=error and left where it is', async () => {
    harness.bridge('staging', {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    await harness.putObject('staging', 'from event.pdf', 'more content');
    await harness.waitForTag('staging', 'from event.pdf', 'scan-result', 'error');
    const delivery = await waitFor(
      () => receiver.deliveries.find((d) => d.json.key === 'from event.pdf'),
      { what: 'the error callback' },
    );
    expect(delivery.json).toMatchObject({ outcome: 'error', action: 'tag' });
    const trace = (await (
      await fetch(`${service.url}/v2.2/files/${String(delivery.json.id)}/trace`, {
        headers: { authorization: tenant.auth },
      })
    ).json()) as { events: Array<{ message: string }> };
    expect(trace.events.filter((e) => e.message.startsWith('engine failed: clamd'))).toHaveLength(
      2,
    );
    expect(await harness.listKeys('staging')).toEqual(['from event.pdf', 'upload 1.pdf']);
    expect(await harness.listKeys('production')).toEqual([]);
    expect(await harness.listKeys('quarantine')).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Scans of bucket objects started by S3 events follow their tenant's detection categories,
 * never those of the key that happened to deliver the event (docs/api.md): the trace says what
 * ran, and the malware test content is found in an object. A scan of an object asked for with a
 * key (`POST /api/Scan/Existing`) is that key's.
 */
describe('detection categories of S3 event scans', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({ ARBITER_SECRET_KEY: 'ab'.repeat(32) });
    tenant = await service.createTenant('events');
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await service?.stop();
    await harness?.stop();
  });

  it("scans an event's object for the tenant's categories, not the delivering key's", async () => {
    // The key that posts the events asks for more than the tenant: it must not matter here.
    const override = await service.admin(`/keys/${tenant.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["malware","unsafe_image"]}',
    });
    expect(override.status).toBe(200);
    await harness.createBucket('inbox');
    await registerBucket(service, tenant.auth, harness, 'inbox', {
      callback: `${receiver.url}/callback`,
    });
    harness.bridge('inbox', {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    await harness.putObject('inbox', 'docs/test-file.txt', LOCAL_TEST_FILE);
    await harness.putObject('inbox', 'docs/plain.txt', 'nothing to see here');
    await harness.waitForTag('inbox', 'docs/test-file.txt', 'scan-result', 'infected');
    await harness.waitForTag('inbox', 'docs/plain.txt', 'scan-result', 'clean');

    for (const [key, findings] of [
      ['docs/test-file.txt', ['content.malicious.local-test-file']],
      ['docs/plain.txt', []],
    ] as const) {
      const delivery = await waitFor(() => receiver.deliveries.find((d) => d.json.key === key), {
        what: `the callback for ${key}`,
      });
      expect(delivery.json.findings).toEqual(findings);
      const trace = await fetch(`${service.url}/v2.2/files/${String(delivery.json.id)}/trace`, {
        headers: { authorization: tenant.auth },
      });
      const { events } = (await trace.json()) as { events: Array<{ message: string }> };
      expect(events.map((event) => event.message)).toContain('detection categories: malware');
    }
  });

  it('scans an object asked for through the verdict API with the asking key recorded', async () => {
    // The key follows its tenant again; what matters is that the request names it.
    const reset = await service.admin(`/keys/${tenant.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":null}',
    });
    expect(reset.status).toBe(200);
    const response = await fetch(`${service.url}/api/Scan/Existing`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'inbox', key: 'docs/test-file.txt' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: 'Infected' });
    const scanId = response.headers.get('x-arbiter-scan-ids') ?? '';
    const record = await service.service.runtime.scans.get(tenant.id, scanId);
    expect(record?.request).toMatchObject({ origin: 'api', keyId: tenant.key });
    const trace = await fetch(`${service.url}/v2.2/files/${scanId}/trace`, {
      headers: { authorization: tenant.auth },
    });
    const { events } = (await trace.json()) as { events: Array<{ message: string }> };
    expect(events.map((event) => event.message)).toContain('detection categories: malware');
  });
});

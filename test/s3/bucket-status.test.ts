import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BucketStatusView } from '../../s3/bucket-status.js';
import { eicar } from '../support/content.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * `GET /v1/buckets/{name}/status`: the console's bucket view. Counts by outcome come from the
 * object scans' outcome listener, the last event from the event intake, the polling state from
 * the worker's SQS poller (fauxqs) — all real, in the service's own worker.
 */
describe('bucket status', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({
      ARBITER_SECRET_KEY: Buffer.alloc(32, 9).toString('base64'),
      ARBITER_SQS_WAIT_SECONDS: '1',
      ARBITER_SQS_REFRESH_MS: '200',
    });
    tenant = await service.createTenant('status');
    other = await service.createTenant('status-other');
  });
  afterAll(async () => {
    await service?.stop();
    await harness?.stop();
  });

  const status = async (name: string, auth = tenant.auth) => {
    const response = await v1Client(service, auth)(`/buckets/${name}/status`);
    return { status: response.status, json: (await response.json()) as BucketStatusView };
  };

  it('shows the queue polled, the last event and the counts by outcome', async () => {
    await harness.createBucket('watched');
    const queue = await harness.createQueue('q-watched');
    await registerBucket(service, tenant.auth, harness, 'watched', {
      queue: {
        url: queue.url,
        endpoint: harness.sqsEndpoint,
        credentials: { type: 'static', accessKeyId: 'q', secretAccessKey: 'q' },
      },
    });
    const fresh = await status('watched');
    expect(fresh.status).toBe(200);
    expect(fresh.json.counts).toEqual({ clean: 0, infected: 0, unscannable: 0, error: 0 });
    expect(fresh.json.last_event_at).toBeNull();

    const polled = await waitFor(
      async () => {
        const { json } = await status('watched');
        return json.polling?.active ? json : undefined;
      },
      { what: 'the poller to record a receive' },
    );
    expect(Date.parse(polled.polling!.last_poll_at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(polled.polling!.last_error).toBeNull();

    const stop = harness.bridge('watched', { mode: 'direct', queueUrl: queue.url });
    await harness.putObject('watched', 'a.txt', 'hello');
    await harness.putObject('watched', 'b.txt', 'world');
    await harness.putObject('watched', 'eicar.com', eicar());
    const counted = await waitFor(
      async () => {
        const { json } = await status('watched');
        return json.counts.clean === 2 && json.counts.infected === 1 ? json : undefined;
      },
      { what: 'three outcomes to be counted', timeoutMs: 30_000 },
    );
    stop();
    expect(counted.counts).toEqual({ clean: 2, infected: 1, unscannable: 0, error: 0 });
    expect(Date.parse(counted.last_event_at!)).toBeGreaterThan(Date.now() - 60_000);
  }, 60_000);

  it('has no polling state for a bucket without a queue; events POSTed count as events', async () => {
    await harness.createBucket('posted');
    await registerBucket(service, tenant.auth, harness, 'posted');
    expect((await status('posted')).json.polling).toBeNull();
    await harness.putObject('posted', 'x.txt', 'x');
    const posted = await v1Client(service, tenant.auth)('/events/s3', {
      method: 'POST',
      body: JSON.stringify({
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'posted' }, object: { key: 'x.txt', size: 1 } },
          },
        ],
      }),
    });
    expect(posted.status).toBe(202);
    const seen = await waitFor(
      async () => {
        const { json } = await status('posted');
        return json.counts.clean === 1 ? json : undefined;
      },
      { what: 'the POSTed event to be scanned' },
    );
    expect(seen.last_event_at).not.toBeNull();
  });

  it('a poll record lapses: a dead poller shows as not polling, with its last error', async () => {
    await harness.createBucket('lapsed');
    await registerBucket(service, tenant.auth, harness, 'lapsed', {
      queue: {
        url: `${harness.sqsEndpoint}/000000000000/never-created`,
        endpoint: harness.sqsEndpoint,
        credentials: { type: 'static', accessKeyId: 'q', secretAccessKey: 'q' },
      },
    });
    // The worker's poller fails on the missing queue: not polling, with the error shown.
    const failing = await waitFor(
      async () => {
        const { json } = await status('lapsed');
        return json.polling?.last_error ? json : undefined;
      },
      { what: 'the receive error to be recorded' },
    );
    expect(failing.polling!.active).toBe(false);

    // A record written with a short life, as a poller would just before dying, then nothing.
    const store = service.service.runtime.s3.status;
    await store.recordPoll(other.id, ['gone'], 1);
    expect((await store.view(other.id, 'gone', true)).polling!.active).toBe(true);
    await waitFor(
      async () => !(await store.view(other.id, 'gone', true)).polling!.active || undefined,
      {
        what: 'the poll record to lapse',
      },
    );
  });

  it('is a 404 for another tenant’s bucket and an unknown one; goes with the bucket', async () => {
    expect((await status('watched', other.auth)).status).toBe(404);
    expect((await status('no-such-bucket')).status).toBe(404);
    expect((await status('Not_A_Valid..Name')).status).toBe(404);
    const counted = (await status('watched')).json.counts;
    expect(counted.clean).toBeGreaterThan(0);

    const removed = await v1Client(service, tenant.auth)('/buckets/posted', { method: 'DELETE' });
    expect(removed.status).toBe(204);
    await registerBucket(service, tenant.auth, harness, 'posted');
    expect((await status('posted')).json).toEqual({
      polling: null,
      last_event_at: null,
      counts: { clean: 0, infected: 0, unscannable: 0, error: 0 },
    });
  });

  it('counts a scan once however often its outcome is reported, and never for a gone bucket', async () => {
    await harness.createBucket('counted');
    await registerBucket(service, tenant.auth, harness, 'counted');
    const listener = service.service.runtime.s3.status.outcomeListener;
    const event = (scanId: string, bucket = 'counted') => ({
      tenantId: tenant.id,
      scanId,
      object: { bucket, key: 'k', versionId: null },
      outcome: 'unscannable' as const,
      action: 'tag' as const,
      origin: 'event' as const,
      retroJobIds: [],
      result: undefined,
    });
    // At least once: a retried job reports the same scan again.
    await listener.onObjectOutcome(event('a'.repeat(32)));
    await listener.onObjectOutcome(event('a'.repeat(32)));
    await listener.onObjectOutcome(event('b'.repeat(32)));
    expect((await status('counted')).json.counts.unscannable).toBe(2);
    // An outcome arriving after the bucket was unregistered does not bring its counters back.
    await listener.onObjectOutcome(event('c'.repeat(32), 'never-registered'));
    const redis = new IORedis({ path: service.redis.socket });
    try {
      expect(await redis.exists(service.keys.bucketStatus(tenant.id, 'never-registered'))).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('answers hostile names with a 404 and no echo of markup', async () => {
    for (const name of ['x'.repeat(2000), '..%2F..%2Fetc', '%3Cimg%20src%3Dx%3E', 'a%00b']) {
      const response = await v1Client(service, tenant.auth)(`/buckets/${name}/status`);
      expect({ name: name.slice(0, 20), status: response.status }).toEqual({
        name: name.slice(0, 20),
        status: 404,
      });
      const body = (await response.json()) as { error: string };
      expect(body.error.length).toBeLessThan(200);
    }
  });

  it('is deleted with the tenant', async () => {
    const doomed = await service.createTenant('status-doomed');
    await harness.createBucket('doomed');
    await registerBucket(service, doomed.auth, harness, 'doomed');
    await service.service.runtime.s3.status.recordEvent(doomed.id, ['doomed']);
    const redis = new IORedis({ path: service.redis.socket });
    try {
      const key = service.keys.bucketStatus(doomed.id, 'doomed');
      expect(await redis.exists(key)).toBe(1);
      const deleted = await service.admin(`/tenants/${doomed.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await redis.exists(key)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

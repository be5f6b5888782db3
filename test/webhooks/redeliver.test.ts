import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { waitForCallbackDone } from '../support/callbacks.js';
import { headerRecord, startRecordingReceiver, tenantApi } from './support.js';

/**
 * `POST /v1/files/{id}/redeliver`. Retries are 30 s apart here, so a delivery that failed once
 * stays waiting for its next retry for the length of a test.
 */
describe('redelivering a callback', () => {
  let service: TestService;
  let tenant: TestTenant;
  let api: ReturnType<typeof tenantApi>;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CALLBACK_RETRY_BASE_MS: '30000',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
    tenant = await service.createTenant('redeliver');
    api = tenantApi(service, tenant);
  });
  afterAll(async () => {
    await service?.stop();
  });

  const jobState = (jobId: string, state: string) =>
    waitFor(
      async () => (await service.service.runtime.queues.callback.getJobState(jobId)) === state,
      {
        what: `job ${jobId} to be ${state}`,
      },
    );

  it('sends a delivered result again, as a new delivery job with the same webhook-id', async () => {
    const receiver = await startRecordingReceiver();
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await waitForCallbackDone(service.service.runtime, tenant.id, id);
      expect(receiver.deliveries).toHaveLength(1);

      const response = await api.redeliver(id);
      expect(response.status).toBe(202);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({ id, status: 'queued' });
      await jobState(`cb-${id}-r1`, 'completed');
      expect(receiver.deliveries).toHaveLength(2);
      const [first, again] = receiver.deliveries;
      expect(again?.body).toBe(first?.body);
      expect(again?.headers['webhook-id']).toBe(`msg_${id}`);
      expect(() =>
        new Webhook(tenant.signing_secret).verify(
          again?.body ?? '',
          headerRecord(again?.headers ?? {}),
        ),
      ).not.toThrow();

      // Each request makes another delivery.
      expect(await (await api.redeliver(id)).json()).toEqual({ id, status: 'queued' });
      await jobState(`cb-${id}-r2`, 'completed');
      expect(receiver.deliveries).toHaveLength(3);

      const trace = await api.trace(id);
      expect(trace).toContain('redelivery 1 requested: the result will be sent again');
      expect(trace.filter((m) => m.startsWith('callback attempt'))).toEqual([
        expect.stringMatching(/^callback attempt 1 to .*: HTTP 200 in \d+ ms$/),
        expect.stringMatching(/^callback attempt 1 \(redelivery 1\) to .*: HTTP 200 in \d+ ms$/),
        expect.stringMatching(/^callback attempt 1 \(redelivery 2\) to .*: HTTP 200 in \d+ ms$/),
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('sends again a delivery that had failed for good (410 Gone)', async () => {
    let gone = true;
    const receiver = await startRecordingReceiver({ answer: () => (gone ? 410 : 200) });
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await waitForCallbackDone(service.service.runtime, tenant.id, id);
      gone = false;
      expect(await (await api.redeliver(id)).json()).toEqual({ id, status: 'queued' });
      await jobState(`cb-${id}-r1`, 'completed');
      expect(receiver.deliveries.map((d) => d.json.id)).toEqual([id, id]);
    } finally {
      await receiver.close();
    }
  });

  it('queues one delivery when ten redeliver requests arrive at once', async () => {
    const receiver = await startRecordingReceiver();
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await waitForCallbackDone(service.service.runtime, tenant.id, id);
      const answers = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const response = await api.redeliver(id);
          expect(response.status).toBe(202);
          return ((await response.json()) as { status: string }).status;
        }),
      );
      expect(answers.filter((status) => status === 'queued')).toHaveLength(1);
      expect(answers.filter((status) => status === 'in-progress')).toHaveLength(9);
      await jobState(`cb-${id}-r1`, 'completed');
      expect(await service.service.runtime.queues.callback.getJob(`cb-${id}-r2`)).toBeUndefined();
      expect(receiver.deliveries).toHaveLength(2);
      // Once it is done, the next request queues again.
      expect(await (await api.redeliver(id)).json()).toEqual({ id, status: 'queued' });
      await jobState(`cb-${id}-r2`, 'completed');
    } finally {
      await receiver.close();
    }
  });

  it('runs a delivery waiting for its next retry now, instead of adding a second one', async () => {
    let failing = true;
    const receiver = await startRecordingReceiver({ answer: () => (failing ? 503 : 200) });
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await jobState(`cb-${id}`, 'delayed'); // the 503 attempt made; the next is ~30 s away
      failing = false;
      const response = await api.redeliver(id);
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ id, status: 'rescheduled' });
      await jobState(`cb-${id}`, 'completed');
      expect(receiver.deliveries).toHaveLength(2);
      expect(await service.service.runtime.queues.callback.getJob(`cb-${id}-r1`)).toBeUndefined();
    } finally {
      await receiver.close();
    }
  });

  it("answers 404 for an unknown id, a malformed id, another tenant's scan and a deleted result", async () => {
    const receiver = await startRecordingReceiver();
    try {
      const id = await api.submit(`${receiver.url}/callback`);
      await waitForCallbackDone(service.service.runtime, tenant.id, id);
      const other = tenantApi(service, await service.createTenant('someone else'));
      for (const response of [
        await api.redeliver('0123456789abcdef0123456789abcdef'),
        await api.redeliver('not-an-id'),
        await other.redeliver(id),
      ]) {
        expect(response.status).toBe(404);
        expect(((await response.json()) as { error: string }).error).toMatch(
          /could not find a file/,
        );
      }
      expect((await api.call(`/v2.2/files/${id}`, { method: 'DELETE' })).status).toBe(204);
      expect((await api.redeliver(id)).status).toBe(404);
      expect(receiver.deliveries).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('answers 409 for a scan submitted without a callback, and for one still being processed', async () => {
    const noCallback = await api.submit(undefined);
    await api.waitForResult(noCallback);
    const response = await api.redeliver(noCallback);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toMatch(/without a callback URL/);

    // A location that never answers keeps the scan pending.
    let content: TestHttpServer | undefined;
    try {
      content = await startHttpServer({ '/slow': () => undefined });
      const submitted = await api.call('/v2.2/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({
          location: `${content.url}/slow`,
          callback: `${content.url}/callback`,
        }),
      });
      const { id } = (await submitted.json()) as { id: string };
      await waitFor(() => (content?.hits.get('/slow') ?? 0) > 0, { what: 'the download to start' });
      const pending = await api.redeliver(id);
      expect(pending.status).toBe(409);
      expect(((await pending.json()) as { error: string }).error).toMatch(/still being processed/);
    } finally {
      await content?.close();
    }
  });

  it('needs credentials', async () => {
    const response = await fetch(
      `${service.url}/v1/files/0123456789abcdef0123456789abcdef/redeliver`,
      { method: 'POST' },
    );
    expect(response.status).toBe(401);
  });
});

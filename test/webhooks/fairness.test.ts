import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { TenantDeliveryLeases, fairnessDelayMs } from '../../webhooks/fairness.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { startRecordingReceiver, tenantApi } from './support.js';

describe('per-tenant delivery leases', () => {
  let redis: TestRedis;
  let client: Redis;
  let keys: RedisKeys;
  const tenantA = 'a'.repeat(32);
  const tenantB = 'b'.repeat(32);

  beforeAll(async () => {
    redis = await startTestRedis();
    client = createRedis(redis.url, 'command', () => undefined);
    keys = redis.keys('fair');
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('grants at most `limit` slots per tenant, independently of other tenants', async () => {
    const leases = new TenantDeliveryLeases(client, keys, { limit: 2, leaseMs: 60_000 });
    expect(await leases.acquire(tenantA, 'job-1')).toBe(true);
    expect(await leases.acquire(tenantA, 'job-2')).toBe(true);
    expect(await leases.acquire(tenantA, 'job-3')).toBe(false);
    expect(await leases.acquire(tenantB, 'job-4')).toBe(true);
    // A job picked up again after a stall keeps the slot it holds.
    expect(await leases.acquire(tenantA, 'job-1')).toBe(true);
    await leases.release(tenantA, 'job-1');
    expect(await leases.acquire(tenantA, 'job-3')).toBe(true);
    expect(await leases.inFlight(tenantA)).toBe(2);
  });

  it('lets a lease lapse when its holder never releases it (a worker that died)', async () => {
    const leases = new TenantDeliveryLeases(client, redis.keys('lapse'), {
      limit: 1,
      leaseMs: 300,
    });
    expect(await leases.acquire(tenantA, 'dead-worker-job')).toBe(true);
    expect(await leases.acquire(tenantA, 'next')).toBe(false);
    await waitFor(() => leases.acquire(tenantA, 'next'), { what: 'the lapsed lease to be swept' });
  });

  it('hands a freed slot to the longest-parked job and wakes it; a fresh job cannot take it', async () => {
    const woken: string[] = [];
    const leases = new TenantDeliveryLeases(
      client,
      redis.keys('park'),
      { limit: 1, leaseMs: 60_000 },
      (id) => {
        woken.push(id);
        return Promise.resolve();
      },
    );
    expect(await leases.acquire(tenantA, 'running')).toBe(true);
    for (const job of ['first', 'second', 'third']) {
      expect(await leases.acquire(tenantA, job)).toBe(false);
      await leases.park(tenantA, job);
    }
    expect(woken).toEqual([]);
    // Turned away again, 'first' keeps its place in line.
    await leases.park(tenantA, 'first');
    expect(await leases.parked(tenantA)).toBe(3);

    await leases.release(tenantA, 'running');
    expect(woken).toEqual(['first']);
    // The slot is kept for 'first': a job fresh from the queue is turned away, 'first' gets it.
    expect(await leases.acquire(tenantA, 'fresh')).toBe(false);
    expect(await leases.acquire(tenantA, 'first')).toBe(true);
    await leases.release(tenantA, 'first');
    expect(woken).toEqual(['first', 'second']);

    // 'second' was running its fallback attempt when woken (so the wake did nothing) and was
    // turned away: parking it finds the slot kept for it, and it wakes itself.
    await leases.park(tenantA, 'second');
    expect(woken).toEqual(['first', 'second', 'second']);
    expect(await leases.acquire(tenantA, 'second')).toBe(true);
    await leases.release(tenantA, 'second');
    expect(woken).toEqual(['first', 'second', 'second', 'third']);
    expect(await leases.acquire(tenantA, 'third')).toBe(true);
    await leases.release(tenantA, 'third');

    // A slot that freed before a turned-away job parked goes to the oldest in line at once.
    expect(await leases.acquire(tenantA, 'holder')).toBe(true);
    expect(await leases.acquire(tenantA, 'late')).toBe(false);
    await client.zrem(redis.keys('park').webhookInflight(tenantA), 'holder'); // freed without a handover
    await leases.park(tenantA, 'late');
    expect(woken.at(-1)).toBe('late');
    expect(await leases.acquire(tenantA, 'late')).toBe(true);
    expect(await leases.parked(tenantA)).toBe(0);
  });

  it('falls back to a delay growing from 5 s to 60 s, with jitter, should a wake-up be lost', () => {
    expect(fairnessDelayMs(0, () => 0.5)).toBe(5000);
    expect(fairnessDelayMs(1, () => 0.5)).toBe(10_000);
    expect(fairnessDelayMs(4, () => 0.5)).toBe(60_000);
    expect(fairnessDelayMs(50, () => 0.5)).toBe(60_000);
    expect(fairnessDelayMs(0, () => 0)).toBe(2500);
    expect(fairnessDelayMs(0, () => 0.999)).toBeLessThanOrEqual(7500);
  });
});

/**
 * Tenant A's receiver accepts connections and never answers (held until the test ends), with 20
 * deliveries queued; tenant B's 5 deliveries must still arrive. The attempt time limit (60 s) is
 * far beyond the deadline B's deliveries are waited for, so without the per-tenant bound A's
 * deliveries would hold every one of the 16 delivery slots for the whole test.
 */
describe('fairness between tenants', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CALLBACK_TIMEOUT_MS: '60000',
      ARBITER_CALLBACK_CONCURRENCY: '16',
      ARBITER_CALLBACK_TENANT_CONCURRENCY: '4',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it("delivers tenant B's callbacks while tenant A's receiver hangs with 20 deliveries queued", async () => {
    const hanging = await startRecordingReceiver({ answer: () => 'hold' });
    const prompt = await startRecordingReceiver();
    try {
      const a = tenantApi(service, await service.createTenant('a-hangs'));
      const b = tenantApi(service, await service.createTenant('b-prompt'));

      const aIds = await Promise.all(
        Array.from({ length: 20 }, () => a.submit(`${hanging.url}/callback`)),
      );
      // Every A scan is done, so all 20 deliveries are queued ahead of B's…
      for (const id of aIds) await a.waitForResult(id);
      // …and A's receiver is holding as many as A may have in flight.
      await waitFor(() => hanging.inFlight >= 4, {
        what: "tenant A's receiver to hold 4 deliveries",
      });

      const bIds = await Promise.all(
        Array.from({ length: 5 }, () => b.submit(`${prompt.url}/callback`)),
      );
      await waitFor(() => bIds.every((id) => prompt.deliveries.some((d) => d.json.id === id)), {
        timeoutMs: 20_000,
        what: "tenant B's 5 deliveries",
      });
      expect(prompt.deliveries).toHaveLength(5);
      // A never had more than its bound in flight.
      expect(hanging.maxInFlight).toBe(4);
      expect(hanging.deliveries).toHaveLength(4);
      // The deliveries beyond the bound went to the callback queue (the first attempts are made by
      // the scan worker's process while the tenant has a slot free); every one of those jobs was
      // started and turned away without using an attempt.
      const jobs = (
        await Promise.all(
          aIds.map((id) => service.service.runtime.queues.callback.getJob(`cb-${id}`)),
        )
      ).filter((job) => job !== undefined);
      expect(jobs.length).toBeGreaterThanOrEqual(16);
      expect(jobs.map((job) => job.attemptsMade)).toEqual(jobs.map(() => 0));
      expect(jobs.every((job) => (job.attemptsStarted ?? 0) >= 1)).toBe(true);
    } finally {
      await hanging.close();
      await prompt.close();
    }
  });

  it("works through one tenant's backlog without ever exceeding its bound", async () => {
    // Each answer takes 20 ms, so 60 deliveries queue up behind the bound of 4.
    const slow = await startRecordingReceiver({ delayMs: 20 });
    try {
      const tenant = await service.createTenant('backlog');
      const api = tenantApi(service, tenant);
      const ids = await Promise.all(
        Array.from({ length: 60 }, () => api.submit(`${slow.url}/callback`)),
      );
      // (Freed slots wake the next parked delivery: see the lease tests above; fallback delays only back that up.)
      await waitFor(() => ids.every((id) => slow.deliveries.some((d) => d.json.id === id)), {
        timeoutMs: 10_000,
        what: 'the 60 deliveries of the backlog',
      });
      expect(slow.deliveries).toHaveLength(60);
      expect(slow.maxInFlight).toBeLessThanOrEqual(4);
      expect(await service.service.runtime.delivery.leases.parked(tenant.id)).toBe(0);
    } finally {
      await slow.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { TenantLeases } from '../../core/tenant-leases.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

/** Per-tenant slots (core/tenant-leases.ts) under the scan keys, against a real redis-server. */
describe('tenant leases for scans', () => {
  let redis: TestRedis;
  let client: Redis;
  const tenant = 't'.repeat(32);

  beforeAll(async () => {
    redis = await startTestRedis();
    client = createRedis(redis.url, 'command', () => undefined);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const scanLeases = (prefix: string, leaseMs: number) => {
    const keys = new RedisKeys(prefix);
    return {
      key: keys.scanInflight(tenant),
      leases: new TenantLeases(
        client,
        { inflight: keys.scanInflight, parked: keys.scanParked },
        { limit: 1, leaseMs },
      ),
    };
  };

  it('keeps a renewed lease past its length, and lets an unrenewed one lapse', async () => {
    const { key, leases } = scanLeases('renew', 1_500);
    expect(await leases.acquire(tenant, 'long-scan')).toBe(true);
    const until = Date.now() + 3_500;
    // Renewed every 200 ms for more than twice the lease's length: nobody else gets the slot.
    while (Date.now() < until) {
      expect(await leases.renew(tenant, 'long-scan')).toBe(true);
      expect(await leases.acquire(tenant, 'other-scan')).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await client.zrange(key, '0', '-1')).toEqual(['long-scan']);
    // No more renewals (its worker died): the lease lapses and the slot goes to the next scan.
    await waitFor(() => leases.acquire(tenant, 'other-scan'), {
      what: 'the unrenewed lease to lapse',
    });
    expect(await leases.renew(tenant, 'long-scan')).toBe(false);
    expect(await client.zrange(key, '0', '-1')).toEqual(['other-scan']);
  });
});

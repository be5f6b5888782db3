import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../core/keys.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/** Key functions that name no tenant's data (or are not keys): everything else is per tenant. */
const NOT_PER_TENANT = new Set([
  'hashTags',
  'tenantSegment',
  'tenants',
  'apiKey',
  'tokenOwner',
  'bucketQueues',
  'legacyPendingScans',
  'errors',
  'workers',
  'worker',
  'rateLimitPrefix',
  'burstLimitPrefix',
  'quotaPrefix',
  'queuePrefix',
  'queueRoot',
  // Console sessions are found before their tenant is known (core/console-sessions.ts).
  'consoleSession',
  'consoleSigninIpPrefix',
  'consoleSigninKeyPrefix',
]);

/** Every per-tenant key of the tenant, including those rate-limiter-flexible builds. */
function tenantKeys(keys: RedisKeys, tenantId: string): string[] {
  const functions = Object.entries(keys).filter(
    (entry): entry is [string, (tenantId: string, more: string) => string] =>
      typeof entry[1] === 'function' && !NOT_PER_TENANT.has(entry[0]),
  );
  const segment = keys.tenantSegment(tenantId);
  return [
    ...functions.map(([, key]) => key(tenantId, 'f00d')),
    `${keys.rateLimitPrefix()}:${segment}`,
    `${keys.burstLimitPrefix()}:${segment}`,
    `${keys.quotaPrefix()}:${segment}:2026-12-05`,
  ];
}

/** The key layout (core/keys.ts), slots computed by Redis itself (CLUSTER KEYSLOT). */
describe('redis keys', () => {
  let redis: TestRedis;
  let client: Redis;
  const tenant = 'a1'.repeat(16);

  beforeAll(async () => {
    redis = await startTestRedis({ cluster: true });
    client = createRedis(redis.url, 'command', () => undefined);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const slotsOf = async (names: string[]): Promise<number[]> => {
    const replies =
      (await client.pipeline(names.map((name) => ['cluster', 'keyslot', name])).exec()) ?? [];
    return replies.map(([error, slot]) => {
      if (error) throw error;
      return Number(slot);
    });
  };

  it('puts every key of one tenant in one slot with hash tags', async () => {
    const keys = new RedisKeys('arb', { hashTags: true });
    const names = tenantKeys(keys, tenant);
    expect(names.length).toBeGreaterThan(35);
    for (const name of names) expect(name).toContain(`:{${tenant}}`);
    expect(new Set(await slotsOf(names)).size).toBe(1);
  });

  it('spreads tenants over many slots', async () => {
    const keys = new RedisKeys('arb', { hashTags: true });
    const tenants = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(32, '0'));
    const slots = await slotsOf(tenants.map((id) => keys.scan(id, 'f00d')));
    expect(new Set(slots).size).toBeGreaterThan(180);
  });

  it('gives each queue its own slot with hash tags, one prefix for all without', () => {
    const tagged = new RedisKeys('arb', { hashTags: true });
    const queues = Object.values(QUEUE_NAMES).map((name) => tagged.queuePrefix(name));
    expect(queues).toEqual(['arb:q:{scan}', 'arb:q:{callback}', 'arb:q:{retro}', 'arb:q:{rescan}']);
    for (const prefix of queues) expect(prefix.startsWith(`${tagged.queueRoot()}:`)).toBe(true);
    const plain = new RedisKeys('arb');
    expect(Object.values(QUEUE_NAMES).map((name) => plain.queuePrefix(name))).toEqual(
      Array(4).fill('arb:q'),
    );
  });

  it('keeps the names of every key without hash tags', () => {
    const keys = new RedisKeys('arbiter');
    expect([
      keys.tenants(),
      keys.tenant(tenant),
      keys.tenantKeys(tenant),
      keys.apiKey('k'),
      keys.token(tenant, 't'),
      keys.tokenOwner('t'),
      keys.scan(tenant, 's'),
      keys.legacyPendingScans(),
      keys.tenantRulesVersion(tenant),
      keys.quotaPrefix(),
      keys.tenantSegment(tenant),
    ]).toEqual([
      'arbiter:tenants',
      `arbiter:tenant:${tenant}`,
      `arbiter:tenant:${tenant}:keys`,
      'arbiter:key:k',
      `arbiter:token:${tenant}:t`,
      'arbiter:token-owner:t',
      `arbiter:scan:${tenant}:s`,
      'arbiter:pending-scans',
      `arbiter:tenant-rules:${tenant}:version`,
      'arbiter:quota',
      tenant,
    ]);
    expect(new RedisKeys('arbiter', { hashTags: false }).scan(tenant, 's')).toBe(
      keys.scan(tenant, 's'),
    );
  });

  it('refuses a prefix with a brace when hash tags are on', () => {
    expect(() => new RedisKeys('a{b}', { hashTags: true })).toThrow(/cannot hold/);
    expect(new RedisKeys('a{b}').tenants()).toBe('a{b}:tenants');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import {
  joinRuleSources,
  locateLine,
  sha256Hex,
  TenantRuleStore,
  type RuleFile,
} from '../../core/tenant-rules.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/** The rule file store (core/tenant-rules.ts) against a real redis-server. */
describe('tenant rule store', () => {
  let redis: TestRedis;
  let client: Redis;
  const keys = new RedisKeys('rules');
  const alice = 'a'.repeat(32);
  const bob = 'b'.repeat(32);

  beforeAll(async () => {
    redis = await startTestRedis();
    client = createRedis(redis.url, 'command', () => undefined);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const file = (name: string, source: string, position: number, rules: string[]): RuleFile => ({
    name,
    source,
    sha256: sha256Hex(source),
    size: Buffer.byteLength(source),
    rules,
    warnings: [],
    created: '2026-12-05T10:00:00.000Z',
    modified: '2026-12-05T10:00:00.000Z',
    position,
  });

  it('writes only at the version a change was checked against, and keeps tenants apart', async () => {
    const store = new TenantRuleStore(client, keys);
    expect(await store.snapshot(alice)).toEqual({ version: 0, files: [] });
    expect(await store.put(alice, 0, file('b.yar', 'rule b { condition: b2 }', 1, ['b']))).toBe(1);
    // Checked against version 0, written after version 1: refused, nothing changes.
    expect(await store.put(alice, 0, file('c.yar', 'rule c { condition: true }', 1, ['c']))).toBe(
      undefined,
    );
    expect(await store.put(alice, 1, file('a.yar', 'rule a { condition: true }', 2, ['a']))).toBe(
      2,
    );
    const set = await store.snapshot(alice);
    expect(set.version).toBe(2);
    // In the order they were first put, not by name.
    expect(set.files.map((f) => f.name)).toEqual(['b.yar', 'a.yar']);
    expect(await store.snapshot(bob)).toEqual({ version: 0, files: [] });
    expect(await store.get(bob, 'a.yar')).toBeUndefined();
    expect(await store.delete(bob, 0, 'a.yar')).toBe('gone');
    expect(await store.delete(alice, 1, 'a.yar')).toBeUndefined();
    expect(await store.delete(alice, 2, 'a.yar')).toBe(3);
    expect(await store.delete(alice, 3, 'a.yar')).toBe('gone');
    expect(await client.keys('rules:tenant-rules:*')).toEqual(
      expect.arrayContaining([
        `rules:tenant-rules:${alice}`,
        `rules:tenant-rules:${alice}:version`,
      ]),
    );
  });

  it('serves the rules in force from a cache of about a second, its own changes at once', async () => {
    const writer = new TenantRuleStore(client, keys);
    const scanner = new TenantRuleStore(client, keys);
    const tenant = 'c'.repeat(32);
    const t0 = 1_000_000;
    expect(await scanner.active(tenant, t0)).toBeUndefined();
    await writer.put(tenant, 0, file('x.yar', 'rule x { condition: true }', 1, ['x']));
    expect(await writer.active(tenant, t0)).toMatchObject({ version: 1, count: 1 });
    // Another process reads the version again only once its second is over.
    expect(await scanner.active(tenant, t0 + 500)).toBeUndefined();
    const active = await scanner.active(tenant, t0 + 1_000);
    expect(active).toMatchObject({ tenantId: tenant, version: 1, count: 1 });
    expect(active?.fileOf.get('x')).toBe('x.yar');
    expect(active?.sha256).toBe(sha256Hex('rule x { condition: true }\n'));
    await writer.delete(tenant, 1, 'x.yar');
    expect(await scanner.active(tenant, t0 + 1_500)).toMatchObject({ version: 1 });
    expect(await scanner.active(tenant, t0 + 2_000)).toBeUndefined();
  });

  it('joins sources and finds each line of the joined source in its file', () => {
    const joined = joinRuleSources([
      { name: 'one.yar', source: 'rule a {\n  condition: true\n}' },
      { name: 'two.yar', source: 'rule b {\n  condition: a\n}\n' },
    ]);
    expect(joined.source).toBe('rule a {\n  condition: true\n}\nrule b {\n  condition: a\n}\n');
    expect(locateLine(joined.ranges, 2)).toEqual({ name: 'one.yar', line: 2 });
    expect(locateLine(joined.ranges, 5)).toEqual({ name: 'two.yar', line: 2 });
    expect(locateLine(joined.ranges, 7)).toBeUndefined();
  });
});

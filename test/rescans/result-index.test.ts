import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import type { ScanRequest, ScanResult } from '../../scans/results.js';
import { ScanStore } from '../../scans/store.js';
import {
  isOlderDatabase,
  parseDatabaseVersion,
  scannedWithOlderDatabase,
} from '../../rescans/schema.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/** The per-tenant result index rescans walk, on a real redis-server; and how versions compare. */
describe('the tenant result index', () => {
  let server: TestRedis;
  let redis: Redis;
  let keys: RedisKeys;
  const tenant = 'a'.repeat(32);
  const otherTenant = 'b'.repeat(32);

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
    keys = server.keys('idx');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const id = (n: number) => n.toString(16).padStart(32, '0');
  const store = (ttlSeconds = 3600, max = 3) => new ScanStore(redis, keys, ttlSeconds, max);
  const finish = async (scans: ScanStore, tenantId: string, n: number, unlisted = false) => {
    const request: ScanRequest = {
      id: id(n),
      tenantId,
      source: 'location',
      location: 'http://127.0.0.1/x',
      metadata: {},
      creationDate: new Date().toISOString(),
    };
    await scans.createPendingMany([{ request, trace: 'received', unlisted }]);
    const result: ScanResult = {
      id: id(n),
      checksum: null,
      content_length: 1,
      findings: [],
      creation_date: request.creationDate,
      content_type: null,
      metadata: {},
    };
    expect(await scans.complete(tenantId, result)).toBe(true);
  };
  const everything = { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, skip: 0, limit: 100 };

  it('keeps the newest results up to its maximum, per tenant, and never a rescan’s own scans', async () => {
    const scans = store();
    for (let n = 1; n <= 5; n++) await finish(scans, tenant, n);
    await finish(scans, tenant, 6, true);
    await finish(scans, otherTenant, 7);
    const listed = await scans.listResults(tenant, everything);
    expect(listed.map((entry) => entry.id)).toEqual([id(3), id(4), id(5)]);
    expect((await scans.listResults(otherTenant, everything)).map((e) => e.id)).toEqual([id(7)]);
    // Paging: skip counts entries into the first score.
    const second = await scans.listResults(tenant, { ...everything, skip: 1, limit: 1 });
    expect(second.map((entry) => entry.id)).toEqual([id(4)]);
    // The index itself expires with the results of an idle tenant.
    expect(await redis.ttl(keys.tenantResults(tenant))).toBeGreaterThan(3000);
  });

  it('drops entries older than the result TTL when written or read, and deleted results at once', async () => {
    const scans = store(60, 100);
    await finish(scans, otherTenant, 8);
    // An entry from two minutes ago, as if written then (its record would have expired).
    await redis.zadd(keys.tenantResults(otherTenant), Date.now() - 120_000, id(9));
    expect((await scans.listResults(otherTenant, everything)).map((e) => e.id)).toEqual([
      id(7),
      id(8),
    ]);
    expect(await redis.zscore(keys.tenantResults(otherTenant), id(9))).toBeNull();
    expect(await scans.deleteResult(otherTenant, id(8))).toBe(true);
    expect((await scans.listResults(otherTenant, everything)).map((e) => e.id)).toEqual([id(7)]);
  });
});

describe('database versions', () => {
  const builtin = (hash: string) => `arbiter-builtin/0.3.0 db:${hash} (12 signatures)`;

  it('reads the built-in engine’s and clamd’s version strings, and nothing else', () => {
    expect(parseDatabaseVersion(builtin('3f9a0c1b2d4e'))).toMatchObject({
      family: 'builtin',
      fingerprint: '3f9a0c1b2d4e',
    });
    expect(parseDatabaseVersion('ClamAV 1.4.6/27514/Mon Dec  1 09:24:02 2026')).toMatchObject({
      family: 'clamav',
      daily: 27514,
    });
    for (const text of ['ClamAV 1.4.6', 'arbiter-builtin/0.3.0', 'current', 'db:abc', ''])
      expect(parseDatabaseVersion(text)).toBeUndefined();
  });

  it('compares clamd by its daily number and the built-in engine by fingerprint', () => {
    const clam = (daily: number) => parseDatabaseVersion(`ClamAV 1.4.6/${daily}/x`)!;
    expect(isOlderDatabase(clam(27000), clam(27514))).toBe(true);
    expect(isOlderDatabase(clam(27514), clam(27514))).toBe(false);
    expect(isOlderDatabase(clam(27600), clam(27514))).toBe(false);
    const a = parseDatabaseVersion(builtin('aaaaaaaaaaaa'))!;
    const b = parseDatabaseVersion(builtin('bbbbbbbbbbbb'))!;
    expect(isOlderDatabase(a, b)).toBe(true);
    expect(isOlderDatabase(b, b)).toBe(false);
    // Another engine's database is never "older".
    expect(isOlderDatabase(a, clam(27514))).toBe(false);
    expect(
      scannedWithOlderDatabase(
        [{ version: builtin('bbbbbbbbbbbb') }, { version: 'ClamAV 1.4.6/27000/x' }],
        [b, clam(27514)],
      ),
    ).toBe(true);
    expect(scannedWithOlderDatabase(undefined, [b])).toBe(false);
  });
});

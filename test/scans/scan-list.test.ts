import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import type { ScanRequest, ScanResult } from '../../scans/results.js';
import { listScans, SEARCH_EXAMINE_MAX } from '../../scans/scan-list.js';
import { ScanStore } from '../../scans/store.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/**
 * The scan list's indexes on a real redis-server: the outcome indexes trimmed with the result
 * index, ties in completion time paged without loss, a search bounded per request.
 */
describe('the scan list', () => {
  let server: TestRedis;
  let redis: Redis;
  let keys: RedisKeys;
  const tenant = 'c'.repeat(32);

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
    keys = server.keys('list');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const id = (n: number) => n.toString(16).padStart(32, '0');
  const finish = async (scans: ScanStore, tenantId: string, n: number, findings: string[]) => {
    const request: ScanRequest = {
      id: id(n),
      tenantId,
      source: 'location',
      location: 'http://127.0.0.1/x',
      metadata: { n: String(n) },
      creationDate: new Date().toISOString(),
    };
    await scans.createPendingMany([{ request, trace: 'received' }]);
    const result: ScanResult = {
      id: id(n),
      checksum: null,
      content_length: 1,
      findings,
      creation_date: request.creationDate,
      content_type: null,
      metadata: request.metadata,
    };
    expect(await scans.complete(tenantId, result)).toBe(true);
  };

  it('trims the outcome indexes with the result index', async () => {
    const scans = new ScanStore(redis, keys, 3600, 3);
    for (let n = 1; n <= 5; n++)
      await finish(scans, tenant, n, n % 2 ? ['content.malicious.x'] : []);
    const members = async (outcome?: 'clean' | 'findings') =>
      (await scans.listNewest(tenant, { outcome, limit: 100 })).map((entry) => entry.id);
    expect(await members()).toEqual([id(5), id(4), id(3)]);
    expect(await members('findings')).toEqual([id(5), id(3)]);
    expect(await members('clean')).toEqual([id(4)]);
    expect(await redis.ttl(keys.tenantResultsByOutcome(tenant, 'clean'))).toBeGreaterThan(3000);
  });

  it('pages through entries completed in the same millisecond', async () => {
    const scans = new ScanStore(redis, keys, 3600);
    const tied = 'd'.repeat(32);
    const now = Date.now();
    for (let n = 1; n <= 5; n++) await redis.zadd(keys.tenantResults(tied), now, id(n));
    const seen: string[] = [];
    let after;
    for (;;) {
      const page = await scans.listNewest(tied, { after, limit: 2 });
      if (page.length === 0) break;
      seen.push(...page.map((entry) => entry.id));
      after = page.at(-1);
    }
    expect(seen).toEqual([id(5), id(4), id(3), id(2), id(1)]);
  });

  it('stops a search after a bounded number of records, with a cursor to go on', async () => {
    const scans = new ScanStore(redis, keys, 3600);
    const busy = 'e'.repeat(32);
    const total = SEARCH_EXAMINE_MAX + 50;
    for (let n = 1; n <= total; n++) await finish(scans, busy, n, []);
    const first = await listScans(scans, busy, { limit: 10, q: `no-such-value` });
    expect(first.scans).toEqual([]);
    expect(first.next).toBeDefined();
    // The 50 oldest are left: n 50 down to 1, of which those holding a "1".
    const oldest = await listScans(scans, busy, { limit: 100, q: '1', after: first.next });
    expect(oldest.next).toBeUndefined();
    expect(oldest.scans.map((scan) => scan.metadata.n)).toEqual([
      '41',
      '31',
      '21',
      '19',
      '18',
      '17',
      '16',
      '15',
      '14',
      '13',
      '12',
      '11',
      '10',
      '1',
    ]);
  });
});

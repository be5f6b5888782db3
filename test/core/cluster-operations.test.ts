import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySettingsStore } from '../../core/key-settings.js';
import { RedisKeys } from '../../core/keys.js';
import { TenantLimiter, TenantLimitStore } from '../../core/limits.js';
import { LocalUploadStore } from '../../core/local-upload-store.js';
import { createLogger } from '../../core/logger.js';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { S3UploadStore } from '../../core/s3-upload-store.js';
import { createQueues, QUEUE_NAMES, type Queues } from '../../core/queues.js';
import { createRedis, queueConnectionOptions, type Redis } from '../../core/redis.js';
import { ScanFairness } from '../../core/scan-fairness.js';
import { SecretBox } from '../../core/secret-box.js';
import { Spool } from '../../core/spool.js';
import { TenantDeletion } from '../../core/tenant-deletion.js';
import { TenantLeases } from '../../core/tenant-leases.js';
import { sha256Hex, TenantRuleStore } from '../../core/tenant-rules.js';
import { TenantSettingsStore } from '../../core/tenant-settings.js';
import { TenantStore } from '../../core/tenants.js';
import { TokenStore } from '../../core/tokens.js';
import { RescanStore } from '../../rescans/store.js';
import { BucketStore } from '../../s3/bucket-store.js';
import { ObjectLeases } from '../../s3/object-scans.js';
import { RetroJobStore } from '../../s3/retro/jobs.js';
import { RetroSchedules } from '../../s3/retro/schedules.js';
import { PendingReaper } from '../../scans/pending-reaper.js';
import type { PipelineDeps } from '../../scans/pipeline.js';
import type { ScanRequest, ScanResult } from '../../scans/results.js';
import { ScanService } from '../../scans/service.js';
import { ScanStore } from '../../scans/store.js';
import { Redeliveries } from '../../webhooks/redelivery.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/**
 * Every store with hash tags on, against a single-node Redis Cluster (test/support/redis-server.ts):
 * it holds every slot, so a plain client reaches all keys, but Redis refuses any MULTI, script
 * or multi-key command whose keys span two slots (CROSSSLOT), as a real Cluster does.
 */
describe('redis operations on a cluster (hash tags)', () => {
  let server: TestRedis;
  let redis: Redis;
  let queues: Queues;
  let spoolDir: string;
  const keys = new RedisKeys('arb', { hashTags: true });
  const logger = createLogger('silent');
  const scans = () => new ScanStore(redis, keys, 3600);

  beforeAll(async () => {
    server = await startTestRedis({ cluster: true });
    redis = createRedis(server.url, 'command', () => undefined);
    queues = createQueues(queueConnectionOptions(server.url, 'command'), keys.queuePrefix);
    spoolDir = await mkdtemp(path.join(tmpdir(), 'arbiter-cluster-spool-'));
  });
  afterAll(async () => {
    await Promise.all(
      [queues?.scan, queues?.callback, queues?.retro, queues?.rescan].map((q) => q?.close()),
    );
    redis?.disconnect();
    await server?.stop();
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  });

  let n = 0;
  const newHexId = () => (++n).toString(16).padStart(32, '0');
  const request = (tenantId: string, extra: Partial<ScanRequest> = {}): ScanRequest => ({
    id: newHexId(),
    tenantId,
    source: 'location',
    location: 'http://127.0.0.1/x',
    metadata: {},
    creationDate: new Date().toISOString(),
    ...extra,
  });
  const resultOf = (req: ScanRequest, findings: string[] = []): ScanResult => ({
    id: req.id,
    checksum: null,
    content_length: 1,
    findings,
    creation_date: req.creationDate,
    content_type: null,
    metadata: {},
  });
  const bucketBody = (queue: boolean) => ({
    credentials: { type: 'static', accessKeyId: 'AK', secretAccessKey: 'SK' },
    endpoint: 'http://127.0.0.1:9',
    ...(queue ? { queue: { url: 'http://127.0.0.1:9/q' } } : {}),
  });
  const bucketStore = () =>
    new BucketStore(
      redis,
      keys,
      new SecretBox(Buffer.alloc(32, 7)),
      createNetworkPolicy(['127.0.0.0/8']),
    );
  const newTenant = async () => (await new TenantStore(redis, keys).createTenant('t')).tenant.id;

  it('tenants, API keys and their settings', async () => {
    const tenants = new TenantStore(redis, keys);
    const { tenant, credentials } = await tenants.createTenant('acme');
    const second = await tenants.addKey(tenant.id);
    expect((await tenants.listKeys(tenant.id)).map((k) => k.key).sort()).toEqual(
      [credentials.key, second.key].sort(),
    );
    expect((await tenants.checkKey(credentials.key, credentials.secret)).outcome).toBe('ok');
    expect(await tenants.disableKey(second.key)).toBe(true);
    expect((await tenants.checkKey(second.key, second.secret)).outcome).toBe('disabled');
    expect(await tenants.rotateSigningSecret(tenant.id, 60)).toBeDefined();
    expect(await tenants.getSigningSecrets(tenant.id)).toHaveLength(2);
    expect((await tenants.listTenants()).map((t) => t.id)).toContain(tenant.id);
    const pages: string[] = [];
    for await (const page of tenants.eachTenantIdPage()) pages.push(...page);
    expect(pages).toContain(tenant.id);
    const settings = new KeySettingsStore(redis, keys);
    expect(await settings.setCategories(credentials.key, ['malware'])).toMatchObject({
      tenantId: tenant.id,
    });
    expect(await settings.setSanitize(credentials.key, true)).toMatchObject({ sanitize: true });
  });

  it('tokens', async () => {
    const tenantId = await newTenant();
    const tokens = new TokenStore(redis, keys);
    const token = await tokens.create(tenantId, 'key', 60, 'browser');
    expect(await tokens.findById(token.id)).toMatchObject({ tenantId });
    expect(await tokens.delete(tenantId, token.id)).toBe(true);
    expect(await tokens.findById(token.id)).toBeUndefined();
  });

  it('the scan store: every operation', async () => {
    const store = scans();
    const [a, b] = [await newTenant(), await newTenant()];
    const single = request(a);
    await store.createPending(single);
    const [first, second, other] = [request(a), request(a), request(b)];
    // Entries of two tenants: one MULTI each.
    await store.createPendingMany([first, second, other].map((r) => ({ request: r, trace: 'in' })));
    expect(await store.states(a, [single.id, first.id, second.id])).toEqual([
      'pending',
      'pending',
      'pending',
    ]);
    await store.appendTraceEvents(a, first.id, [{ timestamp: 'now', message: 'more' }]);
    expect(await store.getTrace(a, first.id)).toHaveLength(2);
    expect(await store.complete(a, resultOf(first), { callbackOwedScore: 1 })).toBe(true);
    expect(await store.isPendingIndexed(a, first.id)).toBe(true);
    await store.forgetPending(a, first.id);
    expect(await store.isPendingIndexed(a, first.id)).toBe(false);
    expect(await store.replaceResult(a, resultOf(first), resultOf(first, ['x']))).toBe(true);
    expect((await store.get(a, first.id))?.result?.findings).toEqual(['x']);
    expect(
      await store.listResults(a, { fromMs: 0, toMs: Date.now() + 1, skip: 0, limit: 10 }),
    ).toHaveLength(1);
    expect(await store.deleteScan(a, second.id)).toBe('pending');
    await store.purge(a, single.id);
    expect(await store.get(a, single.id)).toBeUndefined();
    expect(await store.deleteTrace(a, first.id)).toBe(true);
    expect(await store.claimStalePending(b, Date.now() + 1, 10)).toEqual([other.id]);
  });

  it('the pending reaper: the legacy global index moved per tenant, then reaped', async () => {
    const store = scans();
    const tenants = new TenantStore(redis, keys);
    const tenantId = await newTenant();
    const lost = request(tenantId);
    const owed = request(tenantId, { callback: 'http://127.0.0.1/cb' });
    const expired = request(tenantId);
    await store.createPending(lost);
    await store.createPending(owed);
    expect(await store.complete(tenantId, resultOf(owed), { callbackOwedScore: 1 })).toBe(true);
    await store.forgetPending(tenantId, lost.id);
    await store.forgetPending(tenantId, owed.id);
    // What an older version left: one global index, "{tid}:{id}" members.
    const legacy = keys.legacyPendingScans();
    await redis.zadd(legacy, 1, `${tenantId}:${lost.id}`, 1, `${tenantId}:${owed.id}`);
    await redis.zadd(legacy, 1, `${tenantId}:${expired.id}`);

    const pipeline = {
      scans: store,
      queues,
      uploads: new LocalUploadStore(new Spool(spoolDir)),
      logger,
      limits: { maxFetchSize: 1, fetchTimeoutMs: 1 },
    } as Partial<PipelineDeps> as PipelineDeps; // Engines, HTTP and spool: not reached here.
    const reaper = new PendingReaper({
      scanning: new ScanService(pipeline),
      metrics: { pendingReaped: () => undefined },
      logger,
      graceMs: 1000,
      batchSize: 10,
      tenantIds: () => tenants.eachTenantIdPage(),
    });
    expect(await reaper.reap()).toEqual({ requeued: 1, failed: 0 });
    expect(await redis.zcard(legacy)).toBe(0);
    expect(await queues.scan.getJobState(lost.id)).not.toBe('unknown');
    expect(await store.isPendingIndexed(tenantId, lost.id)).toBe(true);
    // The finished scan whose callback was owed: queued, and out of the index.
    expect(await queues.callback.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
    expect(await store.isPendingIndexed(tenantId, owed.id)).toBe(false);
    expect(await store.isPendingIndexed(tenantId, expired.id)).toBe(false);
    // Moving again is harmless: nothing is left to move.
    expect(await store.adoptLegacyPending(10)).toBe(0);
  });

  it('moves the legacy index idempotently (a move cut off half-way is done again)', async () => {
    const store = scans();
    const tenantId = await newTenant();
    const req = request(tenantId);
    await store.createPending(req);
    await store.forgetPending(tenantId, req.id);
    const legacy = keys.legacyPendingScans();
    await redis.zadd(legacy, 5, `${tenantId}:${req.id}`);
    // A crash after the add and before the removal: the entry is in both.
    await redis.zadd(keys.pendingScans(tenantId), 7, req.id);
    expect(await store.adoptLegacyPending(10)).toBe(1);
    expect(await redis.zcard(legacy)).toBe(0);
    // The entry already there (a newer stamp) is kept.
    expect(await redis.zscore(keys.pendingScans(tenantId), req.id)).toBe('7');
  });

  it('rescans, retro jobs and schedules', async () => {
    const tenantId = await newTenant();
    const rescans = new RescanStore(redis, keys, 3600);
    const rescanId = newHexId();
    const definition = {
      older_than: '1',
      databases: [],
      findings: 'clean' as const,
      from: '2026-01-01T00:00:00Z',
      to: '2026-12-01T00:00:00Z',
    };
    expect(await rescans.create(tenantId, rescanId, definition)).toEqual({ created: true });
    expect(await rescans.create(tenantId, newHexId(), definition)).toEqual({
      created: false,
      running: rescanId,
    });
    await rescans.addInflight(tenantId, rescanId, new Map([['r1', 's1']]));
    expect(
      await rescans.checkpoint(tenantId, rescanId, 0, { page: 1, fromMs: 0, skip: 0 }, true, {
        'c:listed': 1,
      }),
    ).toBe(true);
    await rescans.markScanning(tenantId, rescanId);
    expect(await rescans.settle(tenantId, rescanId, 'r1', 'clean', ['c:rescanned'])).toBe(true);
    expect(await rescans.settled(tenantId, rescanId, ['r1', 'r2'])).toEqual([true, false]);
    await rescans.end(tenantId, rescanId, 'cancelled');

    const jobs = new RetroJobStore(redis, keys, 3600);
    const jobId = newHexId();
    await jobs.create(tenantId, jobId, {
      buckets: [{ name: 'b', prefix: '' }],
      from: 'a',
      to: 'b',
    });
    expect(await jobs.credit(tenantId, jobId, { bucket: 'b', key: 'k' }, 'clean')).toBe(true);
    const next = { page: 1, bucket: 1, token: '', after: '' };
    expect(
      await jobs.checkpoint(tenantId, jobId, 0, next, { listed: 1, matched: 1, skipped: 0 }, true),
    ).toEqual({ ok: true, state: 'completed' });
    expect((await jobs.list(tenantId, 10)).map((job) => job.id)).toEqual([jobId]);
    const discarded = newHexId();
    await jobs.create(tenantId, discarded, { buckets: [], from: 'a', to: 'b' });
    await jobs.discard(tenantId, discarded);
    expect(await jobs.get(tenantId, discarded)).toBeUndefined();

    const schedules = new RetroSchedules(
      redis,
      keys,
      queues,
      jobs,
      () => Promise.resolve(),
      60,
      logger,
    );
    const schedule = await schedules.create(tenantId, {
      cron: '0 3 * * *',
      buckets: [{ name: 'b' }],
      window: 'all',
    });
    const fired = await jobs.createForSchedule(
      tenantId,
      newHexId(),
      { id: schedule.id, buckets: [{ name: 'b', prefix: '' }], window: 'all' },
      { from: 'a', to: 'b' },
    );
    expect(fired).toBeDefined();
    expect(await schedules.delete(tenantId, schedule.id)).toBe(true);
  });

  it('buckets, object leases, limits, rules and settings', async () => {
    const [a, b] = [await newTenant(), await newTenant()];
    const buckets = bucketStore();
    await buckets.put(a, 'bucket-a', bucketBody(true));
    await buckets.put(b, 'bucket-b', bucketBody(true));
    await buckets.put(b, 'bucket-c', bucketBody(false));
    expect((await buckets.list(b)).map((r) => r.name)).toEqual(['bucket-b', 'bucket-c']);
    expect((await buckets.withQueues()).map((r) => r.name).sort()).toEqual([
      'bucket-a',
      'bucket-b',
    ]);
    expect(await buckets.delete(b, 'bucket-b')).toBe(true);
    await buckets.put(a, 'bucket-a', bucketBody(false));
    expect(await buckets.withQueues()).toEqual([]);

    const leases = new ObjectLeases(redis, keys);
    const ref = { bucket: 'bucket-a', key: 'k', versionId: 'v1' };
    const [taken] = await leases.acquireMany(a, [{ ref, scanId: 's1' }]);
    expect(taken).toEqual({ acquired: true, holder: 's1' });
    await leases.acquireMany(a, [{ ref, scanId: 's2', retroJobId: 'j1' }]);
    expect(await leases.release(a, ref, 's1')).toEqual(['j1']);

    const slots = new TenantLeases(
      redis,
      { inflight: keys.scanInflight, parked: keys.scanParked, leftOnGrant: keys.scanBacklog },
      { limit: 1, leaseMs: 60_000 },
    );
    const fairness = new ScanFairness(redis, keys);
    expect(await fairness.priorityFor(a, 'j1')).toBeGreaterThan(0);
    expect(await slots.acquire(a, 'j1')).toBe(true);
    expect(await slots.acquire(a, 'j2')).toBe(false);
    await slots.park(a, 'j2');
    expect(await slots.renew(a, 'j1')).toBe(true);
    await slots.release(a, 'j1');

    const limitStore = new TenantLimitStore(redis, keys, {
      requestsPerSecond: 5,
      burst: 5,
      bytesPerDay: 100,
    });
    await limitStore.setOverrides(a, { requestsPerSecond: 2, burst: null, bytesPerDay: 50 });
    const limiter = new TenantLimiter(redis, keys, limitStore);
    expect((await limiter.admitRequest(a))?.allowed).toBe(true);
    expect((await limiter.chargeUpload(a, 40)).allowed).toBe(true);
    await limiter.chargeFetched(a, 5);
    expect(await limiter.bytesUsed(a)).toBe(45);
    expect((await limiter.checkQuota(a)).allowed).toBe(true);

    const rules = new TenantRuleStore(redis, keys);
    const source = 'rule r { condition: true }';
    const version = await rules.put(a, 0, {
      name: 'r.yar',
      source,
      sha256: sha256Hex(source),
      size: source.length,
      rules: ['r'],
      warnings: [],
      created: 'now',
      modified: 'now',
      position: 0,
    });
    expect(version).toBe(1);
    expect((await rules.snapshot(a)).version).toBe(1);

    const tenantSettings = new TenantSettingsStore(redis, keys);
    expect((await tenantSettings.update(a, { reportUnscannable: true })).reportUnscannable).toBe(
      true,
    );
  });

  it('redelivery of a callback', async () => {
    const tenantId = await newTenant();
    const store = scans();
    const req = request(tenantId, { callback: 'http://127.0.0.1/cb' });
    await store.createPending(req);
    await store.complete(tenantId, resultOf(req));
    const redeliveries = new Redeliveries(redis, keys, store, queues, 3600);
    expect(await redeliveries.redeliver(tenantId, req.id)).toMatchObject({ redelivery: 1 });
  });

  it('small uploads staged in Redis', async () => {
    const tenantId = await newTenant();
    // Never contacted: every upload here is small, found in Redis.
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    const uploads = new S3UploadStore(client, { bucket: 'b', prefix: '' }, logger, {
      redis,
      key: keys.stagedUpload,
      maxBytes: 1024,
      ttlSeconds: 60,
    });
    const [first, second] = [newHexId(), newHexId()];
    await redis.set(keys.stagedUpload(tenantId, first), 'small file', 'EX', 60);
    expect(await uploads.copy(tenantId, first, second)).toBe(true);
    const scratch = path.join(spoolDir, 'copied');
    await uploads.fetch(tenantId, second, scratch);
    expect(await readFile(scratch, 'utf8')).toBe('small file');
    await uploads.remove(tenantId, first);
    expect(await redis.exists(keys.stagedUpload(tenantId, first))).toBe(0);
    expect(await uploads.exists(tenantId, second)).toBe(true);
    client.destroy();
  });

  it('tenant deletion', async () => {
    const tenants = new TenantStore(redis, keys);
    const { tenant, credentials } = await tenants.createTenant('doomed');
    const kept = await newTenant();
    const store = scans();
    await store.createPending(request(tenant.id));
    await new TokenStore(redis, keys).create(tenant.id, credentials.key, 60, 'browser');
    await bucketStore().put(tenant.id, 'gone', bucketBody(true));
    const deletion = new TenantDeletion({
      redis,
      keys,
      schedules: { delete: () => Promise.resolve(true) },
      keyspaceNodes: () => [redis],
    });
    expect(await deletion.delete(tenant.id)).toEqual({ status: 'pending-scans', count: 1 });
    expect(await deletion.delete(tenant.id, { force: true })).toEqual({ status: 'deleted' });
    expect(await redis.keys(`*${tenant.id}*`)).toEqual([]);
    expect(await redis.exists(keys.apiKey(credentials.key))).toBe(0);
    expect(await redis.sismember(keys.tenants(), tenant.id)).toBe(0);
    expect(await redis.smembers(keys.bucketQueues())).not.toContain(`${tenant.id}/gone`);
    expect(await tenants.tenantExists(kept)).toBe(true);
  });

  it('a crash between the two steps of a split write leaves nothing visible', async () => {
    const tenants = new TenantStore(redis, keys);
    // createTenant stopped after the set: the id is listed nowhere, and deleting it clears it.
    const stray = newHexId();
    await redis.sadd(keys.tenants(), stray);
    expect((await tenants.listTenants()).map((t) => t.id)).not.toContain(stray);
    const deletion = new TenantDeletion({
      redis,
      keys,
      schedules: { delete: () => Promise.resolve(true) },
    });
    expect(await deletion.delete(stray)).toEqual({ status: 'unknown' });
    expect(await redis.sismember(keys.tenants(), stray)).toBe(0);
    // addKey stopped after the tenant's list: the key is not shown and authenticates nobody.
    const tenantId = await newTenant();
    const before = await tenants.listKeys(tenantId);
    await redis.sadd(keys.tenantKeys(tenantId), 'half-made-key');
    expect(await tenants.listKeys(tenantId)).toEqual(before);
    expect((await tenants.checkKey('half-made-key', 'secret')).outcome).toBe('unknown');
    // A token stopped before its owner record: it cannot be presented.
    await redis.hset(keys.token(tenantId, 'half-made-token'), {
      tenant_id: tenantId,
      expiration_date: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(await new TokenStore(redis, keys).findById('half-made-token')).toBeUndefined();
    // A bucket put stopped after bucket-queues (or a delete before it): no poller for it.
    await redis.sadd(keys.bucketQueues(), `${tenantId}/never-written`);
    expect((await bucketStore().withQueues()).map((r) => r.name)).not.toContain('never-written');
  });

  it('BullMQ queues each keep their keys under their own hash tag', async () => {
    const names = await redis.keys(`${keys.queueRoot()}:*`);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names)
      expect(
        Object.values(QUEUE_NAMES).some((q) => name.startsWith(`${keys.queuePrefix(q)}:`)),
      ).toBe(true);
  });
});

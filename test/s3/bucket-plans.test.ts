import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySettingsStore } from '../../core/key-settings.js';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { SecretBox } from '../../core/secret-box.js';
import { TenantSettingsStore } from '../../core/tenant-settings.js';
import { TenantStore } from '../../core/tenants.js';
import { objectRequest } from '../../scans/request.js';
import { SettingsScanPlanner } from '../../scans/scan-plans.js';
import { BucketPlans, classifiesKey } from '../../s3/bucket-plans.js';
import { BucketStore } from '../../s3/bucket-store.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

describe('which keys a bucket classifies', () => {
  it('takes every key with no include prefix, and lets an exclude prefix win', () => {
    expect(classifiesKey(undefined, 'a.txt')).toBe(false);
    expect(classifiesKey({ include: [], exclude: [] }, 'a.txt')).toBe(true);
    const hr = { include: ['hr/', 'finance/2024/'], exclude: ['hr/public/'] };
    expect(classifiesKey(hr, 'hr/staff.csv')).toBe(true);
    expect(classifiesKey(hr, 'finance/2024/q1.xlsx')).toBe(true);
    expect(classifiesKey(hr, 'finance/2023/q1.xlsx')).toBe(false);
    expect(classifiesKey(hr, 'hr/public/notice.txt')).toBe(false);
    expect(classifiesKey(hr, 'HR/staff.csv')).toBe(false); // S3 keys are case-sensitive
    expect(classifiesKey(hr, 'hr')).toBe(false);
    expect(classifiesKey({ include: [], exclude: ['tmp/'] }, 'tmp/x')).toBe(false);
  });
});

/**
 * The planner over the real stores with the bucket registrations: a bucket's categories replace
 * the key's and the tenant's for its objects; classify adds `sensitive_data` to whatever runs
 * for the keys it names; uploads and objects of unregistered buckets are not touched.
 */
describe('the scan planner with bucket settings', () => {
  let server: TestRedis;
  let redis: Redis;
  let tenants: TenantStore;
  let settings: TenantSettingsStore;
  let keySettings: KeySettingsStore;
  let buckets: BucketStore;
  let plans: BucketPlans;
  let planner: SettingsScanPlanner;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
    const keys = server.keys('bucket-plans');
    tenants = new TenantStore(redis, keys);
    settings = new TenantSettingsStore(redis, keys);
    keySettings = new KeySettingsStore(redis, keys);
    buckets = new BucketStore(
      redis,
      keys,
      new SecretBox(Buffer.alloc(32, 7)),
      createNetworkPolicy([]),
    );
    plans = new BucketPlans(buckets);
    planner = new SettingsScanPlanner(settings, keySettings, plans);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const credentials = { type: 'static', accessKeyId: 'AKIAEXAMPLE0', secretAccessKey: 's' };
  const object = (tenantId: string, bucket: string, key: string, keyId?: string) =>
    objectRequest(tenantId, 'a'.repeat(32), {
      object: { bucket, key },
      origin: keyId ? 'api' : 'event',
      ...(keyId ? { keyId } : {}),
    });

  it('adds sensitive_data for the classified keys only, to the tenant’s categories', async () => {
    const { tenant } = await tenants.createTenant('classify');
    await settings.update(tenant.id, { detectionCategories: ['unsafe_language', 'malware'] });
    await buckets.put(tenant.id, 'records', {
      region: 'us-east-1',
      credentials,
      classify: true,
      classifyInclude: ['hr/'],
      classifyExclude: ['hr/public/'],
    });
    const plan = await planner.planFor(object(tenant.id, 'records', 'hr/staff.csv'));
    expect(plan.categories).toEqual(['malware', 'unsafe_language', 'sensitive_data']);
    for (const key of ['hr/public/a.txt', 'other/staff.csv'])
      expect((await planner.planFor(object(tenant.id, 'records', key))).categories).toEqual([
        'malware',
        'unsafe_language',
      ]);
    // A bucket another tenant registered under the same name changes nothing here.
    const { tenant: other } = await tenants.createTenant('other');
    expect((await planner.planFor(object(other.id, 'records', 'hr/x'))).categories).toEqual([
      'malware',
    ]);
  });

  it('takes the bucket’s categories over the asking key’s and the tenant’s', async () => {
    const { tenant, credentials: key } = await tenants.createTenant('override');
    await keySettings.setCategories(key.key, ['unsafe_image']);
    await buckets.put(tenant.id, 'images', {
      region: 'us-east-1',
      credentials,
      detectionCategories: ['unsafe_language'],
    });
    await buckets.put(tenant.id, 'plain', { region: 'us-east-1', credentials });
    expect(
      (await planner.planFor(object(tenant.id, 'images', 'a.png', key.key))).categories,
    ).toEqual(['unsafe_language']);
    expect((await planner.planFor(object(tenant.id, 'images', 'a.png'))).categories).toEqual([
      'unsafe_language',
    ]);
    // A bucket without categories of its own: the key's, else the tenant's.
    expect(
      (await planner.planFor(object(tenant.id, 'plain', 'a.png', key.key))).categories,
    ).toEqual(['unsafe_image']);
    expect((await planner.planFor(object(tenant.id, 'plain', 'a.png'))).categories).toEqual([
      'malware',
    ]);
  });

  it('sees a registration changed by another process within a second', async () => {
    const { tenant } = await tenants.createTenant('changes');
    await buckets.put(tenant.id, 'later', { region: 'us-east-1', credentials });
    const request = object(tenant.id, 'later', 'hr/a.csv');
    const now = Date.now();
    expect(await plans.forObject(tenant.id, request.object!, now)).toEqual({ classify: false });
    await buckets.put(tenant.id, 'later', {
      region: 'us-east-1',
      classify: true,
      detectionCategories: ['malware'],
    });
    expect(await plans.forObject(tenant.id, request.object!, now + 500)).toEqual({
      classify: false,
    });
    expect(await plans.forObject(tenant.id, request.object!, now + 1000)).toEqual({
      categories: ['malware'],
      classify: true,
    });
    await buckets.delete(tenant.id, 'later');
    expect(await plans.forObject(tenant.id, request.object!, now + 2000)).toBeUndefined();
  });
});

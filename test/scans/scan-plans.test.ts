import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySettingsStore } from '../../core/key-settings.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { DEFAULT_CLASSIFICATION } from '../../core/sensitive-types.js';
import { TenantSettingsStore } from '../../core/tenant-settings.js';
import { TenantStore } from '../../core/tenants.js';
import { objectRequest, uploadRequest } from '../../scans/request.js';
import { SettingsScanPlanner } from '../../scans/scan-plans.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

/**
 * The planner over the real stores: a scan's plan is its key's categories where the key has
 * its own, else its tenant's, with the tenant's image threshold and classification settings;
 * scans no key submitted (S3 events, retro jobs, rescans) follow the tenant; a key never shapes
 * another tenant's scans.
 */
describe('the scan planner', () => {
  let server: TestRedis;
  let redis: Redis;
  let tenants: TenantStore;
  let settings: TenantSettingsStore;
  let keySettings: KeySettingsStore;
  let planner: SettingsScanPlanner;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
    const keys = server.keys('plans');
    tenants = new TenantStore(redis, keys);
    settings = new TenantSettingsStore(redis, keys);
    keySettings = new KeySettingsStore(redis, keys);
    planner = new SettingsScanPlanner(settings, keySettings);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('plans malware alone at the default threshold for a tenant and key that set nothing', async () => {
    const { tenant, credentials } = await tenants.createTenant('plain');
    const plan = await planner.planFor(
      uploadRequest(tenant.id, {}, { name: 'a.txt' }, { keyId: credentials.key }),
    );
    expect(plan).toEqual({
      tenantId: tenant.id,
      categories: ['malware'],
      imageThreshold: 0.7,
      classification: DEFAULT_CLASSIFICATION,
    });
  });

  it("takes the key's categories over the tenant's, the tenant's threshold, and the tenant's again after null", async () => {
    const { tenant, credentials } = await tenants.createTenant('override');
    await settings.update(tenant.id, {
      detectionCategories: ['unsafe_language', 'malware'],
      imageThreshold: 0.4,
      classification: { types: ['phone', 'credit_card', 'phone'], minMatches: 3 },
    });
    await keySettings.setCategories(credentials.key, ['unsafe_image', 'sensitive_data']);
    const byKey = uploadRequest(tenant.id, {}, { name: 'a.txt' }, { keyId: credentials.key });
    // The key switches categories; what sensitive_data counts stays the tenant's.
    expect(await planner.planFor(byKey)).toEqual({
      tenantId: tenant.id,
      categories: ['unsafe_image', 'sensitive_data'],
      imageThreshold: 0.4,
      classification: { types: ['credit_card', 'phone'], minMatches: 3 },
    });
    // No key: an S3 event's scan, a retro job's, a rescan's.
    const event = objectRequest(tenant.id, 'f'.repeat(32), {
      object: { bucket: 'b', key: 'k' },
      origin: 'event',
      keyId: credentials.key,
    });
    expect(event.keyId).toBeUndefined();
    expect((await planner.planFor(event)).categories).toEqual(['malware', 'unsafe_language']);

    await keySettings.setCategories(credentials.key, null);
    expect((await planner.planFor(byKey)).categories).toEqual(['malware', 'unsafe_language']);
  });

  it('ignores a key that belongs to another tenant, and an unknown key', async () => {
    const mine = await tenants.createTenant('mine');
    const theirs = await tenants.createTenant('theirs');
    await keySettings.setCategories(theirs.credentials.key, ['unsafe_language']);
    const borrowed = uploadRequest(
      mine.tenant.id,
      {},
      { name: 'a.txt' },
      {
        keyId: theirs.credentials.key,
      },
    );
    expect((await planner.planFor(borrowed)).categories).toEqual(['malware']);
    const unknown = uploadRequest(mine.tenant.id, {}, { name: 'a.txt' }, { keyId: 'no-such-key' });
    expect((await planner.planFor(unknown)).categories).toEqual(['malware']);
    expect(await keySettings.setCategories('no-such-key', ['malware'])).toBeUndefined();
    expect(await redis.exists(server.keys('plans').apiKey('no-such-key'))).toBe(0);
  });

  it('sees a change made by another process within a second', async () => {
    const { tenant, credentials } = await tenants.createTenant('elsewhere');
    const request = uploadRequest(tenant.id, {}, { name: 'a.txt' }, { keyId: credentials.key });
    const now = Date.now();
    expect((await settings.current(tenant.id, now)).detectionCategories).toEqual(['malware']);
    // Another process's stores: this process's caches do not hear of the change.
    const keys = server.keys('plans');
    await new KeySettingsStore(redis, keys).setCategories(credentials.key, ['unsafe_language']);
    await new TenantSettingsStore(redis, keys).update(tenant.id, { imageThreshold: 0.9 });
    expect((await settings.current(tenant.id, now + 500)).imageThreshold).toBe(0.7);
    expect((await settings.current(tenant.id, now + 1000)).imageThreshold).toBe(0.9);
    expect(await keySettings.currentCategories(tenant.id, credentials.key, now + 1000)).toEqual([
      'unsafe_language',
    ]);
    expect((await planner.planFor(request)).categories).toEqual(['unsafe_language']);
  });
});

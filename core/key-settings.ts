import type { DetectionCategory } from './detection-categories.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import {
  normaliseCategories,
  parseStoredCategories,
  SETTINGS_CACHE_MS,
  storedCategories,
} from './tenant-settings.js';

/** A key's own settings; `null` where the key follows its tenant's. */
export interface KeySettings {
  tenantId: string;
  detectionCategories: readonly DetectionCategory[] | null;
}

const FIELD = 'detection_categories';

/**
 * Per-key overrides of the tenant's detection categories (`PUT /admin/keys/{key}/settings`).
 * Kept as a field of the key's own record (`{p}:key:{key}`), so whatever removes the key removes
 * its override with it, and a token minted by the key follows the key.
 */
export class KeySettingsStore {
  private readonly cache = new Map<
    string,
    { at: number; tenantId: string | undefined; categories: DetectionCategory[] | undefined }
  >();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Undefined for an unknown key. */
  async get(key: string): Promise<KeySettings | undefined> {
    const [tenantId, raw] = await this.redis.hmget(this.keys.apiKey(key), 'tenant_id', FIELD);
    if (!tenantId) return undefined;
    return { tenantId, detectionCategories: parseStoredCategories(raw) ?? null };
  }

  /**
   * Sets the key's categories (`null`: drop the override, follow the tenant again). Returns the
   * settings now in force, or undefined for an unknown key (nothing is written then).
   */
  async setCategories(
    key: string,
    categories: readonly DetectionCategory[] | null,
  ): Promise<KeySettings | undefined> {
    const normalised = categories === null ? [] : normaliseCategories(categories);
    if (categories !== null && normalised.length === 0)
      throw new Error('an override needs at least one category');
    const updated = await this.redis.apiKeySetCategories(
      1,
      this.keys.apiKey(key),
      storedCategories(normalised),
    );
    this.cache.delete(key);
    return updated === 1 ? this.get(key) : undefined;
  }

  /**
   * For the scan path: the key's override as read within the last second, or undefined when the
   * key has none, or does not belong to `tenantId` (a key never changes what another tenant's
   * scans look for).
   */
  async currentCategories(
    tenantId: string,
    key: string,
    now = Date.now(),
  ): Promise<readonly DetectionCategory[] | undefined> {
    let cached = this.cache.get(key);
    if (!cached || now - cached.at >= SETTINGS_CACHE_MS) {
      const [owner, raw] = await this.redis.hmget(this.keys.apiKey(key), 'tenant_id', FIELD);
      cached = { at: now, tenantId: owner ?? undefined, categories: parseStoredCategories(raw) };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, cached);
    }
    return cached.tenantId === tenantId ? cached.categories : undefined;
  }
}

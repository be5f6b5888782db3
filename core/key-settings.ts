import type { DetectionCategory } from './detection-categories.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import {
  normaliseCategories,
  parseStoredAllowedTypes,
  parseStoredCategories,
  parseStoredSwitch,
  SETTINGS_CACHE_MS,
  storedAllowedTypes,
  storedCategories,
  storedSwitch,
} from './tenant-settings.js';

/** A key's own settings; `null` where the key follows its tenant's. */
export interface KeySettings {
  tenantId: string;
  detectionCategories: readonly DetectionCategory[] | null;
  allowedContentTypes: readonly string[] | null;
  /** Whether its uploads and fetches get a sanitized copy when the request does not say. */
  sanitize: boolean | null;
}

/** What a key changes about its scans' plan; undefined where it follows its tenant. */
export interface KeyOverrides {
  categories: readonly DetectionCategory[] | undefined;
  allowedContentTypes: readonly string[] | undefined;
  sanitize: boolean | undefined;
}

const FIELD = 'detection_categories';
const ALLOWED_TYPES_FIELD = 'allowed_content_types';
const SANITIZE_FIELD = 'sanitize';

/** What a key that follows its tenant in everything changes: nothing. */
const NO_OVERRIDES: KeyOverrides = {
  categories: undefined,
  allowedContentTypes: undefined,
  sanitize: undefined,
};

/**
 * Per-key overrides of the tenant's detection categories, allowed content types and sanitizing
 * (`PUT /admin/keys/{key}/settings`).
 * Kept as a field of the key's own record (`{p}:key:{key}`), so whatever removes the key removes
 * its override with it, and a token minted by the key follows the key.
 */
export class KeySettingsStore {
  private readonly cache = new Map<
    string,
    { at: number; tenantId: string | undefined; overrides: KeyOverrides }
  >();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Undefined for an unknown key. */
  async get(key: string): Promise<KeySettings | undefined> {
    const [tenantId, raw, allowed, sanitize] = await this.redis.hmget(
      this.keys.apiKey(key),
      'tenant_id',
      FIELD,
      ALLOWED_TYPES_FIELD,
      SANITIZE_FIELD,
    );
    if (!tenantId) return undefined;
    return {
      tenantId,
      detectionCategories: parseStoredCategories(raw) ?? null,
      allowedContentTypes: parseStoredAllowedTypes(allowed),
      sanitize: parseStoredSwitch(sanitize) ?? null,
    };
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
   * Sets the key's allowed content types (`null`: drop the override, follow the tenant again).
   * Returns the settings now in force, or undefined for an unknown key (nothing is written then).
   */
  async setAllowedContentTypes(
    key: string,
    types: readonly string[] | null,
  ): Promise<KeySettings | undefined> {
    const stored = types === null ? '' : storedAllowedTypes(types);
    const updated = await this.redis.apiKeySetAllowedTypes(1, this.keys.apiKey(key), stored);
    this.cache.delete(key);
    return updated === 1 ? this.get(key) : undefined;
  }

  /**
   * Sets whether the key's scans get a sanitized copy when the request does not say (`null`: drop
   * the override, follow the tenant again). Returns the settings now in force, or undefined for an
   * unknown key (nothing is written then).
   */
  async setSanitize(key: string, sanitize: boolean | null): Promise<KeySettings | undefined> {
    const stored = sanitize === null ? '' : storedSwitch(sanitize);
    const updated = await this.redis.apiKeySetSanitize(1, this.keys.apiKey(key), stored);
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
    return (await this.currentOverrides(tenantId, key, now)).categories;
  }

  /** As currentCategories, for everything a key may override. */
  async currentOverrides(tenantId: string, key: string, now = Date.now()): Promise<KeyOverrides> {
    let cached = this.cache.get(key);
    if (!cached || now - cached.at >= SETTINGS_CACHE_MS) {
      const [owner, raw, allowed, sanitize] = await this.redis.hmget(
        this.keys.apiKey(key),
        'tenant_id',
        FIELD,
        ALLOWED_TYPES_FIELD,
        SANITIZE_FIELD,
      );
      const overrides = {
        categories: parseStoredCategories(raw),
        allowedContentTypes: parseStoredAllowedTypes(allowed) ?? undefined,
        sanitize: parseStoredSwitch(sanitize),
      };
      cached = { at: now, tenantId: owner ?? undefined, overrides };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, cached);
    }
    return cached.tenantId === tenantId ? cached.overrides : NO_OVERRIDES;
  }
}

import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * A tenant's scanning preferences, set by the operator. Kept apart from rate limits: those are
 * about admission, these change what a verdict says.
 */
export interface TenantSettings {
  /**
   * Whether content that could not be fully scanned (`content.unscannable.*`: encrypted, over a
   * limit, corrupt) is reported as a finding. On by default, so such content is never read as
   * clean; a tenant that opts out gets those findings listed under `suppressed_findings` instead.
   */
  reportUnscannable: boolean;
}

export const DEFAULT_TENANT_SETTINGS: TenantSettings = { reportUnscannable: true };

/** Settings are read from Redis at most this often per process (a change applies within it). */
const SETTINGS_CACHE_MS = 1000;

const REPORT_UNSCANNABLE = 'report_unscannable';

export class TenantSettingsStore {
  private readonly cache = new Map<string, { at: number; settings: TenantSettings }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async get(tenantId: string): Promise<TenantSettings> {
    const raw = await this.redis.hget(this.keys.tenantSettings(tenantId), REPORT_UNSCANNABLE);
    return {
      reportUnscannable: raw === null ? DEFAULT_TENANT_SETTINGS.reportUnscannable : raw === '1',
    };
  }

  /** Changes the fields given; the others keep their value. Returns the settings now in force. */
  async update(tenantId: string, changes: Partial<TenantSettings>): Promise<TenantSettings> {
    if (changes.reportUnscannable !== undefined) {
      await this.redis.hset(
        this.keys.tenantSettings(tenantId),
        REPORT_UNSCANNABLE,
        changes.reportUnscannable ? '1' : '0',
      );
    }
    this.cache.delete(tenantId);
    return this.get(tenantId);
  }

  /** For the scan path: the settings as read within the last second. */
  async current(tenantId: string, now = Date.now()): Promise<TenantSettings> {
    const cached = this.cache.get(tenantId);
    if (cached && now - cached.at < SETTINGS_CACHE_MS) return cached.settings;
    const settings = await this.get(tenantId);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { at: now, settings });
    return settings;
  }
}

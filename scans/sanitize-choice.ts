import type { KeySettingsStore } from '../core/key-settings.js';
import type { TenantSettingsStore } from '../core/tenant-settings.js';

/**
 * Whether a scan submitted through the API gets a sanitized copy (docs/sanitizing.md): the
 * request's own `sanitize` where it gives one (`false` turns it off for that request), else the
 * submitting key's setting where it has one, else its tenant's. Scanii clients cannot send a
 * parameter they do not know, so the operator's settings stand in for it.
 *
 * Decided once, when the scan is submitted, and stored on its ScanRequest: a worker's retry runs
 * with the same answer even if a setting changed meanwhile. Rescans make no copies of their own
 * and ask nothing here; bucket objects follow their bucket's `sanitize`. Settings are read as
 * they were within the last second (each store caches per process).
 */
export class SanitizeChoice {
  constructor(
    private readonly tenants: Pick<TenantSettingsStore, 'current'>,
    private readonly keys: Pick<KeySettingsStore, 'currentOverrides'>,
  ) {}

  async wanted(
    tenantId: string,
    keyId: string | undefined,
    asked: boolean | undefined,
  ): Promise<boolean> {
    if (asked !== undefined) return asked;
    const own = keyId ? (await this.keys.currentOverrides(tenantId, keyId)).sanitize : undefined;
    return own ?? (await this.tenants.current(tenantId)).sanitize;
  }
}

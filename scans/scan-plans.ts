import type { KeySettingsStore } from '../core/key-settings.js';
import type { TenantSettingsStore } from '../core/tenant-settings.js';
import type { ScanPlan } from '../scanning/plan.js';
import type { ScanPlanner } from './pipeline.js';
import type { ScanRequest } from './results.js';

/**
 * Each scan's plan from the operator's settings: the submitting key's categories and allowed
 * content types where it has its own, else its tenant's; the image threshold is always the
 * tenant's. Scans that no key
 * submitted (S3 events, retro jobs: `keyId` unset) follow the tenant; a rescan carries the keyId
 * of the scan it repeats. Both are read as the settings were within the last second (each store
 * caches per process).
 */
export class SettingsScanPlanner implements ScanPlanner {
  constructor(
    private readonly tenants: Pick<TenantSettingsStore, 'current'>,
    private readonly keys: Pick<KeySettingsStore, 'currentOverrides'>,
  ) {}

  async planFor(request: ScanRequest): Promise<ScanPlan> {
    const [tenant, key] = await Promise.all([
      this.tenants.current(request.tenantId),
      request.keyId
        ? this.keys.currentOverrides(request.tenantId, request.keyId)
        : Promise.resolve(undefined),
    ]);
    const allowed = key?.allowedContentTypes ?? tenant.allowedContentTypes;
    return {
      tenantId: request.tenantId,
      categories: key?.categories ?? tenant.detectionCategories,
      imageThreshold: tenant.imageThreshold,
      ...(allowed ? { allowedContentTypes: allowed } : {}),
    };
  }
}

import type { DetectionCategory } from '../core/detection-categories.js';
import type { KeySettingsStore } from '../core/key-settings.js';
import { normaliseCategories, type TenantSettingsStore } from '../core/tenant-settings.js';
import type { ScanPlan } from '../scanning/plan.js';
import type { ScanPlanner } from './pipeline.js';
import type { ObjectRef, ScanRequest } from './results.js';

/** What a bucket's registration says about the scan of one of its objects. */
export interface ObjectPlanSettings {
  /** The bucket's own categories, in place of the key's or the tenant's; absent: theirs. */
  categories?: readonly DetectionCategory[];
  /** The object's key is classified: `sensitive_data` is added to whatever else runs. */
  classify: boolean;
}

/** The bucket registrations as the planner reads them (s3/bucket-plans.ts). */
export interface ObjectPlanSource {
  /** Undefined for a bucket the tenant has not registered. */
  forObject(tenantId: string, object: ObjectRef): Promise<ObjectPlanSettings | undefined>;
}

/**
 * Each scan's plan from the operator's settings: for a bucket object, its bucket's categories
 * where the bucket has its own; else the submitting key's where it has its own; else its
 * tenant's. A bucket that classifies the object's key adds `sensitive_data` to those. The
 * allowed content types are the key's where it has its own, else the tenant's; the image
 * threshold and the classification settings are always the tenant's. Scans that no key
 * submitted (S3 events, retro jobs: `keyId` unset) follow the bucket or the tenant; a rescan
 * carries the keyId of the scan it repeats. All are read as they were within the last second
 * (each store caches per process).
 */
export class SettingsScanPlanner implements ScanPlanner {
  constructor(
    private readonly tenants: Pick<TenantSettingsStore, 'current'>,
    private readonly keys: Pick<KeySettingsStore, 'currentOverrides'>,
    private readonly objects?: ObjectPlanSource,
  ) {}

  async planFor(request: ScanRequest): Promise<ScanPlan> {
    const [tenant, key, bucket] = await Promise.all([
      this.tenants.current(request.tenantId),
      request.keyId
        ? this.keys.currentOverrides(request.tenantId, request.keyId)
        : Promise.resolve(undefined),
      request.object && this.objects
        ? this.objects.forObject(request.tenantId, request.object)
        : Promise.resolve(undefined),
    ]);
    const categories = bucket?.categories ?? key?.categories ?? tenant.detectionCategories;
    const allowed = key?.allowedContentTypes ?? tenant.allowedContentTypes;
    return {
      tenantId: request.tenantId,
      categories: bucket?.classify
        ? normaliseCategories([...categories, 'sensitive_data'])
        : categories,
      imageThreshold: tenant.imageThreshold,
      classification: tenant.classification,
      ...(allowed ? { allowedContentTypes: allowed } : {}),
    };
  }
}

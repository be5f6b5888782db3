import type { DetectionCategory } from '../core/detection-categories.js';
import { SETTINGS_CACHE_MS } from '../core/tenant-settings.js';
import type { ObjectRef } from '../scans/results.js';
import type { ObjectPlanSettings, ObjectPlanSource } from '../scans/scan-plans.js';
import type { ClassifySettings } from './bucket-schema.js';
import type { BucketStore } from './bucket-store.js';

/**
 * Whether an object's key is classified: under one of the include prefixes (any key when there
 * are none) and under none of the exclude prefixes, which win where both match.
 */
export function classifiesKey(classify: ClassifySettings | undefined, key: string): boolean {
  if (!classify) return false;
  if (classify.exclude.some((prefix) => key.startsWith(prefix))) return false;
  return classify.include.length === 0 || classify.include.some((prefix) => key.startsWith(prefix));
}

interface CachedBucket {
  at: number;
  /** Undefined: the bucket is not registered (its objects follow the key or tenant). */
  settings: { categories?: DetectionCategory[]; classify?: ClassifySettings } | undefined;
}

/**
 * What a bucket's registration changes in the plans of its objects' scans (scans/scan-plans.ts):
 * its own detection categories, and classification of the keys it names. Every object scan goes
 * through it (S3 events, retro jobs, `Scan/Existing`, rescans), read as the registration was
 * within the last second (cached per process, like the settings stores).
 */
export class BucketPlans implements ObjectPlanSource {
  private readonly cache = new Map<string, CachedBucket>();

  constructor(private readonly buckets: Pick<BucketStore, 'get'>) {}

  async forObject(
    tenantId: string,
    object: ObjectRef,
    now = Date.now(),
  ): Promise<ObjectPlanSettings | undefined> {
    const id = `${tenantId}/${object.bucket}`;
    let cached = this.cache.get(id);
    if (!cached || now - cached.at >= SETTINGS_CACHE_MS) {
      const record = await this.buckets.get(tenantId, object.bucket);
      cached = {
        at: now,
        settings: record && {
          ...(record.detectionCategories ? { categories: record.detectionCategories } : {}),
          ...(record.classify ? { classify: record.classify } : {}),
        },
      };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(id, cached);
    }
    const { settings } = cached;
    if (!settings) return undefined;
    return {
      ...(settings.categories ? { categories: settings.categories } : {}),
      classify: classifiesKey(settings.classify, object.key),
    };
  }
}

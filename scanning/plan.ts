import {
  DEFAULT_DETECTION_CATEGORIES,
  DEFAULT_IMAGE_THRESHOLD,
  type DetectionCategory,
} from '../core/detection-categories.js';
import type { ClassificationSettings } from '../core/sensitive-types.js';

/**
 * What one scan looks for. Scanii's detection categories (core/detection-categories.ts, where
 * the settings stores find them too), switched on per tenant and per API key; the tenant's own
 * YARA rules apply to every scan of that tenant whatever its categories.
 */
export {
  DETECTION_CATEGORIES,
  DEFAULT_DETECTION_CATEGORIES,
  DEFAULT_IMAGE_THRESHOLD,
  type DetectionCategory,
} from '../core/detection-categories.js';

export interface ScanPlan {
  /** Whose scan this is: the tenant's own rules are looked up by it. */
  tenantId: string;
  /** Sorted, without duplicates, never empty. */
  categories: readonly DetectionCategory[];
  /** `content.image.nsfw.nudity` when an image's nudity score is at least this (0 to 1). */
  imageThreshold: number;
  /**
   * What `sensitive_data` counts, and from how many values a type is a finding: the tenant's
   * settings. Absent: every type, from one value (DEFAULT_CLASSIFICATION).
   */
  classification?: ClassificationSettings;
  /**
   * With `file_type`: the media types the content may be (`image/*`, `application/pdf`; the
   * key's list, else the tenant's); undefined when any type is allowed.
   */
  allowedContentTypes?: readonly string[];
}

/** The plan of a scan whose tenant and key set nothing. */
export function defaultPlan(tenantId: string): ScanPlan {
  return {
    tenantId,
    categories: DEFAULT_DETECTION_CATEGORIES,
    imageThreshold: DEFAULT_IMAGE_THRESHOLD,
  };
}

export function runsMalware(plan: ScanPlan | undefined): boolean {
  return plan === undefined || plan.categories.includes('malware');
}

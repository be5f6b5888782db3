/**
 * What one scan looks for. Scanii's detection categories, switched on per tenant and per API key
 * (`detection_categories_enabled` in `/account.json`); the tenant's own YARA rules apply to every
 * scan of that tenant whatever its categories.
 */
export const DETECTION_CATEGORIES = ['malware', 'unsafe_image', 'unsafe_language'] as const;

export type DetectionCategory = (typeof DETECTION_CATEGORIES)[number];

/** The categories of a tenant or key that was never given any: malware alone, as before. */
export const DEFAULT_DETECTION_CATEGORIES: readonly DetectionCategory[] = ['malware'];

/** The nudity score from which an image is reported, unless the tenant sets its own. */
export const DEFAULT_IMAGE_THRESHOLD = 0.7;

export interface ScanPlan {
  /** Whose scan this is: the tenant's own rules are looked up by it. */
  tenantId: string;
  /** Sorted, without duplicates, never empty. */
  categories: readonly DetectionCategory[];
  /** `content.image.nsfw.nudity` when an image's nudity score is at least this (0 to 1). */
  imageThreshold: number;
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

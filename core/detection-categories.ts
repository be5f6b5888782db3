/**
 * Scanii's detection categories, switched on per tenant and per API key
 * (`detection_categories_enabled` in `/account.json`). Kept here, below every layer, because the
 * settings stores (tenant-settings.ts, key-settings.ts) validate and store them; a scan's plan
 * (scanning/plan.ts) is made of them.
 */
export const DETECTION_CATEGORIES = [
  'malware',
  'unsafe_image',
  'unsafe_language',
  'sensitive_data',
  'file_type',
] as const;

export type DetectionCategory = (typeof DETECTION_CATEGORIES)[number];

/** The categories of a tenant or key that was never given any: malware alone, as before. */
export const DEFAULT_DETECTION_CATEGORIES: readonly DetectionCategory[] = ['malware'];

/** The nudity score from which an image is reported, unless the tenant sets its own. */
export const DEFAULT_IMAGE_THRESHOLD = 0.7;

/** Most entries a tenant's or key's `allowed_content_types` may have. */
export const MAX_ALLOWED_CONTENT_TYPES = 64;

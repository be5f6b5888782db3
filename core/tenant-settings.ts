import {
  DEFAULT_DETECTION_CATEGORIES,
  DEFAULT_IMAGE_THRESHOLD,
  DETECTION_CATEGORIES,
  MAX_ALLOWED_CONTENT_TYPES,
  type DetectionCategory,
} from './detection-categories.js';
import { isMediaRange } from './media-type.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import {
  DEFAULT_CLASSIFICATION,
  MAX_MIN_MATCHES,
  normaliseSensitiveTypes,
  type ClassificationSettings,
} from './sensitive-types.js';

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
  /**
   * What the tenant's scans look for (sorted, without duplicates, never empty); one of its keys
   * may override it (core/key-settings.ts). Malware alone by default.
   */
  detectionCategories: readonly DetectionCategory[];
  /** The nudity score (0 to 1) from which an image is reported. */
  imageThreshold: number;
  /**
   * What `sensitive_data` counts and from how many values a type is reported (every type, from
   * one value, by default). The tenant's alone: a key switches the category, not these.
   */
  classification: ClassificationSettings;
  /**
   * With `file_type`: the media types the content may be (`image/*`, `application/pdf`), else
   * `content.type.disallowed`; null (the default) allows any. A key may have its own list.
   */
  allowedContentTypes: readonly string[] | null;
  /**
   * Whether the tenant's uploads and fetches through the API get a sanitized copy when the
   * request does not say (docs/sanitizing.md); off by default. A key may have its own.
   */
  sanitize: boolean;
}

export const DEFAULT_TENANT_SETTINGS: TenantSettings = {
  reportUnscannable: true,
  detectionCategories: DEFAULT_DETECTION_CATEGORIES,
  imageThreshold: DEFAULT_IMAGE_THRESHOLD,
  classification: DEFAULT_CLASSIFICATION,
  allowedContentTypes: null,
  sanitize: false,
};

/** Settings are read from Redis at most this often per process (a change applies within it). */
export const SETTINGS_CACHE_MS = 1000;

const REPORT_UNSCANNABLE = 'report_unscannable';
const DETECTION_CATEGORIES_FIELD = 'detection_categories';
const IMAGE_THRESHOLD = 'image_threshold';
const CLASSIFICATION_TYPES = 'classification_types';
const CLASSIFICATION_MIN_MATCHES = 'classification_min_matches';
const ALLOWED_CONTENT_TYPES = 'allowed_content_types';
const SANITIZE = 'sanitize';

/** How an on/off setting is stored: '1' or '0'. */
export const storedSwitch = (on: boolean): string => (on ? '1' : '0');

/** An on/off setting as stored; anything but '1' or '0' (nothing stored) reads as undefined. */
export function parseStoredSwitch(raw: string | null | undefined): boolean | undefined {
  return raw === '1' ? true : raw === '0' ? false : undefined;
}

/**
 * Allowed types as given (valid ranges: the API's schema checked them), lower case, duplicates
 * gone, at most MAX_ALLOWED_CONTENT_TYPES; as stored: comma-separated (no media type has one).
 */
export function storedAllowedTypes(types: readonly string[]): string {
  const valid = [...new Set(types.map((type) => type.toLowerCase()))].filter(isMediaRange);
  if (valid.length === 0 || valid.length > MAX_ALLOWED_CONTENT_TYPES)
    throw new Error(`allowed types must be 1 to ${MAX_ALLOWED_CONTENT_TYPES} media types`);
  return valid.join(',');
}

/** Allowed types as stored; what is not a valid range is left out, nothing left reads as null. */
export function parseStoredAllowedTypes(raw: string | null | undefined): string[] | null {
  if (!raw) return null;
  const types = raw.split(',').filter(isMediaRange).slice(0, MAX_ALLOWED_CONTENT_TYPES);
  return types.length > 0 ? types : null;
}

/** Known categories in their canonical order, duplicates gone (what a plan expects). */
export function normaliseCategories(names: Iterable<string>): DetectionCategory[] {
  const given = new Set(names);
  return DETECTION_CATEGORIES.filter((category) => given.has(category));
}

/** How categories are stored: comma-separated. */
export const storedCategories = (categories: readonly DetectionCategory[]): string =>
  categories.join(',');

/**
 * Categories as stored; names this version does not know (written by a newer one) are left out,
 * and nothing usable left reads as undefined.
 */
export function parseStoredCategories(
  raw: string | null | undefined,
): DetectionCategory[] | undefined {
  if (!raw) return undefined;
  const categories = normaliseCategories(raw.split(','));
  return categories.length > 0 ? categories : undefined;
}

function parseThreshold(raw: string | null | undefined): number {
  const value = raw === null || raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : DEFAULT_IMAGE_THRESHOLD;
}

/**
 * Classification settings as stored (types comma-separated, the threshold a decimal); what this
 * version cannot use (a type it does not know, a threshold out of range) reads as the default.
 */
function parseClassification(
  types: string | null | undefined,
  minMatches: string | null | undefined,
): ClassificationSettings {
  const known = types ? normaliseSensitiveTypes(types.split(',')) : [];
  const threshold = minMatches ? Number(minMatches) : NaN;
  return {
    types: known.length > 0 ? known : DEFAULT_CLASSIFICATION.types,
    minMatches:
      Number.isInteger(threshold) && threshold >= 1 && threshold <= MAX_MIN_MATCHES
        ? threshold
        : DEFAULT_CLASSIFICATION.minMatches,
  };
}

export class TenantSettingsStore {
  private readonly cache = new Map<string, { at: number; settings: TenantSettings }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async get(tenantId: string): Promise<TenantSettings> {
    const [report, categories, threshold, types, minMatches, allowedTypes, sanitize] =
      await this.redis.hmget(
        this.keys.tenantSettings(tenantId),
        REPORT_UNSCANNABLE,
        DETECTION_CATEGORIES_FIELD,
        IMAGE_THRESHOLD,
        CLASSIFICATION_TYPES,
        CLASSIFICATION_MIN_MATCHES,
        ALLOWED_CONTENT_TYPES,
        SANITIZE,
      );
    return {
      reportUnscannable:
        report === null || report === undefined
          ? DEFAULT_TENANT_SETTINGS.reportUnscannable
          : report === '1',
      detectionCategories:
        parseStoredCategories(categories) ?? DEFAULT_TENANT_SETTINGS.detectionCategories,
      imageThreshold: parseThreshold(threshold),
      classification: parseClassification(types, minMatches),
      allowedContentTypes: parseStoredAllowedTypes(allowedTypes),
      sanitize: parseStoredSwitch(sanitize) ?? DEFAULT_TENANT_SETTINGS.sanitize,
    };
  }

  /** Changes the fields given; the others keep their value. Returns the settings now in force. */
  async update(tenantId: string, changes: Partial<TenantSettings>): Promise<TenantSettings> {
    const fields: Record<string, string> = {};
    if (changes.reportUnscannable !== undefined)
      fields[REPORT_UNSCANNABLE] = storedSwitch(changes.reportUnscannable);
    if (changes.detectionCategories !== undefined) {
      const categories = normaliseCategories(changes.detectionCategories);
      if (categories.length === 0) throw new Error('a tenant needs at least one category');
      fields[DETECTION_CATEGORIES_FIELD] = storedCategories(categories);
    }
    if (changes.imageThreshold !== undefined)
      fields[IMAGE_THRESHOLD] = String(changes.imageThreshold);
    if (changes.classification !== undefined) {
      const types = normaliseSensitiveTypes(changes.classification.types);
      const { minMatches } = changes.classification;
      if (types.length === 0) throw new Error('classification needs at least one type');
      if (!Number.isInteger(minMatches) || minMatches < 1 || minMatches > MAX_MIN_MATCHES)
        throw new Error(`min_matches must be a whole number from 1 to ${MAX_MIN_MATCHES}`);
      fields[CLASSIFICATION_TYPES] = types.join(',');
      fields[CLASSIFICATION_MIN_MATCHES] = String(minMatches);
    }
    if (changes.sanitize !== undefined) fields[SANITIZE] = storedSwitch(changes.sanitize);
    if (changes.allowedContentTypes)
      fields[ALLOWED_CONTENT_TYPES] = storedAllowedTypes(changes.allowedContentTypes);
    if (Object.keys(fields).length > 0)
      await this.redis.hset(this.keys.tenantSettings(tenantId), fields);
    // null: any type is allowed again.
    if (changes.allowedContentTypes === null)
      await this.redis.hdel(this.keys.tenantSettings(tenantId), ALLOWED_CONTENT_TYPES);
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

  /** Forgets a deleted tenant's cached settings in this process. */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }
}

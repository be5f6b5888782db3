/**
 * The sensitive-data types (the `sensitive_data` detection category) and a tenant's
 * classification settings over them. Kept here, below every layer, for the same reason as the
 * category names (detection-categories.ts): the tenant settings store validates and stores them,
 * and the detectors (scanning/sensitive/) are named by them.
 */
export const SENSITIVE_TYPES = [
  'credit_card',
  'iban',
  'us_ssn',
  'email',
  'phone',
  'aws_access_key',
  'aws_secret_key',
  'private_key',
  'jwt',
  'github_token',
  'slack_token',
  'stripe_key',
] as const;

export type SensitiveType = (typeof SENSITIVE_TYPES)[number];

/** What a tenant's `sensitive_data` scans count, and from how many values a type is a finding. */
export interface ClassificationSettings {
  /** The types looked for: sorted as SENSITIVE_TYPES, without duplicates, never empty. */
  types: readonly SensitiveType[];
  /** A type is reported (`content.sensitive.<type>`) once the content holds this many values of it. */
  minMatches: number;
}

/**
 * The highest `minMatches` accepted: the classifier stops counting a type at 10,000 values per
 * piece of text (scanning/sensitive/classify.ts), so a higher threshold could not be trusted.
 */
export const MAX_MIN_MATCHES = 10_000;

/** Every type, from the first value. */
export const DEFAULT_CLASSIFICATION: ClassificationSettings = {
  types: SENSITIVE_TYPES,
  minMatches: 1,
};

/** Known types in their canonical order, duplicates gone. */
export function normaliseSensitiveTypes(names: Iterable<string>): SensitiveType[] {
  const given = new Set(names);
  return SENSITIVE_TYPES.filter((type) => given.has(type));
}

/** The settings as the admin API and `/account.json` show them. */
export function describeClassification(settings: ClassificationSettings): {
  types: SensitiveType[];
  min_matches: number;
} {
  return { types: [...settings.types], min_matches: settings.minMatches };
}

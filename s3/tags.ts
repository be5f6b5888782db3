import type { ObjectOutcome, ScanResult } from '../scans/results.js';
import { S3_TAG_LIMIT, type TagKeys } from './bucket-schema.js';
import { isUnscannableFinding } from '../scanning/findings.js';

/**
 * The scan and classification tags Arbiter writes on objects, and how they are merged with the
 * tags an object already has. Users' tags are never dropped or changed: only Arbiter's own keys
 * (the bucket's eight configured names) are replaced. S3 allows 10 tags per object; when the
 * merged set would exceed that, every user tag is kept and as many of ours as fit are written,
 * in TAG_PRIORITY's order; if not even the result tag fits, nothing is written.
 */
export interface Tag {
  Key: string;
  Value: string;
}

export const TAG_VALUE_MAX = 256;

/** What the classification tags are made of: the result's `classification`. */
type Classification = NonNullable<ScanResult['classification']>;

/** Classifies a result the way the scan-result tag and the outcome listeners see it. */
export function outcomeOf(result: ScanResult): ObjectOutcome {
  if (result.error) return 'error';
  if (result.findings.length === 0) return 'clean';
  return result.findings.every(isUnscannableFinding) ? 'unscannable' : 'infected';
}

/** Characters S3 accepts in tag values; anything else becomes `_`. */
export function tagValue(value: string): string {
  const cleaned = [...value]
    .map((char) => (/^[\p{L}\p{Z}\p{N}_.:/=+\-@]$/u.test(char) ? char : '_'))
    .join('');
  return cleaned.length > TAG_VALUE_MAX ? `${cleaned.slice(0, TAG_VALUE_MAX - 3)}...` : cleaned;
}

/**
 * Which of our tags are written first when an object's own tags leave room for only some: the
 * verdict, then whether it holds sensitive data (what a bucket policy or a reviewer acts on),
 * then when and what was found by each, and last the descriptions a person reads.
 */
export const TAG_PRIORITY: ReadonlyArray<keyof TagKeys> = [
  'result',
  'classificationResult',
  'date',
  'findings',
  'classificationDate',
  'classificationMatches',
  'engine',
  'classificationMessage',
];

/** Our tags for a result, highest priority first; those with nothing to say are left out. */
export function scanTags(
  keys: TagKeys,
  outcome: ObjectOutcome,
  result: ScanResult,
  scannedAt: Date,
): Tag[] {
  const values: Partial<Record<keyof TagKeys, string>> = {
    result: outcome,
    date: scannedAt.toISOString(),
    ...classificationTagValues(result.classification, scannedAt, result.error),
  };
  if (result.findings.length > 0) values.findings = tagValue(result.findings.join(' '));
  // Engine versions name their engine ("ClamAV 1.4.6/27514/…", "arbiter-builtin/0.2.0 db:…");
  // parenthesised remarks are dropped (S3 tag values take no parentheses).
  const engines = (result.engines ?? [])
    .map((engine) => engine.version.replace(/\s*\([^)]*\)/g, '').trim() || engine.name)
    .join(' + ');
  if (engines) values.engine = tagValue(engines);
  return TAG_PRIORITY.flatMap((role) => {
    const value = values[role];
    return value === undefined ? [] : [{ Key: keys[role], Value: value }];
  });
}

const CLASSIFICATION_WORDS = { sensitive: 'Sensitive', none: 'Clean', error: 'Error' } as const;

/**
 * The four classification tags of a result that was classified: its verdict, when, the types
 * found (names only: a matched value, even redacted, never goes into a tag) and a sentence with
 * their counts, or why classification failed (`scanError`: the whole scan failed).
 */
export function classificationTagValues(
  classification: Classification | undefined,
  classifiedAt: Date,
  scanError?: string,
): Partial<Record<keyof TagKeys, string>> {
  if (!classification) return {};
  const values: Partial<Record<keyof TagKeys, string>> = {
    classificationResult: CLASSIFICATION_WORDS[classification.result],
    classificationDate: classifiedAt.toISOString(),
  };
  const found = Object.entries(classification.matches)
    .flatMap(([type, count]) => (count ? [[type, count] as const] : []))
    .sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b));
  if (found.length > 0)
    values.classificationMatches = joinWithin(
      found.map(([type]) => tagValue(type)),
      ' ',
    );
  values.classificationMessage =
    classification.result === 'error'
      ? tagValue(scanError ?? 'the text of the content could not be classified')
      : found.length > 0
        ? joinWithin(
            found.map(([type, count]) => `${count} ${tagValue(type)}`),
            ' + ',
          )
        : 'no sensitive data found';
  return values;
}

/**
 * Whole parts joined while they fit in a tag value, and how many were left out: a type name cut
 * in half would read as another name.
 */
function joinWithin(parts: string[], separator: string): string {
  let joined = '';
  for (const [index, part] of parts.entries()) {
    const next = index === 0 ? part : `${joined}${separator}${part}`;
    const rest = parts.length - index - 1;
    const more = rest > 0 ? `${separator}${rest} more` : '';
    if (next.length + more.length > TAG_VALUE_MAX)
      return `${joined}${separator}${parts.length - index} more`;
    joined = next;
  }
  return joined;
}

export interface TagMerge {
  /** The full tag set to write (user tags first, then ours); undefined when nothing may be written. */
  tags: Tag[] | undefined;
  /** Our tags that are in `tags`. */
  written: string[];
  /** Our tags left out for lack of room. */
  omitted: string[];
  /** The user's tags (kept as they are). */
  userTags: number;
}

export function mergeTags(
  existing: Tag[],
  ours: Tag[],
  keys: TagKeys,
  limit = S3_TAG_LIMIT,
): TagMerge {
  const ourKeys = new Set(Object.values(keys));
  const user = existing.filter((tag) => !ourKeys.has(tag.Key));
  const room = Math.max(0, limit - user.length);
  const fitting = ours.slice(0, room);
  const omitted = ours.slice(room).map((tag) => tag.Key);
  if (fitting.length === 0 || fitting[0]?.Key !== keys.result) {
    return {
      tags: undefined,
      written: [],
      omitted: ours.map((tag) => tag.Key),
      userTags: user.length,
    };
  }
  return {
    tags: [...user, ...fitting],
    written: fitting.map((tag) => tag.Key),
    omitted,
    userTags: user.length,
  };
}

/** `a=1&b=2`, the form the `x-amz-tagging` header of CopyObject takes. */
export function taggingHeader(tags: Tag[]): string {
  return tags
    .map((tag) => `${encodeURIComponent(tag.Key)}=${encodeURIComponent(tag.Value)}`)
    .join('&');
}

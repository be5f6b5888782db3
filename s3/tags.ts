import type { ObjectOutcome, ScanResult } from '../scans/results.js';
import { S3_TAG_LIMIT, type TagKeys } from './bucket-schema.js';
import { isUnscannableFinding } from '../scanning/findings.js';

/**
 * The scan tags Arbiter writes on objects, and how they are merged with the tags an object
 * already has. Users' tags are never dropped or changed: only Arbiter's own keys (the bucket's
 * four configured names) are replaced. S3 allows 10 tags per object; when the merged set would
 * exceed that, every user tag is kept and as many of ours as fit are written, in priority order
 * (result, date, findings, engine); if not even the result tag fits, nothing is written.
 */
export interface Tag {
  Key: string;
  Value: string;
}

export const TAG_VALUE_MAX = 256;

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

/** Our tags for a result, highest priority first. Findings and engine are left out when empty. */
export function scanTags(
  keys: TagKeys,
  outcome: ObjectOutcome,
  result: ScanResult,
  scannedAt: Date,
): Tag[] {
  const tags: Tag[] = [
    { Key: keys.result, Value: outcome },
    { Key: keys.date, Value: scannedAt.toISOString() },
  ];
  if (result.findings.length > 0)
    tags.push({ Key: keys.findings, Value: tagValue(result.findings.join(' ')) });
  // Engine versions name their engine ("ClamAV 1.4.6/27514/…", "arbiter-builtin/0.2.0 db:…");
  // parenthesised remarks are dropped (S3 tag values take no parentheses).
  const engines = (result.engines ?? [])
    .map((engine) => engine.version.replace(/\s*\([^)]*\)/g, '').trim() || engine.name)
    .join(' + ');
  if (engines) tags.push({ Key: keys.engine, Value: tagValue(engines) });
  return tags;
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

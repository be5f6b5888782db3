/**
 * Media types as clients declare them (a multipart part's or a response's `Content-Type`, an S3
 * object's `ContentType`) and as operators list them (`allowed_content_types`). Kept below every
 * layer: the API, the outbound client, the object stage and the settings stores all read them.
 */

/** Longest declared type kept; anything longer is not a media type anyone meant. */
export const MAX_MEDIA_TYPE_LENGTH = 127;

/** `type/subtype`, lower case, RFC 6838's restricted names (at most 127 characters). */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/;

/** An allowed-types entry: a media type, or `type/*` (a wildcard on the subtype only). */
const MEDIA_RANGE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,62})$/;

/**
 * The media type of a declared `Content-Type`, lower case and without its parameters
 * (`Image/JPEG; charset=x` → `image/jpeg`), or undefined when there is none worth keeping: a
 * missing or empty value, one too long, or anything that is not `type/subtype`. A client's
 * garbage is ignored, never an error.
 */
export function parseMediaType(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0) return undefined;
  // A value several kilobytes long is cut before it is looked at: only its start can matter.
  const head = raw.slice(0, MAX_MEDIA_TYPE_LENGTH + 64);
  const essence = (head.split(';', 1)[0] ?? '').trim().toLowerCase();
  return MEDIA_TYPE.test(essence) ? essence : undefined;
}

/** Whether `entry` is a valid allowed-types entry (`image/png`, `image/*`; never `*\/*`). */
export function isMediaRange(entry: string): boolean {
  return entry.length <= MAX_MEDIA_TYPE_LENGTH && MEDIA_RANGE.test(entry);
}

/** Whether the media type `type` is matched by `range` (`image/*` matches `image/png`). */
export function matchesMediaRange(type: string, range: string): boolean {
  if (range.endsWith('/*')) return type.startsWith(range.slice(0, -1));
  return type === range;
}

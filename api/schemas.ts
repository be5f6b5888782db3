import { z } from 'zod';
import { TOKEN_TIMEOUT } from '../core/tokens.js';

/**
 * Request schemas: the single description of what each endpoint accepts. Multipart, urlencoded
 * and JSON bodies are all parsed into the same shape (`metadata[k]=v` becomes `{metadata: {k: v}}`)
 * before these run.
 */
const isControlOrBracket = (char: string): boolean => {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f || char === '[' || char === ']';
};

export const METADATA_LIMITS = { entries: 100, keyLength: 128, valueLength: 4096 } as const;

/** Refuses unknown fields by name, so a typo is not silently ignored. */
const unknownField = (hint: string) => (issue: { code?: string; keys?: string[] }) =>
  issue.code === 'unrecognized_keys' ? `Unknown field "${(issue.keys?.[0] ?? '').slice(0, 64)}": ${hint}.` : undefined;

const parseUrl = (value: string): URL | undefined => {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
};

const httpUrl = (field: string) =>
  z
    .string({
      // Sent twice (an array), or as a JSON number: "required" would be the wrong thing to say.
      error: (issue) => (issue.input === undefined ? `${field} is required` : `${field} must be a single text value`),
    })
    .trim()
    .min(1, `${field} is required`)
    .max(8192, `${field} is longer than 8192 characters`)
    .refine((value) => ['http:', 'https:'].includes(parseUrl(value)?.protocol ?? ''), `${field} must be an http or https URL`)
    .refine((value) => {
      const url = parseUrl(value);
      return !url?.username && !url?.password;
    }, `${field} must not embed credentials (user:password@)`);

/** An optional field sent empty (as an HTML form does for a blank input) counts as absent. */
const optionalHttpUrl = (field: string) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), httpUrl(field).optional());

/** Own `__proto__` keys survive JSON.parse and multipart parsing; refuse them outright. */
const hasProtoKey = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, '__proto__');

const MetadataRecord = z.record(
  z
    .string()
    .min(1, 'metadata keys must not be empty')
    .max(METADATA_LIMITS.keyLength, `metadata keys are at most ${METADATA_LIMITS.keyLength} characters`)
    // Printable characters only: keys end up in JSON, logs and S3 tags.
    .refine((key) => ![...key].some(isControlOrBracket), 'metadata keys must be printable and contain no brackets'),
  z
    .string({ error: 'metadata must be sent as metadata[key]=value with text values' })
    .max(METADATA_LIMITS.valueLength, `metadata values are at most ${METADATA_LIMITS.valueLength} characters`),
  {
    // A bad key is reported by the key's own rule; anything else means metadata was not a map.
    error: (issue) =>
      issue.code === 'invalid_key' ? issue.issues[0]?.message : 'metadata must be sent as metadata[key]=value',
  },
);

export const MetadataSchema = z
  // zod's record silently drops a `__proto__` key; say no instead of losing it without a word.
  .custom<unknown>((value) => !hasProtoKey(value), { error: 'metadata key "__proto__" is not allowed' })
  // Counted before the entries are validated, so a huge map is refused without walking it.
  .refine((value) => typeof value !== 'object' || value === null || Object.keys(value).length <= METADATA_LIMITS.entries, {
    message: `metadata has more than ${METADATA_LIMITS.entries} entries; at most ${METADATA_LIMITS.entries} are accepted`,
  })
  .pipe(MetadataRecord);

export const SubmitFileSchema = z.object({
  location: optionalHttpUrl('location'),
  callback: optionalHttpUrl('callback'),
  metadata: MetadataSchema.optional(),
});

export const FetchSchema = z.object({
  location: httpUrl('location'),
  callback: optionalHttpUrl('callback'),
  metadata: MetadataSchema.optional(),
});

export const CreateTokenSchema = z.strictObject({
  timeout: z.coerce
    .number({ error: 'timeout must be a whole number of seconds' })
    .int('timeout must be a whole number of seconds')
    .min(TOKEN_TIMEOUT.min, `timeout must be between ${TOKEN_TIMEOUT.min} and ${TOKEN_TIMEOUT.max} seconds`)
    .max(TOKEN_TIMEOUT.max, `timeout must be between ${TOKEN_TIMEOUT.min} and ${TOKEN_TIMEOUT.max} seconds`)
    .default(TOKEN_TIMEOUT.default),
}, { error: unknownField('the only accepted field is timeout') });

export const CreateTenantSchema = z.object({
  name: z.string({ error: 'name is required' }).trim().min(1, 'name is required').max(200, 'name is at most 200 characters'),
});

/** Field names bodies may carry; anything else is refused rather than silently ignored. */
export const FILE_FIELDS = new Set(['file', 'location', 'callback', 'metadata']);

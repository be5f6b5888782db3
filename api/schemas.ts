import { z } from 'zod';
import { TOKEN_TIMEOUT } from '../core/tokens.js';

/**
 * Request schemas: the single description of what each endpoint accepts. Multipart, urlencoded
 * and JSON bodies are all parsed into the same shape (`metadata[k]=v` becomes `{metadata: {k: v}}`)
 * before these run.
 */
export const METADATA_LIMITS = { entries: 100, keyLength: 128, valueLength: 4096 } as const;

const httpUrl = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .trim()
    .min(1, `${field} is required`)
    .max(8192, `${field} is longer than 8192 characters`)
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    }, `${field} must be an http or https URL`);

export const MetadataSchema = z
  .record(
    z
      .string()
      .min(1, 'metadata keys must not be empty')
      .max(METADATA_LIMITS.keyLength, `metadata keys are at most ${METADATA_LIMITS.keyLength} characters`)
      // Printable characters only: keys end up in JSON, logs and S3 tags.
      .regex(/^[^\u0000-\u001f\u007f[\]]+$/, 'metadata keys must be printable and contain no brackets'),
    z
      .string({ error: 'metadata must be sent as metadata[key]=value with text values' })
      .max(METADATA_LIMITS.valueLength, `metadata values are at most ${METADATA_LIMITS.valueLength} characters`),
    { error: 'metadata must be sent as metadata[key]=value' },
  )
  .refine((value) => Object.keys(value).length <= METADATA_LIMITS.entries, {
    message: `at most ${METADATA_LIMITS.entries} metadata entries are accepted`,
  });

export const SubmitFileSchema = z.object({
  location: httpUrl('location').optional(),
  callback: httpUrl('callback').optional(),
  metadata: MetadataSchema.optional(),
});

export const FetchSchema = z.object({
  location: httpUrl('location'),
  callback: httpUrl('callback').optional(),
  metadata: MetadataSchema.optional(),
});

export const CreateTokenSchema = z.object({
  timeout: z.coerce
    .number({ error: 'timeout must be a whole number of seconds' })
    .int('timeout must be a whole number of seconds')
    .min(TOKEN_TIMEOUT.min, `timeout must be between ${TOKEN_TIMEOUT.min} and ${TOKEN_TIMEOUT.max} seconds`)
    .max(TOKEN_TIMEOUT.max, `timeout must be between ${TOKEN_TIMEOUT.min} and ${TOKEN_TIMEOUT.max} seconds`)
    .default(TOKEN_TIMEOUT.default),
});

export const CreateTenantSchema = z.object({
  name: z.string({ error: 'name is required' }).trim().min(1, 'name is required').max(200, 'name is at most 200 characters'),
});

/** Field names bodies may carry; anything else is refused rather than silently ignored. */
export const FILE_FIELDS = new Set(['file', 'location', 'callback', 'metadata']);

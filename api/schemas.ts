import { z } from 'zod';
import { MAX_MIN_MATCHES, SENSITIVE_TYPES } from '../core/sensitive-types.js';
import { TOKEN_TIMEOUT } from '../core/tokens.js';
import { MAX_ALLOWED_CONTENT_TYPES } from '../core/detection-categories.js';
import { isMediaRange } from '../core/media-type.js';
import { DETECTION_CATEGORIES } from '../scanning/plan.js';

/**
 * Request schemas: the single description of what each endpoint accepts. Multipart, urlencoded
 * and JSON bodies are all parsed into the same shape (`metadata[k]=v` becomes `{metadata: {k: v}}`)
 * before these run.
 */
/**
 * Control characters (C0, DEL and the C1 range U+0080–U+009F, which a Latin-1 misreading of
 * UTF-8 produces) and unpaired UTF-16 surrogates (JSON can carry `"\ud800"`): metadata ends up in
 * JSON, logs, callbacks and S3 tags, where these corrupt or smuggle text.
 */
const CONTROL_OR_SURROGATE = /[\p{Cc}\p{Cs}]/u;

const isPrintableKey = (key: string): boolean =>
  !CONTROL_OR_SURROGATE.test(key) && !/[[\]]/.test(key);

/** A value may span lines: tab, line feed and carriage return are the only controls it keeps. */
const isPlainText = (value: string): boolean =>
  !CONTROL_OR_SURROGATE.test(value.replace(/[\t\n\r]/g, ''));

export interface WholeNumberOptions {
  min: number;
  max: number;
  /** The field can arrive as text (a urlencoded or multipart field, a query parameter). */
  text?: boolean;
  /** The value when the field is absent (and what the OpenAPI document shows). */
  fallback?: number;
  /** Said when the value is not a whole number… */
  notWhole: string;
  /** …and when it is one, but outside min..max. */
  outOfRange: string;
}

/**
 * The one parser for every whole number a client sends. A number must be a safe integer; text
 * (only where the field can arrive as text) must be decimal digits, with an optional `-` in front
 * (refused by the range where negatives are not allowed). Nothing is coerced: `true`, `[5]`,
 * `"0x10"`, `"1e3"`, `" 5 "`, `"+5"` and `"5.0"` are refused instead of being read as some number
 * the client did not write.
 */
export function wholeNumber(options: WholeNumberOptions) {
  const { min, max, notWhole, outOfRange, fallback } = options;
  const number = z
    .number({ error: notWhole })
    .min(min, outOfRange)
    .max(max, outOfRange)
    .int(notWhole)
    .meta(fallback === undefined ? {} : { default: fallback });
  if (!options.text) return fallback === undefined ? number : number.default(fallback);
  const fromText = z.preprocess(
    (value) => (typeof value === 'string' && /^-?[0-9]+$/.test(value) ? Number(value) : value),
    number,
  );
  return fallback === undefined ? fromText : fromText.default(fallback);
}

export const METADATA_LIMITS = { entries: 100, keyLength: 128, valueLength: 4096 } as const;

/** Refuses unknown fields by name, so a typo is not silently ignored. */
const unknownField = (hint: string) => (issue: { code?: string; keys?: string[] }) =>
  issue.code === 'unrecognized_keys'
    ? `Unknown field "${(issue.keys?.[0] ?? '').slice(0, 64)}": ${hint}.`
    : undefined;

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
      error: (issue) =>
        issue.input === undefined ? `${field} is required` : `${field} must be a single text value`,
    })
    .trim()
    .min(1, `${field} is required`)
    .max(8192, `${field} is longer than 8192 characters`)
    .refine(
      (value) => ['http:', 'https:'].includes(parseUrl(value)?.protocol ?? ''),
      `${field} must be an http or https URL`,
    )
    .refine((value) => {
      const url = parseUrl(value);
      return !url?.username && !url?.password;
    }, `${field} must not embed credentials (user:password@)`);

/** An optional field sent empty (as an HTML form does for a blank input) counts as absent. */
const optionalHttpUrl = (field: string) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    httpUrl(field).optional(),
  );

/** Own `__proto__` keys survive JSON.parse and multipart parsing; refuse them outright. */
const hasProtoKey = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  Object.prototype.hasOwnProperty.call(value, '__proto__');

const MetadataRecord = z.record(
  z
    .string()
    .min(1, 'metadata keys must not be empty')
    .max(
      METADATA_LIMITS.keyLength,
      `metadata keys are at most ${METADATA_LIMITS.keyLength} characters`,
    )
    .refine(
      isPrintableKey,
      'metadata keys must be printable: no control characters, brackets or unpaired surrogates',
    ),
  z
    .string({ error: 'metadata must be sent as metadata[key]=value with text values' })
    .max(
      METADATA_LIMITS.valueLength,
      `metadata values are at most ${METADATA_LIMITS.valueLength} characters`,
    )
    .refine(
      isPlainText,
      'metadata values must be text without control characters (tab and line breaks allowed) or unpaired surrogates',
    ),
  {
    // A bad key is reported by the key's own rule; anything else means metadata was not a map.
    error: (issue) => {
      if (issue.code === 'invalid_key') return issue.issues[0]?.message;
      // Multer reads multipart `metadata[]=a`, `metadata[0]=a` and a repeated `metadata=a` as a
      // list, and which was sent cannot be told afterwards: say how to send it instead.
      if (Array.isArray(issue.input))
        return 'metadata must be sent as metadata[key]=value, one field per key; in a multipart body a key that is empty or only digits reads as a list unless other keys come with it (urlencoded and JSON bodies take any key)';
      return 'metadata must be sent as metadata[key]=value';
    },
  },
);

export const MetadataSchema = z
  // zod's record silently drops a `__proto__` key; say no instead of losing it without a word.
  .custom<unknown>((value) => !hasProtoKey(value), {
    error: 'metadata key "__proto__" is not allowed',
  })
  // Counted before the entries are validated, so a huge map is refused without walking it.
  .refine(
    (value) =>
      typeof value !== 'object' ||
      value === null ||
      Object.keys(value).length <= METADATA_LIMITS.entries,
    {
      message: `metadata has more than ${METADATA_LIMITS.entries} entries; at most ${METADATA_LIMITS.entries} are accepted`,
    },
  )
  .pipe(MetadataRecord)
  // What the OpenAPI document shows (the refinements above have no JSON Schema form).
  .meta({
    type: 'object',
    description: `Sent as \`metadata[key]=value\` fields (JSON: an object); comes back with the result. At most ${METADATA_LIMITS.entries} entries.`,
    maxProperties: METADATA_LIMITS.entries,
    propertyNames: {
      minLength: 1,
      maxLength: METADATA_LIMITS.keyLength,
      pattern: '^[^\\[\\]\\x00-\\x1f\\x7f-\\x9f]+$',
    },
    additionalProperties: { type: 'string', maxLength: METADATA_LIMITS.valueLength },
  });

const LOCATION_TEXT = 'http(s) URL of the content to scan (no user:password@).';
const CALLBACK_TEXT = 'http(s) URL that receives the result as a signed POST.';

/**
 * `sanitize=true|false`: text in a form (multipart or urlencoded), a boolean or that text in
 * JSON. Anything else is refused rather than read as one or the other.
 */
const SanitizeFlag = z
  .preprocess(
    (value) => (value === 'true' ? true : value === 'false' ? false : value),
    z.boolean({ error: 'sanitize must be true or false' }),
  )
  .optional()
  .meta({ type: 'boolean' })
  .describe(
    'true: once scanned, content without findings gets a sanitized copy (active content removed; see docs/sanitizing.md), described in the result’s `sanitized` and downloaded from `GET /files/{id}/sanitized`; false: no copy. Left out: as the API key’s `sanitize` setting says, else the tenant’s (off unless the operator switched it on).',
  );

export const SubmitFileSchema = z.object({
  location: optionalHttpUrl('location').describe(`${LOCATION_TEXT} Instead of \`file\`.`),
  callback: optionalHttpUrl('callback').describe(CALLBACK_TEXT),
  metadata: MetadataSchema.optional(),
  sanitize: SanitizeFlag,
});

export const FetchSchema = z.object({
  location: httpUrl('location').describe(LOCATION_TEXT),
  callback: optionalHttpUrl('callback').describe(CALLBACK_TEXT),
  metadata: MetadataSchema.optional(),
  sanitize: SanitizeFlag,
});

export const CreateTokenSchema = z.strictObject(
  {
    timeout: wholeNumber({
      min: TOKEN_TIMEOUT.min,
      max: TOKEN_TIMEOUT.max,
      text: true,
      fallback: TOKEN_TIMEOUT.default,
      notWhole: 'timeout must be a whole number of seconds',
      outOfRange: `timeout must be between ${TOKEN_TIMEOUT.min} and ${TOKEN_TIMEOUT.max} seconds`,
    }),
  },
  { error: unknownField('the only accepted field is timeout') },
);

export const CreateTenantSchema = z.object({
  name: z
    .string({ error: 'name is required' })
    .trim()
    .min(1, 'name is required')
    .max(200, 'name is at most 200 characters'),
});

/** Field names bodies may carry; anything else is refused rather than silently ignored. */
export const FILE_FIELDS = new Set(['file', 'location', 'callback', 'metadata', 'sanitize']);

/** Longest grace period a rotation may ask for: 30 days. */
export const MAX_SIGNING_SECRET_GRACE = 30 * 24 * 3600;

export const RotateSigningSecretSchema = z.strictObject(
  {
    grace_seconds: wholeNumber({
      min: 0,
      max: MAX_SIGNING_SECRET_GRACE,
      notWhole: 'grace_seconds must be a whole number of seconds',
      outOfRange: `grace_seconds must be between 0 and ${MAX_SIGNING_SECRET_GRACE}`,
    }).optional(),
  },
  { error: unknownField('the only accepted field is grace_seconds') },
);

/**
 * `POST /api/Token`: a tenant's API key and secret. Extra fields are ignored, as the clients of
 * the API this one follows may send more than these two.
 */
export const VerdictTokenSchema = z.object({
  username: z
    .string({ error: 'username (the API key) is required' })
    .min(1, 'username (the API key) is required')
    .max(128),
  password: z
    .string({ error: 'password (the API secret) is required' })
    .min(1, 'password (the API secret) is required')
    .max(256),
});

/** `POST /api/Scan/Existing`: an object of one of the tenant's registered buckets. */
export const ExistingObjectScanSchema = z.strictObject(
  {
    bucket: z.string({ error: 'bucket is required' }).min(1, 'bucket is required').max(255),
    key: z
      .string({ error: 'key is required' })
      .min(1, 'key is required')
      .max(1024, 'key is at most 1024 characters'),
    versionId: z.string({ error: 'versionId must be a string' }).min(1).max(1024).optional(),
  },
  { error: unknownField('accepted fields are bucket, key and versionId') },
);

const limitValue = (field: string, max: number) =>
  wholeNumber({
    min: 0,
    max,
    notWhole: `${field} must be a whole number (0 = no limit) or null (the default)`,
    outOfRange: `${field} must be from 0 (no limit) to ${max}`,
  })
    .nullable()
    .default(null);

/** `PUT /admin/tenants/{id}/limits`: a field left out or null means the configured default. */
export const TenantLimitsSchema = z.strictObject(
  {
    requestsPerSecond: limitValue('requestsPerSecond', 1_000_000),
    burst: limitValue('burst', 1_000_000),
    bytesPerDay: limitValue('bytesPerDay', Number.MAX_SAFE_INTEGER),
  },
  { error: unknownField('accepted fields are requestsPerSecond, burst and bytesPerDay') },
);

const KNOWN_CATEGORIES = DETECTION_CATEGORIES.join(', ');

/** Most entries a category list may have: every known name a few times over (duplicates collapse). */
const MAX_CATEGORY_ENTRIES = 16;

/**
 * A non-empty list of detection categories (scanning/plan.ts), duplicates collapsed and put in
 * their canonical order. An unknown name is refused by name, never ignored.
 */
const detectionCategories = (field: string) =>
  z
    .array(z.string({ error: `${field} must be a list of category names (${KNOWN_CATEGORIES})` }), {
      error: `${field} must be a list of category names (${KNOWN_CATEGORIES})`,
    })
    .min(1, `${field} must name at least one category (${KNOWN_CATEGORIES})`)
    .max(MAX_CATEGORY_ENTRIES, `${field} has more than ${MAX_CATEGORY_ENTRIES} entries`)
    .superRefine((names, context) => {
      const unknown = names.find(
        (name) => !(DETECTION_CATEGORIES as readonly string[]).includes(name),
      );
      if (unknown !== undefined)
        context.addIssue({
          code: 'custom',
          message: `${field}: unknown category "${unknown.slice(0, 64)}"; known categories are ${KNOWN_CATEGORIES}`,
        });
    })
    .transform((names) => DETECTION_CATEGORIES.filter((category) => names.includes(category)))
    .meta({
      type: 'array',
      minItems: 1,
      maxItems: MAX_CATEGORY_ENTRIES,
      items: { type: 'string', enum: [...DETECTION_CATEGORIES] },
    });

const KNOWN_SENSITIVE_TYPES = SENSITIVE_TYPES.join(', ');
const typesError = `classification.types must be a list of type names (${KNOWN_SENSITIVE_TYPES})`;

/**
 * The tenant's `sensitive_data` settings, set as a whole: a field left out takes its default
 * (every type; one value). Types are deduplicated and put in their canonical order; an unknown
 * name is refused by name.
 */
const ClassificationSettingsSchema = z.strictObject(
  {
    types: z
      .array(z.string({ error: typesError }), { error: typesError })
      .min(1, `classification.types must name at least one type (${KNOWN_SENSITIVE_TYPES})`)
      .max(
        SENSITIVE_TYPES.length * 2,
        `classification.types has more than ${SENSITIVE_TYPES.length * 2} entries`,
      )
      .superRefine((names, context) => {
        const unknown = names.find(
          (name) => !(SENSITIVE_TYPES as readonly string[]).includes(name),
        );
        if (unknown !== undefined)
          context.addIssue({
            code: 'custom',
            message: `classification.types: unknown type "${unknown.slice(0, 64)}"; known types are ${KNOWN_SENSITIVE_TYPES}`,
          });
      })
      .transform((names) => SENSITIVE_TYPES.filter((type) => names.includes(type)))
      .meta({
        type: 'array',
        minItems: 1,
        items: { type: 'string', enum: [...SENSITIVE_TYPES] },
      })
      .optional()
      .describe(`The types counted (default all): ${KNOWN_SENSITIVE_TYPES}.`),
    min_matches: wholeNumber({
      min: 1,
      max: MAX_MIN_MATCHES,
      notWhole: `classification.min_matches must be a whole number from 1 to ${MAX_MIN_MATCHES}`,
      outOfRange: `classification.min_matches must be a whole number from 1 to ${MAX_MIN_MATCHES}`,
    })
      .optional()
      .describe(
        'A type is reported (`content.sensitive.<type>`) once the content holds this many values of it, summed over every part (default 1).',
      ),
  },
  {
    error: (issue) =>
      unknownField('accepted fields of classification are types and min_matches')(issue) ??
      'classification must be an object: {"types": [...], "min_matches": 1}',
  },
);

const ALLOWED_TYPES_HINT =
  'media types such as "application/pdf", or "image/*" for every subtype of a type';

/**
 * `allowed_content_types`: a non-empty list of media types or `type/*` ranges, lower-cased,
 * duplicates collapsed; `null` drops the list (any type allowed, or the key follows its tenant).
 */
const allowedContentTypes = (field: string) =>
  z
    .array(z.string({ error: `${field} must be a list of ${ALLOWED_TYPES_HINT}` }), {
      error: `${field} must be a list of ${ALLOWED_TYPES_HINT}, or null`,
    })
    .min(1, `${field} must name at least one type (or be null to allow any)`)
    .max(MAX_ALLOWED_CONTENT_TYPES, `${field} has more than ${MAX_ALLOWED_CONTENT_TYPES} entries`)
    .transform((types) => [...new Set(types.map((type) => type.trim().toLowerCase()))])
    .superRefine((types, context) => {
      const bad = types.find((type) => !isMediaRange(type));
      if (bad !== undefined)
        context.addIssue({
          code: 'custom',
          message: `${field}: "${bad.slice(0, 64)}" is not a media type; use ${ALLOWED_TYPES_HINT} (a wildcard only as the whole subtype)`,
        });
    })
    .nullable()
    .meta({
      type: ['array', 'null'],
      minItems: 1,
      maxItems: MAX_ALLOWED_CONTENT_TYPES,
      items: {
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9!#$&^_.+-]*/(\\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$',
      },
    });

/** `PUT /admin/tenants/{id}/settings`: the fields given change, the others stay. */
export const TenantSettingsSchema = z.strictObject(
  {
    report_unscannable: z.boolean({ error: 'report_unscannable must be true or false' }).optional(),
    detection_categories: detectionCategories('detection_categories')
      .optional()
      .describe(
        `What the tenant's scans look for (default ["malware"]); an API key may have its own. Known: ${KNOWN_CATEGORIES}.`,
      ),
    image_threshold: z
      .number({ error: 'image_threshold must be a number from 0 to 1' })
      .min(0, 'image_threshold must be a number from 0 to 1')
      .max(1, 'image_threshold must be a number from 0 to 1')
      .optional()
      .describe(
        'The nudity score from which an image is reported as `content.image.nsfw.nudity` (default 0.7).',
      ),
    classification: ClassificationSettingsSchema.optional().describe(
      'What the `sensitive_data` category counts, set as a whole (a field left out takes its default). The tenant’s alone: a key switches the category on or off, not these.',
    ),
    allowed_content_types: allowedContentTypes('allowed_content_types')
      .optional()
      .describe(
        'With the `file_type` category: the true types (sniffed from the bytes) the content may be, such as `["image/*", "application/pdf"]`; anything else gets `content.type.disallowed`. null (the default) allows any; an API key may have its own.',
      ),
    sanitize: z
      .boolean({ error: 'sanitize must be true or false' })
      .optional()
      .describe(
        'Whether uploads and fetches through the API get a sanitized copy when the request does not say (`sanitize` left out); default false. An API key may have its own.',
      ),
  },
  {
    error: unknownField(
      'accepted fields are report_unscannable, detection_categories, image_threshold, classification, allowed_content_types and sanitize',
    ),
  },
);

/** `PUT /admin/keys/{key}/settings`: a field set to null follows the tenant again. */
export const KeySettingsSchema = z
  .strictObject(
    {
      detection_categories: detectionCategories('detection_categories')
        .nullable()
        .optional()
        .describe(
          'The categories scans submitted with this key (or a token it minted) look for; null to follow the tenant’s again.',
        ),
      allowed_content_types: allowedContentTypes('allowed_content_types')
        .optional()
        .describe(
          'With `file_type`: the true types its scans’ content may be (replacing the tenant’s list); null to follow the tenant’s again.',
        ),
      sanitize: z
        .boolean({ error: 'sanitize must be true, false or null' })
        .nullable()
        .optional()
        .describe(
          'Whether uploads and fetches submitted with this key (or a token it minted) get a sanitized copy when the request does not say, in place of the tenant’s setting; null to follow the tenant’s again.',
        ),
    },
    {
      error: unknownField(
        'accepted fields are detection_categories, allowed_content_types and sanitize',
      ),
    },
  )
  .refine(
    (body) =>
      body.detection_categories !== undefined ||
      body.allowed_content_types !== undefined ||
      body.sanitize !== undefined,
    'give at least one of detection_categories, allowed_content_types and sanitize',
  );

/** `DELETE /admin/tenants/{id}?force=true`: delete even while scans of the tenant are pending. */
export const DeleteTenantQuerySchema = z.object({
  force: z
    .enum(['true', 'false'], { error: 'force must be true or false' })
    .optional()
    .describe('Delete even while scans are pending (default false).'),
});

import { z } from 'zod';
import { DETECTION_CATEGORIES, type DetectionCategory } from '../core/detection-categories.js';

/**
 * What a tenant sends to register a bucket (`PUT /v1/buckets/{name}`), what is stored, and what
 * `GET` shows. Secrets go in, never out: the view carries the credential type and a masked
 * access key id only.
 */

/** S3 allows 10 tags per object. */
export const S3_TAG_LIMIT = 10;

export const DEFAULT_TAG_KEYS = {
  result: 'scan-result',
  date: 'scan-date',
  findings: 'scan-findings',
  engine: 'scan-engine',
  classificationResult: 'classification-result',
  classificationDate: 'date-classified',
  classificationMatches: 'classification-matches',
  classificationMessage: 'classification-message',
} as const;

/** The names of the tags Arbiter writes: the four scan tags and the four classification tags. */
export type TagKeys = { [role in keyof typeof DEFAULT_TAG_KEYS]: string };

/** Most key prefixes each of `classifyInclude` and `classifyExclude` may list. */
export const MAX_CLASSIFY_PREFIXES = 20;

/** S3 keys are at most 1,024 bytes: a longer prefix could match nothing. */
const MAX_PREFIX_LENGTH = 1024;

/**
 * General purpose bucket naming rules (AWS "Bucket naming rules"): 3–63 characters; lower-case
 * letters, digits, dots and hyphens; a letter or digit first and last; no two adjacent dots; not
 * an IP address; not the reserved prefixes and suffixes. Returns the rule broken, if any.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'bucket names are 3 to 63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name))
    return 'bucket names contain only lower-case letters, digits, dots (.) and hyphens (-)';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name))
    return 'bucket names begin and end with a letter or a digit';
  if (name.includes('..')) return 'bucket names do not contain two adjacent dots';
  if (name.includes('.-') || name.includes('-.'))
    return 'bucket names do not contain a dot next to a hyphen';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'bucket names are not formatted as IP addresses';
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(prefix)) return `bucket names do not begin with "${prefix}"`;
  }
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suffix)) return `bucket names do not end with "${suffix}"`;
  }
  return undefined;
}

const bucketName = (field: string) =>
  z.string({ error: `${field} must be a bucket name` }).superRefine((value, ctx) => {
    const problem = bucketNameProblem(value);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        message: `${field} "${value.slice(0, 70)}" is not a valid bucket name: ${problem}`,
      });
  });

/**
 * S3 tag keys: 1–128 Unicode letters, digits, spaces and `+ - = . _ : / @`; `aws:` is reserved.
 * Values: 0–256 of the same characters.
 */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

const tagKey = (field: string) =>
  z
    .string({ error: `${field} must be a tag key` })
    .min(1, `${field} must not be empty`)
    .max(128, `${field} is at most 128 characters`)
    .refine(
      (value) => TAG_CHARS.test(value),
      `${field} may contain only letters, digits, spaces and + - = . _ : / @`,
    )
    .refine(
      (value) => !value.toLowerCase().startsWith('aws:'),
      `${field} must not begin with "aws:" (reserved by AWS)`,
    );

const printable = (field: string, max: number) =>
  z
    .string({ error: `${field} must be text` })
    .min(1, `${field} must not be empty`)
    .max(max, `${field} is at most ${max} characters`)
    .refine(
      (value) => /^[\x21-\x7e]+$/.test(value),
      `${field} must be printable ASCII without spaces`,
    );

/**
 * A URL field. Whether it may be used at all (scheme, credentials, length, forbidden IP literal)
 * is decided by the rule every tenant URL follows (core/url-policy.ts), which the bucket store
 * applies; `root` adds what only an endpoint needs: no path, query or fragment.
 */
const httpUrl = (field: string, options: { root?: boolean } = {}) =>
  z
    .string({ error: `${field} must be an http or https URL` })
    .trim()
    .superRefine((value, ctx) => {
      if (!options.root || !URL.canParse(value)) return;
      const url = new URL(value);
      if (url.pathname !== '/' || url.search || url.hash) {
        ctx.addIssue({
          code: 'custom',
          message: `${field} must be a scheme, host and optional port only (like https://s3.example.com:9000)`,
        });
      }
    });

const region = (field: string) =>
  z
    .string({ error: `${field} must be a region name` })
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, `${field} must be a region name such as "us-east-1"`);

const unknownField =
  (where: string, allowed: string) => (issue: { code?: string; keys?: string[] }) =>
    issue.code === 'unrecognized_keys'
      ? `Unknown field "${(issue.keys?.[0] ?? '').slice(0, 64)}" in ${where}: the accepted fields are ${allowed}.`
      : undefined;

export const StaticCredentialsSchema = z.strictObject(
  {
    type: z.literal('static'),
    accessKeyId: printable('credentials.accessKeyId', 256),
    secretAccessKey: z
      .string({ error: 'credentials.secretAccessKey is required' })
      .min(1, 'credentials.secretAccessKey must not be empty')
      .max(1024, 'credentials.secretAccessKey is at most 1024 characters'),
    sessionToken: z.string().min(1).max(4096).optional(),
  },
  { error: unknownField('credentials', 'type, accessKeyId, secretAccessKey and sessionToken') },
);

export const RoleCredentialsSchema = z.strictObject(
  {
    type: z.literal('role'),
    roleArn: z
      .string({ error: 'credentials.roleArn is required' })
      .regex(
        /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
        'credentials.roleArn must be an IAM role ARN (arn:aws:iam::123456789012:role/name)',
      ),
    // Assigned by Arbiter, never chosen: accepted only when it is the tenant's own (checkExternalId).
    externalId: z.string({ error: 'credentials.externalId must be text' }).max(1224).optional(),
    sessionName: z
      .string()
      .regex(
        /^[\w+=,.@-]{2,64}$/,
        'credentials.sessionName must be 2–64 characters of letters, digits and +=,.@-',
      )
      .optional(),
  },
  { error: unknownField('credentials', 'type, roleArn, externalId and sessionName') },
);

export const CredentialsSchema = z.discriminatedUnion(
  'type',
  [StaticCredentialsSchema, RoleCredentialsSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union' || issue.code === 'invalid_type'
        ? 'credentials must be {"type":"static","accessKeyId","secretAccessKey"} or {"type":"role","roleArn"}'
        : undefined,
  },
);

export type BucketCredentials = z.infer<typeof CredentialsSchema>;

const LocationSchema = (field: string) =>
  z.strictObject(
    {
      bucket: bucketName(`${field}.bucket`),
      prefix: z.string().max(512, `${field}.prefix is at most 512 characters`).default(''),
    },
    { error: unknownField(field, 'bucket and prefix') },
  );

export type ObjectLocation = { bucket: string; prefix: string };

const badObjectAction = ['tag', 'quarantine', 'delete', 'keep'] as const;

const ActionsSchema = z
  .strictObject(
    {
      onClean: z
        .enum(['tag', 'promote'], { error: 'actions.onClean must be "tag" or "promote"' })
        .default('tag'),
      production: LocationSchema('actions.production').optional(),
      onInfected: z
        .enum(badObjectAction, {
          error: 'actions.onInfected must be "tag", "quarantine", "delete" or "keep"',
        })
        .default('tag'),
      onUnscannable: z
        .enum(badObjectAction, {
          error: 'actions.onUnscannable must be "tag", "quarantine", "delete" or "keep"',
        })
        .default('tag'),
      quarantine: LocationSchema('actions.quarantine').optional(),
    },
    {
      error: unknownField(
        'actions',
        'onClean, production, onInfected, onUnscannable and quarantine',
      ),
    },
  )
  .superRefine((actions, ctx) => {
    if (actions.onClean === 'promote' && !actions.production) {
      ctx.addIssue({
        code: 'custom',
        message:
          'actions.production {"bucket","prefix"} is required when actions.onClean is "promote"',
      });
    }
    const quarantining =
      actions.onInfected === 'quarantine' || actions.onUnscannable === 'quarantine';
    if (quarantining && !actions.quarantine) {
      ctx.addIssue({
        code: 'custom',
        message:
          'actions.quarantine {"bucket","prefix"} is required when infected or unscannable objects are quarantined',
      });
    }
  });

export type BucketActions = z.output<typeof ActionsSchema>;

const TAG_ROLES = Object.keys(DEFAULT_TAG_KEYS) as Array<keyof TagKeys>;

const TagKeysSchema = z
  .strictObject(
    {
      result: tagKey('tags.result').default(DEFAULT_TAG_KEYS.result),
      date: tagKey('tags.date').default(DEFAULT_TAG_KEYS.date),
      findings: tagKey('tags.findings').default(DEFAULT_TAG_KEYS.findings),
      engine: tagKey('tags.engine').default(DEFAULT_TAG_KEYS.engine),
      classificationResult: tagKey('tags.classificationResult').default(
        DEFAULT_TAG_KEYS.classificationResult,
      ),
      classificationDate: tagKey('tags.classificationDate').default(
        DEFAULT_TAG_KEYS.classificationDate,
      ),
      classificationMatches: tagKey('tags.classificationMatches').default(
        DEFAULT_TAG_KEYS.classificationMatches,
      ),
      classificationMessage: tagKey('tags.classificationMessage').default(
        DEFAULT_TAG_KEYS.classificationMessage,
      ),
    },
    { error: unknownField('tags', TAG_ROLES.join(', ')) },
  )
  .refine(
    (tags) => new Set(Object.values(tags)).size === TAG_ROLES.length,
    `tags: the ${TAG_ROLES.length} tag keys must differ from each other`,
  );

/** Tag keys of a record stored before the classification tags existed get their defaults. */
export const tagKeysOf = (stored: Partial<TagKeys>): TagKeys => ({
  ...DEFAULT_TAG_KEYS,
  ...stored,
});

const KNOWN_CATEGORIES = DETECTION_CATEGORIES.join(', ');

/**
 * The bucket's own detection categories, like an API key's: refused by name when unknown,
 * duplicates collapsed, in their canonical order.
 */
const detectionCategories = z
  .array(
    z.string({
      error: `detectionCategories must be a list of category names (${KNOWN_CATEGORIES})`,
    }),
    { error: `detectionCategories must be a list of category names (${KNOWN_CATEGORIES})` },
  )
  .min(1, `detectionCategories must name at least one category (${KNOWN_CATEGORIES})`)
  .max(16, 'detectionCategories has more than 16 entries')
  .superRefine((names, ctx) => {
    const unknown = names.find(
      (name) => !(DETECTION_CATEGORIES as readonly string[]).includes(name),
    );
    if (unknown !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: `detectionCategories: unknown category "${unknown.slice(0, 64)}"; known categories are ${KNOWN_CATEGORIES}`,
      });
  })
  .transform((names): DetectionCategory[] =>
    DETECTION_CATEGORIES.filter((category) => names.includes(category)),
  )
  .meta({
    type: 'array',
    minItems: 1,
    maxItems: 16,
    items: { type: 'string', enum: [...DETECTION_CATEGORIES] },
  });

const keyPrefixes = (field: string) =>
  z
    .array(
      z
        .string({ error: `${field} must be a list of key prefixes` })
        .min(1, `${field}: a prefix must not be empty (an empty list means every key)`)
        .max(MAX_PREFIX_LENGTH, `${field}: a prefix is at most ${MAX_PREFIX_LENGTH} characters`),
      { error: `${field} must be a list of key prefixes` },
    )
    .max(MAX_CLASSIFY_PREFIXES, `${field} has more than ${MAX_CLASSIFY_PREFIXES} prefixes`)
    .default([]);

const QueueSchema = z.strictObject(
  {
    url: httpUrl('queue.url'),
    region: region('queue.region').optional(),
    endpoint: httpUrl('queue.endpoint', { root: true }).optional(),
    credentials: CredentialsSchema.optional(),
  },
  { error: unknownField('queue', 'url, region, endpoint and credentials') },
);

export const BucketInputSchema = z
  .strictObject(
    {
      region: region('region').optional(),
      endpoint: httpUrl('endpoint', { root: true }).optional(),
      forcePathStyle: z.boolean({ error: 'forcePathStyle must be true or false' }).optional(),
      credentials: CredentialsSchema.optional(),
      actions: ActionsSchema.default({ onClean: 'tag', onInfected: 'tag', onUnscannable: 'tag' }),
      tags: TagKeysSchema.default({ ...DEFAULT_TAG_KEYS }),
      callback: httpUrl('callback').nullable().optional(),
      queue: QueueSchema.nullable().optional(),
      detectionCategories: detectionCategories.nullable().optional(),
      classify: z.boolean({ error: 'classify must be true or false' }).default(false),
      classifyInclude: keyPrefixes('classifyInclude'),
      classifyExclude: keyPrefixes('classifyExclude'),
      sanitize: z
        .boolean({ error: 'sanitize must be true or false' })
        .default(false)
        .describe(
          'Promote a sanitized copy of each clean object instead of the object itself, which is quarantined (docs/s3.md). Needs actions.onClean "promote" and actions.quarantine.',
        ),
    },
    {
      error: unknownField(
        'the bucket',
        'region, endpoint, forcePathStyle, credentials, actions, tags, callback, queue, detectionCategories, classify, classifyInclude, classifyExclude and sanitize',
      ),
    },
  )
  .superRefine((input, ctx) => {
    if (!input.region && !input.endpoint) {
      ctx.addIssue({
        code: 'custom',
        message: 'region is required (or an S3 endpoint for an S3-compatible store)',
      });
    }
    if (!input.classify && (input.classifyInclude.length > 0 || input.classifyExclude.length > 0)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'classifyInclude and classifyExclude choose which keys are classified: they need "classify": true',
      });
    }
    // The copy goes where a clean object would be promoted, the object itself to quarantine.
    if (input.sanitize && (input.actions.onClean !== 'promote' || !input.actions.quarantine)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'sanitize needs actions.onClean "promote" (the sanitized copy is what is promoted) and actions.quarantine {"bucket","prefix"} (where the original is kept)',
      });
    }
  });

export type BucketInput = z.output<typeof BucketInputSchema>;

/** Refusals that need the bucket's own name: a destination must not be the object itself. */
export function checkDestinations(name: string, actions: BucketActions): string | undefined {
  for (const [field, location] of [
    ['actions.quarantine', actions.quarantine],
    ['actions.production', actions.production],
  ] as const) {
    if (location && location.bucket === name && location.prefix === '') {
      return `${field} is this bucket without a prefix: objects would be copied onto themselves (give a prefix or another bucket)`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Stored form and public view.

/** What a credential looks like in a `GET`: never the secret, the key id masked. */
export type CredentialsView =
  { type: 'static'; accessKeyId: string } | { type: 'role'; roleArn: string; externalId: string };

export interface StoredQueue {
  url: string;
  region: string;
  endpoint?: string;
  /** Sealed JSON of BucketCredentials; absent → the bucket's credentials are used. */
  sealedCredentials?: string;
  credentialsView?: CredentialsView;
}

export interface BucketRecord {
  tenantId: string;
  name: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Sealed JSON of BucketCredentials (AES-256-GCM, see core/secret-box.ts). */
  sealedCredentials: string;
  credentialsView: CredentialsView;
  actions: BucketActions;
  tags: TagKeys;
  callback?: string;
  queue?: StoredQueue;
  /** The categories its objects' scans look for, in place of the key's or tenant's. */
  detectionCategories?: DetectionCategory[];
  /** Sensitive-data classification of the objects under `classify.include`, but not `exclude`. */
  classify?: ClassifySettings;
  /** Clean objects are promoted as their sanitized copy (absent in records stored before: off). */
  sanitize?: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Which of a bucket's objects are classified (`sensitive_data`, see s3/bucket-plans.ts). */
export interface ClassifySettings {
  /** Key prefixes; empty: every key. */
  include: string[];
  /** Key prefixes never classified, even under an included one. */
  exclude: string[];
}

export interface BucketView {
  name: string;
  region: string;
  endpoint: string | null;
  forcePathStyle: boolean;
  credentials: CredentialsView;
  actions: BucketActions;
  tags: TagKeys;
  callback: string | null;
  queue: {
    url: string;
    region: string;
    endpoint: string | null;
    credentials: CredentialsView | null;
  } | null;
  detectionCategories: DetectionCategory[] | null;
  classify: boolean;
  classifyInclude: string[];
  classifyExclude: string[];
  sanitize: boolean;
  creation_date: string;
  last_modified_date: string;
}

/** `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE`; short ids keep two characters. */
export function maskKeyId(accessKeyId: string): string {
  if (accessKeyId.length >= 12) return `${accessKeyId.slice(0, 4)}…${accessKeyId.slice(-4)}`;
  return `${accessKeyId.slice(0, 2)}****`;
}

export function credentialsView(credentials: BucketCredentials, tenantId: string): CredentialsView {
  return credentials.type === 'static'
    ? { type: 'static', accessKeyId: maskKeyId(credentials.accessKeyId) }
    : { type: 'role', roleArn: credentials.roleArn, externalId: tenantExternalId(tenantId) };
}

/**
 * The external id Arbiter presents when it assumes a tenant's role: derived from the tenant id
 * every time, never read from what was registered. A role whose trust policy requires it can be
 * assumed on behalf of that tenant only; if tenants could choose the value, tenant B could
 * register tenant A's role with A's external id and have Arbiter read A's bucket for it (the
 * "confused deputy").
 */
export const tenantExternalId = (tenantId: string): string => `arbiter-${tenantId}`;

/**
 * A role registration may leave `externalId` out or give exactly the tenant's own; any other
 * value is refused, naming the one to use. Returns the problem, if any.
 */
export function checkExternalId(
  field: string,
  credentials: BucketCredentials | undefined,
  tenantId: string,
): string | undefined {
  if (credentials?.type !== 'role' || credentials.externalId === undefined) return undefined;
  const own = tenantExternalId(tenantId);
  if (credentials.externalId === own) return undefined;
  return `${field}.externalId must be "${own}" or left out: Arbiter assigns the external id (your tenant's own) and always presents that one to STS, so that no other tenant can have Arbiter assume your role; put "${own}" in the role's trust policy (condition sts:ExternalId)`;
}

/** What is sealed: a role's external id is never kept, since it is always derived. */
export function credentialsToStore(credentials: BucketCredentials): BucketCredentials {
  if (credentials.type !== 'role') return credentials;
  const stored: BucketCredentials = { ...credentials };
  delete stored.externalId;
  return stored;
}

export function bucketView(record: BucketRecord): BucketView {
  return {
    name: record.name,
    region: record.region,
    endpoint: record.endpoint ?? null,
    forcePathStyle: record.forcePathStyle,
    credentials: currentView(record.credentialsView, record.tenantId),
    actions: record.actions,
    tags: tagKeysOf(record.tags),
    callback: record.callback ?? null,
    queue: record.queue
      ? {
          url: record.queue.url,
          region: record.queue.region,
          endpoint: record.queue.endpoint ?? null,
          credentials: record.queue.credentialsView
            ? currentView(record.queue.credentialsView, record.tenantId)
            : null,
        }
      : null,
    detectionCategories: record.detectionCategories ?? null,
    classify: record.classify !== undefined,
    classifyInclude: record.classify?.include ?? [],
    classifyExclude: record.classify?.exclude ?? [],
    sanitize: record.sanitize ?? false,
    creation_date: record.createdAt,
    last_modified_date: record.updatedAt,
  };
}

/** A stored view may predate derived external ids: always show the one Arbiter presents. */
function currentView(view: CredentialsView, tenantId: string): CredentialsView {
  return view.type === 'role' ? { ...view, externalId: tenantExternalId(tenantId) } : view;
}

import { z } from 'zod';
import { MAX_MIN_MATCHES, SENSITIVE_TYPES } from '../core/sensitive-types.js';
import { DETECTION_CATEGORIES } from '../scanning/plan.js';

/**
 * What the API answers, for the OpenAPI document (api/operations.ts). Requests are validated
 * by the schemas in api/schemas.ts and s3/bucket-schema.ts; these describe the answers, which
 * the routes build from typed stores.
 */

const id = z.string().regex(/^[0-9a-f]{32}$/);
const timestamp = z.iso.datetime().meta({ examples: ['2026-01-02T03:04:05.678Z'] });

export const ErrorSchema = z
  .object({ error: z.string().describe('What went wrong, naming the field at fault.') })
  .meta({ id: 'Error' });

const sensitiveType = z.enum(SENSITIVE_TYPES);

/** The sensitive-data classification a result carries (`sensitive_data`, docs/sensitive-data.md). */
export const ClassificationSchema = z
  .object({
    result: z
      .enum(['sensitive', 'none', 'error'])
      .describe(
        '`sensitive`: at least one type reached the tenant’s `min_matches` (each is also a `content.sensitive.<type>` finding); `none`: every text read was classified and none did; `error`: the classification could not be made (the result’s `error` says why).',
      ),
    matches: z
      .partialRecord(sensitiveType, z.int().min(1))
      .describe(
        'Values found of each type that reached `min_matches`, summed over the content and every part of it.',
      ),
    samples: z
      .partialRecord(sensitiveType, z.array(z.string()))
      .describe(
        'Up to three redacted samples of each type in `matches` (`…1111`, `j***@example.com`): never a whole value.',
      ),
  })
  .meta({ id: 'Classification' });

/** Must parse to exactly scans/results.ts's ScanResult (test/scans/result-shape.test.ts). */
export const ScanResultSchema = z
  .object({
    id,
    checksum: z
      .string()
      .nullable()
      .describe('SHA-1 (hex) of the content; null when it could not be read.'),
    content_length: z.int().min(0).nullable(),
    findings: z
      .array(z.string())
      .describe(
        'Empty: clean. `content.malicious.<name>` or `content.unscannable.<reason>` otherwise.',
      ),
    creation_date: timestamp,
    content_type: z
      .string()
      .nullable()
      .describe(
        'The true type, sniffed from the bytes (never taken from the name or a declared type): `image/png`, `application/x-msdownload`, `text/x-shellscript`, `text/plain`, `application/octet-stream` for unknown binary data.',
      ),
    declared_content_type: z
      .string()
      .nullable()
      .optional()
      .describe(
        'Arbiter extension: the media type the content was declared as (the upload part’s Content-Type, the download’s Content-Type, the object’s ContentType), without parameters; null when none was. On every result (absent from results stored by older versions).',
      ),
    file_extension: z
      .string()
      .nullable()
      .optional()
      .describe(
        'Arbiter extension: the extension of the content’s name (the upload’s file name, the last part of the location’s path, the object key), lower case without the dot; null when it has none.',
      ),
    metadata: z.record(z.string(), z.string()),
    error: z
      .string()
      .optional()
      .describe(
        'Present only when processing failed: the content was not scanned (never read it as clean).',
      ),
    suppressed_findings: z
      .array(z.string())
      .optional()
      .describe(
        'Only for a tenant that opted out of unscannable findings: the `content.unscannable.*` findings left out of `findings`.',
      ),
    engines: z
      .array(z.object({ name: z.string(), version: z.string() }))
      .optional()
      .describe(
        'Arbiter extension: the engines that scanned the content, with their database versions.',
      ),
    bucket: z.string().optional().describe('Scans of bucket objects: the bucket.'),
    key: z.string().optional(),
    versionId: z.string().nullable().optional(),
    outcome: z.enum(['clean', 'infected', 'unscannable', 'error']).optional(),
    action: z.enum(['tag', 'quarantine', 'promote', 'delete', 'keep', 'none']).optional(),
    action_error: z.string().optional(),
    rescan: z
      .object({
        id: z.string().describe('The rescan that changed the verdict.'),
        date: timestamp,
        previous_findings: z.array(z.string()),
        previous_engines: z.array(z.object({ name: z.string(), version: z.string() })),
      })
      .optional()
      .describe(
        'Arbiter extension: set when a rescan (`POST /v1/rescans`) changed the verdict; what the result said before.',
      ),
    sanitized: z
      .discriminatedUnion('available', [
        z.object({
          available: z.literal(true),
          removed: z
            .array(z.string())
            .describe(
              'What was taken out: `metadata`, `trailing-data`, `macros`, `javascript`, … (see docs/sanitizing.md).',
            ),
          content_type: z.string(),
          checksum: z.string().describe('SHA-1 (hex) of the sanitized copy.'),
          size: z.int().min(0),
        }),
        z.object({ available: z.literal(false), reason: z.string() }),
      ])
      .optional()
      .describe(
        'Arbiter extension, with `sanitize=true` (or the key’s or tenant’s `sanitize` setting, or a bucket’s): the sanitized copy, downloaded from `GET /files/{id}/sanitized` while the result lives, or why there is none. Made only of scanned content without findings.',
      ),
    classification: ClassificationSchema.optional().describe(
      'Present when the scan’s detection categories include `sensitive_data`: counts and redacted samples of the sensitive values found.',
    ),
  })
  .meta({ id: 'ScanResult' });

export const SyncFailureSchema = z
  .object({ error: z.string(), id, metadata: z.record(z.string(), z.string()) })
  .meta({
    id: 'SyncScanFailure',
    description: 'A synchronous scan that could not obtain (400) or scan (503) the content.',
  });

export const AcceptedSchema = z.object({ id }).meta({ id: 'Accepted' });

export const TraceSchema = z
  .object({
    id,
    events: z.array(z.object({ timestamp, message: z.string() })),
  })
  .meta({ id: 'Trace' });

export const PingSchema = z.object({
  message: z.literal('pong'),
  key: z.string().describe('The API key or auth token id used.'),
});

export const AuthTokenSchema = z
  .object({ id, creation_date: timestamp, expiration_date: timestamp })
  .meta({ id: 'AuthToken' });

/** A tenant's `sensitive_data` settings as the admin API and `/account.json` show them. */
const ClassificationSettingsViewSchema = z
  .object({
    types: z.array(sensitiveType).describe('The types counted (default all).'),
    min_matches: z
      .int()
      .min(1)
      .max(MAX_MIN_MATCHES)
      .describe('Values of a type from which it is reported (default 1).'),
  })
  .describe('What the `sensitive_data` category counts (the tenant’s; keys do not override it).');

export const AccountSchema = z.object({
  name: z.string(),
  balance: z
    .int()
    .describe(
      'Scanii’s prepaid balance. Scanning here is not metered: always 2147483647, never decreasing.',
    ),
  starting_balance: z.int().describe('Scanii’s starting balance: the same constant as `balance`.'),
  billing_email: z.string().describe('Always empty: there is no billing.'),
  subscription: z.string().describe('Always `self-hosted`.'),
  creation_date: timestamp,
  modification_date: timestamp,
  users: z.record(z.string(), z.unknown()),
  keys: z.record(
    z.string(),
    z.object({
      active: z.boolean(),
      creation_date: timestamp,
      last_seen_date: timestamp.nullable(),
      detection_categories_enabled: z
        .array(z.enum(DETECTION_CATEGORIES))
        .describe(
          'What scans submitted with this key (or its tokens) look for: its own categories, else the tenant’s.',
        ),
      tags: z.array(z.string()),
    }),
  ),
  settings: z
    .object({
      report_unscannable: z.boolean(),
      detection_categories: z.array(z.string()),
      image_threshold: z.number(),
      classification: ClassificationSettingsViewSchema,
      allowed_content_types: z.array(z.string()).nullable(),
      sanitize: z
        .boolean()
        .describe(
          'Whether uploads and fetches get a sanitized copy when the request does not say `sanitize` (a key may have its own setting).',
        ),
    })
    .optional()
    .describe('The tenant’s scanning preferences, as set by the operator.'),
  engines: z
    .array(z.object({ name: z.string(), version: z.string() }))
    .optional()
    .describe(
      'An Arbiter addition: the malware engines (`builtin`, `clamd`) and their database versions, run when a scan’s categories include `malware`.',
    ),
  analyzers: z
    .array(
      z.object({
        name: z.string(),
        version: z.string(),
        category: z
          .string()
          .nullable()
          .describe('The detection category it serves; null for tenants’ own rules (every scan).'),
      }),
    )
    .optional()
    .describe(
      'An Arbiter addition: what runs beside the malware engines for the other categories (`nsfwjs` for `unsafe_image`, `language-rules` for `unsafe_language`, `sensitive-data` for `sensitive_data`, `true-type` for `file_type`) and for tenants’ own YARA rules.',
    ),
  warnings: z
    .array(z.string())
    .optional()
    .describe(
      'An Arbiter addition: what the scans do not detect, e.g. that clamd is not installed and only the built-in engine’s signatures are used. Empty when all is well.',
    ),
});

export const RotatedSecretSchema = z.object({
  signing_secret: z.string().describe('The new secret (`whsec_…`); shown once.'),
  previous_valid_until: timestamp,
});

export const RedeliverySchema = z.object({
  id,
  status: z.enum(['queued', 'rescheduled', 'in-progress']),
});

const CredentialsViewSchema = z.union([
  z.object({ type: z.literal('static'), accessKeyId: z.string().describe('Masked: `AKIA…MPLE`.') }),
  z.object({
    type: z.literal('role'),
    roleArn: z.string(),
    externalId: z
      .string()
      .describe(
        'Always `arbiter-<tenant id>`, the id Arbiter presents to STS: require it in the role’s trust policy (`sts:ExternalId`).',
      ),
  }),
]);

const LocationViewSchema = z.object({ bucket: z.string(), prefix: z.string() });

export const BucketViewSchema = z
  .object({
    name: z.string(),
    region: z.string(),
    endpoint: z.string().nullable(),
    forcePathStyle: z.boolean(),
    credentials: CredentialsViewSchema.describe('Never the secret.'),
    actions: z.object({
      onClean: z.enum(['tag', 'promote']),
      production: LocationViewSchema.optional(),
      onInfected: z.enum(['tag', 'quarantine', 'delete', 'keep']),
      onUnscannable: z.enum(['tag', 'quarantine', 'delete', 'keep']),
      quarantine: LocationViewSchema.optional(),
    }),
    tags: z.object({
      result: z.string(),
      date: z.string(),
      findings: z.string(),
      engine: z.string(),
      classificationResult: z.string(),
      classificationDate: z.string(),
      classificationMatches: z.string(),
      classificationMessage: z.string(),
    }),
    callback: z.string().nullable(),
    queue: z
      .object({
        url: z.string(),
        region: z.string(),
        endpoint: z.string().nullable(),
        credentials: CredentialsViewSchema.nullable(),
      })
      .nullable(),
    sanitize: z
      .boolean()
      .describe(
        'Whether clean objects are promoted as their sanitized copy, the original quarantined (see docs/s3.md).',
      ),
    detectionCategories: z
      .array(z.enum(DETECTION_CATEGORIES))
      .nullable()
      .describe(
        'What its objects’ scans look for, in place of the key’s or tenant’s; null: theirs.',
      ),
    classify: z
      .boolean()
      .describe('Whether its objects are classified for sensitive data (see docs/s3.md).'),
    classifyInclude: z.array(z.string()).describe('Key prefixes classified; empty: every key.'),
    classifyExclude: z
      .array(z.string())
      .describe('Key prefixes never classified, even under an included one.'),
    creation_date: timestamp,
    last_modified_date: timestamp,
  })
  .meta({ id: 'Bucket' });

export const BucketListSchema = z.object({ buckets: z.array(BucketViewSchema) });

const IntakeItemSchema = z.object({
  id,
  bucket: z.string(),
  key: z.string(),
  versionId: z.string().nullable(),
});

export const IntakeReportSchema = z.object({
  shape: z
    .string()
    .describe('How the notification was read: direct, SNS envelope, raw, EventBridge.'),
  queued: z.array(IntakeItemSchema),
  duplicates: z.array(IntakeItemSchema).describe('Already being scanned (same object version).'),
  skipped: z.array(
    z.object({ bucket: z.string().optional(), key: z.string().optional(), reason: z.string() }),
  ),
});

export const S3NotificationSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'An S3 event notification as S3 sends it (`{"Records": [...]}`), wrapped in an SNS envelope, or an EventBridge event. See docs/s3.md.',
  );

export const TenantCreatedSchema = z.object({
  id,
  name: z.string(),
  key: z.string(),
  secret: z.string().describe('Shown once.'),
  signing_secret: z.string().describe('Webhook signing secret (`whsec_…`); shown once.'),
});

export const TenantListSchema = z.array(
  z.object({
    id,
    name: z.string(),
    creation_date: timestamp,
    keys: z.array(
      z.object({
        key: z.string(),
        active: z.boolean(),
        creation_date: timestamp,
        last_seen_date: timestamp.nullable(),
      }),
    ),
  }),
);

export const KeyCreatedSchema = z.object({
  key: z.string(),
  secret: z.string().describe('Shown once.'),
});

const limitsShape = {
  requestsPerSecond: z.int(),
  burst: z.int(),
  bytesPerDay: z.int(),
};

export const TenantLimitsViewSchema = z.object({
  ...limitsShape,
  overrides: z.object({
    requestsPerSecond: z.int().nullable(),
    burst: z.int().nullable(),
    bytesPerDay: z.int().nullable(),
  }),
  defaults: z.object(limitsShape),
  bytesUsedToday: z.int(),
});

export const TenantSettingsViewSchema = z.object({
  report_unscannable: z
    .boolean()
    .describe(
      'Whether content that could not be fully scanned gets `content.unscannable.*` findings (default true).',
    ),
  detection_categories: z
    .array(z.enum(DETECTION_CATEGORIES))
    .describe(
      'What the tenant’s scans look for (default `["malware"]`), unless a key has its own.',
    ),
  image_threshold: z
    .number()
    .describe('The nudity score (0 to 1) from which an image is reported (default 0.7).'),
  classification: ClassificationSettingsViewSchema,
  allowed_content_types: z
    .array(z.string())
    .nullable()
    .describe(
      'With `file_type`: the true types the content may be (`image/*`, `application/pdf`), else `content.type.disallowed`; null (the default) allows any, unless a key has its own.',
    ),
  sanitize: z
    .boolean()
    .describe(
      'Whether uploads and fetches through the API get a sanitized copy when the request does not say (default false), unless a key has its own setting.',
    ),
});

export const KeySettingsViewSchema = z.object({
  detection_categories: z
    .array(z.enum(DETECTION_CATEGORIES))
    .nullable()
    .describe('The key’s own categories; null when it follows its tenant’s.'),
  effective_detection_categories: z
    .array(z.enum(DETECTION_CATEGORIES))
    .describe('What scans submitted with the key (or a token it minted) look for now.'),
  allowed_content_types: z
    .array(z.string())
    .nullable()
    .describe('The key’s own allowed content types; null when it follows its tenant’s.'),
  effective_allowed_content_types: z
    .array(z.string())
    .nullable()
    .describe(
      'The allowed content types its scans are held to now (with `file_type`); null: any type.',
    ),
  sanitize: z
    .boolean()
    .nullable()
    .describe('The key’s own sanitize setting; null when it follows its tenant’s.'),
  effective_sanitize: z
    .boolean()
    .describe(
      'Whether its uploads and fetches get a sanitized copy now when the request does not say.',
    ),
});

export const SignaturesReloadedSchema = z.object({
  engines: z.array(
    z.object({
      name: z.string(),
      version: z.string().optional(),
      signatures: z.int().optional(),
      problems: z.int().optional(),
      warnings: z.int().optional(),
      loadMs: z.number().optional(),
    }),
  ),
});

const SignatureTypeReportSchema = z.object({
  type: z
    .string()
    .describe('The database type: the file extension without its dot (`ndb`, `hsb`, `ldb`).'),
  loaded: z.int(),
  skipped: z.int(),
  reasons: z.record(z.string(), z.int()).describe('Skipped signatures by reason.'),
  warnings: z.int().describe('Loaded with a caveat (e.g. a target type matched as any file).'),
});

const SignatureContainerReportSchema = z.object({
  file: z.string().describe('`daily.cvd`, `main.cld`, `custom.cud`.'),
  database: z.string(),
  version: z.int(),
  declaredSignatures: z.int().describe('The signature count its header declares (all types).'),
  builtAt: timestamp,
  loaded: z.boolean(),
  verification: z
    .enum(['signed', 'digest', 'unchecked'])
    .optional()
    .describe(
      '`signed`: a `.cvd` whose MD5 and digital signature were checked; `digest`: a `.cud`, MD5 checked; `unchecked`: a `.cld`, whose header describes the `.cvd` it was patched from.',
    ),
  error: z.string().optional().describe('Why it was not loaded.'),
  signatures: z.int().describe('Signatures loaded from it.'),
});

export const SignaturesReportSchema = z.object({
  engines: z.array(
    z.object({
      name: z.string(),
      version: z.string().optional(),
      signatures: z.int().optional(),
      problems: z.int().optional(),
      warnings: z.int().optional(),
      loadMs: z.number().optional(),
      types: z
        .array(SignatureTypeReportSchema)
        .optional()
        .describe('Engines that read the database files themselves (builtin): per type.'),
      containers: z.array(SignatureContainerReportSchema).optional(),
    }),
  ),
});

export const VerdictTokenIssuedSchema = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.int().describe('Seconds.'),
});

export const VerdictSchema = z
  .object({
    dateScanned: timestamp,
    detectedInfections: z
      .array(z.object({ file: z.string(), infection: z.string() }))
      .describe('Every infected file or archive member, by its path through nested archives.'),
    errorMessage: z.string().nullable(),
    result: z.enum(['Clean', 'Infected', 'Unscannable', 'Error']),
    trueFileType: z
      .string()
      .nullable()
      .describe(
        'The true type sniffed from the bytes (the result’s `content_type`, a media type such as `image/png`); with several files, each in upload order, `, `-separated (`unknown` for one without); null when none is known.',
      ),
    referenceId: z
      .string()
      .nullable()
      .describe(
        'The scan id, for `GET /v2.2/files/{id}`; with several files, each in upload order, `,`-separated (as `X-Arbiter-Scan-Ids`).',
      ),
  })
  .meta({ id: 'Verdict' });

export const HealthSchema = z.object({ status: z.literal('ok') });

export const ReadinessSchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z
    .record(z.string(), z.string())
    .describe('`ok` or `unreachable: <reason>` for Redis and the engines.'),
  warnings: z
    .array(z.string())
    .optional()
    .describe(
      'What the scans do not detect (clamd not installed, or no ClamAV database): the service is ready, with weaker detection. Absent when all is well.',
    ),
});

const RetroBucketViewSchema = z.object({ name: z.string(), prefix: z.string() });

export const RetroJobViewSchema = z
  .object({
    id: z.string(),
    state: z.enum(['crawling', 'scanning', 'completed', 'failed', 'cancelled']),
    buckets: z.array(RetroBucketViewSchema),
    from: timestamp,
    to: timestamp,
    counters: z.object({
      listed: z.int().describe('Objects the listing returned (folder markers included).'),
      matched: z.int().describe('Objects in the window accepted for scanning.'),
      scanned: z.int(),
      clean: z.int(),
      infected: z.int(),
      unscannable: z.int(),
      errors: z.int(),
      skipped: z
        .int()
        .describe('In the window but under the bucket’s own quarantine/production prefix.'),
    }),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
    schedule_id: z.string().nullable(),
    error: z
      .string()
      .optional()
      .describe(
        'Why the job failed (state `failed`), or which matched objects a completed job could not scan.',
      ),
    reconciled: z
      .object({
        passes: z.int(),
        objects: z.int().describe('Objects submitted again or credited from settled scans.'),
      })
      .optional()
      .describe(
        'Present when the job stopped making progress and was reconciled: its buckets listed again and the objects with no outcome scanned again (see docs/s3.md).',
      ),
  })
  .meta({ id: 'RetroJob' });

export const RetroJobListSchema = z.object({ jobs: z.array(RetroJobViewSchema) });

export const RescanViewSchema = z
  .object({
    id: z.string(),
    state: z.enum(['listing', 'scanning', 'completed', 'failed', 'cancelled']),
    older_than: z.string(),
    databases: z
      .array(z.string())
      .describe('The databases compared against: `older_than`, or the current ones.'),
    findings: z.enum(['clean', 'any']),
    from: timestamp,
    to: timestamp,
    counters: z.object({
      listed: z.int().describe('Stored results read within the window.'),
      matched: z.int().describe('Scanned with an older database (and clean, for `clean`).'),
      queued: z.int().describe('Matched results whose content could be read again.'),
      rescanned: z.int().describe('Queued scans that gave a verdict.'),
      changed: z.int().describe('Rescanned results whose findings changed (result updated).'),
      errors: z.int().describe('Queued scans that ended with an error (e.g. a 404).'),
      skipped: z
        .record(z.string(), z.int())
        .describe('Results not rescanned, by reason (e.g. `content no longer held`).'),
    }),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
    last_error: z.string().optional().describe('The last error of a queued scan.'),
    error: z.string().optional().describe('Why the rescan failed (state `failed`).'),
  })
  .meta({ id: 'Rescan' });

export const RescanListSchema = z.object({ rescans: z.array(RescanViewSchema) });

/** One scan in `GET /v1/scans`: the fields of its result a list shows. */
export const ScanSummarySchema = ScanResultSchema.pick({
  id: true,
  checksum: true,
  content_type: true,
  content_length: true,
  findings: true,
  error: true,
  creation_date: true,
  metadata: true,
}).meta({ id: 'ScanSummary' });

export const ScanListSchema = z.object({
  scans: z.array(ScanSummarySchema).describe('Newest first (by completion time).'),
  next_cursor: z
    .string()
    .nullable()
    .describe(
      'Pass as `cursor` for the next page; null when there is nothing more. A page may hold fewer than `limit` scans and still have one: a request reads at most 2,000 stored results.',
    ),
});

export const ScheduleViewSchema = z
  .object({
    id: z.string(),
    cron: z.string(),
    timezone: z.string(),
    buckets: z.array(RetroBucketViewSchema),
    window: z.enum(['all', 'since-last-run']),
    next_run: timestamp.nullable(),
    last_run: timestamp.nullable(),
    last_job_id: z.string().nullable(),
    last_skipped_run: z
      .object({
        at: timestamp.describe('When the skipped firing was due.'),
        running_job_id: z.string().describe('The run that was still going.'),
        reason: z.string(),
      })
      .nullable()
      .describe(
        'The last firing skipped because the previous run was still crawling or scanning (runs never overlap).',
      ),
    created_at: timestamp,
  })
  .meta({ id: 'Schedule' });

export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleViewSchema) });

/** A compiler error or warning of a rule source (`/v1/rules`). */
const RuleMessageSchema = z
  .object({
    code: z.string().describe('The compiler’s code (`E009`, `invariant_expr`, …).'),
    line: z.int().min(1).optional().describe('1-based line in the file (absent if unknown).'),
    column: z.int().min(1).optional(),
    message: z.string(),
    file: z
      .string()
      .optional()
      .describe('Another of the account’s rule files, when the problem is in that one.'),
  })
  .meta({ id: 'RuleMessage' });

export const RuleFileViewSchema = z
  .object({
    name: z.string(),
    rules: z.array(z.string()).describe('Identifiers of the rules the file declares.'),
    rule_count: z.int().min(0),
    warnings: z.array(RuleMessageSchema).describe('The compiler’s warnings when it was put.'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.int().min(0).describe('Bytes of the source.'),
    created_at: timestamp,
    modified_at: timestamp,
  })
  .meta({ id: 'RuleFile' });

export const RuleFilePutSchema = RuleFileViewSchema.extend({
  version: z.int().min(1).describe('Version of the account’s rules this change made.'),
});

export const RuleFileWithSourceSchema = RuleFileViewSchema.extend({ source: z.string() });

export const RuleFileListSchema = z.object({ rules: z.array(RuleFileViewSchema) });

export const RuleErrorsSchema = ErrorSchema.extend({
  errors: z.array(RuleMessageSchema).describe('Each compiler error, with its line.'),
});

const count = z.number().int().min(0);

const HourStatsShape = {
  scans_completed: count.describe('Results stored (a rescan’s own scans are not counted).'),
  scans_with_findings: count,
  findings_by_category: z
    .object({
      malware: count.describe('`content.malicious.*`'),
      unsafe_image: count.describe('`content.image.*`'),
      unsafe_language: count.describe('`content.<language>.language.*`'),
      sensitive_data: count.describe('`content.sensitive.*`'),
      file_type: count.describe('`content.type.*` (true file type checks)'),
      custom: count.describe('`content.custom.*` (the tenant’s YARA rules)'),
      unscannable: count.describe('`content.unscannable.*`'),
      other: count.describe('Any other finding name (a custom rule naming its own).'),
    })
    .describe('Results with at least one finding of the category (a result counts once each).'),
  errors: count.describe('Results with an `error` (the content could not be processed).'),
  callbacks_delivered: count.describe('Callback attempts answered 2xx.'),
  callbacks_failed: count.describe('Callback attempts that failed (another status, or no answer).'),
  latency_ms: z
    .object({ p50: z.number().int().nullable(), p99: z.number().int().nullable() })
    .describe(
      'Request accepted → result stored, from a log-scale histogram: within ±9% of the exact value. Null without results.',
    ),
};

export const StatsSchema = z.object({
  hours: z
    .array(z.object({ hour: timestamp.describe('The hour’s start (UTC).'), ...HourStatsShape }))
    .describe('Oldest first; every hour of the window, zeros included.'),
  totals: z.object(HourStatsShape).describe('The same over the whole window.'),
});

export const CallbackAttemptSchema = z.object({
  attempt: z.number().int().min(1).describe('1-based within its delivery.'),
  redelivery: z.number().int().min(1).optional().describe('n for the n-th redelivery.'),
  at: timestamp.describe('When the attempt ended.'),
  url_origin: z.string().describe('The receiver’s origin only (the path may hold secrets).'),
  status: z.number().int().optional().describe('The receiver’s HTTP status, when it answered.'),
  error: z.string().optional().describe('Why there is no status, or why nothing was sent.'),
  latency_ms: z.number().int().min(0),
});

export const CallbackAttemptsSchema = z.object({
  callbacks: z.array(CallbackAttemptSchema).describe('Oldest first; the newest 50 are kept.'),
});

export const QueueDepthsSchema = z.object({
  queues: z.array(
    z.object({
      name: z.string().describe('scan, callback, retro or rescan.'),
      waiting: count.describe('Waiting to run (prioritized jobs included).'),
      active: count,
      delayed: count.describe('Waiting for a retry or a tenant’s free slot.'),
      failed: count,
      completed: count,
      oldest_waiting_seconds: z
        .number()
        .min(0)
        .describe('How long the job next in line has waited; 0 when none waits.'),
    }),
  ),
});

export const WorkerListSchema = z.object({
  workers: z
    .array(
      z.object({
        id: z.string(),
        host: z.string(),
        pid: z.number().int(),
        started: timestamp,
        last_seen: timestamp,
        status: z
          .enum(['alive', 'stale'])
          .describe('`stale`: no heartbeat for 1.5 intervals (gone after 3).'),
        jobs_in_progress: count.describe('Scan and callback jobs running in the process.'),
        concurrency: count.describe('Scans it runs at once at most (ARBITER_SCAN_CONCURRENCY).'),
        engines: z.array(
          z.object({
            name: z.string(),
            version: z.string().describe('Engine and database version.'),
            signatures: count.optional().describe('Signatures loaded, when the engine knows.'),
          }),
        ),
      }),
    )
    .describe('Newest heartbeat first.'),
});

export const ErrorListSchema = z.object({
  errors: z
    .array(
      z.object({
        at: timestamp,
        kind: z
          .enum(['scan', 'callback', 'engine', 'http', 'retro'])
          .describe(
            '`scan`: a scan job failed for good; `callback`: a delivery given up; `engine`: an engine failed on a scan; `http`: a 500 answer; `retro`: a retro job failed.',
          ),
        tenant_id: z.string().optional(),
        scan_id: z.string().optional(),
        message: z
          .string()
          .describe('At most 300 characters; URLs cut to their origin; never content.'),
      }),
    )
    .describe('Newest first; the newest 500 are kept.'),
});

// --- Console tenant-admin views: bucket status, schedule preview, token list. ---

export const BucketStatusSchema = z
  .object({
    polling: z
      .object({
        active: z
          .boolean()
          .describe('A worker received from the queue recently, and its last receive worked.'),
        last_poll_at: timestamp.nullable(),
        last_error: z.string().nullable().describe('The last receive error, if any.'),
        last_error_at: timestamp.nullable(),
      })
      .nullable()
      .describe('The bucket’s SQS queue; null when it has none (events are POSTed).'),
    last_event_at: timestamp.nullable().describe('The last S3 event notification received.'),
    counts: z
      .object({
        clean: z.int(),
        infected: z.int(),
        unscannable: z.int(),
        error: z.int(),
      })
      .describe('Object scans of the bucket settled since it was registered, by outcome.'),
  })
  .meta({ id: 'BucketStatus' });

export const SchedulePreviewSchema = z
  .object({
    cron: z.string(),
    timezone: z.string(),
    next_runs: z.array(timestamp).describe('The next five runs.'),
  })
  .meta({ id: 'SchedulePreview' });

export const AuthTokenListSchema = z
  .object({
    tokens: z.array(
      AuthTokenSchema.extend({
        scope: z
          .enum(['browser', 'verdict'])
          .describe('What minted it: auth tokens or the verdict API.'),
      }),
    ),
  })
  .meta({ id: 'AuthTokenList' });

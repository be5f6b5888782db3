import { z } from 'zod';
import { BucketInputSchema } from '../s3/bucket-schema.js';
import { RescanInputSchema } from '../rescans/schema.js';
import { RetroJobInputSchema, ScheduleInputSchema } from '../s3/retro/schema.js';
import type { OperationDoc, ResponseDoc } from './openapi.js';
import { ListQuerySchema as JobListQuerySchema } from './routes/jobs.js';
import { ScanListQuerySchema } from './routes/scans.js';
import { ConsoleSessionSchema, SignInSchema } from './routes/console.js';
import { StatsQuerySchema } from './routes/stats.js';
import { ErrorsQuerySchema } from './routes/operator.js';
import { SchedulePreviewSchema } from '../s3/retro/schema.js';
import {
  AccountSchema,
  AcceptedSchema,
  AuthTokenSchema,
  BucketListSchema,
  BucketViewSchema,
  CallbackAttemptsSchema,
  ErrorListSchema,
  QueueDepthsSchema,
  WorkerListSchema,
  ErrorSchema,
  HealthSchema,
  IntakeReportSchema,
  KeyCreatedSchema,
  KeySettingsViewSchema,
  PingSchema,
  ReadinessSchema,
  RedeliverySchema,
  RescanListSchema,
  RescanViewSchema,
  RetroJobListSchema,
  RetroJobViewSchema,
  ScheduleListSchema,
  ScheduleViewSchema,
  RotatedSecretSchema,
  RuleErrorsSchema,
  RuleFileListSchema,
  RuleFilePutSchema,
  RuleFileWithSourceSchema,
  S3NotificationSchema,
  ScanListSchema,
  ScanResultSchema,
  SignaturesReloadedSchema,
  SignaturesReportSchema,
  StatsSchema,
  SyncFailureSchema,
  TenantCreatedSchema,
  TenantLimitsViewSchema,
  TenantSettingsViewSchema,
  TenantListSchema,
  TraceSchema,
  VerdictSchema,
  VerdictTokenIssuedSchema,
  // Console tenant-admin views.
  AuthTokenListSchema,
  BucketStatusSchema,
  SchedulePreviewSchema as SchedulePreviewResponseSchema,
} from './response-schemas.js';
import {
  CreateTenantSchema,
  CreateTokenSchema,
  DeleteTenantQuerySchema,
  ExistingObjectScanSchema,
  FetchSchema,
  KeySettingsSchema,
  RotateSigningSecretSchema,
  SubmitFileSchema,
  TenantLimitsSchema,
  TenantSettingsSchema,
  VerdictTokenSchema,
} from './schemas.js';

/**
 * Every route of the API, one entry each: the OpenAPI document (`GET /openapi.json`) is built
 * from this list, and so are the route labels of the HTTP metrics. A new route needs one entry
 * here, with the schema its handler validates the body with; test/api/openapi.test.ts checks
 * the list against the express app in both directions.
 */

const error = (description: string): ResponseDoc => ({ description, schema: ErrorSchema });

const NOT_FOUND_FILE = error('Unknown id, another tenant’s id, or deleted.');
const UNAUTHENTICATED = error('Missing or bad credentials.');
const BAD_REQUEST = error('Malformed or missing input; the message names the field.');
const RATE_LIMITED: ResponseDoc = {
  description: 'The tenant’s rate limit or daily byte quota.',
  schema: ErrorSchema,
  headers: {
    'Retry-After': 'Seconds to wait.',
    'X-RateLimit-Limit': 'Requests per second allowed.',
    'X-RateLimit-Remaining': 'Requests left in this second.',
  },
};
const UNAVAILABLE = error('Redis (or the scan queue) is unavailable: nothing was accepted; retry.');
const LOCATION = { Location: 'URL of the result.' };
const SSE = { type: 'text/event-stream', schema: { type: 'string' } };
/** Every `apiKey` operation answers this to an auth token (the rule is in api/auth.ts). */
const TOKEN_REFUSED = error(
  'An auth token: tokens may only scan content and read results; this needs an API key.',
);

const metadataParts =
  '`metadata[key]=value` fields (at most 100; keys 1–128 printable characters without brackets, values up to 4096 characters; UTF-8, no control characters except tab and line breaks in values) come back with the result.';

const scanii: OperationDoc[] = [
  {
    mount: 'scanii',
    method: 'get',
    path: '/ping',
    summary: 'Check credentials',
    auth: 'basic',
    responses: {
      200: { description: 'The credentials work.', schema: PingSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'scanii',
    method: 'post',
    path: '/files',
    summary: 'Scan a file now (upload or location)',
    description: `Scans an uploaded \`file\` or the content at \`location\` before answering. ${metadataParts} A \`callback\` URL also receives the result. When the content could not be obtained the answer is 400 with the id (503 when the engines failed): a client never reads unscanned content as clean.`,
    auth: 'basic',
    request: {
      body: SubmitFileSchema,
      contentTypes: ['multipart/form-data'],
      files: [{ name: 'file', description: 'The content to scan (or send `location`).' }],
    },
    responses: {
      201: { description: 'The result.', schema: ScanResultSchema, headers: LOCATION },
      400: {
        description:
          'Bad input, or the location could not be downloaded (refused, failed, over the size limit, slower than ARBITER_FETCH_MIN_RATE, or longer than ARBITER_FETCH_TIMEOUT_MS).',
        schema: SyncFailureSchema,
      },
      401: UNAUTHENTICATED,
      413: error('The file is over ARBITER_MAX_FILE_SIZE, or too many or too long form fields.'),
      415: error('Not multipart/form-data.'),
      429: RATE_LIMITED,
      503: {
        description: 'The engines failed, or Redis is unavailable.',
        schema: SyncFailureSchema,
      },
    },
  },
  {
    mount: 'scanii',
    method: 'post',
    path: '/files/async',
    summary: 'Queue an uploaded file for scanning',
    description: `Keeps the upload and answers at once; poll \`GET /files/{id}\` (404 until done) or pass a \`callback\`. ${metadataParts}`,
    auth: 'basic',
    request: {
      body: SubmitFileSchema,
      contentTypes: ['multipart/form-data'],
      files: [{ name: 'file', description: 'The content to scan.' }],
    },
    responses: {
      202: { description: 'Accepted.', schema: AcceptedSchema, headers: LOCATION },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      413: error('The file is over ARBITER_MAX_FILE_SIZE.'),
      415: error('Not multipart/form-data.'),
      429: RATE_LIMITED,
      503: UNAVAILABLE,
    },
  },
  {
    mount: 'scanii',
    method: 'post',
    path: '/files/fetch',
    summary: 'Queue a download of a URL and its scan',
    description: `The worker downloads \`location\` (http or https; private addresses refused unless allowed by ARBITER_ALLOWED_NETWORKS) and scans it. A download slower than ARBITER_FETCH_MIN_RATE or longer than ARBITER_FETCH_TIMEOUT_MS ends in an error result, without a retry. ${metadataParts}`,
    auth: 'basic',
    request: {
      body: FetchSchema,
      contentTypes: [
        'application/x-www-form-urlencoded',
        'application/json',
        'multipart/form-data',
      ],
    },
    responses: {
      202: { description: 'Accepted.', schema: AcceptedSchema, headers: LOCATION },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      413: error('A urlencoded or JSON body over 1 MiB, or too many or too long form fields.'),
      415: error('Not a form, multipart or JSON body.'),
      429: RATE_LIMITED,
      503: UNAVAILABLE,
    },
  },
  {
    mount: 'scanii',
    method: 'get',
    path: '/files/{id}',
    summary: 'Get a result',
    auth: 'basic',
    params: { id: 'The processing id.' },
    responses: {
      200: { description: 'The result.', schema: ScanResultSchema },
      401: UNAUTHENTICATED,
      404: error('Still being processed (the message says so), or unknown.'),
    },
  },
  {
    mount: 'scanii',
    method: 'delete',
    path: '/files/{id}',
    summary: 'Delete a result',
    description:
      'The trace stays until it is deleted itself; the sanitized copy goes with the result. Deleting a pending fetch stops its download: no result is stored and the callback does not fire.',
    auth: 'apiKey',
    params: { id: 'The processing id.' },
    responses: { 204: { description: 'Deleted.' }, 401: UNAUTHENTICATED, 404: NOT_FOUND_FILE },
  },
  {
    mount: 'scanii',
    method: 'get',
    path: '/files/{id}/trace',
    summary: 'Get the processing trace',
    auth: 'basic',
    params: { id: 'The processing id.' },
    responses: {
      200: { description: 'Every step, oldest first.', schema: TraceSchema },
      401: UNAUTHENTICATED,
      404: NOT_FOUND_FILE,
    },
  },
  {
    mount: 'scanii',
    method: 'get',
    path: '/files/{id}/sanitized',
    summary: 'Download the sanitized copy',
    description:
      'The sanitized copy of a result submitted with `sanitize=true`, or under a key’s or tenant’s `sanitize` setting (see the result’s `sanitized`), as an attachment, while the result lives. Made only of scanned content without findings; active content removed (see docs/sanitizing.md).',
    auth: 'basic',
    params: { id: 'The processing id.' },
    responses: {
      200: {
        description: 'The copy, in the type the result’s `sanitized.content_type` names.',
        content: { type: 'application/octet-stream', schema: { type: 'string', format: 'binary' } },
        headers: {
          'Content-Disposition': 'attachment, with a file name made from the original’s.',
          'X-Content-Type-Options': 'nosniff.',
        },
      },
      401: UNAUTHENTICATED,
      404: error(
        'Unknown id or another tenant’s, still being processed, no copy asked for, none available (the message says why), or the copy is gone.',
      ),
    },
  },
  {
    mount: 'scanii',
    method: 'delete',
    path: '/files/{id}/trace',
    summary: 'Delete the processing trace',
    auth: 'apiKey',
    params: { id: 'The processing id.' },
    responses: { 204: { description: 'Deleted.' }, 401: UNAUTHENTICATED, 404: NOT_FOUND_FILE },
  },
  {
    mount: 'scanii',
    method: 'post',
    path: '/auth/tokens',
    summary: 'Create an auth token',
    description:
      'Temporary credentials for browsers: the token id as Basic user with an empty password.',
    auth: 'apiKey',
    request: {
      body: CreateTokenSchema,
      contentTypes: [
        'application/x-www-form-urlencoded',
        'application/json',
        'multipart/form-data',
      ],
      required: false,
    },
    responses: {
      201: { description: 'The token.', schema: AuthTokenSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      413: error('A urlencoded or JSON body over 1 MiB, or too many or too long form fields.'),
      415: error('Not a form, multipart or JSON body.'),
    },
  },
  {
    mount: 'scanii',
    method: 'get',
    path: '/auth/tokens/{id}',
    summary: 'Get an auth token',
    auth: 'basic',
    params: { id: 'The token id.' },
    responses: {
      200: { description: 'The token.', schema: AuthTokenSchema },
      401: UNAUTHENTICATED,
      403: error(
        'An auth token asked about another token (a token may read or revoke only itself).',
      ),
      404: error('Unknown or expired.'),
    },
  },
  {
    mount: 'scanii',
    method: 'delete',
    path: '/auth/tokens/{id}',
    summary: 'Revoke an auth token',
    auth: 'basic',
    params: { id: 'The token id.' },
    responses: {
      204: { description: 'Revoked.' },
      401: UNAUTHENTICATED,
      403: error(
        'An auth token asked about another token (a token may read or revoke only itself).',
      ),
      404: error('Unknown or expired.'),
    },
  },
  {
    mount: 'scanii',
    method: 'get',
    path: '/account.json',
    summary: 'Describe the account',
    auth: 'apiKey',
    responses: {
      200: {
        description:
          'The account and its keys; also (Arbiter additions) the engines every scan runs and what they do not detect.',
        schema: AccountSchema,
      },
      401: UNAUTHENTICATED,
    },
  },
];

const verdict: OperationDoc[] = [
  {
    mount: 'verdict',
    method: 'post',
    path: '/Token',
    summary: 'Get an access token',
    description:
      'The API key as `username` and the secret as `password`; the JSON document may also be sent as a JSON string. Extra fields are ignored.',
    auth: 'none',
    request: {
      body: VerdictTokenSchema,
      contentTypes: ['application/json', 'application/x-www-form-urlencoded'],
    },
    responses: {
      200: { description: 'A Bearer token valid for an hour.', schema: VerdictTokenIssuedSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      413: error('A body over 16 KiB.'),
      429: RATE_LIMITED,
    },
  },
  {
    mount: 'verdict',
    method: 'post',
    path: '/Scan',
    summary: 'Scan one or more files and get the verdict',
    description:
      'Every file part is scanned, under any field name (up to 32 files); text fields such as `composite` are ignored. The scan ids are in `X-Arbiter-Scan-Ids`.',
    auth: 'bearerOrBasic',
    request: {
      body: z.object({}).catchall(z.string()).describe('Text fields are accepted and ignored.'),
      contentTypes: ['multipart/form-data'],
      files: [
        { name: 'file', description: 'The files to scan, under any field name.', multiple: true },
      ],
    },
    responses: {
      200: {
        description: 'The verdict (also when an engine failed: `result` is then `Error`).',
        schema: VerdictSchema,
        headers: { 'X-Arbiter-Scan-Ids': 'Comma-separated ids of the stored results.' },
      },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      413: error('A file over ARBITER_MAX_FILE_SIZE, or too many files.'),
      429: RATE_LIMITED,
    },
  },
  {
    mount: 'verdict',
    method: 'post',
    path: '/Scan/Existing',
    summary: 'Scan an object of a registered bucket',
    auth: 'bearerOrBasic',
    request: { body: ExistingObjectScanSchema, contentTypes: ['application/json'] },
    responses: {
      200: { description: 'The verdict.', schema: VerdictSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      403: error(
        'A Scanii auth token: only API keys and verdict API access tokens (POST /api/Token) may scan bucket objects.',
      ),
      404: error('The bucket is not registered to this account.'),
      429: RATE_LIMITED,
    },
  },
];

const tenant: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'post',
    path: '/webhooks/signing-secret/rotate',
    summary: 'Rotate the webhook signing secret',
    description:
      'The previous secret keeps signing beside the new one until `previous_valid_until`.',
    auth: 'apiKey',
    request: {
      body: RotateSigningSecretSchema,
      contentTypes: ['application/json'],
      required: false,
    },
    responses: {
      201: { description: 'The new secret.', schema: RotatedSecretSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'post',
    path: '/files/{id}/redeliver',
    summary: 'Deliver a result’s callback again',
    auth: 'apiKey',
    params: { id: 'The processing id.' },
    responses: {
      202: { description: 'Queued, rescheduled or already in progress.', schema: RedeliverySchema },
      401: UNAUTHENTICATED,
      404: NOT_FOUND_FILE,
      409: error('No callback URL, or no result yet.'),
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/buckets',
    summary: 'List registered buckets',
    auth: 'apiKey',
    responses: {
      200: { description: 'The buckets.', schema: BucketListSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'put',
    path: '/buckets/{name}',
    summary: 'Register or replace a bucket',
    description:
      'Credentials are sealed with ARBITER_SECRET_KEY and never shown again. See docs/s3.md.',
    auth: 'apiKey',
    params: { name: 'The S3 bucket name.' },
    request: { body: BucketInputSchema, contentTypes: ['application/json'] },
    responses: {
      200: { description: 'Replaced.', schema: BucketViewSchema },
      201: { description: 'Registered.', schema: BucketViewSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      503: error('ARBITER_SECRET_KEY is not set: credentials cannot be stored.'),
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/buckets/{name}',
    summary: 'Get a registered bucket',
    auth: 'apiKey',
    params: { name: 'The S3 bucket name.' },
    responses: {
      200: { description: 'The bucket (credentials masked).', schema: BucketViewSchema },
      401: UNAUTHENTICATED,
      404: error('Not registered to this account.'),
    },
  },
  {
    mount: 'tenant',
    method: 'delete',
    path: '/buckets/{name}',
    summary: 'Unregister a bucket',
    auth: 'apiKey',
    params: { name: 'The S3 bucket name.' },
    responses: {
      204: { description: 'Unregistered.' },
      401: UNAUTHENTICATED,
      404: error('Not registered to this account.'),
    },
  },
  {
    mount: 'tenant',
    method: 'post',
    path: '/events/s3',
    summary: 'Submit an S3 event notification',
    description:
      'For stores that POST their notifications (SNS HTTP subscriptions send JSON as text/plain).',
    auth: 'apiKey',
    request: { body: S3NotificationSchema, contentTypes: ['application/json', 'text/plain'] },
    responses: {
      202: {
        description: 'What was queued, already in progress, or skipped.',
        schema: IntakeReportSchema,
      },
      400: error('Not an S3 notification.'),
      401: UNAUTHENTICATED,
      404: error('A bucket that is not registered to this account.'),
    },
  },
];

const retro: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'post',
    path: '/jobs',
    summary: 'Start a retro job',
    description:
      'Scans the objects already in registered buckets (optionally under a prefix) whose LastModified is within `from`–`to` (inclusive; ISO 8601 date-times with a zone, or dates). See docs/s3.md.',
    auth: 'apiKey',
    request: { body: RetroJobInputSchema, contentTypes: ['application/json'] },
    responses: {
      201: {
        description: 'The job (state `crawling`).',
        schema: RetroJobViewSchema,
        headers: LOCATION,
      },
      400: error('A bad body: no or unknown bucket, malformed dates, from after to.'),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/jobs',
    summary: 'List retro jobs',
    auth: 'apiKey',
    query: JobListQuerySchema,
    responses: {
      200: { description: 'Newest first.', schema: RetroJobListSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/jobs/{id}',
    summary: 'Get a retro job and its counters',
    auth: 'apiKey',
    params: { id: 'The job id.' },
    responses: {
      200: { description: 'The job.', schema: RetroJobViewSchema },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
    },
  },
  {
    mount: 'tenant',
    method: 'post',
    path: '/jobs/{id}/cancel',
    summary: 'Cancel a retro job',
    description:
      'No more pages are listed or submitted; scans already queued still run and are counted.',
    auth: 'apiKey',
    params: { id: 'The job id.' },
    responses: {
      200: { description: 'The job, state `cancelled`.', schema: RetroJobViewSchema },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
      409: error('The job has already ended.'),
    },
  },
  {
    mount: 'tenant',
    method: 'post',
    path: '/schedules',
    summary: 'Schedule retro jobs (cron)',
    auth: 'apiKey',
    request: { body: ScheduleInputSchema, contentTypes: ['application/json'] },
    responses: {
      201: { description: 'The schedule.', schema: ScheduleViewSchema, headers: LOCATION },
      400: error(
        'A bad cron expression or time zone, a cron that would run more often than ARBITER_SCHEDULE_MIN_INTERVAL, an unknown bucket or field.',
      ),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/schedules',
    summary: 'List schedules',
    auth: 'apiKey',
    responses: {
      200: { description: 'Newest first.', schema: ScheduleListSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/schedules/{id}',
    summary: 'Get a schedule',
    auth: 'apiKey',
    params: { id: 'The schedule id.' },
    responses: {
      200: { description: 'The schedule and its next run.', schema: ScheduleViewSchema },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
    },
  },
  {
    mount: 'tenant',
    method: 'delete',
    path: '/schedules/{id}',
    summary: 'Delete a schedule',
    description: 'Jobs it started are kept.',
    auth: 'apiKey',
    params: { id: 'The schedule id.' },
    responses: {
      204: { description: 'Deleted.' },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
    },
  },
];

const admin: OperationDoc[] = [
  {
    mount: 'admin',
    method: 'post',
    path: '/tenants',
    summary: 'Create a tenant',
    auth: 'admin',
    request: { body: CreateTenantSchema, contentTypes: ['application/json'] },
    responses: {
      201: { description: 'The tenant and its first credentials.', schema: TenantCreatedSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      403: error('The admin API is off (no ARBITER_ADMIN_TOKEN).'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/tenants',
    summary: 'List tenants and their keys',
    auth: 'admin',
    responses: {
      200: { description: 'Never secrets.', schema: TenantListSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'admin',
    method: 'post',
    path: '/tenants/{id}/keys',
    summary: 'Add an API key to a tenant',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    responses: {
      201: { description: 'The new key and secret.', schema: KeyCreatedSchema },
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/tenants/{id}/limits',
    summary: 'Get a tenant’s rate limit and quota',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    responses: {
      200: {
        description: 'In force, the tenant’s own settings, the defaults and today’s bytes.',
        schema: TenantLimitsViewSchema,
      },
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
    },
  },
  {
    mount: 'admin',
    method: 'put',
    path: '/tenants/{id}/limits',
    summary: 'Set a tenant’s rate limit and quota',
    description:
      'Each a whole number, 0 = no limit, null or left out = the default. Every api process sees the change within a second.',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    request: { body: TenantLimitsSchema, contentTypes: ['application/json'] },
    responses: {
      200: { description: 'As GET.', schema: TenantLimitsViewSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/tenants/{id}/settings',
    summary: 'Get a tenant’s scanning preferences',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    responses: {
      200: { description: 'The settings in force.', schema: TenantSettingsViewSchema },
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
    },
  },
  {
    mount: 'admin',
    method: 'put',
    path: '/tenants/{id}/settings',
    summary: 'Change a tenant’s scanning preferences',
    description:
      '`report_unscannable: false` opts the tenant out of `content.unscannable.*` findings: content that could not be fully scanned (encrypted, over a limit, corrupt) is then judged by its other findings alone, and the left-out findings are listed in the result’s `suppressed_findings`. `detection_categories` (a non-empty list of `malware`, `unsafe_image`, `unsafe_language`, `sensitive_data`, `file_type`; default `["malware"]`) is what the tenant’s scans look for on every path, unless the submitting key has its own; `image_threshold` (0 to 1, default 0.7) is the nudity score from which an image is reported; `classification` (`{"types": [...], "min_matches": 1}`, set as a whole, a field left out taking its default: every type, one value) is what `sensitive_data` counts and from how many values of a type, summed over the content, it is reported as `content.sensitive.<type>` (keys switch the category, not these); `allowed_content_types` (with `file_type`: media types or `type/*` ranges, or null for any, the default) is what the content may be, else `content.type.disallowed` (a key may have its own list); `sanitize: true` gives the tenant’s uploads and fetches through the API (`POST /files`, `/files/async`, `/files/fetch`, the verdict API) a sanitized copy when the request does not say `sanitize` itself (default false; a key may have its own setting). Fields left out keep their value. Every process sees the change within a second.',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    request: { body: TenantSettingsSchema, contentTypes: ['application/json'] },
    responses: {
      200: { description: 'The settings now in force.', schema: TenantSettingsViewSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
    },
  },
  {
    mount: 'admin',
    method: 'delete',
    path: '/tenants/{id}',
    summary: 'Delete a tenant and all its data',
    description:
      'Its keys (and tokens, which stop working at once), settings, limits, results and traces, buckets, retro jobs and schedules, rescans and rules. Refused with 409 while scans of the tenant are pending, unless `force=true`: those scans then end without a result.',
    auth: 'admin',
    params: { id: 'The tenant id.' },
    query: DeleteTenantQuerySchema,
    responses: {
      204: { description: 'Deleted.' },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      404: error('No such tenant.'),
      409: error('Scans of the tenant are pending and `force=true` was not given.'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/keys/{key}/settings',
    summary: 'Get an API key’s own settings',
    auth: 'admin',
    params: { key: 'The API key.' },
    responses: {
      200: { description: 'Its own and those in force.', schema: KeySettingsViewSchema },
      401: UNAUTHENTICATED,
      404: error('No such key.'),
    },
  },
  {
    mount: 'admin',
    method: 'put',
    path: '/keys/{key}/settings',
    summary: 'Set an API key’s own settings',
    description:
      'Scans submitted with the key, or with an auth token it minted, on every API path (sync, async, fetch, the verdict API) follow these instead of the tenant’s: `detection_categories` (what they look for), `allowed_content_types` (with `file_type`) and `sanitize` (whether they get a sanitized copy when the request does not say `sanitize` itself). `null` follows the tenant’s again; fields left out keep their value. S3 events and retro jobs, which no key submitted, follow the tenant; a rescan follows the key of the scan it repeats, and makes no sanitized copy. Bucket objects get sanitized copies by their bucket’s `sanitize` only. Every process sees the change within a second.',
    auth: 'admin',
    params: { key: 'The API key.' },
    request: { body: KeySettingsSchema, contentTypes: ['application/json'] },
    responses: {
      200: { description: 'As GET.', schema: KeySettingsViewSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
      404: error('No such key.'),
    },
  },
  {
    mount: 'admin',
    method: 'delete',
    path: '/keys/{key}',
    summary: 'Disable an API key',
    description: 'The key and every auth token it minted get 403 from then on.',
    auth: 'admin',
    params: { key: 'The API key.' },
    responses: {
      204: { description: 'Disabled.' },
      401: UNAUTHENTICATED,
      404: error('No such key.'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/signatures',
    summary: "What each engine's signature database holds",
    description:
      'Of this process. For the built-in engine, per database type (file extension) the signatures loaded and those skipped by reason, and per ClamAV container (`.cvd`, `.cld`, `.cud`) its version and how it was checked, or why it was not loaded. For clamd, its version and, for the private clamd, the containers of its database folder as their headers describe them (clamd keeps its own counts).',
    auth: 'admin',
    responses: {
      200: { description: 'The engines and their databases.', schema: SignaturesReportSchema },
      401: UNAUTHENTICATED,
      404: error('This process runs no scan engines.'),
    },
  },
  {
    mount: 'admin',
    method: 'post',
    path: '/signatures/reload',
    summary: 'Reload the signature databases',
    description:
      'Of this process (send SIGHUP to the others). Scans in flight finish with the database they started with.',
    auth: 'admin',
    responses: {
      200: { description: 'The engines as reloaded.', schema: SignaturesReloadedSchema },
      401: UNAUTHENTICATED,
      503: error('Reloading failed; the previous signatures stay in use.'),
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/queues',
    summary: 'Queue depth and age',
    auth: 'admin',
    responses: {
      200: { description: 'Every queue.', schema: QueueDepthsSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/workers',
    summary: 'Worker processes and their heartbeats',
    description:
      'Every worker process that sent a heartbeat within three intervals (ARBITER_WORKER_HEARTBEAT_MS), with its jobs in progress and its engines’ database versions.',
    auth: 'admin',
    responses: {
      200: { description: 'The workers.', schema: WorkerListSchema },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/errors',
    summary: 'Recent errors',
    description:
      'Scan jobs failed for good, callback deliveries given up, engine failures, failed retro jobs and 500 answers, from every process.',
    auth: 'admin',
    query: ErrorsQuerySchema,
    responses: {
      200: { description: 'Newest first.', schema: ErrorListSchema },
      400: error('A limit outside 1–500.'),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'admin',
    method: 'get',
    path: '/events',
    summary: 'Live operator events (server-sent events)',
    description:
      '`queues` every 2 s (the body of `GET /admin/queues`) and `workers` when they change (the body of `GET /admin/workers`); a `: heartbeat` comment every 15 s.',
    auth: 'admin',
    responses: {
      200: { description: 'The stream (until the client goes away).', content: SSE },
      401: UNAUTHENTICATED,
      429: error('10 operator streams are open on this server already.'),
    },
  },
];

const root: OperationDoc[] = [
  {
    mount: 'root',
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    auth: 'none',
    responses: { 200: { description: 'The process runs.', schema: HealthSchema } },
  },
  {
    mount: 'root',
    method: 'get',
    path: '/readyz',
    summary: 'Readiness',
    auth: 'none',
    responses: {
      200: {
        description:
          'Redis and every configured engine answer. `warnings`, when present, says what the scans do not detect (the default engines running without clamd): ready all the same.',
        schema: ReadinessSchema,
      },
      503: {
        description: 'Something is unreachable; `checks` says what.',
        schema: ReadinessSchema,
      },
    },
  },
  {
    mount: 'root',
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description:
      'Requests, queues, scans, findings, callbacks and S3 events; see docs/deployment.md.',
    auth: 'metrics',
    responses: {
      200: {
        description: 'The Prometheus text format.',
        content: { type: 'text/plain; version=0.0.4', schema: { type: 'string' } },
      },
      401: error('ARBITER_METRICS_TOKEN is set and was not presented.'),
    },
  },
  {
    mount: 'root',
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    auth: 'none',
    responses: { 200: { description: 'OpenAPI 3.1.', content: { type: 'application/json' } } },
  },
  {
    mount: 'root',
    method: 'get',
    path: '/docs',
    summary: 'This document, rendered',
    auth: 'none',
    responses: {
      200: {
        description: 'An HTML page (Swagger UI, served locally).',
        content: { type: 'text/html' },
      },
    },
  },
];

const RULE_NAME = 'The rule file’s name: 1 to 64 letters, digits, `.`, `-` or `_`.';
const UNKNOWN_RULE_FILE = error('No rule file of this account has this name.');

const rules: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'get',
    path: '/rules',
    summary: 'List the account’s YARA rule files',
    description: 'Their metadata, without the sources. See docs/engines.md, "Tenant rules".',
    auth: 'apiKey',
    responses: {
      200: {
        description: 'The rule files, in the order they compile.',
        schema: RuleFileListSchema,
      },
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'put',
    path: '/rules/{name}',
    summary: 'Add or replace a YARA rule file',
    description:
      'The account’s rule files compile as one set, which must compile, stay within the limits and scan a fixed 1 MiB probe within the per-file scan budget. A match in any scan of the account gives `content.custom.<rule identifier, lower-cased>`, or the rule’s `meta: finding = "content.…"`. Applies to every worker within about a second. See docs/engines.md, "Tenant rules".',
    auth: 'apiKey',
    params: { name: RULE_NAME },
    request: {
      body: z.string().describe('The YARA source (UTF-8).'),
      contentTypes: ['text/plain'],
    },
    responses: {
      200: { description: 'Replaced.', schema: RuleFilePutSchema },
      201: {
        description: 'Added.',
        schema: RuleFilePutSchema,
        headers: { Location: 'URL of the rule file.' },
      },
      400: {
        description:
          'The source does not compile (each error with its line), declares no rule, uses a module that is not allowed or an `include`; or a bad name.',
        schema: RuleErrorsSchema,
      },
      401: UNAUTHENTICATED,
      409: {
        description:
          'It declares a rule another of the account’s files declares, or another file no longer compiles with it (errors name that file); or the files changed meanwhile.',
        schema: RuleErrorsSchema,
      },
      413: error('The source is over ARBITER_TENANT_RULES_MAX_SOURCE.'),
      415: error('Not text/plain.'),
      422: error(
        'Past ARBITER_TENANT_RULES_MAX_RULES or ARBITER_TENANT_RULES_MAX_FILES, or the account’s rules with it compile longer than ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS or scan the probe longer than ARBITER_TENANT_RULES_SCAN_TIMEOUT_MS.',
      ),
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/rules/{name}',
    summary: 'Get a YARA rule file and its source',
    auth: 'apiKey',
    params: { name: RULE_NAME },
    responses: {
      200: { description: 'The rule file.', schema: RuleFileWithSourceSchema },
      401: UNAUTHENTICATED,
      404: UNKNOWN_RULE_FILE,
    },
  },
  {
    mount: 'tenant',
    method: 'delete',
    path: '/rules/{name}',
    summary: 'Delete a YARA rule file',
    description: 'Scans stop using its rules within about a second.',
    auth: 'apiKey',
    params: { name: RULE_NAME },
    responses: {
      204: { description: 'Deleted.' },
      401: UNAUTHENTICATED,
      404: UNKNOWN_RULE_FILE,
      409: {
        description: 'Another of the account’s rule files uses its rules.',
        schema: RuleErrorsSchema,
      },
    },
  },
];

const rescans: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'post',
    path: '/rescans',
    summary: 'Rescan stored results scanned with an older signature database',
    description:
      'Scans again the content of the tenant’s stored results (completed within `from`–`to`) whose engine database is older than `older_than` (an `engines[].version` string, or `current`); with `findings: "clean"`, only results with no findings. A changed verdict updates the stored result (with a `rescan` note) and fires its callback again. Fetched content is downloaded again; uploads only while their spool copy exists; bucket objects are read again from their bucket while it is registered and the version is in place, and the bucket’s actions apply to the new verdict (tags, quarantine). One rescan at a time per tenant. See docs/api.md.',
    auth: 'apiKey',
    request: { body: RescanInputSchema, contentTypes: ['application/json'] },
    responses: {
      201: {
        description: 'The rescan (state `listing`).',
        schema: RescanViewSchema,
        headers: LOCATION,
      },
      400: error('A bad body: unknown field, malformed version or dates, from after to.'),
      401: UNAUTHENTICATED,
      409: error('Another rescan of the tenant is still running.'),
      413: error('The body is larger than 16 KB.'),
      415: error('The body is not JSON.'),
      503: error('`older_than: "current"` while no engine has reported its database yet.'),
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/rescans',
    summary: 'List rescans',
    auth: 'apiKey',
    query: JobListQuerySchema,
    responses: {
      200: { description: 'Newest first.', schema: RescanListSchema },
      400: BAD_REQUEST,
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/rescans/{id}',
    summary: 'Get a rescan and its counters',
    auth: 'apiKey',
    params: { id: 'The rescan id.' },
    responses: {
      200: { description: 'The rescan.', schema: RescanViewSchema },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
    },
  },
  {
    mount: 'tenant',
    method: 'post',
    path: '/rescans/{id}/cancel',
    summary: 'Cancel a rescan',
    description:
      'No more results are listed; scans still in flight are dropped and no stored result changes after it.',
    auth: 'apiKey',
    params: { id: 'The rescan id.' },
    responses: {
      200: { description: 'The rescan, state `cancelled`.', schema: RescanViewSchema },
      401: UNAUTHENTICATED,
      404: error('Unknown, or another tenant’s.'),
      409: error('The rescan has already ended.'),
    },
  },
];

const scans: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'get',
    path: '/scans',
    summary: 'List the account’s scans, newest first',
    description:
      'Stored results (not pending, deleted or expired scans), filterable by outcome and searchable with `q`. One request reads at most 2,000 stored results: a search over more ends its page early, with a `next_cursor` to go on from. The outcome filter covers results stored since the server gained it. See docs/api.md, "Listing scans".',
    auth: 'apiKey',
    query: ScanListQuerySchema,
    responses: {
      200: { description: 'A page of scans.', schema: ScanListSchema },
      400: error(
        'A limit outside 1–100, an unknown outcome, a q over 256 characters or a malformed cursor.',
      ),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/scans/{id}/callbacks',
    summary: 'A scan’s callback attempts',
    description:
      'Every attempt to deliver the scan’s callback (first delivery, retries and redeliveries): when, to which origin, the status or error, and how long it took. Kept with the result and deleted with it.',
    auth: 'apiKey',
    params: { id: 'The processing id.' },
    responses: {
      200: { description: 'The attempts, oldest first.', schema: CallbackAttemptsSchema },
      401: UNAUTHENTICATED,
      404: NOT_FOUND_FILE,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/stats',
    summary: 'The account’s activity per hour',
    description:
      'Per UTC hour: scans completed, with findings, findings by category, errors, callback attempts delivered and failed, latency p50/p99; and the totals over the window. Kept for 8 days. See docs/api.md, "Activity statistics".',
    auth: 'apiKey',
    query: StatsQuerySchema,
    responses: {
      200: { description: 'The hours and their totals.', schema: StatsSchema },
      400: error('hours outside 1–168.'),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/events',
    summary: 'Live events of the account (server-sent events)',
    description:
      '`scan` (a scan completed: id, outcome, findings, completed_at) and `job` (a retro job’s progress changed: id, state, listed, matched, scanned, findings, eta_seconds), as `event:`/`data:` (JSON) pairs; a `: heartbeat` comment every 15 s. See docs/api.md, "Live events".',
    auth: 'apiKey',
    responses: {
      200: { description: 'The stream (until the client goes away).', content: SSE },
      401: UNAUTHENTICATED,
      429: error('10 streams of the account are open on this server already.'),
    },
  },
];

const SESSION_ENDED = error(
  'No session cookie, or its session has ended (signed out, idle, expired, key disabled).',
);

const consoleSessions: OperationDoc[] = [
  {
    mount: 'console',
    method: 'post',
    path: '/session',
    summary: 'Sign in to the console',
    description:
      'A tenant with an API key and its secret, or the operator with the admin token. Sets the `arbiter_console` cookie (HttpOnly, SameSite=Strict, Secure over TLS). Failed attempts are limited per client address and per key (ARBITER_CONSOLE_SIGNIN_ATTEMPTS per 15 minutes).',
    auth: 'none',
    request: { body: SignInSchema, contentTypes: ['application/json'], required: true },
    responses: {
      201: {
        description: 'Signed in.',
        schema: ConsoleSessionSchema,
        headers: { 'Set-Cookie': 'The session cookie `arbiter_console`.' },
      },
      400: BAD_REQUEST,
      401: error('The credentials were not accepted (the same answer whatever was wrong).'),
      413: error('A body over 4 KB.'),
      415: error('Not application/json.'),
      429: {
        description: 'Too many failed attempts from this address or for this key.',
        schema: ErrorSchema,
        headers: { 'Retry-After': 'Seconds to wait.' },
      },
    },
  },
  {
    mount: 'console',
    method: 'get',
    path: '/session',
    summary: 'The console session of the cookie',
    auth: 'none',
    responses: {
      200: { description: 'Who is signed in, and the CSRF token.', schema: ConsoleSessionSchema },
      401: SESSION_ENDED,
    },
  },
  {
    mount: 'console',
    method: 'delete',
    path: '/session',
    summary: 'Sign out of the console',
    description: 'Ends the session and clears its cookie. Needs the `X-CSRF-Token` header.',
    auth: 'none',
    responses: {
      204: { description: 'Signed out.' },
      401: SESSION_ENDED,
      403: error('Without the session’s X-CSRF-Token.'),
    },
  },
];

/** What the console's tenant-admin views read beside the resources' own routes. */
const tenantAdmin: OperationDoc[] = [
  {
    mount: 'tenant',
    method: 'get',
    path: '/buckets/{name}/status',
    summary: 'A registered bucket’s state',
    description:
      'Whether a worker polls its SQS queue (a receive within about two long polls; the last error), the last S3 event received, and its object scans by outcome since it was registered. Deleted with the bucket.',
    auth: 'apiKey',
    params: { name: 'The S3 bucket name.' },
    responses: {
      200: { description: 'The state.', schema: BucketStatusSchema },
      401: UNAUTHENTICATED,
      404: error('Not registered to this account.'),
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/schedules/preview',
    summary: 'The next runs of a cron',
    description:
      'Judges `cron` and `timezone` exactly as `POST /schedules` does (the same messages, the same ARBITER_SCHEDULE_MIN_INTERVAL) and gives its next five runs. Nothing is stored.',
    auth: 'apiKey',
    query: SchedulePreviewSchema,
    responses: {
      200: { description: 'The next five runs.', schema: SchedulePreviewResponseSchema },
      400: error(
        'A missing or bad cron expression or time zone, or a cron that would run more often than ARBITER_SCHEDULE_MIN_INTERVAL.',
      ),
      401: UNAUTHENTICATED,
    },
  },
  {
    mount: 'tenant',
    method: 'get',
    path: '/tokens',
    summary: 'List the account’s auth tokens',
    description:
      'The tokens not yet expired or revoked (auth tokens and verdict API access tokens), soonest to expire first; at most 1,000.',
    auth: 'apiKey',
    responses: {
      200: { description: 'The tokens.', schema: AuthTokenListSchema },
      401: UNAUTHENTICATED,
    },
  },
];

/** Adds the 403 an auth token gets to every operation that needs an API key. */
const withTokenRefusal = (op: OperationDoc): OperationDoc =>
  op.auth === 'apiKey' ? { ...op, responses: { ...op.responses, 403: TOKEN_REFUSED } } : op;

export const OPERATIONS: OperationDoc[] = [
  ...scanii,
  ...verdict,
  ...tenant,
  ...retro,
  ...rescans,
  ...rules,
  ...scans,
  ...admin,
  ...consoleSessions,
  ...tenantAdmin,
  ...root,
].map(withTokenRefusal);

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseNetworkList } from './network-policy.js';

/**
 * The whole runtime configuration, parsed once from the environment at process start.
 * Nothing else in the code base reads `process.env`: composition roots receive a `Config`.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Accepts `1048576`, `200MB`, `2GiB` (binary units: sizes are about disk and memory). */
export function parseByteSize(input: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is not a size (use bytes or a unit: 512KB, 200MB, 2GB)`,
        });
        return z.NEVER;
      }
      return bytes;
    });

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** A size where `0` means "no limit" (quotas). */
const byteSizeOrZero = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      if (/^\s*0+\s*$/.test(value)) return 0;
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (0 for no limit, or bytes or a unit: 500MB, 10GB)` });
        return z.NEVER;
      }
      return bytes;
    });

export const ENGINE_NAMES = ['builtin', 'clamd'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

const engineList = z
  .string()
  .default('builtin')
  .transform((value, ctx) => {
    const names = value
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const unknown = names.filter((name) => !(ENGINE_NAMES as readonly string[]).includes(name));
    if (names.length === 0 || unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must list engines among ${ENGINE_NAMES.map((n) => `"${n}"`).join(', ')} (got "${value}")`,
      });
      return z.NEVER;
    }
    return [...new Set(names)] as EngineName[];
  });

/** Comma-separated CIDRs that tenant-supplied URLs may reach despite being loopback, private etc. */
const networkList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const { networks, problems } = parseNetworkList(value);
    for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem });
    return problems.length > 0 ? z.NEVER : networks;
  });

/**
 * ARBITER_SECRET_KEY: the 32-byte AES-256-GCM key that encrypts stored bucket credentials,
 * as 64 hex characters or base64 (standard or url-safe) of 32 bytes.
 */
const secretKey = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    let key: Buffer | undefined;
    if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
    else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(trimmed)) key = Buffer.from(trimmed, 'base64');
    if (!key || key.length !== 32) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be 32 random bytes as 64 hex characters or base64 (e.g. `openssl rand -base64 32`)',
      });
      return z.NEVER;
    }
    return key;
  });

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  ARBITER_LISTEN_HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z
    .string()
    .refine((value) => /^(rediss?|unix):\/\//.test(value), {
      message: 'must be a redis://, rediss:// or unix:// URL',
    })
    .optional(),
  ARBITER_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - only')
    .default('arbiter'),
  ARBITER_DATA_DIR: z.string().default('.arbiter'),
  ARBITER_SPOOL_DIR: z.string().optional(),
  ARBITER_ADMIN_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters (it guards the admin API)')
    .optional(),
  ARBITER_ENGINES: engineList,
  ARBITER_SIGNATURES_DIR: z.string().optional(),
  CLAMD_ADDRESS: z
    .string()
    .refine((value) => /^tcp:\/\/[^:/]+:\d{1,5}$/.test(value) || value.startsWith('/') || value.startsWith('unix://'), {
      message: 'must be tcp://host:port, unix:///path/to/clamd.sock or an absolute socket path',
    })
    .default('tcp://127.0.0.1:3310'),
  CLAMD_TIMEOUT_MS: positiveInt(60_000),
  CLAMD_POOL_SIZE: positiveInt(4),
  ARBITER_ARCHIVE_MAX_DEPTH: positiveInt(16),
  ARBITER_ARCHIVE_MAX_MEMBERS: positiveInt(10_000),
  ARBITER_ARCHIVE_MAX_EXPANDED: byteSize('4GB'),
  ARBITER_ARCHIVE_MAX_RATIO: positiveInt(200),
  ARBITER_MAX_FILE_SIZE: byteSize('200MB'),
  ARBITER_MAX_FETCH_SIZE: byteSize('2GB'),
  ARBITER_FETCH_TIMEOUT_MS: positiveInt(300_000),
  ARBITER_CALLBACK_TIMEOUT_MS: positiveInt(10_000),
  ARBITER_ALLOWED_NETWORKS: networkList,
  ARBITER_CALLBACK_RETRY_BASE_MS: positiveInt(10_000),
  ARBITER_CALLBACK_RETRY_MAX_MS: positiveInt(3_600_000),
  ARBITER_CALLBACK_TENANT_CONCURRENCY: positiveInt(4),
  ARBITER_SIGNING_SECRET_GRACE: z.coerce.number().int().min(0).max(30 * 24 * 3600).default(86_400).describe('seconds'),
  ARBITER_RESULT_TTL: positiveInt(30 * 24 * 3600).describe('seconds'),
  ARBITER_SCAN_CONCURRENCY: positiveInt(4),
  ARBITER_SCAN_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  ARBITER_SCAN_RETRY_BASE_MS: positiveInt(2_000),
  ARBITER_CALLBACK_CONCURRENCY: positiveInt(16),
  ARBITER_JOB_LOCK_MS: positiveInt(30_000),
  ARBITER_STALLED_INTERVAL_MS: positiveInt(30_000),
  ARBITER_SHUTDOWN_TIMEOUT_MS: positiveInt(30_000),
  ARBITER_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  ARBITER_TRUST_PROXY: z.stringbool().default(false),
  ARBITER_HOST_ID: z.string().min(1).max(64).optional(),
  ARBITER_SECRET_KEY: secretKey,
  ARBITER_RATE_LIMIT_RPS: z.coerce.number().int().min(0).max(1_000_000).default(50),
  ARBITER_RATE_LIMIT_BURST: z.coerce.number().int().min(0).max(1_000_000).optional(),
  ARBITER_QUOTA_BYTES_PER_DAY: byteSizeOrZero('0'),
  ARBITER_SQS_WAIT_SECONDS: z.coerce.number().int().min(0).max(20).default(20),
  ARBITER_SQS_VISIBILITY_SECONDS: z.coerce.number().int().min(1).max(43_200).default(120),
  ARBITER_SQS_REFRESH_MS: positiveInt(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  port: number;
  listenHost: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  dataDir: string;
  spoolDir: string;
  adminToken: string | undefined;
  engines: EngineName[];
  signaturesDir: string | undefined;
  clamd: { address: string; timeoutMs: number; poolSize: number };
  /** Limits while unpacking archives; exceeding one yields content.unscannable.limits-exceeded. */
  archive: { maxDepth: number; maxMembers: number; maxExpandedBytes: number; maxRatio: number };
  maxFileSize: number;
  maxFetchSize: number;
  fetchTimeoutMs: number;
  callbackTimeoutMs: number;
  /**
   * Networks (CIDRs) that `location` and `callback` URLs may reach although they are loopback,
   * private, link-local etc. Empty (the default): only globally routable addresses.
   */
  allowedNetworks: string[];
  /** First callback retry delay; it doubles per attempt up to `callbackRetryMaxMs`. */
  callbackRetryBaseMs: number;
  callbackRetryMaxMs: number;
  /** Callback deliveries of one tenant in flight at once, across all workers (fairness). */
  callbackTenantConcurrency: number;
  /** How long a rotated-out webhook signing secret still signs deliveries, in seconds. */
  signingSecretGraceSeconds: number;
  resultTtlSeconds: number;
  scanConcurrency: number;
  /**
   * Attempts per scan job (1 = no retry) and the first retry delay, doubling per attempt. The
   * last attempt stores an error result instead of retrying; permanent errors store it at once.
   */
  scanAttempts: number;
  scanRetryBaseMs: number;
  callbackConcurrency: number;
  jobLockMs: number;
  stalledIntervalMs: number;
  shutdownTimeoutMs: number;
  publicUrl: string | undefined;
  trustProxy: boolean;
  hostId: string;
  /** AES-256-GCM key for stored bucket credentials; unset → buckets cannot be registered. */
  secretKey: Buffer | undefined;
  /**
   * Per-tenant defaults (a tenant may have its own, set through the admin API): requests per
   * second and the burst allowance above it, and bytes per UTC day; 0 = no limit.
   */
  limits: { requestsPerSecond: number; burst: number; bytesPerDay: number };
  /** S3 event intake from SQS (worker role): long-poll wait, visibility, registry refresh. */
  sqs: { waitSeconds: number; visibilitySeconds: number; refreshMs: number };
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A short, stable id for this host, so `X-Scanii-Host-Id` tells replicas apart. */
function defaultHostId(): string {
  return createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset": compose files and shells often export VAR= .
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'env'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ARBITER_DATA_DIR);
  return {
    port: e.PORT,
    listenHost: e.ARBITER_LISTEN_HOST,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.ARBITER_REDIS_PREFIX,
    dataDir,
    spoolDir: path.resolve(e.ARBITER_SPOOL_DIR ?? path.join(dataDir, 'spool')),
    adminToken: e.ARBITER_ADMIN_TOKEN,
    engines: e.ARBITER_ENGINES,
    signaturesDir: e.ARBITER_SIGNATURES_DIR ? path.resolve(e.ARBITER_SIGNATURES_DIR) : undefined,
    clamd: { address: e.CLAMD_ADDRESS, timeoutMs: e.CLAMD_TIMEOUT_MS, poolSize: e.CLAMD_POOL_SIZE },
    archive: {
      maxDepth: e.ARBITER_ARCHIVE_MAX_DEPTH,
      maxMembers: e.ARBITER_ARCHIVE_MAX_MEMBERS,
      maxExpandedBytes: e.ARBITER_ARCHIVE_MAX_EXPANDED,
      maxRatio: e.ARBITER_ARCHIVE_MAX_RATIO,
    },
    maxFileSize: e.ARBITER_MAX_FILE_SIZE,
    maxFetchSize: e.ARBITER_MAX_FETCH_SIZE,
    fetchTimeoutMs: e.ARBITER_FETCH_TIMEOUT_MS,
    callbackTimeoutMs: e.ARBITER_CALLBACK_TIMEOUT_MS,
    allowedNetworks: e.ARBITER_ALLOWED_NETWORKS,
    callbackRetryBaseMs: e.ARBITER_CALLBACK_RETRY_BASE_MS,
    callbackRetryMaxMs: e.ARBITER_CALLBACK_RETRY_MAX_MS,
    callbackTenantConcurrency: e.ARBITER_CALLBACK_TENANT_CONCURRENCY,
    signingSecretGraceSeconds: e.ARBITER_SIGNING_SECRET_GRACE,
    resultTtlSeconds: e.ARBITER_RESULT_TTL,
    scanConcurrency: e.ARBITER_SCAN_CONCURRENCY,
    scanAttempts: e.ARBITER_SCAN_ATTEMPTS,
    scanRetryBaseMs: e.ARBITER_SCAN_RETRY_BASE_MS,
    callbackConcurrency: e.ARBITER_CALLBACK_CONCURRENCY,
    jobLockMs: e.ARBITER_JOB_LOCK_MS,
    stalledIntervalMs: e.ARBITER_STALLED_INTERVAL_MS,
    shutdownTimeoutMs: e.ARBITER_SHUTDOWN_TIMEOUT_MS,
    publicUrl: e.ARBITER_PUBLIC_URL?.replace(/\/+$/, ''),
    trustProxy: e.ARBITER_TRUST_PROXY,
    hostId: e.ARBITER_HOST_ID ?? defaultHostId(),
    secretKey: e.ARBITER_SECRET_KEY,
    limits: {
      requestsPerSecond: e.ARBITER_RATE_LIMIT_RPS,
      burst: e.ARBITER_RATE_LIMIT_BURST ?? e.ARBITER_RATE_LIMIT_RPS,
      bytesPerDay: e.ARBITER_QUOTA_BYTES_PER_DAY,
    },
    sqs: {
      waitSeconds: e.ARBITER_SQS_WAIT_SECONDS,
      visibilitySeconds: e.ARBITER_SQS_VISIBILITY_SECONDS,
      refreshMs: e.ARBITER_SQS_REFRESH_MS,
    },
    logLevel: e.LOG_LEVEL,
  };
}

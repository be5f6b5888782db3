import { createHash } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseNetworkList } from './network-policy.js';
import { parseS3UploadLocation } from './upload-store.js';

/**
 * The whole runtime configuration, parsed once from the environment at process start.
 * Nothing else in the code base reads the environment: composition roots receive a `Config`.
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

/** A whole number from `min` to `max`; `fallback` when unset. */
const intInRange = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** A size where `0` means "no limit" (quotas). */
const byteSizeOrZero = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      if (/^\s*0+\s*$/.test(value)) return 0;
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is not a size (0 for no limit, or bytes or a unit: 500MB, 10GB)`,
        });
        return z.NEVER;
      }
      return bytes;
    });

export const ENGINE_NAMES = ['builtin', 'clamd'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Unset → the default engines, decided at start-up (see `Config.clamd.embedded`). */
const engineList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
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

/** REDIS_SENTINELS, REDIS_CLUSTER_NODES: comma-separated `host:port` (IPv6 in brackets). */
const hostPortList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const nodes = [];
    for (const entry of value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
      const port = match ? Number(match[2]) : 0;
      if (!match || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not host:port` });
        return z.NEVER;
      }
      nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
    }
    if (nodes.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
      return z.NEVER;
    }
    return nodes;
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
        message:
          'must be 32 random bytes as 64 hex characters or base64 (e.g. `openssl rand -base64 32`)',
      });
      return z.NEVER;
    }
    return key;
  });

/**
 * Every variable Arbiter reads. Each field's `.describe()` text (and the `defaultText` meta of
 * defaults computed elsewhere) is the reference in docs/configuration.md, generated by
 * `npm run docs:config`; test/core/config-doc.test.ts fails when that file is out of date.
 * A new variable is a field here and its place in what structureConfig returns (which is the
 * `Config` type); then regenerate the doc.
 */
export const EnvSchema = z.object({
  PORT: intInRange(0, 65535, 8080).describe('HTTP port of the API'),
  ARBITER_LISTEN_HOST: z
    .string()
    .default('0.0.0.0')
    .describe('address the API (and the worker metrics endpoint) binds'),
  REDIS_URL: z
    .string()
    .refine((value) => /^(rediss?|unix):\/\//.test(value), {
      message: 'must be a redis://, rediss:// or unix:// URL',
    })
    .optional()
    .describe(
      'one Redis server: `redis://`, `rediss://` (TLS) or `unix:///path/to/socket`, with an ACL user as `redis://user:password@host:port`; unset (and no `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES`) → `serve` starts a private `redis-server`',
    ),
  REDIS_CLUSTER_NODES: hostPortList.describe(
    "comma-separated `host:port` of some nodes of a Redis Cluster (seeds: Arbiter learns the others from them, and follows failovers and resharding); every Arbiter key is then hash-tagged so that a tenant's keys share one slot (instead of `REDIS_URL` or `REDIS_SENTINELS`; see docs/deployment.md)",
  ),
  REDIS_SENTINELS: hostPortList.describe(
    'comma-separated `host:port` of Redis Sentinels: Arbiter asks them where the primary named `REDIS_SENTINEL_NAME` is, and follows it when they fail over (instead of `REDIS_URL`; see docs/deployment.md)',
  ),
  REDIS_SENTINEL_NAME: z
    .string()
    .optional()
    .describe('name of the primary the Sentinels watch (their `sentinel monitor <name> …`)'),
  REDIS_SENTINEL_USERNAME: z
    .string()
    .optional()
    .describe('ACL user Arbiter authenticates as to the Sentinels themselves, if they require one'),
  REDIS_SENTINEL_PASSWORD: z
    .string()
    .optional()
    .describe('password of the Sentinels themselves (their `requirepass`), if they require one'),
  REDIS_SENTINEL_TLS: z
    .stringbool()
    .default(false)
    .describe(
      'the Sentinels are reached over TLS too (trusting `REDIS_TLS_CA_FILE` like the primary)',
    ),
  REDIS_USERNAME: z
    .string()
    .optional()
    .describe(
      'ACL user of the primary with `REDIS_SENTINELS`, of every node with `REDIS_CLUSTER_NODES` (with `REDIS_URL`, put it in the URL: `redis://user:password@host:port`)',
    ),
  REDIS_PASSWORD: z
    .string()
    .optional()
    .describe(
      'password of the primary with `REDIS_SENTINELS`, of every node with `REDIS_CLUSTER_NODES` (with `REDIS_URL`, in the URL)',
    ),
  REDIS_TLS: z
    .stringbool()
    .default(false)
    .describe(
      'the primary found through `REDIS_SENTINELS`, or every node of `REDIS_CLUSTER_NODES`, is reached over TLS (with `REDIS_URL`, use `rediss://`)',
    ),
  REDIS_TLS_CA_FILE: z
    .string()
    .optional()
    .describe(
      "PEM file of the certificate authorities trusted for Redis's TLS (`rediss://`, `REDIS_TLS`); unset → the system's; read once at start",
    ),
  REDIS_TLS_CERT_FILE: z
    .string()
    .optional()
    .describe(
      "PEM client certificate Arbiter presents to Redis (mutual TLS, Redis's `tls-auth-clients yes`), with `REDIS_TLS_KEY_FILE`",
    ),
  REDIS_TLS_KEY_FILE: z.string().optional().describe('PEM private key of `REDIS_TLS_CERT_FILE`'),
  ARBITER_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - only')
    .default('arbiter')
    .describe('prefix of every Redis key (several installs can share a Redis)'),
  ARBITER_DATA_DIR: z
    .string()
    .default('.arbiter')
    .describe(
      'embedded Redis data, the private clamd (`clamd/`) and its database (`clamav/`) and, by default, the spool',
    ),
  ARBITER_SPOOL_DIR: z.string().optional().meta({
    description:
      'the spool: uploads being received, downloads being scanned and, with `ARBITER_UPLOAD_STORE=local`, uploads waiting for a worker (then api and workers must share it)',
    defaultText: '`$ARBITER_DATA_DIR/spool`',
  }),
  ARBITER_UPLOAD_STORE: z
    .string()
    .default('local')
    .refine((value) => value === 'local' || parseS3UploadLocation(value) !== undefined, {
      message: 'use `local` or `s3://bucket/prefix`',
    })
    .describe(
      "where async uploads wait for a worker: `local` (the spool folder, shared by api and workers) or `s3://bucket/prefix` (a bucket; credentials, region and endpoint from the AWS SDK environment). Synchronous scans always read the API process's spool",
    ),
  ARBITER_UPLOAD_STORE_REDIS_MAX: byteSizeOrZero('64KB').describe(
    'with an `s3://` upload store, async uploads up to this size are staged in Redis instead (much faster; see docs/decisions.md); `0` → every upload goes to the bucket',
  ),
  AWS_ENDPOINT_URL_S3: z
    .string()
    .url()
    .optional()
    .describe(
      'endpoint of an S3-compatible upload store (MinIO, Ceph, …), addressed path-style; unset → AWS S3',
    ),
  ARBITER_ADMIN_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters (it guards the admin API)')
    .optional()
    .describe('bearer token of the admin API (16+ characters); unset → admin API off'),
  ARBITER_ENGINES: engineList.meta({
    description:
      'comma-separated engines to run on every file: `builtin`, `clamd` or both; `builtin` alone means no clamd at all. Unset: `builtin,clamd` on `CLAMD_ADDRESS` if that is set; else `builtin,clamd` on a private clamd child process when clamd is installed and a ClamAV database is present, else `builtin` with a warning. See docs/engines.md, "Which engines run"',
    defaultText: '– (see description)',
  }),
  ARBITER_SIGNATURES_DIR: z
    .string()
    .optional()
    .describe('folder of ClamAV-format databases for the built-in engine'),
  ARBITER_SIGNATURES_DETECT_PUA: z
    .stringbool()
    .default(false)
    .describe(
      'detect potentially unwanted applications (the `PUA.*` signatures of the `.hdu`, `.hsu`, `.ndu`, `.ldu`, `.mdu`, `.msu` databases, official ones included): the built-in engine loads them and the private clamd runs with `DetectPUA yes`; a clamd at `CLAMD_ADDRESS` follows its own clamd.conf',
    ),
  ARBITER_CLAMAV_DATABASE_DIR: z.string().optional().meta({
    description:
      "folder of ClamAV's official database (main, daily, bytecode) that `arbiter signatures update` keeps current with freshclam; workers update it on a schedule once it holds an update made by Arbiter (see docs/engines.md)",
    defaultText: '`$ARBITER_DATA_DIR/clamav`',
  }),
  ARBITER_CLAMAV_MIRROR: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe(
      "a private mirror of ClamAV's database (`http://mirror.internal:8080`) that freshclam downloads from instead of ClamAV's own (freshclam's `PrivateMirror`): it must serve the `main`, `daily` and `bytecode` `.cvd` files as ClamAV publishes them (see docs/engines.md)",
    ),
  ARBITER_SIGNATURES_UPDATE_INTERVAL: intInRange(0, 7 * 24 * 3600, 3600).describe(
    "seconds between each host's updates of ClamAV's database by its workers (±10 % jitter, one update per host at a time), once `arbiter signatures update` has made the folder Arbiter's; 0 = never on a schedule",
  ),
  HTTPS_PROXY: z
    .string()
    .optional()
    .describe(
      "`http://[user:password@]host:port`: the proxy freshclam downloads ClamAV's database through (`HTTPS_PROXY` first, then `HTTP_PROXY`)",
    ),
  HTTP_PROXY: z.string().optional().describe('see `HTTPS_PROXY`'),
  CLAMD_ADDRESS: z
    .string()
    .refine(
      (value) =>
        /^tcp:\/\/[^:/]+:\d{1,5}$/.test(value) ||
        value.startsWith('/') ||
        value.startsWith('unix://'),
      {
        message: 'must be tcp://host:port, unix:///path/to/clamd.sock or an absolute socket path',
      },
    )
    .optional()
    .meta({
      description:
        "an external clamd for the `clamd` engine (no private clamd is started then): `tcp://host:port`, `unix:///path/clamd.sock` or `/path/clamd.sock`. Set clamd's `StreamMaxLength` at least as high as the largest file Arbiter accepts (larger streams are errors, never clean) and `AlertExceedsMax yes`, `AlertEncrypted yes` so content clamd cannot fully scan is reported",
      defaultText:
        'unset → a private clamd when `ARBITER_ENGINES` is unset too; `tcp://127.0.0.1:3310` when `ARBITER_ENGINES` lists `clamd`',
    }),
  ARBITER_CLAMD_BINARY: z.string().optional().meta({
    description:
      'the `clamd` program the private clamd runs (only when neither `ARBITER_ENGINES` nor `CLAMD_ADDRESS` is set); a path that does not exist means "not installed"',
    defaultText: '`/usr/sbin/clamd`, `/usr/local/sbin/clamd` or `clamd` on `PATH`, the first found',
  }),
  ARBITER_CLAMD_START_TIMEOUT_MS: positiveInt(300_000).describe(
    'how long the private clamd may take to load its database and answer PING (the official databases take tens of seconds and more than a gigabyte of memory); past it, start-up fails',
  ),
  CLAMD_TIMEOUT_MS: positiveInt(60_000).describe(
    'connect timeout, and the longest clamd may stay silent during a scan (pings use at most 5 s)',
  ),
  CLAMD_POOL_SIZE: positiveInt(4).describe(
    'INSTREAM scans one process sends to clamd at once; more wait their turn',
  ),
  ARBITER_ARCHIVE_MAX_DEPTH: positiveInt(16).describe(
    'deepest archive nesting the built-in engine opens (the private clamd gets `MaxRecursion` one higher: the same reach); deeper → `content.unscannable.limits-exceeded` (see docs/engines.md)',
  ),
  ARBITER_ARCHIVE_MAX_MEMBERS: positiveInt(10_000).describe(
    'archive entries per scanned file, all depths',
  ),
  ARBITER_ARCHIVE_MAX_EXPANDED: byteSize('4GB').describe(
    'bytes unpacked per scanned file, all depths',
  ),
  ARBITER_ARCHIVE_MAX_RATIO: positiveInt(200).describe(
    'expanded ÷ compressed bytes of one member (checked past 1 MiB)',
  ),
  ARBITER_MAX_FILE_SIZE: byteSize('200MB').describe('largest upload (413 above)'),
  ARBITER_IMAGE_THREADS: intInRange(1, 64, 1).describe(
    'worker threads of the image classifier (`unsafe_image`) per process, each loading its own copy of TensorFlow.js and the model when it first classifies an image (about 200 MB of memory per thread; an idle thread exits after a minute); a process whose tenants never ask for `unsafe_image` starts none',
  ),
  ARBITER_IMAGE_TIMEOUT_MS: positiveInt(30_000).describe(
    'longest one image may take to decode and classify; past it the image is reported `content.unscannable.image.limits-exceeded` and its thread is replaced',
  ),
  ARBITER_IMAGE_MAX_BYTES: byteSize('32MB').describe(
    'largest image (file or archive member) the image classifier reads; a larger one is reported `content.unscannable.image.limits-exceeded`',
  ),
  ARBITER_IMAGE_MAX_PIXELS: positiveInt(64_000_000).describe(
    'largest image, in pixels (width × height, as its header declares), the image classifier decodes; a larger one is reported `content.unscannable.image.limits-exceeded`',
  ),
  ARBITER_SANITIZE_TIMEOUT_MS: positiveInt(60_000).describe(
    'longest the sanitized copy of one scan (`sanitize=true` or the key’s or tenant’s setting, a bucket’s `sanitize`) may take to make; past it the result says `sanitized.available: false` with the reason. Content larger than `ARBITER_MAX_FILE_SIZE` is not sanitized (see docs/sanitizing.md)',
  ),
  ARBITER_LANGUAGE_RULES_DIR: z.string().optional().meta({
    description:
      'folder of `.yar`/`.yara` files (read recursively) used instead of the built-in language rule pack for the `unsafe_language` category: rules named `content_<language>_language_<…>` give the finding `content.<language>.language.<…>`. Read once at start; a file that does not compile stops the start with its name and line. See docs/engines.md, "Unsafe language"',
    defaultText: 'the built-in pack (English)',
  }),
  ARBITER_LANGUAGE_MAX_BYTES: byteSize('16MB').describe(
    'largest text piece (a file, an archive member, a mail part, a PDF stream) checked for unsafe language; a larger one gives `content.unscannable.language.limits-exceeded`',
  ),
  ARBITER_SENSITIVE_MAX_BYTES: byteSize('16MB').describe(
    'largest text piece (a file, an archive member, a mail part, a PDF stream) classified for sensitive data (`sensitive_data`); a larger one gives `content.unscannable.sensitive.limits-exceeded`. See docs/sensitive-data.md',
  ),
  ARBITER_YARA_THREADS: intInRange(1, 64, 1).describe(
    "worker threads per process that run YARA scans (the language rules, tenants' rules), off the event loop",
  ),
  ARBITER_YARA_TIMEOUT_MS: positiveInt(10_000).describe(
    "longest one scan of one piece with the language rules may take (the first one on a thread includes compiling the pack); past it the thread is replaced and the piece gives `content.unscannable.language.limits-exceeded`. Tenants' rules run on the same threads with their own limit: `ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS` plus `ARBITER_TENANT_RULES_SCAN_TIMEOUT_MS`",
  ),
  ARBITER_REQUEST_TIMEOUT_MS: positiveInt(900_000).describe(
    'time a client has to send one whole request, headers and body; past it the connection is closed (408 if nothing was answered yet). An upload of `ARBITER_MAX_FILE_SIZE` must arrive within it: at the defaults (200 MB in 15 min) that is about 1.8 Mbit/s. See docs/deployment.md, "Slow clients"',
  ),
  ARBITER_HEADERS_TIMEOUT_MS: positiveInt(30_000).describe(
    'time a client has to send the headers of a request (at most `ARBITER_REQUEST_TIMEOUT_MS`)',
  ),
  ARBITER_MAX_FETCH_SIZE: byteSize('2GB').describe(
    'largest `location` download (error result above)',
  ),
  ARBITER_FETCH_TIMEOUT_MS: positiveInt(300_000).describe(
    'total time allowed for one download, redirects included; past it the download ends in an error result (not retried)',
  ),
  ARBITER_FETCH_MIN_RATE: byteSizeOrZero('1KB').meta({
    description:
      'slowest transfer a download may keep up, in bytes per second averaged over `ARBITER_FETCH_RATE_WINDOW_MS` (a size: `1KB`, `64KB`; 0 = no minimum); a location sending less ends in an error result (not retried). Besides it, a connection silent for 30 s is dropped (and retried)',
    defaultText: '`1KB` (1,024 bytes/s)',
  }),
  ARBITER_FETCH_RATE_WINDOW_MS: positiveInt(30_000).describe(
    'the window `ARBITER_FETCH_MIN_RATE` is averaged over; the first window of a download is its grace period',
  ),
  ARBITER_CALLBACK_TIMEOUT_MS: positiveInt(10_000).describe(
    'time allowed for one callback attempt',
  ),
  ARBITER_ALLOWED_NETWORKS: networkList.meta({
    description:
      'comma-separated CIDRs (`10.0.0.0/8,fd00::/8`; a bare address means /32 or /128) that tenant URLs (a file’s `location` and `callback`; a bucket’s `callback`, S3 `endpoint` and queue URLs) may reach although they are loopback, private, link-local (cloud metadata), CGNAT, unique-local or otherwise not globally routable; unset → only public addresses. Tests and `scripts/quickstart` set `127.0.0.0/8,::1/128`. See [below](#outbound-requests-to-tenant-urls)',
    defaultText: '– (none)',
  }),
  ARBITER_CALLBACK_RETRY_BASE_MS: positiveInt(10_000).describe(
    'first callback retry delay (doubles per attempt)',
  ),
  ARBITER_CALLBACK_RETRY_MAX_MS: positiveInt(3_600_000).describe('cap of the callback retry delay'),
  ARBITER_CALLBACK_TENANT_CONCURRENCY: positiveInt(4).describe(
    'callback deliveries of one tenant in flight at once, across all workers (the rest wait without using up attempts; see docs/webhooks.md)',
  ),
  ARBITER_SIGNING_SECRET_GRACE: intInRange(0, 30 * 24 * 3600, 86_400).describe(
    'seconds a rotated-out webhook signing secret keeps signing beside the new one (0–2592000; a rotation request may ask for another value)',
  ),
  ARBITER_RESULT_TTL: positiveInt(30 * 24 * 3600).describe(
    'seconds a result and its trace are kept (30 days)',
  ),
  ARBITER_SCAN_CONCURRENCY: positiveInt(4).describe(
    'scan jobs one worker process runs at once (see docs/deployment.md for sizing)',
  ),
  ARBITER_PROCESSES: z.coerce.number().int().positive().optional().meta({
    description:
      '`arbiter serve` only: processes serving the API and running the workers, on one port, one Redis and one private clamd started once (1 = a single process). `arbiter api` and `arbiter worker` are always one process each',
    defaultText: 'the number of cores (`os.availableParallelism()`)',
  }),
  ARBITER_SCAN_TENANT_CONCURRENCY: z.coerce.number().int().positive().optional().meta({
    description:
      "scans of one tenant running at once, across all workers; its other scan jobs wait (using up no attempts) and other tenants' scans take the free slots. Raise it with the number of worker processes if one tenant should be able to use more of the fleet",
    defaultText:
      '`ARBITER_SCAN_CONCURRENCY` − 1 (at least 1): one tenant never holds every slot of a single worker process',
  }),
  ARBITER_SCAN_ATTEMPTS: intInRange(1, 100, 5).describe(
    "attempts per scan job (1–100): a transient failure (an engine or download hiccup) is retried, and the last attempt stores an error result; a permanent engine error (clamd's `size limit exceeded`) stores it at once",
  ),
  ARBITER_SCAN_RETRY_BASE_MS: positiveInt(2_000).describe(
    'first scan retry delay (doubles per attempt)',
  ),
  ARBITER_CALLBACK_CONCURRENCY: positiveInt(16).describe(
    'callback deliveries one worker process runs at once',
  ),
  ARBITER_JOB_LOCK_MS: positiveInt(30_000).describe(
    "job lock; a crashed worker's job is retried after it lapses",
  ),
  ARBITER_STALLED_INTERVAL_MS: positiveInt(30_000).describe(
    'how often workers look for stalled jobs',
  ),
  ARBITER_SHUTDOWN_TIMEOUT_MS: positiveInt(30_000).describe(
    'after SIGTERM, the time jobs in flight get to finish',
  ),
  ARBITER_WORKER_HEARTBEAT_MS: positiveInt(5_000).describe(
    'how often a worker process writes its heartbeat for `GET /admin/workers`: shown stale after 1.5 intervals without one, gone after 3',
  ),
  ARBITER_SPOOL_SWEEP_INTERVAL_MS: positiveInt(600_000).describe(
    'how often every process (api, worker, serve) sweeps the spool of files no live scan owns (also once at start; see docs/operations.md)',
  ),
  ARBITER_SPOOL_GRACE_MS: positiveInt(3_600_000).describe(
    'a spool file nobody has written to for this long, and that no running job holds, is abandoned: a partial upload cut off by a crash, a download left by a process that exited mid-scan. Keep it longer than any upload request or synchronous scan (`POST /files`, the verdict API) can take',
  ),
  ARBITER_PENDING_REAP_INTERVAL_MS: positiveInt(60_000).describe(
    'how often worker processes look for pending scans that have no job (a process killed between accepting a scan and queueing it)',
  ),
  ARBITER_PENDING_GRACE_MS: positiveInt(1_800_000).describe(
    'age after which a pending scan with no job is queued again (or, its upload lost, answered with an error result). Keep it longer than any synchronous scan takes and shorter than the one-hour object lease',
  ),
  ARBITER_PENDING_REAP_BATCH: intInRange(1, 10_000, 200).describe(
    'pending scans the reaper looks at per run (1–10000): bounded work on a big backlog',
  ),
  ARBITER_TENANT_RULES_MAX_SOURCE: byteSize('256KB').describe(
    'largest YARA source of one tenant rule file (`PUT /v1/rules/{name}`; 413 above)',
  ),
  ARBITER_TENANT_RULES_MAX_RULES: intInRange(1, 1_000_000, 2_000).describe(
    'rules one tenant may have, counted across all its rule files (422 past it); the default leaves room for a 1,000-rule pack',
  ),
  ARBITER_TENANT_RULES_MAX_FILES: intInRange(1, 100_000, 200).describe(
    'rule files one tenant may have (422 past it)',
  ),
  ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS: positiveInt(10_000).describe(
    "longest a tenant's whole rule set may take to compile when a rule file is put (422 past it)",
  ),
  ARBITER_TENANT_RULES_SCAN_TIMEOUT_MS: positiveInt(5_000).describe(
    "scan-time budget of a tenant's rules per piece of content: a rule file whose whole set takes longer over a fixed 1 MiB probe is refused when it is put (422); at scan time a piece the rules take longer on than this plus the compile limit is reported as `content.unscannable.custom.limits-exceeded`",
  ),
  ARBITER_TENANT_RULES_MAX_PIECE: byteSize('64MB').describe(
    "largest piece (the file, or a member of an archive, mail or document) tenants' rules are run on; a larger one is reported as `content.unscannable.custom.limits-exceeded`",
  ),
  ARBITER_PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('base URL for `Location` headers (else taken from the request)'),
  ARBITER_CONSOLE_SESSION_IDLE: intInRange(1, 7 * 24 * 3600, 1800).describe(
    'seconds a console session lasts without use (1–604800); each request made with it starts the count again, never past ARBITER_CONSOLE_SESSION_MAX. See docs/console.md',
  ),
  ARBITER_CONSOLE_SESSION_MAX: intInRange(1, 30 * 24 * 3600, 12 * 3600).describe(
    'seconds a console session lasts at most from sign-in, used or not (1–2592000)',
  ),
  ARBITER_CONSOLE_SIGNIN_ATTEMPTS: intInRange(1, 10_000, 10).describe(
    'failed console sign-ins allowed per client address, and per API key, in 15 minutes; then 429 until the window ends',
  ),
  ARBITER_CONSOLE_DIR: z.string().optional().meta({
    description:
      'folder of the built console (`npm run build` writes it); `/console` answers 503 when it is missing',
    defaultText: '`dist/console` of the installed package',
  }),
  ARBITER_TRUST_PROXY: z
    .stringbool()
    .default(false)
    .describe('trust `X-Forwarded-*` from a reverse proxy'),
  ARBITER_HOST_ID: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .meta({ description: 'value of `X-Scanii-Host-Id`', defaultText: 'hash of the host name' }),
  ARBITER_SECRET_KEY: secretKey.describe(
    '32 random bytes, as 64 hex characters or base64 (`openssl rand -base64 32`): the AES-256-GCM key that encrypts stored bucket credentials. Unset → bucket registration answers 503. Keep it safe and stable: changing it makes stored credentials unreadable (register the buckets again)',
  ),
  ARBITER_RATE_LIMIT_RPS: intInRange(0, 1_000_000, 50).describe(
    'requests per second per tenant under `/v2.2`, `/v2.1` and `/api`, counted in Redis across all api processes (0 = no limit); a tenant may have its own (admin API `PUT /admin/tenants/{id}/limits`). See docs/api.md, "Rate limits and quotas"',
  ),
  ARBITER_RATE_LIMIT_BURST: z.coerce.number().int().min(0).max(1_000_000).optional().meta({
    description:
      'requests a tenant may make above its rate per 10-second window (0 = none); a tenant given its own rate but no burst gets a burst equal to its rate',
    defaultText: 'the rate',
  }),
  ARBITER_QUOTA_BYTES_PER_DAY: byteSizeOrZero('0').meta({
    description:
      'bytes per tenant per UTC day, uploads counted when accepted and downloads once fetched (a size: `500MB`, `10GB`; 0 = no quota); past it, uploads and fetches answer 429 until midnight UTC',
    defaultText: '`0` (none)',
  }),
  ARBITER_SQS_WAIT_SECONDS: intInRange(0, 20, 20).describe(
    'long-poll wait of each SQS ReceiveMessage (0–20)',
  ),
  ARBITER_SQS_VISIBILITY_SECONDS: intInRange(1, 43_200, 120).describe(
    "visibility timeout asked for received S3 event messages; extended every half of it while a batch is being handled. A poison message comes back after it (and goes to the queue's dead-letter queue after `maxReceiveCount`)",
  ),
  ARBITER_SQS_REFRESH_MS: positiveInt(10_000).describe(
    'how often workers re-read the registered queues (new, changed, deleted buckets)',
  ),
  ARBITER_RETRO_PAGE_SIZE: intInRange(1, 1000, 1000).describe(
    'retro jobs: keys asked for per ListObjectsV2 page (MaxKeys, 1–1000)',
  ),
  ARBITER_RETRO_CONCURRENCY: positiveInt(2).describe(
    'retro jobs: bucket crawls one worker process runs at once',
  ),
  ARBITER_RETRO_STALL_SECONDS: positiveInt(600).describe(
    'retro jobs: how long an open job may go without progress (a page listed, an outcome counted) before workers look at it: a crawl no worker runs is queued again, a job waiting for outcomes that will not come is reconciled (its buckets listed again, the objects with no outcome scanned again). Checked every quarter of it, at most every minute',
  ),
  ARBITER_SCHEDULE_MIN_INTERVAL: positiveInt(900).describe(
    'retro schedules: shortest time between two runs of one schedule, in seconds; a cron that would fire sooner (checked over its next 100 runs) is a 400. Each run lists the whole bucket, so the default (15 minutes) leaves room for `*/15` and hourly schedules while refusing per-second or per-minute crawls; new objects are better caught by S3 events',
  ),
  ARBITER_RESCAN_PAGE_SIZE: intInRange(1, 1000, 200).describe(
    "rescans: stored results read per page; a page's scans are queued together and finish before the next page is read, so this bounds what one rescan has in flight",
  ),
  ARBITER_RESULT_INDEX_MAX: intInRange(1, 10_000_000, 100_000).describe(
    "rescans: results each tenant's result index keeps (the newest; older ones can still be read by id, but a rescan no longer finds them)",
  ),
  ARBITER_METRICS_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters (it guards /metrics)')
    .optional()
    .describe(
      'bearer token that `GET /metrics` then requires (`Authorization: Bearer …`), on the API and on the worker metrics port; unset → `/metrics` answers anyone who can reach it',
    ),
  ARBITER_WORKER_METRICS_PORT: intInRange(0, 65535, 9091).describe(
    'port of the `/metrics` and `/healthz` endpoints of a process that runs workers without the API (`arbiter worker`); binds `ARBITER_LISTEN_HOST`',
  ),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino level (`silent` … `trace`); logs are JSON lines on stdout'),
});

/** A clamd on this machine, for ARBITER_ENGINES listing `clamd` without a CLAMD_ADDRESS. */
const DEFAULT_CLAMD_ADDRESS = 'tcp://127.0.0.1:3310';

/**
 * The folder of ClamAV databases that `arbiter signatures update` keeps current and the private
 * clamd loads (`ARBITER_CLAMAV_DATABASE_DIR`, default `$ARBITER_DATA_DIR/clamav`). The one place
 * that names it.
 */
export function clamavDatabaseDir(config: Pick<Config, 'clamav'>): string {
  return config.clamav.databaseDir;
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

/** The environment as EnvSchema parses it: every variable checked, defaults filled in. */
type Env = z.output<typeof EnvSchema>;

/**
 * The structured configuration the code reads, made from the parsed environment. What it returns
 * is the `Config` type (inferred): a new variable is declared in EnvSchema and mapped here only.
 */
function structureConfig(e: Env) {
  const dataDir = path.resolve(e.ARBITER_DATA_DIR);
  return {
    port: e.PORT,
    listenHost: e.ARBITER_LISTEN_HOST,
    /**
     * Where Redis is, as configured (core/redis.ts `redisTarget` turns it into client options):
     * one server at `url`, the primary the Sentinels name, or a Cluster found through its seed
     * nodes; none → the embedded one.
     */
    redis: {
      url: e.REDIS_URL,
      clusterNodes: e.REDIS_CLUSTER_NODES,
      sentinel: e.REDIS_SENTINELS
        ? {
            nodes: e.REDIS_SENTINELS,
            name: e.REDIS_SENTINEL_NAME ?? '',
            username: e.REDIS_SENTINEL_USERNAME,
            password: e.REDIS_SENTINEL_PASSWORD,
            tls: e.REDIS_SENTINEL_TLS,
          }
        : undefined,
      username: e.REDIS_USERNAME,
      password: e.REDIS_PASSWORD,
      tls: e.REDIS_TLS,
      tlsFiles: { ca: e.REDIS_TLS_CA_FILE, cert: e.REDIS_TLS_CERT_FILE, key: e.REDIS_TLS_KEY_FILE },
    },
    redisPrefix: e.ARBITER_REDIS_PREFIX,
    dataDir,
    spoolDir: path.resolve(e.ARBITER_SPOOL_DIR ?? path.join(dataDir, 'spool')),
    adminToken: e.ARBITER_ADMIN_TOKEN,
    /** Where async uploads wait: the spool (`local`) or a bucket (core/upload-store.ts). */
    uploadStore:
      e.ARBITER_UPLOAD_STORE === 'local'
        ? ({ kind: 'local' } as const)
        : {
            kind: 's3' as const,
            location: parseS3UploadLocation(e.ARBITER_UPLOAD_STORE) ?? { bucket: '', prefix: '' },
            endpoint: e.AWS_ENDPOINT_URL_S3,
            redisMaxBytes: e.ARBITER_UPLOAD_STORE_REDIS_MAX,
          },
    engines: e.ARBITER_ENGINES ?? (e.CLAMD_ADDRESS ? ['builtin', 'clamd'] : ['builtin']),
    signaturesDir: e.ARBITER_SIGNATURES_DIR ? path.resolve(e.ARBITER_SIGNATURES_DIR) : undefined,
    /** Detect potentially unwanted applications, as clamd's DetectPUA (both engines). */
    detectPua: e.ARBITER_SIGNATURES_DETECT_PUA,
    /**
     * The `clamd` engine's clamd. `embedded` is set when neither ARBITER_ENGINES nor CLAMD_ADDRESS
     * is: the process then starts a private clamd child (core/embedded-clamd.ts) if the binary and
     * a database are there, and scans with `builtin,clamd` on it; else `builtin` with a warning.
     */
    clamd: {
      address: e.CLAMD_ADDRESS ?? DEFAULT_CLAMD_ADDRESS,
      timeoutMs: e.CLAMD_TIMEOUT_MS,
      poolSize: e.CLAMD_POOL_SIZE,
      embedded:
        e.ARBITER_ENGINES === undefined && e.CLAMD_ADDRESS === undefined
          ? { binary: e.ARBITER_CLAMD_BINARY, startTimeoutMs: e.ARBITER_CLAMD_START_TIMEOUT_MS }
          : undefined,
    },
    /**
     * ClamAV's official database kept current by freshclam (scanning/signatures/update.ts): its
     * folder (read it with clamavDatabaseDir), a private mirror, the schedule of workers' updates
     * (0 = none) and the proxy freshclam goes through (the raw URL; checked when it is used).
     */
    clamav: {
      databaseDir: path.resolve(e.ARBITER_CLAMAV_DATABASE_DIR ?? path.join(dataDir, 'clamav')),
      mirror: e.ARBITER_CLAMAV_MIRROR?.replace(/\/+$/, ''),
      updateIntervalMs: e.ARBITER_SIGNATURES_UPDATE_INTERVAL * 1000,
      proxy: e.HTTPS_PROXY ?? e.HTTP_PROXY,
    },
    /** Limits while unpacking archives; exceeding one yields content.unscannable.limits-exceeded. */
    archive: {
      maxDepth: e.ARBITER_ARCHIVE_MAX_DEPTH,
      maxMembers: e.ARBITER_ARCHIVE_MAX_MEMBERS,
      maxExpandedBytes: e.ARBITER_ARCHIVE_MAX_EXPANDED,
      maxRatio: e.ARBITER_ARCHIVE_MAX_RATIO,
    },
    /**
     * The image classifier (`unsafe_image`, scanning/analysis/images/): threads per process, and
     * the bounds on one image (time, bytes, pixels); past one, the image is unscannable.
     */
    images: {
      threads: e.ARBITER_IMAGE_THREADS,
      timeoutMs: e.ARBITER_IMAGE_TIMEOUT_MS,
      maxBytes: e.ARBITER_IMAGE_MAX_BYTES,
      maxPixels: e.ARBITER_IMAGE_MAX_PIXELS,
    },
    maxFileSize: e.ARBITER_MAX_FILE_SIZE,
    /**
     * Sanitized copies (docs/sanitizing.md): the largest content sanitized (the largest upload)
     * and the time one copy may take.
     */
    sanitize: { maxBytes: e.ARBITER_MAX_FILE_SIZE, timeoutMs: e.ARBITER_SANITIZE_TIMEOUT_MS },
    /**
     * The `unsafe_language` category: the rule pack's folder (undefined: the built-in pack) and
     * the largest text piece checked.
     */
    language: {
      rulesDir: e.ARBITER_LANGUAGE_RULES_DIR
        ? path.resolve(e.ARBITER_LANGUAGE_RULES_DIR)
        : undefined,
      maxBytes: e.ARBITER_LANGUAGE_MAX_BYTES,
    },
    /** The `sensitive_data` category: the largest text piece classified. */
    sensitive: { maxBytes: e.ARBITER_SENSITIVE_MAX_BYTES },
    /** The process's YARA runner (one, shared by the language rules and tenants' rules). */
    yara: { threads: e.ARBITER_YARA_THREADS, timeoutMs: e.ARBITER_YARA_TIMEOUT_MS },
    /**
     * The API's HTTP server: time a client has to send a whole request, and its headers; past
     * either the connection is closed. Bounds how long a trickled body can hold a socket.
     */
    http: {
      requestTimeoutMs: e.ARBITER_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: Math.min(e.ARBITER_HEADERS_TIMEOUT_MS, e.ARBITER_REQUEST_TIMEOUT_MS),
    },
    maxFetchSize: e.ARBITER_MAX_FETCH_SIZE,
    fetchTimeoutMs: e.ARBITER_FETCH_TIMEOUT_MS,
    /**
     * Slowest acceptable download: at least `bytesPerSecond` on average over every `windowMs`
     * (0 = no minimum). Like the total time limit, a permanent failure: a trickling server would
     * trickle again on a retry.
     */
    fetchMinRate: {
      bytesPerSecond: e.ARBITER_FETCH_MIN_RATE,
      windowMs: e.ARBITER_FETCH_RATE_WINDOW_MS,
    },
    callbackTimeoutMs: e.ARBITER_CALLBACK_TIMEOUT_MS,
    /**
     * Networks (CIDRs) that tenant URLs (a file's `location` and `callback`; a bucket's `callback`, S3 `endpoint` and queue URLs) may reach although they are loopback,
     * private, link-local etc. Empty (the default): only globally routable addresses.
     */
    allowedNetworks: e.ARBITER_ALLOWED_NETWORKS,
    /** First callback retry delay; it doubles per attempt up to `callbackRetryMaxMs`. */
    callbackRetryBaseMs: e.ARBITER_CALLBACK_RETRY_BASE_MS,
    callbackRetryMaxMs: e.ARBITER_CALLBACK_RETRY_MAX_MS,
    /** Callback deliveries of one tenant in flight at once, across all workers (fairness). */
    callbackTenantConcurrency: e.ARBITER_CALLBACK_TENANT_CONCURRENCY,
    /** How long a rotated-out webhook signing secret still signs deliveries, in seconds. */
    signingSecretGraceSeconds: e.ARBITER_SIGNING_SECRET_GRACE,
    resultTtlSeconds: e.ARBITER_RESULT_TTL,
    /**
     * `serve`'s processes (ARBITER_PROCESSES; default: the cores): above 1, a primary starts the
     * shared Redis and clamd and forks this many API-and-worker processes (cli/serve-group.ts).
     */
    processes: e.ARBITER_PROCESSES ?? availableParallelism(),
    scanConcurrency: e.ARBITER_SCAN_CONCURRENCY,
    /** Scans of one tenant running at once across all workers (worker/scan-slots.ts). */
    scanTenantConcurrency:
      e.ARBITER_SCAN_TENANT_CONCURRENCY ?? Math.max(1, e.ARBITER_SCAN_CONCURRENCY - 1),
    /**
     * Attempts per scan job (1 = no retry) and the first retry delay, doubling per attempt. The
     * last attempt stores an error result instead of retrying; permanent errors store it at once.
     */
    scanAttempts: e.ARBITER_SCAN_ATTEMPTS,
    scanRetryBaseMs: e.ARBITER_SCAN_RETRY_BASE_MS,
    callbackConcurrency: e.ARBITER_CALLBACK_CONCURRENCY,
    jobLockMs: e.ARBITER_JOB_LOCK_MS,
    stalledIntervalMs: e.ARBITER_STALLED_INTERVAL_MS,
    shutdownTimeoutMs: e.ARBITER_SHUTDOWN_TIMEOUT_MS,
    workerHeartbeatMs: e.ARBITER_WORKER_HEARTBEAT_MS,
    /**
     * The spool sweeper (every role): how often it runs, and how long a file nobody writes to and
     * no running job holds is left alone (longer than any upload or synchronous scan takes).
     */
    spoolSweep: {
      intervalMs: e.ARBITER_SPOOL_SWEEP_INTERVAL_MS,
      graceMs: e.ARBITER_SPOOL_GRACE_MS,
    },
    /**
     * The pending reaper (worker role): how often it runs, the age from which a pending scan with
     * no job is resolved, and how many scans one run looks at.
     */
    pendingReap: {
      intervalMs: e.ARBITER_PENDING_REAP_INTERVAL_MS,
      graceMs: e.ARBITER_PENDING_GRACE_MS,
      batchSize: e.ARBITER_PENDING_REAP_BATCH,
    },
    /**
     * Tenants' own YARA rules (`/v1/rules`): size of one file, rules and files per tenant, the
     * compile and scan budgets, the largest piece they run on, and the threads that run them.
     */
    tenantRules: {
      maxSourceBytes: e.ARBITER_TENANT_RULES_MAX_SOURCE,
      maxRules: e.ARBITER_TENANT_RULES_MAX_RULES,
      maxFiles: e.ARBITER_TENANT_RULES_MAX_FILES,
      compileTimeoutMs: e.ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS,
      scanTimeoutMs: e.ARBITER_TENANT_RULES_SCAN_TIMEOUT_MS,
      maxPieceBytes: e.ARBITER_TENANT_RULES_MAX_PIECE,
    },
    publicUrl: e.ARBITER_PUBLIC_URL?.replace(/\/+$/, ''),
    trustProxy: e.ARBITER_TRUST_PROXY,
    /**
     * The browser console (api/console-static.ts, api/routes/console.ts): its session expiries
     * (idle, absolute; seconds), failed sign-ins allowed per address and per key in
     * `signinWindowSeconds`, and where its built files are (unset: the package's dist/console).
     */
    console: {
      sessionIdleSeconds: e.ARBITER_CONSOLE_SESSION_IDLE,
      sessionMaxSeconds: e.ARBITER_CONSOLE_SESSION_MAX,
      signinAttempts: e.ARBITER_CONSOLE_SIGNIN_ATTEMPTS,
      signinWindowSeconds: 15 * 60,
      dir: e.ARBITER_CONSOLE_DIR ? path.resolve(e.ARBITER_CONSOLE_DIR) : undefined,
    },
    hostId: e.ARBITER_HOST_ID ?? defaultHostId(),
    /** AES-256-GCM key for stored bucket credentials; unset → buckets cannot be registered. */
    secretKey: e.ARBITER_SECRET_KEY,
    /**
     * Per-tenant defaults (a tenant may have its own, set through the admin API): requests per
     * second and the burst allowance above it, and bytes per UTC day; 0 = no limit.
     */
    limits: {
      requestsPerSecond: e.ARBITER_RATE_LIMIT_RPS,
      burst: e.ARBITER_RATE_LIMIT_BURST ?? e.ARBITER_RATE_LIMIT_RPS,
      bytesPerDay: e.ARBITER_QUOTA_BYTES_PER_DAY,
    },
    /** S3 event intake from SQS (worker role): long-poll wait, visibility, registry refresh. */
    sqs: {
      waitSeconds: e.ARBITER_SQS_WAIT_SECONDS,
      visibilitySeconds: e.ARBITER_SQS_VISIBILITY_SECONDS,
      refreshMs: e.ARBITER_SQS_REFRESH_MS,
    },
    /**
     * `/metrics`: the bearer token it requires (unset: none), and the port a process running
     * workers without the API serves it (and `/healthz`) on.
     */
    metrics: { token: e.ARBITER_METRICS_TOKEN, workerPort: e.ARBITER_WORKER_METRICS_PORT },
    /**
     * Retro jobs (worker role): keys per ListObjectsV2 page (MaxKeys), crawls run at once; the
     * shortest time allowed between two runs of one schedule; the time without progress after
     * which an open job is looked at (s3/retro/stall-audit.ts).
     */
    retro: {
      pageSize: e.ARBITER_RETRO_PAGE_SIZE,
      concurrency: e.ARBITER_RETRO_CONCURRENCY,
      scheduleMinIntervalSeconds: e.ARBITER_SCHEDULE_MIN_INTERVAL,
      stallMs: e.ARBITER_RETRO_STALL_SECONDS * 1000,
    },
    /** Rescans (worker role): results per page; results each tenant's result index keeps. */
    rescan: {
      pageSize: e.ARBITER_RESCAN_PAGE_SIZE,
      resultIndexMax: e.ARBITER_RESULT_INDEX_MAX,
    },
    logLevel: e.LOG_LEVEL,
  };
}

/** The environment checked (EnvSchema), then structured (structureConfig). */
export const ConfigSchema = EnvSchema.superRefine(checkRedisSettings).transform(structureConfig);

/** The Redis variables that only make sense together (or never together). */
function checkRedisSettings(e: Env, ctx: z.RefinementCtx): void {
  const problem = (path: string, message: string) =>
    ctx.addIssue({ code: 'custom', path: [path], message });
  const chosen = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(
    (name) => e[name] !== undefined,
  );
  if (chosen.length > 1)
    problem(
      chosen[1]!,
      `set one of REDIS_URL (one server), REDIS_SENTINELS or REDIS_CLUSTER_NODES, not ${chosen.join(' and ')}`,
    );
  if (e.REDIS_SENTINELS && !e.REDIS_SENTINEL_NAME)
    problem(
      'REDIS_SENTINEL_NAME',
      'required with REDIS_SENTINELS (the name the Sentinels monitor)',
    );
  if (!e.REDIS_SENTINELS && !e.REDIS_CLUSTER_NODES)
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const)
      if (e[name])
        problem(
          name,
          'only with REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL)',
        );
  if (Boolean(e.REDIS_TLS_CERT_FILE) !== Boolean(e.REDIS_TLS_KEY_FILE))
    problem('REDIS_TLS_CERT_FILE', 'set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE together');
}

/** The whole runtime configuration: ConfigSchema's output, so the type and the parsing agree. */
export type Config = z.output<typeof ConfigSchema>;

/**
 * Variables under an earlier name, and what replaced them. Unknown variables are ignored, so a
 * deployment still setting an old name would silently get the default: it stops the start
 * instead, naming the new variable.
 */
const RENAMED: Record<string, string> = {
  ARBITER_SIGNATURES_UPDATE_INTERVAL_MS: 'ARBITER_SIGNATURES_UPDATE_INTERVAL, in seconds',
};

export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset": compose files and shells often export VAR= .
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const renamed = Object.keys(RENAMED)
    .filter((name) => cleaned[name] !== undefined)
    .map((name) => `${name}: renamed; set ${RENAMED[name]}`);
  const parsed = ConfigSchema.safeParse(cleaned);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'env'}: ${issue.message}`);
  if (!parsed.success || renamed.length > 0) throw new ConfigError([...renamed, ...problems]);
  return parsed.data;
}

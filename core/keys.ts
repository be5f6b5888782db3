/**
 * Redis key layout, in one place. Every per-tenant key embeds the tenant id, so a store call
 * that is not scoped by tenant cannot even name another tenant's data. The id is always a
 * segment of its own (`{p}:<name>:{tid}` or `{p}:<name>:{tid}:<more>`): deleting a tenant
 * (core/tenant-deletion.ts) removes every key of those shapes, so a new per-tenant key must
 * follow them (or be removed there by name, like the API keys and token owners below).
 *
 *   {p}:tenants                       SET   tenant ids
 *   {p}:tenant:{tid}                  HASH  name, dates, signing secret
 *   {p}:tenant:{tid}:keys             SET   API keys of the tenant
 *   {p}:key:{key}                     HASH  tenant id, secret hash, active, dates, and the key's
 *                                           own detection categories (core/key-settings.ts)
 *   {p}:token:{tid}:{id}              HASH  auth token (expires with the token)
 *   {p}:token-owner:{id}              STRING tenant id of a token (expires with the token)
 *   {p}:tenant:{tid}:tokens           ZSET  the tenant's token ids (→ expiry, ms): `GET /v1/tokens`;
 *                                           expired entries trimmed when read, revoked ones removed
 *   {p}:scan:{tid}:{id}               HASH  request, state and result of one scan
 *   {p}:trace:{tid}:{id}              LIST  trace events of one scan
 *   {p}:callbacks:{tid}:{id}          LIST  callback attempts of one scan (JSON, newest last, capped;
 *                                           expires and is deleted with the scan's result)
 *   {p}:stats:{tid}:{yyyymmddhh}      HASH  the tenant's counters of one UTC hour (scans/stats.ts;
 *                                           expires after 8 days)
 *   {p}:upload:{tid}:{id}             STRING a small async upload staged in Redis (expires with
 *                                           the scan; core/s3-upload-store.ts)
 *   {p}:pending-scans:{tid}           ZSET  ids of the tenant's pending scans (→ time written, or
 *                                           last found alive by the pending reaper, ms)
 *   {p}:pending-scans                 ZSET  legacy global index ("{tid}:{id}" members), emptied
 *                                           into the per-tenant ones by the pending reaper
 *   {p}:tenant:{tid}:results          ZSET  ids of the tenant's stored results (→ completion time, ms;
 *                                           trimmed to the result TTL and a maximum size)
 *   {p}:tenant:{tid}:results:{outcome} ZSET the same, for results of one outcome (clean, findings,
 *                                           error): the scan list's filter; same trims
 *   {p}:rescan:{tid}:{id}             HASH  rescan: definition, state, counters, listing checkpoint
 *   {p}:rescan-inflight:{tid}:{id}    HASH  results being rescanned (result id → rescan scan id)
 *   {p}:rescan-settled:{tid}:{id}     HASH  results whose outcome the rescan counted (result id → outcome)
 *   {p}:tenant:{tid}:rescans          ZSET  rescan ids of the tenant (score: creation time, ms)
 *   {p}:rescan-active:{tid}           STRING id of the tenant's rescan still running (one at a time)
 *   {p}:bucket:{tid}:{name}           STRING registered bucket (JSON; credentials encrypted)
 *   {p}:tenant:{tid}:buckets          SET   bucket names of the tenant
 *   {p}:bucket-queues                 SET   "{tid}/{name}" of buckets with an SQS queue to poll
 *   {p}:bucket-status:{tid}:{name}    HASH  a bucket's counts by outcome and last event time
 *                                           (s3/bucket-status.ts; deleted with the bucket)
 *   {p}:bucket-poll:{tid}:{name}      STRING its SQS poller's last poll and error (JSON; expires
 *                                           when no worker has polled for a while)
 *   {p}:bucket-counted:{tid}:{id}     STRING scan {id}'s outcome was counted (expires after a day)
 *   {p}:object-lease:{tid}:{hash}     STRING scan id holding an object version (SET NX, expires)
 *   {p}:object-watchers:{tid}:{id}    LIST  retro job ids waiting for the outcome of scan {id}
 *   {p}:retro:{tid}:{id}              HASH  retro job: definition, state, counters, crawl checkpoint
 *   {p}:retro-credited:{tid}:{id}     HASH  objects whose outcome the retro job counted (digest → outcome)
 *   {p}:retro-pages:{tid}:{id}        HASH  times each listing page of the retro job was submitted
 *   {p}:tenant:{tid}:retro-jobs       ZSET  retro job ids of the tenant (score: creation time, ms)
 *   {p}:schedule:{tid}:{id}           HASH  retro schedule: cron, time zone, buckets, window, last run
 *   {p}:tenant:{tid}:schedules        ZSET  schedule ids of the tenant (score: creation time, ms)
 *   {p}:scan-backlog:{tid}            ZSET  scan ids queued and not yet started (→ time queued, ms)
 *   {p}:scan-rank:{tid}               STRING jobs queued since the tenant's backlog was last empty
 *   {p}:scan-inflight:{tid}           ZSET  scans running (job id → lease expiry ms; worker/scan-slots.ts)
 *   {p}:scan-parked:{tid}             ZSET  scan jobs waiting for one of the tenant's slots (→ time parked)
 *   {p}:webhook-inflight:{tid}        ZSET  callback deliveries in flight (job id → lease expiry ms)
 *   {p}:webhook-parked:{tid}          ZSET  callback jobs waiting for a slot (job id → time parked)
 *   {p}:redeliveries:{tid}:{id}       STRING count of redeliveries asked for one scan (job ids)
 *   {p}:redeliver-lock:{tid}:{id}     STRING held (5 s at most) while one redelivery request decides
 *   {p}:tenant-limits:{tid}           HASH  the tenant's own rate limit and quota (admin API)
 *   {p}:tenant-settings:{tid}         HASH  the tenant's scanning preferences (report_unscannable,
 *                                           detection_categories, image_threshold,
 *                                           classification_types, classification_min_matches)
 *   {p}:tenant-rules:{tid}            HASH  the tenant's YARA rule files (name → JSON: source, dates,
 *                                           sha256, size, rule identifiers, warnings, position)
 *   {p}:tenant-rules:{tid}:version    STRING version of the tenant's rules (INCR on every change)
 *   {p}:ratelimit:{tid}               STRING requests in the current second (rate-limiter-flexible)
 *   {p}:ratelimit-burst:{tid}         STRING burst requests in the current 10 s window
 *   {p}:quota:{tid}:{yyyy-mm-dd}      STRING bytes accepted on that UTC day
 *   {p}:console-session:{hash}        STRING a console session (JSON: who, CSRF token, absolute
 *                                           expiry); named by the SHA-256 of the cookie's id; expires
 *                                           at the idle expiry (core/console-sessions.ts)
 *   {p}:console-signin-ip:{ip}        STRING failed console sign-ins of a client address (window)
 *   {p}:console-signin-key:{key}      STRING failed console sign-ins naming an API key (window)
 *   {p}:errors                        LIST  recent errors, newest first, capped (core/error-log.ts)
 *   {p}:workers                       ZSET  worker process ids (→ last heartbeat, ms)
 *   {p}:worker:{id}                   STRING a worker process's heartbeat (JSON; expires after
 *                                           three missed heartbeats)
 *   {p}:q:…                           BullMQ's keys (its queues' own layout)
 *
 * Hash tags (`hashTags: true`, on exactly when Redis is a Cluster). A Cluster refuses (CROSSSLOT)
 * any MULTI, Lua script or multi-key command whose keys hash to different slots. Every atomic
 * step Arbiter takes is within one tenant, so the tenant id segment is wrapped in literal braces
 * (`{p}:scan:{<tid>}:<id>`, `{p}:tenant:{<tid>}:keys`; in the list above `{…}` only marks a
 * placeholder): Redis then hashes only the id, every key of one tenant lands in one slot, and
 * tenants spread over the 16,384 slots. The few global keys
 * (tenants, API keys, token owners, bucket-queues, the legacy pending index, errors, workers) keep their names
 * and are never combined with another key in one operation. Each BullMQ queue gets a tag of its
 * own (`{p}:q:{scan}`), as BullMQ needs, so the queues spread too. A prefix with a brace would
 * change which part of a name is hashed, so it is refused. Without hash tags every name is as
 * listed above, so a single server or Sentinel deployment keeps its data across an upgrade.
 */
export class RedisKeys {
  readonly hashTags: boolean;

  constructor(
    private readonly prefix: string,
    options: { hashTags: boolean } = { hashTags: false },
  ) {
    this.hashTags = options.hashTags;
    if (this.hashTags && /[{}]/.test(prefix))
      throw new Error(`the Redis key prefix "${prefix}" cannot hold { or } with hash tags on`);
  }

  /**
   * The tenant id as it is written in the tenant's keys: `{tid}` with hash tags (the only tag of
   * the name, so it alone picks the slot), else the id itself. Also what rate-limiter-flexible
   * appends to its prefixes, and what tenant deletion matches keys by.
   */
  tenantSegment = (tenantId: string) => (this.hashTags ? `{${tenantId}}` : tenantId);

  private tag(tenantId: string): string {
    return this.tenantSegment(tenantId);
  }

  tenants = () => `${this.prefix}:tenants`;
  tenant = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}`;
  tenantKeys = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:keys`;
  apiKey = (key: string) => `${this.prefix}:key:${key}`;
  token = (tenantId: string, tokenId: string) =>
    `${this.prefix}:token:${this.tag(tenantId)}:${tokenId}`;
  tokenOwner = (tokenId: string) => `${this.prefix}:token-owner:${tokenId}`;
  tenantTokens = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:tokens`;
  scan = (tenantId: string, scanId: string) =>
    `${this.prefix}:scan:${this.tag(tenantId)}:${scanId}`;
  trace = (tenantId: string, scanId: string) =>
    `${this.prefix}:trace:${this.tag(tenantId)}:${scanId}`;
  callbacks = (tenantId: string, scanId: string) =>
    `${this.prefix}:callbacks:${this.tag(tenantId)}:${scanId}`;
  /** A tenant's counters of one UTC hour (`hour`: yyyymmddhh; scans/stats.ts). */
  stats = (tenantId: string, hour: string) => `${this.prefix}:stats:${this.tag(tenantId)}:${hour}`;
  /** Global, for operators: never combined with another key in one command. */
  errors = () => `${this.prefix}:errors`;
  workers = () => `${this.prefix}:workers`;
  worker = (workerId: string) => `${this.prefix}:worker:${workerId}`;
  stagedUpload = (tenantId: string, scanId: string) =>
    `${this.prefix}:upload:${this.tag(tenantId)}:${scanId}`;
  /**
   * A tenant's pending scans, for the pending reaper (scans/pending-reaper.ts), which walks the
   * tenants: finding stale pending scans never SCANs the keyspace. Per tenant, so a scan's record
   * and its entry change in one step (one slot).
   */
  pendingScans = (tenantId: string) => `${this.prefix}:pending-scans:${this.tag(tenantId)}`;
  /** The global index older versions wrote ("{tid}:{id}" members); only ever emptied now. */
  legacyPendingScans = () => `${this.prefix}:pending-scans`;
  /** A tenant's stored results by completion time: what rescans walk (scans/store.ts). */
  tenantResults = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:results`;
  /** The same, for the results of one outcome: what the scan list's filter walks. */
  tenantResultsByOutcome = (tenantId: string, outcome: string) =>
    `${this.prefix}:tenant:${this.tag(tenantId)}:results:${outcome}`;
  /** Rescans by database version (rescans/). */
  rescan = (tenantId: string, rescanId: string) =>
    `${this.prefix}:rescan:${this.tag(tenantId)}:${rescanId}`;
  rescanInflight = (tenantId: string, rescanId: string) =>
    `${this.prefix}:rescan-inflight:${this.tag(tenantId)}:${rescanId}`;
  rescanSettled = (tenantId: string, rescanId: string) =>
    `${this.prefix}:rescan-settled:${this.tag(tenantId)}:${rescanId}`;
  tenantRescans = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:rescans`;
  rescanActive = (tenantId: string) => `${this.prefix}:rescan-active:${this.tag(tenantId)}`;
  /** Scan queue fairness (core/scan-fairness.ts). */
  scanBacklog = (tenantId: string) => `${this.prefix}:scan-backlog:${this.tag(tenantId)}`;
  scanRank = (tenantId: string) => `${this.prefix}:scan-rank:${this.tag(tenantId)}`;
  /** Per-tenant scan slots (worker/scan-slots.ts). */
  scanInflight = (tenantId: string) => `${this.prefix}:scan-inflight:${this.tag(tenantId)}`;
  scanParked = (tenantId: string) => `${this.prefix}:scan-parked:${this.tag(tenantId)}`;
  webhookInflight = (tenantId: string) => `${this.prefix}:webhook-inflight:${this.tag(tenantId)}`;
  webhookParked = (tenantId: string) => `${this.prefix}:webhook-parked:${this.tag(tenantId)}`;
  redeliveries = (tenantId: string, scanId: string) =>
    `${this.prefix}:redeliveries:${this.tag(tenantId)}:${scanId}`;
  redeliverLock = (tenantId: string, scanId: string) =>
    `${this.prefix}:redeliver-lock:${this.tag(tenantId)}:${scanId}`;
  bucket = (tenantId: string, name: string) =>
    `${this.prefix}:bucket:${this.tag(tenantId)}:${name}`;
  tenantBuckets = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:buckets`;
  bucketQueues = () => `${this.prefix}:bucket-queues`;
  /** A bucket's state for the console (s3/bucket-status.ts): counts, last event, poller. */
  bucketStatus = (tenantId: string, name: string) =>
    `${this.prefix}:bucket-status:${this.tag(tenantId)}:${name}`;
  bucketPoll = (tenantId: string, name: string) =>
    `${this.prefix}:bucket-poll:${this.tag(tenantId)}:${name}`;
  bucketCounted = (tenantId: string, scanId: string) =>
    `${this.prefix}:bucket-counted:${this.tag(tenantId)}:${scanId}`;
  /** `objectHash` is a digest of bucket, key and version (keys can be 1,024 bytes long). */
  objectLease = (tenantId: string, objectHash: string) =>
    `${this.prefix}:object-lease:${this.tag(tenantId)}:${objectHash}`;
  objectWatchers = (tenantId: string, scanId: string) =>
    `${this.prefix}:object-watchers:${this.tag(tenantId)}:${scanId}`;
  retroJob = (tenantId: string, jobId: string) =>
    `${this.prefix}:retro:${this.tag(tenantId)}:${jobId}`;
  retroCredited = (tenantId: string, jobId: string) =>
    `${this.prefix}:retro-credited:${this.tag(tenantId)}:${jobId}`;
  retroPages = (tenantId: string, jobId: string) =>
    `${this.prefix}:retro-pages:${this.tag(tenantId)}:${jobId}`;
  tenantRetroJobs = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:retro-jobs`;
  schedule = (tenantId: string, scheduleId: string) =>
    `${this.prefix}:schedule:${this.tag(tenantId)}:${scheduleId}`;
  tenantSchedules = (tenantId: string) => `${this.prefix}:tenant:${this.tag(tenantId)}:schedules`;
  tenantLimits = (tenantId: string) => `${this.prefix}:tenant-limits:${this.tag(tenantId)}`;
  tenantSettings = (tenantId: string) => `${this.prefix}:tenant-settings:${this.tag(tenantId)}`;
  /** A tenant's own YARA rules (core/tenant-rules.ts): the files, and their version counter. */
  tenantRules = (tenantId: string) => `${this.prefix}:tenant-rules:${this.tag(tenantId)}`;
  tenantRulesVersion = (tenantId: string) =>
    `${this.prefix}:tenant-rules:${this.tag(tenantId)}:version`;
  /**
   * A console session, by the hex SHA-256 of its cookie value: global (a session is found before
   * its tenant is known) and always used alone, so it needs no hash tag.
   */
  consoleSession = (idHash: string) => `${this.prefix}:console-session:${idHash}`;
  /** Failed console sign-ins (rate-limiter-flexible prefixes, which append `:{ip|key}`). */
  consoleSigninIpPrefix = () => `${this.prefix}:console-signin-ip`;
  consoleSigninKeyPrefix = () => `${this.prefix}:console-signin-key`;
  /** Prefixes for rate-limiter-flexible, which appends `:{key}` itself. */
  rateLimitPrefix = () => `${this.prefix}:ratelimit`;
  burstLimitPrefix = () => `${this.prefix}:ratelimit-burst`;
  quotaPrefix = () => `${this.prefix}:quota`;
  /**
   * BullMQ's prefix for one queue, so queues sit beside our keys under one namespace; with hash
   * tags each queue has its own (BullMQ's scripts touch many keys of one queue at once).
   */
  queuePrefix = (queueName: string) =>
    this.hashTags ? `${this.queueRoot()}:{${queueName}}` : this.queueRoot();
  /** What every BullMQ key starts with (then `:`), whichever the queue. */
  queueRoot = () => `${this.prefix}:q`;
}

import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import type { ScanRecord, ScanRequest, ScanResult, ScanState, TraceEvent } from './results.js';

// Writes a result only while the scan is pending: a result deleted by its owner (or already
// written by an earlier attempt of the same job) is never resurrected by a late worker. The scan
// leaves the pending index in the same step (or, when its callback is still owed, stays in it
// rescored, for the pending reaper to find should the delivering process die) and enters its
// tenant's result index (what rescans walk), which is trimmed here to the result TTL window and
// to its maximum size; scans marked `unlisted` (a rescan's own scans) stay out of it. The trace
// events the run buffered go with the result. KEYS: scan, pending index, result index, trace.
// ARGV: result, pending member, scan id, now (ms), oldest score kept, maximum size, TTL (s),
// pending score while the callback is owed ('' if none), trace events (JSON) from ARGV[9] on.
const COMPLETE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[1])
if ARGV[8] == '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[2])
end
if #ARGV > 8 then
  redis.call('RPUSH', KEYS[4], unpack(ARGV, 9))
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
if redis.call('HEXISTS', KEYS[1], 'unlisted') == 0 then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
  redis.call('EXPIRE', KEYS[3], ARGV[7])
end
return 1`;

// Replaces a stored result with a rescan's, only if it is still the one the rescan compared
// against (not deleted, not replaced meanwhile). KEYS: scan. ARGV: expected result, new result.
const REPLACE_RESULT_SCRIPT = `
if redis.call('HGET', KEYS[1], 'state') ~= 'done' then return 0 end
if redis.call('HGET', KEYS[1], 'result') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'result', ARGV[2])
return 1`;

// A delete leaves a tombstone until the record would have expired anyway, so that a job still in
// flight sees "deleted" rather than "unknown" and drops its result; the scan leaves the pending
// index and its tenant's result index. KEYS: scan, pending index, result index. ARGV: pending
// member, scan id. Returns 0 (nothing to delete), 1 (a result was deleted) or 2 (a pending scan
// was deleted).
const DELETE_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'deleted' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'deleted')
redis.call('HDEL', KEYS[1], 'result')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
if state == 'pending' then return 2 end
return 1`;

// Takes up to ARGV[2] pending-index members written (or last claimed) at or before ARGV[1] and
// stamps them ARGV[3] (now): two reapers running at once never take the same scan, and a scan
// that is still legitimately pending is looked at again only a grace period later, so each run
// moves on to other scans instead of re-reading the same oldest ones.
const CLAIM_STALE_SCRIPT = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(members) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], member) end
return members`;

/** The tenant result index keeps at most this many results (the newest). */
export const DEFAULT_RESULT_INDEX_MAX = 100_000;

/** What a delete found: nothing, a finished scan's result, or a scan still pending. */
export type DeleteOutcome = 'none' | 'result' | 'pending';

/** Scan requests, their results and their traces; every call is scoped by tenant. */
export class ScanStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
    private readonly resultIndexMax: number = DEFAULT_RESULT_INDEX_MAX,
  ) {}

  /**
   * Writes a pending scan and indexes it (in one MULTI) for the pending reaper, which resolves
   * pending scans whose job was never queued (a process killed between this and enqueueScan).
   */
  async createPending(request: ScanRequest): Promise<void> {
    const key = this.keys.scan(request.tenantId, request.id);
    await this.redis
      .multi()
      .hset(key, { state: 'pending', request: JSON.stringify(request) })
      .expire(key, this.ttlSeconds)
      .zadd(this.keys.pendingScans(), Date.now(), pendingMember(request.tenantId, request.id))
      .exec();
  }

  /** Many pending scans, each with its first trace event, in one round trip (bulk submissions). */
  async createPendingMany(
    entries: Array<{ request: ScanRequest; trace: string; unlisted?: boolean }>,
  ): Promise<void> {
    if (entries.length === 0) return;
    const now = Date.now();
    const timestamp = new Date(now).toISOString();
    const multi = this.redis.multi();
    for (const { request, trace, unlisted } of entries) {
      const key = this.keys.scan(request.tenantId, request.id);
      const traceKey = this.keys.trace(request.tenantId, request.id);
      const event: TraceEvent = { timestamp, message: trace };
      const fields = { state: 'pending', request: JSON.stringify(request) };
      multi
        .hset(key, unlisted ? { ...fields, unlisted: '1' } : fields)
        .expire(key, this.ttlSeconds)
        .rpush(traceKey, JSON.stringify(event))
        .expire(traceKey, this.ttlSeconds)
        .zadd(this.keys.pendingScans(), now, pendingMember(request.tenantId, request.id));
    }
    const replies = (await multi.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  async get(tenantId: string, scanId: string): Promise<ScanRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.scan(tenantId, scanId));
    if (!raw.request || !raw.state) return undefined;
    const record: ScanRecord = {
      request: JSON.parse(raw.request) as ScanRequest,
      state: raw.state as ScanState,
    };
    if (raw.result) record.result = JSON.parse(raw.result) as ScanResult;
    return record;
  }

  /**
   * Stores the result, with the trace events given, in one step; false when the scan was deleted
   * or already has one (the events are then not written). `callbackOwedScore`: the scan stays in
   * the pending index with this score until forgetPending, because its callback is still to be
   * delivered by this process (see worker/inline-callback.ts and the pending reaper).
   */
  async complete(
    tenantId: string,
    result: ScanResult,
    options: { trace?: TraceEvent[]; callbackOwedScore?: number } = {},
  ): Promise<boolean> {
    const now = Date.now();
    const stored = await this.redis.eval(
      COMPLETE_SCRIPT,
      4,
      this.keys.scan(tenantId, result.id),
      this.keys.pendingScans(),
      this.keys.tenantResults(tenantId),
      this.keys.trace(tenantId, result.id),
      JSON.stringify(result),
      pendingMember(tenantId, result.id),
      result.id,
      String(now),
      String(now - this.ttlSeconds * 1000),
      String(this.resultIndexMax),
      String(this.ttlSeconds),
      options.callbackOwedScore === undefined ? '' : String(options.callbackOwedScore),
      ...(options.trace ?? []).map((event) => JSON.stringify(event)),
    );
    return stored === 1;
  }

  /**
   * A page of the tenant's result index, oldest first: results completed within [fromMs, toMs],
   * starting `skip` entries into those scored `fromMs`. Members whose record has expired are
   * still returned (the caller finds no record); entries older than the TTL are trimmed first.
   */
  async listResults(
    tenantId: string,
    window: { fromMs: number; toMs: number; skip: number; limit: number },
  ): Promise<Array<{ id: string; completedMs: number }>> {
    const key = this.keys.tenantResults(tenantId);
    await this.redis.zremrangebyscore(key, '-inf', `(${Date.now() - this.ttlSeconds * 1000}`);
    const flat = await this.redis.zrangebyscore(
      key,
      window.fromMs,
      window.toMs,
      'WITHSCORES',
      'LIMIT',
      window.skip,
      window.limit,
    );
    const page: Array<{ id: string; completedMs: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      page.push({ id: flat[i]!, completedMs: Number(flat[i + 1]) });
    return page;
  }

  /** Replaces a finished scan's result if it is still `expected`; false when it changed or went. */
  async replaceResult(tenantId: string, expected: ScanResult, next: ScanResult): Promise<boolean> {
    const replaced = await this.redis.eval(
      REPLACE_RESULT_SCRIPT,
      1,
      this.keys.scan(tenantId, next.id),
      JSON.stringify(expected),
      JSON.stringify(next),
    );
    return replaced === 1;
  }

  /** Removes a scan's record and trace outright (a rescan's own scan, once its verdict is used). */
  async purge(tenantId: string, scanId: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.scan(tenantId, scanId), this.keys.trace(tenantId, scanId))
      .zrem(this.keys.pendingScans(), pendingMember(tenantId, scanId))
      .exec();
  }

  /** Deletes the result (and any pending work's future result); false when there is none. */
  async deleteResult(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.deleteScan(tenantId, scanId)) !== 'none';
  }

  /** Like deleteResult, telling whether the scan was still pending (its content may be spooled). */
  async deleteScan(tenantId: string, scanId: string): Promise<DeleteOutcome> {
    const outcome = await this.redis.eval(
      DELETE_SCRIPT,
      3,
      this.keys.scan(tenantId, scanId),
      this.keys.pendingScans(),
      this.keys.tenantResults(tenantId),
      pendingMember(tenantId, scanId),
      scanId,
    );
    return outcome === 2 ? 'pending' : outcome === 1 ? 'result' : 'none';
  }

  /** The state of each scan (undefined: no record, e.g. expired), in one round trip. */
  async states(tenantId: string, scanIds: string[]): Promise<Array<ScanState | undefined>> {
    if (scanIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const scanId of scanIds) pipeline.hget(this.keys.scan(tenantId, scanId), 'state');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, state]) => {
      if (error) throw error;
      return (state ?? undefined) as ScanState | undefined;
    });
  }

  /**
   * Claims up to `limit` scans of the pending index last touched at or before `cutoffMs`, for the
   * pending reaper; each is stamped now, so it comes up again only after another grace period.
   */
  async claimStalePending(
    cutoffMs: number,
    limit: number,
  ): Promise<Array<{ tenantId: string; scanId: string }>> {
    const members = (await this.redis.eval(
      CLAIM_STALE_SCRIPT,
      1,
      this.keys.pendingScans(),
      String(cutoffMs),
      String(limit),
      String(Date.now()),
    )) as string[];
    return members.flatMap((member) => {
      const [tenantId, scanId] = member.split(':');
      return tenantId && scanId ? [{ tenantId, scanId }] : [];
    });
  }

  /** Whether the scan is in the pending index (not finished, or its callback still owed). */
  async isPendingIndexed(tenantId: string, scanId: string): Promise<boolean> {
    return (
      (await this.redis.zscore(this.keys.pendingScans(), pendingMember(tenantId, scanId))) !== null
    );
  }

  /** Drops a scan from the pending index (its record expired or is no longer pending). */
  async forgetPending(tenantId: string, scanId: string): Promise<void> {
    await this.redis.zrem(this.keys.pendingScans(), pendingMember(tenantId, scanId));
  }

  async appendTrace(tenantId: string, scanId: string, message: string): Promise<void> {
    await this.appendTraceEvents(tenantId, scanId, [
      { timestamp: new Date().toISOString(), message },
    ]);
  }

  /**
   * Appends events stamped earlier (a scan's buffered ones), in one round trip. A pipeline, not a
   * MULTI: the TTL is set right behind the push, and a list left without one is only possible
   * if Redis stops between the two, where the record's own TTL still bounds what is visible.
   */
  async appendTraceEvents(tenantId: string, scanId: string, events: TraceEvent[]): Promise<void> {
    if (events.length === 0) return;
    const key = this.keys.trace(tenantId, scanId);
    const replies = await this.redis
      .pipeline()
      .rpush(key, ...events.map((event) => JSON.stringify(event)))
      .expire(key, this.ttlSeconds)
      .exec();
    const failed = (replies ?? []).find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  async getTrace(tenantId: string, scanId: string): Promise<TraceEvent[] | undefined> {
    const events = await this.redis.lrange(this.keys.trace(tenantId, scanId), 0, -1);
    return events.length > 0 ? events.map((e) => JSON.parse(e) as TraceEvent) : undefined;
  }

  async deleteTrace(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.redis.del(this.keys.trace(tenantId, scanId))) === 1;
  }
}

const pendingMember = (tenantId: string, scanId: string) => `${tenantId}:${scanId}`;

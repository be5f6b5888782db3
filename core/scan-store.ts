import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import type { ScanRecord, ScanRequest, ScanResult, ScanState, TraceEvent } from './results.js';

// Writes a result only while the scan is pending: a result deleted by its owner (or already
// written by an earlier attempt of the same job) is never resurrected by a late worker. The scan
// leaves the pending index in the same step. KEYS: scan, pending index. ARGV: result, member.
const COMPLETE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1`;

// A delete leaves a tombstone until the record would have expired anyway, so that a job still in
// flight sees "deleted" rather than "unknown" and drops its result. Returns 0 (nothing to
// delete), 1 (a result was deleted) or 2 (a pending scan was deleted).
const DELETE_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'deleted' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'deleted')
redis.call('HDEL', KEYS[1], 'result')
redis.call('ZREM', KEYS[2], ARGV[1])
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

/** What a delete found: nothing, a finished scan's result, or a scan still pending. */
export type DeleteOutcome = 'none' | 'result' | 'pending';

/** Scan requests, their results and their traces; every call is scoped by tenant. */
export class ScanStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
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
  async createPendingMany(entries: Array<{ request: ScanRequest; trace: string }>): Promise<void> {
    if (entries.length === 0) return;
    const now = Date.now();
    const timestamp = new Date(now).toISOString();
    const multi = this.redis.multi();
    for (const { request, trace } of entries) {
      const key = this.keys.scan(request.tenantId, request.id);
      const traceKey = this.keys.trace(request.tenantId, request.id);
      const event: TraceEvent = { timestamp, message: trace };
      multi
        .hset(key, { state: 'pending', request: JSON.stringify(request) })
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

  /** Stores the result; false when the scan was deleted or already has one. */
  async complete(tenantId: string, result: ScanResult): Promise<boolean> {
    const stored = await this.redis.eval(
      COMPLETE_SCRIPT,
      2,
      this.keys.scan(tenantId, result.id),
      this.keys.pendingScans(),
      JSON.stringify(result),
      pendingMember(tenantId, result.id),
    );
    return stored === 1;
  }

  /** Deletes the result (and any pending work's future result); false when there is none. */
  async deleteResult(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.deleteScan(tenantId, scanId)) !== 'none';
  }

  /** Like deleteResult, telling whether the scan was still pending (its content may be spooled). */
  async deleteScan(tenantId: string, scanId: string): Promise<DeleteOutcome> {
    const outcome = await this.redis.eval(
      DELETE_SCRIPT,
      2,
      this.keys.scan(tenantId, scanId),
      this.keys.pendingScans(),
      pendingMember(tenantId, scanId),
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

  /** Drops a scan from the pending index (its record expired or is no longer pending). */
  async forgetPending(tenantId: string, scanId: string): Promise<void> {
    await this.redis.zrem(this.keys.pendingScans(), pendingMember(tenantId, scanId));
  }

  async appendTrace(tenantId: string, scanId: string, message: string): Promise<void> {
    const event: TraceEvent = { timestamp: new Date().toISOString(), message };
    const key = this.keys.trace(tenantId, scanId);
    await this.redis.multi().rpush(key, JSON.stringify(event)).expire(key, this.ttlSeconds).exec();
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

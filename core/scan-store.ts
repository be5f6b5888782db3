import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import type { ScanRecord, ScanRequest, ScanResult, ScanState, TraceEvent } from './results.js';

// Writes a result only while the scan is pending: a result deleted by its owner (or already
// written by an earlier attempt of the same job) is never resurrected by a late worker.
const COMPLETE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[1])
return 1`;

// A delete leaves a tombstone until the record would have expired anyway, so that a job still in
// flight sees "deleted" rather than "unknown" and drops its result.
const DELETE_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'deleted' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'deleted')
redis.call('HDEL', KEYS[1], 'result')
return 1`;

/** Scan requests, their results and their traces; every call is scoped by tenant. */
export class ScanStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  async createPending(request: ScanRequest): Promise<void> {
    const key = this.keys.scan(request.tenantId, request.id);
    await this.redis
      .multi()
      .hset(key, { state: 'pending', request: JSON.stringify(request) })
      .expire(key, this.ttlSeconds)
      .exec();
  }

  /** Many pending scans, each with its first trace event, in one round trip (bulk submissions). */
  async createPendingMany(entries: Array<{ request: ScanRequest; trace: string }>): Promise<void> {
    if (entries.length === 0) return;
    const timestamp = new Date().toISOString();
    const multi = this.redis.multi();
    for (const { request, trace } of entries) {
      const key = this.keys.scan(request.tenantId, request.id);
      const traceKey = this.keys.trace(request.tenantId, request.id);
      const event: TraceEvent = { timestamp, message: trace };
      multi
        .hset(key, { state: 'pending', request: JSON.stringify(request) })
        .expire(key, this.ttlSeconds)
        .rpush(traceKey, JSON.stringify(event))
        .expire(traceKey, this.ttlSeconds);
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
      1,
      this.keys.scan(tenantId, result.id),
      JSON.stringify(result),
    );
    return stored === 1;
  }

  /** Deletes the result (and any pending work's future result); false when there is none. */
  async deleteResult(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.redis.eval(DELETE_SCRIPT, 1, this.keys.scan(tenantId, scanId))) === 1;
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

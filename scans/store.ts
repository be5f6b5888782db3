import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import {
  RESULT_OUTCOMES,
  resultOutcome,
  type ResultOutcome,
  type ScanRecord,
  type ScanRequest,
  type ScanResult,
  type ScanState,
  type TraceEvent,
} from './results.js';
import { hourStamp, resultStatFields, STATS_TTL_SECONDS, type CallbackStat } from './stats.js';

/** The tenant result index keeps at most this many results (the newest). */
export const DEFAULT_RESULT_INDEX_MAX = 100_000;

/** A scan keeps the records of its newest this many callback attempts. */
export const CALLBACK_ATTEMPTS_KEPT = 50;

/** One callback attempt, as `GET /v1/scans/{id}/callbacks` lists it. */
export interface CallbackAttemptRecord {
  /** 1-based within its delivery (a redelivery counts from 1 again). */
  attempt: number;
  /** n for the scan's n-th redelivery; absent for the first delivery. */
  redelivery?: number;
  /** When the attempt ended (ISO 8601). */
  at: string;
  /** The receiver's origin (scheme, host, port): never the path or query, which may hold secrets. */
  url_origin: string;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** Why no status, or why it was not sent. */
  error?: string;
  latency_ms: number;
}

/** A place in a tenant's result index: a result's id and completion time (ms). */
export interface IndexPosition {
  id: string;
  completedMs: number;
}

/** A scan to write as pending, with its first trace event; `unlisted`: kept out of the result index. */
export interface PendingEntry {
  request: ScanRequest;
  trace: string;
  unlisted?: boolean;
}

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
   * Writes a pending scan and indexes it (in one MULTI, one tenant's keys) for the pending
   * reaper, which resolves pending scans whose job was never queued (a process killed between
   * this and enqueueScan).
   */
  async createPending(request: ScanRequest): Promise<void> {
    const key = this.keys.scan(request.tenantId, request.id);
    await this.redis
      .multi()
      .hset(key, { state: 'pending', request: JSON.stringify(request) })
      .expire(key, this.ttlSeconds)
      .zadd(this.keys.pendingScans(request.tenantId), Date.now(), request.id)
      .exec();
  }

  /**
   * Many pending scans, each with its first trace event (bulk submissions): one MULTI per tenant,
   * as a MULTI may only hold keys of one slot (one tenant's, with hash tags).
   */
  async createPendingMany(entries: PendingEntry[]): Promise<void> {
    const byTenant = new Map<string, PendingEntry[]>();
    for (const entry of entries) {
      const group = byTenant.get(entry.request.tenantId);
      if (group) group.push(entry);
      else byTenant.set(entry.request.tenantId, [entry]);
    }
    await Promise.all([...byTenant.values()].map((group) => this.createPendingOfTenant(group)));
  }

  private async createPendingOfTenant(entries: PendingEntry[]): Promise<void> {
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
        .zadd(this.keys.pendingScans(request.tenantId), now, request.id);
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
    const latencyMs = now - Date.parse(result.creation_date);
    const stored = await this.redis.scanComplete(
      8,
      this.keys.scan(tenantId, result.id),
      this.keys.pendingScans(tenantId),
      this.keys.tenantResults(tenantId),
      this.keys.trace(tenantId, result.id),
      ...this.outcomeKeys(tenantId),
      this.keys.stats(tenantId, hourStamp(now)),
      JSON.stringify(result),
      result.id,
      result.id,
      String(now),
      String(now - this.ttlSeconds * 1000),
      String(this.resultIndexMax),
      String(this.ttlSeconds),
      options.callbackOwedScore === undefined ? '' : String(options.callbackOwedScore),
      resultOutcome(result),
      String(STATS_TTL_SECONDS),
      resultStatFields(result, latencyMs).join(' '),
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

  /**
   * Up to `limit` entries of the tenant's result index completed at or after `sinceMs`, oldest
   * first: one read, no trim (live events ask every second; listResults trims).
   */
  async completedSince(tenantId: string, sinceMs: number, limit: number): Promise<IndexPosition[]> {
    const flat = await this.redis.zrangebyscore(
      this.keys.tenantResults(tenantId),
      sinceMs,
      '+inf',
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const page: IndexPosition[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      page.push({ id: flat[i]!, completedMs: Number(flat[i + 1]) });
    return page;
  }

  /** Replaces a finished scan's result if it is still `expected`; false when it changed or went. */
  async replaceResult(tenantId: string, expected: ScanResult, next: ScanResult): Promise<boolean> {
    const replaced = await this.redis.scanReplaceResult(
      5,
      this.keys.scan(tenantId, next.id),
      this.keys.tenantResults(tenantId),
      ...this.outcomeKeys(tenantId),
      JSON.stringify(expected),
      JSON.stringify(next),
      next.id,
      resultOutcome(next),
    );
    return replaced === 1;
  }

  /** Removes a scan's record and trace outright (a rescan's own scan, once its verdict is used). */
  async purge(tenantId: string, scanId: string): Promise<void> {
    await this.redis
      .multi()
      .del(
        this.keys.scan(tenantId, scanId),
        this.keys.trace(tenantId, scanId),
        this.keys.callbacks(tenantId, scanId),
      )
      .zrem(this.keys.pendingScans(tenantId), scanId)
      .exec();
  }

  /** Deletes the result (and any pending work's future result); false when there is none. */
  async deleteResult(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.deleteScan(tenantId, scanId)) !== 'none';
  }

  /** Like deleteResult, telling whether the scan was still pending (its content may be spooled). */
  async deleteScan(tenantId: string, scanId: string): Promise<DeleteOutcome> {
    const outcome = await this.redis.scanDelete(
      7,
      this.keys.scan(tenantId, scanId),
      this.keys.pendingScans(tenantId),
      this.keys.tenantResults(tenantId),
      ...this.outcomeKeys(tenantId),
      this.keys.callbacks(tenantId, scanId),
      scanId,
      scanId,
    );
    return outcome === 2 ? 'pending' : outcome === 1 ? 'result' : 'none';
  }

  /** The outcome indexes of a tenant, in the order the Lua scripts take them. */
  private outcomeKeys(tenantId: string): string[] {
    return RESULT_OUTCOMES.map((outcome) => this.keys.tenantResultsByOutcome(tenantId, outcome));
  }

  /**
   * Up to `limit` entries of the tenant's result index (or of one outcome's), newest first,
   * strictly after `after` in that order (completion time, then id, both descending), so that
   * pages never repeat or skip an entry while others are added or removed. Entries older than
   * the TTL are trimmed first; an entry whose record has expired is still returned.
   */
  async listNewest(
    tenantId: string,
    query: { outcome?: ResultOutcome; after?: IndexPosition; limit: number },
  ): Promise<IndexPosition[]> {
    const key = query.outcome
      ? this.keys.tenantResultsByOutcome(tenantId, query.outcome)
      : this.keys.tenantResults(tenantId);
    await this.redis.zremrangebyscore(key, '-inf', `(${Date.now() - this.ttlSeconds * 1000}`);
    const { after, limit } = query;
    // Entries tied with the cursor's time come in descending id order: those below its id follow.
    const tied = after
      ? (await this.redis.zrevrangebyscore(key, after.completedMs, after.completedMs))
          .filter((id) => id < after.id)
          .slice(0, limit)
          .map((id) => ({ id, completedMs: after.completedMs }))
      : [];
    if (tied.length >= limit) return tied;
    const flat = await this.redis.zrevrangebyscore(
      key,
      after ? `(${after.completedMs}` : '+inf',
      '-inf',
      'WITHSCORES',
      'LIMIT',
      0,
      limit - tied.length,
    );
    const page = tied;
    for (let i = 0; i + 1 < flat.length; i += 2)
      page.push({ id: flat[i]!, completedMs: Number(flat[i + 1]) });
    return page;
  }

  /** The stored results of the scans given (undefined: expired, deleted or pending), pipelined. */
  async results(tenantId: string, scanIds: string[]): Promise<Array<ScanResult | undefined>> {
    if (scanIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const scanId of scanIds)
      pipeline.hmget(this.keys.scan(tenantId, scanId), 'state', 'result');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error) throw error;
      const [state, result] = reply as Array<string | null>;
      return state === 'done' && result ? (JSON.parse(result) as ScanResult) : undefined;
    });
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
   * Claims up to `limit` of the tenant's pending scans last touched at or before `cutoffMs`, for
   * the pending reaper; each is stamped now, so it comes up again only after another grace period.
   */
  async claimStalePending(tenantId: string, cutoffMs: number, limit: number): Promise<string[]> {
    return (await this.redis.scanClaimStalePending(
      1,
      this.keys.pendingScans(tenantId),
      String(cutoffMs),
      String(limit),
      String(Date.now()),
    )) as string[];
  }

  /**
   * How many of each tenant's pending-index entries were last touched at or before `cutoffMs`,
   * asked of every tenant at once (read-only, so the pending reaper can skip the tenants with
   * nothing stale without one round trip each).
   */
  async countStalePending(tenantIds: string[], cutoffMs: number): Promise<number[]> {
    return Promise.all(
      tenantIds.map((tenantId) =>
        this.redis.zcount(this.keys.pendingScans(tenantId), '-inf', cutoffMs),
      ),
    );
  }

  /**
   * Moves up to `limit` entries of the global pending index older versions wrote into their
   * tenants' indexes, keeping their scores; returns how many entries it took (0: it is empty).
   * Each entry is added to its tenant's index (only while its scan record exists, and never over
   * an entry already there) before it leaves the global one, so a crash in between only leaves
   * it to be moved again. A scan finished by an upgraded process while its entry was still in
   * the global index is moved too, and the reaper then queues its callback once more: callbacks
   * are delivered at least once, and this happens only across an upgrade.
   */
  async adoptLegacyPending(limit: number): Promise<number> {
    const legacy = this.keys.legacyPendingScans();
    const flat = await this.redis.zrange(legacy, '0', String(limit - 1), 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i]!;
      const [tenantId, scanId] = member.split(':');
      if (tenantId && scanId) {
        await this.redis.scanPendingAdopt(
          2,
          this.keys.scan(tenantId, scanId),
          this.keys.pendingScans(tenantId),
          scanId,
          flat[i + 1]!,
        );
      }
      await this.redis.zrem(legacy, member);
    }
    return flat.length / 2;
  }

  /** Whether the scan is in the pending index (not finished, or its callback still owed). */
  async isPendingIndexed(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.pendingScans(tenantId), scanId)) !== null;
  }

  /** Drops a scan from the pending index (its record expired or is no longer pending). */
  async forgetPending(tenantId: string, scanId: string): Promise<void> {
    await this.redis.zrem(this.keys.pendingScans(tenantId), scanId);
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

  /**
   * One callback attempt, in one pipeline: its line in the trace, its record in the scan's list
   * of attempts, and the tenant's hourly counter of delivered or failed attempts.
   */
  async recordCallbackAttempt(
    tenantId: string,
    scanId: string,
    attempt: { trace: string; record: CallbackAttemptRecord; stat?: CallbackStat },
  ): Promise<void> {
    await this.appendCallbackAttempts(tenantId, scanId, {
      trace: [{ timestamp: new Date().toISOString(), message: attempt.trace }],
      attempts: [attempt],
    });
  }

  /**
   * Trace events and callback attempts made earlier (the inline attempt buffers them), in one
   * pipeline. The list of attempts keeps the newest CALLBACK_ATTEMPTS_KEPT, expires like the
   * trace and goes with the result; each attempt bumps its hour's counter (scans/stats.ts).
   */
  async appendCallbackAttempts(
    tenantId: string,
    scanId: string,
    entries: {
      trace: TraceEvent[];
      attempts: Array<{ record: CallbackAttemptRecord; stat?: CallbackStat }>;
    },
  ): Promise<void> {
    const traceKey = this.keys.trace(tenantId, scanId);
    const listKey = this.keys.callbacks(tenantId, scanId);
    const pipeline = this.redis.pipeline();
    if (entries.trace.length > 0)
      pipeline
        .rpush(traceKey, ...entries.trace.map((event) => JSON.stringify(event)))
        .expire(traceKey, this.ttlSeconds);
    for (const { record, stat } of entries.attempts) {
      pipeline.rpush(listKey, JSON.stringify(record));
      if (!stat) continue;
      const statsKey = this.keys.stats(tenantId, hourStamp(Date.parse(record.at)));
      pipeline.hincrby(statsKey, stat, 1).expire(statsKey, STATS_TTL_SECONDS);
    }
    if (entries.attempts.length > 0)
      pipeline.ltrim(listKey, -CALLBACK_ATTEMPTS_KEPT, -1).expire(listKey, this.ttlSeconds);
    if (pipeline.length === 0) return;
    const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  /** The scan's callback attempts, oldest first (an empty list when there were none). */
  async callbackAttempts(tenantId: string, scanId: string): Promise<CallbackAttemptRecord[]> {
    const entries = await this.redis.lrange(this.keys.callbacks(tenantId, scanId), 0, -1);
    return entries.map((entry) => JSON.parse(entry) as CallbackAttemptRecord);
  }

  async getTrace(tenantId: string, scanId: string): Promise<TraceEvent[] | undefined> {
    const events = await this.redis.lrange(this.keys.trace(tenantId, scanId), 0, -1);
    return events.length > 0 ? events.map((e) => JSON.parse(e) as TraceEvent) : undefined;
  }

  async deleteTrace(tenantId: string, scanId: string): Promise<boolean> {
    return (await this.redis.del(this.keys.trace(tenantId, scanId))) === 1;
  }
}

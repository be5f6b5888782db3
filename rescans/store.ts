import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import {
  ACTIVE_RESCAN_STATES,
  type RescanCounters,
  type RescanState,
  type RescanView,
} from './schema.js';

/** What a rescan was asked to do, fixed at creation. */
export interface RescanDefinition {
  older_than: string;
  databases: string[];
  findings: 'clean' | 'any';
  from: string;
  to: string;
}

/**
 * Where the listing stands: the next page to read is `page`, starting `skip` entries into the
 * results scored `fromMs` (several results can finish in the same millisecond).
 */
export interface RescanCursor {
  page: number;
  fromMs: number;
  skip: number;
}

export interface RescanRecord extends RescanDefinition {
  id: string;
  tenantId: string;
  state: RescanState;
  cursor: RescanCursor;
  listingDone: boolean;
  counters: RescanCounters;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  lastError?: string;
  error?: string;
}

/** Counter fields of the rescan hash (`c:*`, skip reasons `s:*`). */
export type CounterField = `c:${Exclude<keyof RescanCounters, 'skipped'>}` | `s:${string}`;

const COUNTERS = ['listed', 'matched', 'queued', 'rescanned', 'changed', 'errors'] as const;

/** Rescans of a tenant: definition, state, counters, listing checkpoint and the items in flight. */
export class RescanStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** Creates a rescan (state `listing`); returns the id of the one still running instead, if any. */
  async create(
    tenantId: string,
    id: string,
    definition: RescanDefinition,
  ): Promise<{ created: true } | { created: false; running: string }> {
    const now = new Date();
    const cursor: RescanCursor = { page: 0, fromMs: Date.parse(definition.from), skip: 0 };
    const fields: Record<string, string> = {
      id,
      definition: JSON.stringify(definition),
      state: 'listing',
      cursor: JSON.stringify(cursor),
      listing_done: '0',
      created_at: now.toISOString(),
    };
    for (const counter of COUNTERS) fields[`c:${counter}`] = '0';
    const active = this.keys.rescanActive(tenantId);
    const running = (await this.redis.rescanCreate(
      4,
      active,
      this.keys.rescan(tenantId, id),
      this.keys.tenantRescans(tenantId),
      // The rescan the marker names (read by the script through KEYS[4]).
      this.keys.rescan(tenantId, (await this.redis.get(active)) ?? id),
      id,
      JSON.stringify(fields),
      String(now.getTime()),
      String(this.ttlSeconds),
      JSON.stringify(ACTIVE_RESCAN_STATES),
    )) as string | null;
    return running ? { created: false, running } : { created: true };
  }

  async get(tenantId: string, id: string): Promise<RescanRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.rescan(tenantId, id));
    if (!raw.definition || !raw.state || !raw.cursor) return undefined;
    const counters: RescanCounters = {
      listed: 0,
      matched: 0,
      queued: 0,
      rescanned: 0,
      changed: 0,
      errors: 0,
      skipped: {},
    };
    for (const counter of COUNTERS) counters[counter] = Number(raw[`c:${counter}`] ?? 0);
    for (const [field, value] of Object.entries(raw))
      if (field.startsWith('s:')) counters.skipped[field.slice(2)] = Number(value);
    const record: RescanRecord = {
      ...(JSON.parse(raw.definition) as RescanDefinition),
      id,
      tenantId,
      state: raw.state as RescanState,
      cursor: JSON.parse(raw.cursor) as RescanCursor,
      listingDone: raw.listing_done === '1',
      counters,
      createdAt: raw.created_at ?? '',
    };
    if (raw.started_at) record.startedAt = raw.started_at;
    if (raw.finished_at) record.finishedAt = raw.finished_at;
    if (raw.last_error) record.lastError = raw.last_error;
    if (raw.error) record.error = raw.error;
    return record;
  }

  /** The tenant's rescans, newest first. */
  async list(tenantId: string, limit: number): Promise<RescanRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.tenantRescans(tenantId), 0, limit - 1);
    const records = await Promise.all(ids.map((id) => this.get(tenantId, id)));
    return records.filter((record): record is RescanRecord => record !== undefined);
  }

  async state(tenantId: string, id: string): Promise<RescanState | undefined> {
    return ((await this.redis.hget(this.keys.rescan(tenantId, id), 'state')) ?? undefined) as
      RescanState | undefined;
  }

  async markStarted(tenantId: string, id: string): Promise<void> {
    await this.redis.hsetnx(this.keys.rescan(tenantId, id), 'started_at', new Date().toISOString());
  }

  /** Marks every listed page done: from now on the rescan is only waiting for its scans. */
  async markScanning(tenantId: string, id: string): Promise<void> {
    // Only a rescan still listing moves on (a cancelled one stays cancelled).
    await this.redis.rescanMarkScanning(1, this.keys.rescan(tenantId, id));
  }

  async checkpoint(
    tenantId: string,
    id: string,
    page: number,
    next: RescanCursor,
    listingDone: boolean,
    increments: Partial<Record<CounterField, number>>,
  ): Promise<boolean> {
    const args: string[] = [];
    for (const [field, amount] of Object.entries(increments))
      if (amount) args.push(field, String(amount));
    const recorded = await this.redis.rescanCheckpoint(
      1,
      this.keys.rescan(tenantId, id),
      String(page),
      JSON.stringify(next),
      listingDone ? '1' : '0',
      ...args,
    );
    return recorded === 1;
  }

  /** Records the scans queued for results (result id → scan id) before they are created. */
  async addInflight(tenantId: string, id: string, items: Map<string, string>): Promise<void> {
    if (items.size === 0) return;
    const key = this.keys.rescanInflight(tenantId, id);
    await this.redis
      .multi()
      .hset(key, Object.fromEntries(items))
      .expire(key, this.ttlSeconds)
      .exec();
  }

  /** Results being rescanned: result id → the rescan's scan id. */
  async inflight(tenantId: string, id: string): Promise<Map<string, string>> {
    return new Map(
      Object.entries(await this.redis.hgetall(this.keys.rescanInflight(tenantId, id))),
    );
  }

  /** Whether each result already has its outcome counted (a page listed again after a resume). */
  async settled(tenantId: string, id: string, resultIds: string[]): Promise<boolean[]> {
    if (resultIds.length === 0) return [];
    const replies = await this.redis.hmget(this.keys.rescanSettled(tenantId, id), ...resultIds);
    return replies.map((reply) => reply !== null);
  }

  /** Counts an item's outcome once; false when it was already counted. */
  async settle(
    tenantId: string,
    id: string,
    resultId: string,
    outcome: string,
    fields: CounterField[],
  ): Promise<boolean> {
    const counted = await this.redis.rescanSettle(
      3,
      this.keys.rescan(tenantId, id),
      this.keys.rescanInflight(tenantId, id),
      this.keys.rescanSettled(tenantId, id),
      resultId,
      outcome,
      String(this.ttlSeconds),
      ...fields,
    );
    return counted === 1;
  }

  async noteError(tenantId: string, id: string, message: string): Promise<void> {
    await this.redis.hset(this.keys.rescan(tenantId, id), 'last_error', message.slice(0, 500));
  }

  /** Ends a running rescan (completed, failed or cancelled); false if it had already ended. */
  async end(
    tenantId: string,
    id: string,
    state: Exclude<RescanState, 'listing' | 'scanning'>,
    error?: string,
  ): Promise<boolean> {
    const ended = await this.redis.rescanEnd(
      2,
      this.keys.rescan(tenantId, id),
      this.keys.rescanActive(tenantId),
      state,
      new Date().toISOString(),
      error ?? '',
      id,
    );
    return ended === 1;
  }
}

export function rescanView(record: RescanRecord): RescanView {
  const view: RescanView = {
    id: record.id,
    state: record.state,
    older_than: record.older_than,
    databases: record.databases,
    findings: record.findings,
    from: record.from,
    to: record.to,
    counters: record.counters,
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    finished_at: record.finishedAt ?? null,
  };
  if (record.lastError) view.last_error = record.lastError;
  if (record.error) view.error = record.error;
  return view;
}

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Worker processes announce themselves for `GET /admin/workers`: each writes its state to a key
 * of its own (`{p}:worker:{id}`) every heartbeat, with a TTL of three heartbeats, and its id in
 * one index (`{p}:workers`, scored by the last heartbeat) so the list is read without SCAN (which
 * a Cluster would need on every primary). A process stopped cleanly removes both; a process
 * killed shows as stale once it missed more than one heartbeat and disappears when its key
 * expires (its index entry is dropped by the next reader that finds the key gone).
 */
export interface WorkerEngine {
  name: string;
  version: string;
  signatures?: number;
}

/** What a worker process reports of itself on each heartbeat. */
export interface WorkerState {
  jobs_in_progress: number;
  concurrency: number;
  engines: WorkerEngine[];
}

export interface WorkerView extends WorkerState {
  id: string;
  host: string;
  pid: number;
  started: string;
  last_seen: string;
  status: 'alive' | 'stale';
}

export class WorkerHeartbeats {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly intervalMs: number,
  ) {}

  /**
   * Starts beating for this process, at once and then every interval; the returned function
   * stops and removes the process's entry. A beat that fails (Redis away) is tried at the next.
   */
  start(state: () => WorkerState, onError: (error: unknown) => void): () => Promise<void> {
    const id = randomUUID();
    const identity = { id, host: hostname(), pid: process.pid, started: new Date().toISOString() };
    const beat = () =>
      this.write(id, { ...identity, ...state(), last_seen: new Date().toISOString() }).catch(
        onError,
      );
    void beat();
    const timer = setInterval(() => void beat(), this.intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.redis.del(this.keys.worker(id));
      await this.redis.zrem(this.keys.workers(), id);
    };
  }

  private async write(id: string, view: Omit<WorkerView, 'status'>): Promise<void> {
    // Two commands, not a MULTI: the index is global, the key its own (two slots on a Cluster).
    await this.redis.set(this.keys.worker(id), JSON.stringify(view), 'PX', 3 * this.intervalMs);
    await this.redis.zadd(this.keys.workers(), Date.parse(view.last_seen), id);
  }

  /** Every worker whose key is still there, newest heartbeat first. */
  async list(now = Date.now()): Promise<WorkerView[]> {
    const ids = await this.redis.zrevrange(this.keys.workers(), 0, -1);
    const raws = await Promise.all(ids.map((id) => this.redis.get(this.keys.worker(id))));
    const gone = ids.filter((_, i) => raws[i] === null);
    if (gone.length > 0) await this.redis.zrem(this.keys.workers(), ...gone);
    return raws.flatMap((raw) => {
      if (raw === null) return [];
      const view = JSON.parse(raw) as Omit<WorkerView, 'status'>;
      const age = now - Date.parse(view.last_seen);
      const status: WorkerView['status'] = age > 1.5 * this.intervalMs ? 'stale' : 'alive';
      return [{ ...view, status }];
    });
  }
}

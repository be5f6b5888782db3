import type { Queue } from 'bullmq';

/**
 * How deep each queue is and how long its next job has waited: what `/metrics` reports on every
 * scrape (core/metrics.ts) and what operators read from `GET /admin/queues` and the `queues`
 * events of `GET /admin/events`.
 */

/** Prioritized jobs looked at for the oldest waiting age (see oldestWaiting). */
export const PRIORITIZED_LOOKED_AT = 20;

export type WatchedQueue = Pick<Queue, 'name' | 'getJobCounts' | 'getJobs'>;

/**
 * Bounded: the plain waiting list has its oldest job at the tail (one LRANGE), and prioritized
 * jobs (scan jobs carry their tenant's fairness rank) run lowest score first, so the oldest of
 * the first few is the one that has waited longest among those about to run. At most
 * 1 + PRIORITIZED_LOOKED_AT small job hashes are read per queue and call.
 */
export async function oldestWaiting(queue: Pick<Queue, 'getJobs'>): Promise<number | undefined> {
  const [waiting, prioritized] = await Promise.all([
    queue.getJobs(['wait'], 0, 0, true),
    queue.getJobs(['prioritized'], 0, PRIORITIZED_LOOKED_AT - 1, true),
  ]);
  const timestamps = [...waiting, ...prioritized].map((job) => job.timestamp);
  return timestamps.length > 0 ? Math.min(...timestamps) : undefined;
}

/** One queue's state as operators see it. Waiting includes prioritized jobs (both wait to run). */
export interface QueueDepth {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  /** Seconds the job next in line has waited; 0 when none waits. */
  oldest_waiting_seconds: number;
}

export async function queueDepths(
  queues: WatchedQueue[],
  now: () => number = Date.now,
): Promise<QueueDepth[]> {
  return Promise.all(
    queues.map(async (queue) => {
      const [counts, oldest] = await Promise.all([
        queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'),
        oldestWaiting(queue),
      ]);
      const count = (state: string) => counts[state] ?? 0;
      return {
        name: queue.name,
        waiting: count('waiting') + count('prioritized'),
        active: count('active'),
        delayed: count('delayed'),
        failed: count('failed'),
        completed: count('completed'),
        oldest_waiting_seconds:
          oldest === undefined ? 0 : Math.max(0, Math.round((now() - oldest) / 100) / 10),
      };
    }),
  );
}

import type { Logger } from '../../core/logger.js';

/**
 * Background chores of a process (the spool sweeper, the pending reaper): each runs once at
 * start and then every `intervalMs`, counted from the end of the previous run, so one process
 * never runs the same chore twice at once. A run that throws is logged and the chore carries on
 * at its next turn (Redis away for a while is no reason to stop sweeping for good).
 */
export interface Chore {
  name: string;
  intervalMs: number;
  /**
   * Spread of the interval, as a fraction (0.1: each wait is 90–110 % of `intervalMs`), so a
   * fleet started together does not run the chore (say, hit a download mirror) all at once.
   */
  jitter?: number;
  /** `signal` is aborted at shutdown: a run stops at its next file or scan, leaving the rest. */
  run(signal: AbortSignal): Promise<void>;
}

export interface Housekeeping {
  /** Cancels the next runs, asks the ones in progress to stop early and waits for them. */
  stop(): Promise<void>;
}

export function startHousekeeping(chores: Chore[], logger: Logger): Housekeeping {
  let stopped = false;
  const shutdown = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  const turn = (chore: Chore) => {
    if (stopped) return;
    const run = chore
      .run(shutdown.signal)
      .catch((error: unknown) => {
        if (!stopped) logger.warn({ err: error, chore: chore.name }, 'chore failed');
      })
      .finally(() => {
        running.delete(run);
        schedule(chore);
      });
    running.add(run);
  };
  const schedule = (chore: Chore) => {
    if (stopped) return;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        turn(chore);
      },
      jittered(chore.intervalMs, chore.jitter ?? 0),
    );
    // Chores never keep a process alive on their own.
    timer.unref();
    timers.add(timer);
  };

  for (const chore of chores) turn(chore);
  return {
    async stop() {
      stopped = true;
      shutdown.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}

/** `intervalMs` spread by ±`jitter` (a fraction) at random; at least 1 ms. */
export function jittered(intervalMs: number, jitter: number): number {
  return Math.max(1, Math.round(intervalMs * (1 + jitter * (2 * Math.random() - 1))));
}

import type { Worker } from 'bullmq';

/**
 * Stops taking jobs, lets the jobs in flight finish, then closes.
 *
 * BullMQ's close() interrupts the worker's blocking connection and waits for its `end` event.
 * When that connection is reconnecting after a Redis restart, ioredis never emits it and close()
 * would wait forever (BullMQ #4656). So: wait for a reconnecting connection to come back first,
 * and if close() still has not returned a few seconds after the last job finished (seen under
 * heavy load), deliver the missing `end` ourselves: nothing is in flight any more, so nothing
 * can be lost. A Redis that never comes back is covered by the shutdown deadline (cli/serve.ts).
 */
export async function closeWorker<D, R, N extends string>(
  worker: Worker<D, R, N>,
  jobs: InFlight,
): Promise<void> {
  await worker.pause(true);
  const blocking = await worker.backend.blockingConnection?.client;
  if (blocking?.status === 'reconnecting') {
    await new Promise<void>((resolve) => {
      blocking.once('ready', () => resolve());
      blocking.once('end', () => resolve());
    });
  }
  const closing = worker.close();
  await jobs.idle();
  const closed = await Promise.race([
    closing.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CLOSE_GRACE_MS).unref()),
  ]);
  if (!closed) {
    blocking?.emit('end');
    await closing;
  }
}

const CLOSE_GRACE_MS = 5000;

/** Counts the jobs a processor is running, so shutdown can wait for exactly those. */
export class InFlight {
  private running = 0;
  private waiters: Array<() => void> = [];

  track<A extends unknown[], R>(processor: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      this.running += 1;
      try {
        return await processor(...args);
      } finally {
        this.running -= 1;
        if (this.running === 0) this.waiters.splice(0).forEach((wake) => wake());
      }
    };
  }

  /** Jobs running now. */
  get count(): number {
    return this.running;
  }

  idle(): Promise<void> {
    return this.running === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.waiters.push(resolve));
  }
}

import { expect } from 'vitest';
import type { CallbackReceiver } from './http-servers.js';
import { waitFor } from './wait.js';

/**
 * A bounded load generator for resilience tests: `count` calls of `send(i)`, started at a steady
 * pace (`perTick` calls every `tickMs`) with at most `maxInFlight` outstanding. It stops by itself
 * once every call has settled; a call that throws is recorded, not rethrown. Traffic goes where
 * `send` sends it: tests aim it at 127.0.0.1 only.
 */
export interface PacedLoadOptions {
  count: number;
  perTick: number;
  tickMs: number;
  maxInFlight?: number;
  /** Called before call `i` is started (e.g. to kill a dependency at a point of the run). */
  beforeEach?: (i: number) => void;
  /** Checked before each call: once it is true no more calls start (`count` is then a maximum). */
  until?: () => boolean;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export async function pacedLoad<T>(
  options: PacedLoadOptions,
  send: (i: number) => Promise<T>,
): Promise<Array<Settled<T>>> {
  const { count, perTick, tickMs, maxInFlight = 64, beforeEach, until } = options;
  const results: Array<Settled<T>> = [];
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i += 1) {
    if (i > 0 && i % perTick === 0) await new Promise((resolve) => setTimeout(resolve, tickMs));
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (until?.()) break;
    beforeEach?.(i);
    const call: Promise<void> = send(i).then(
      (value) => {
        results[i] = { ok: true, value };
      },
      (error: unknown) => {
        results[i] = { ok: false, error };
      },
    );
    const tracked = call.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);
  return results;
}

/** Counts of each value, e.g. of HTTP statuses: `{ 202: 380, 503: 20 }`. */
export function tally<T extends string | number>(values: T[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

/**
 * Waits until every accepted scan has its result (read with `read`, the result's checksum the
 * payload's) and at least one callback at `receiver`: what "no accepted request is lost" means.
 */
export async function waitForEveryAcceptedScan(
  accepted: string[],
  options: {
    read: (path: string) => Promise<Response>;
    checksum: string;
    receiver: Pick<CallbackReceiver, 'deliveries'>;
  },
): Promise<void> {
  const pending = new Set(accepted);
  await waitFor(
    async () => {
      for (const id of [...pending]) {
        const response = await options.read(`/files/${id}`);
        if (response.status !== 200) return false;
        expect(await response.json()).toMatchObject({ id, checksum: options.checksum });
        pending.delete(id);
      }
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `results of ${accepted.length} accepted scans` },
  );
  const called = (id: string) => options.receiver.deliveries.some((d) => d.json.id === id);
  await waitFor(() => accepted.every(called), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: `callbacks of ${accepted.length} accepted scans`,
  });
}

/** A request's answer with when it was sent and answered (what resilience tests tally). */
export interface TimedAnswer {
  status: number;
  body: { id?: string; error?: string };
  startedAt: number;
  endedAt: number;
}

/** Sends one request and times it, its JSON body read. */
export async function timedAnswer(send: () => Promise<Response>): Promise<TimedAnswer> {
  const startedAt = Date.now();
  const response = await send();
  const body = (await response.json()) as TimedAnswer['body'];
  return { status: response.status, body, startedAt, endedAt: Date.now() };
}

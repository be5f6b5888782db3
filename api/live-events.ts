import type { Request, Response } from 'express';
import { DomainError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { queueDepths, type WatchedQueue } from '../core/queue-depth.js';
import type { WorkerHeartbeats } from '../core/worker-heartbeats.js';
import type { RetroJobRecord, RetroJobStore } from '../s3/retro/jobs.js';
import { resultOutcome } from '../scans/results.js';
import type { ScanStore } from '../scans/store.js';

/**
 * Server-sent events (`GET /v1/events`, `GET /admin/events`). A scan completes on a worker node
 * and the browser is connected to an API node, and Redis may be one server, Sentinel or a
 * Cluster: so nothing is published. Each API process keeps ONE ticker per tenant that has an
 * open stream on it (and one for all operator streams), which reads the compact state that is
 * already in Redis and sends only what changed to every stream of that tenant:
 *
 * - `scan`: results that entered the tenant's result index since the last tick (one range read
 *   per tick; the results themselves only when there are new ones);
 * - `job`: the tenant's newest retro jobs (one pipelined read per tick), sent when their counters
 *   or state changed;
 * - `queues` and `workers` (operators, every 2 s): per queue its depth and oldest waiting age,
 *   and the worker heartbeats.
 *
 * Cost: per tenant with streams open, about two Redis round trips a second whatever the number
 * of its streams; nothing at all for tenants without one. A heartbeat comment every 15 s keeps
 * proxies from closing a quiet stream; `retry:` tells the browser when to reconnect.
 */
export interface LiveEventsDeps {
  scans: Pick<ScanStore, 'completedSince' | 'results'>;
  retroJobs: Pick<RetroJobStore, 'list'>;
  queues: WatchedQueue[];
  heartbeats: Pick<WorkerHeartbeats, 'list'>;
  logger: Logger;
  /** Open streams allowed per tenant (and for all operators together) in this process. */
  maxStreamsPerTenant?: number;
  tenantTickMs?: number;
  operatorTickMs?: number;
  heartbeatMs?: number;
}

const RETRY_MS = 3_000;
/** Retro jobs looked at per tick: the newest, which are the ones a console shows running. */
const JOBS_WATCHED = 20;
/** Results sent per tick at most (a burst beyond comes on the next ticks). */
const SCANS_PER_TICK = 100;

/** One open stream. */
class Stream {
  constructor(private readonly res: Response) {}

  send(event: string, data: unknown): void {
    this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): void {
    this.res.write(`: ${text}\n\n`);
  }

  /** Ends the stream and its connection (a keep-alive connection would hold the server's close). */
  end(): void {
    this.res.end(() => this.res.socket?.destroy());
  }
}

/** The streams of one tenant (or of the operators) and the one ticker that feeds them. */
interface Channel {
  streams: Set<Stream>;
  timer: NodeJS.Timeout;
  /** A tick still running: the next is skipped rather than piled up behind a slow Redis. */
  busy: boolean;
}

/** The state a tenant's ticker compares against. */
interface TenantCursor {
  /** Completion time (ms) of the newest result sent, and the ids sent with exactly that time. */
  sinceMs: number;
  sentAtSince: Set<string>;
  /** Retro jobs by id → what was last sent of them. */
  jobs: Map<string, string>;
}

export class LiveEvents {
  private readonly tenants = new Map<string, Channel & { cursor: TenantCursor }>();
  private operators: (Channel & { lastWorkers: string }) | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly max: number;

  constructor(private readonly deps: LiveEventsDeps) {
    this.max = deps.maxStreamsPerTenant ?? 10;
    this.heartbeat = setInterval(() => this.beat(), deps.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  /** Opens a tenant's stream on this request (429 past the limit). */
  async openTenant(tenantId: string, req: Request, res: Response): Promise<void> {
    let channel = this.tenants.get(tenantId);
    if (channel && channel.streams.size >= this.max) throw tooMany();
    if (!channel) {
      const cursor: TenantCursor = { sinceMs: Date.now(), sentAtSince: new Set(), jobs: new Map() };
      // The jobs as they are now are the baseline: only changes are sent.
      for (const job of await this.deps.retroJobs.list(tenantId, JOBS_WATCHED))
        cursor.jobs.set(job.id, JSON.stringify(jobEvent(job)));
      channel = this.tenants.get(tenantId); // another request may have opened it meanwhile
      if (!channel) {
        const created = {
          streams: new Set<Stream>(),
          busy: false,
          cursor,
          timer: setInterval(
            () => void this.tick(created, () => this.tickTenant(tenantId, created.cursor, created)),
            this.deps.tenantTickMs ?? 1_000,
          ),
        };
        created.timer.unref();
        this.tenants.set(tenantId, created);
        channel = created;
      }
    }
    const tenantChannel = channel;
    this.attach(tenantChannel, req, res, () => {
      if (tenantChannel.streams.size > 0) return;
      clearInterval(tenantChannel.timer);
      this.tenants.delete(tenantId);
    });
  }

  /** Opens an operator's stream (429 past the limit, for all operators together). */
  openOperator(req: Request, res: Response): void {
    if (this.operators && this.operators.streams.size >= this.max) throw tooMany();
    if (!this.operators) {
      const created = {
        streams: new Set<Stream>(),
        busy: false,
        lastWorkers: '',
        timer: setInterval(
          () => void this.tick(created, () => this.tickOperators(created)),
          this.deps.operatorTickMs ?? 2_000,
        ),
      };
      created.timer.unref();
      this.operators = created;
    }
    const channel = this.operators;
    this.attach(channel, req, res, () => {
      if (channel.streams.size > 0) return;
      clearInterval(channel.timer);
      this.operators = undefined;
    });
    // The first picture at once, not after a tick.
    void this.tick(channel, () => this.tickOperators(channel, true));
  }

  /** Ends every stream (shutdown): the HTTP server's close does not wait on them. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const channel of [...this.tenants.values(), this.operators]) {
      if (!channel) continue;
      clearInterval(channel.timer);
      for (const stream of channel.streams) stream.end();
      channel.streams.clear();
    }
    this.tenants.clear();
    this.operators = undefined;
  }

  /** Streams open now (for tests and the shutdown log). */
  get openStreams(): number {
    let count = this.operators?.streams.size ?? 0;
    for (const channel of this.tenants.values()) count += channel.streams.size;
    return count;
  }

  private attach(channel: Channel, req: Request, res: Response, onEmpty: () => void): void {
    if (this.closed) {
      res.status(503).end();
      return;
    }
    // The client left while the stream was being set up: nothing to attach.
    if (res.destroyed || req.destroyed) {
      onEmpty();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Nginx buffers responses unless told not to: events would arrive in bursts.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    // A stream lasts as long as the client wants: the server's request timeout must not cut it.
    req.socket.setTimeout(0);
    const stream = new Stream(res);
    channel.streams.add(stream);
    res.on('close', () => {
      channel.streams.delete(stream);
      onEmpty();
    });
  }

  private beat(): void {
    for (const channel of [...this.tenants.values(), this.operators])
      for (const stream of channel?.streams ?? []) stream.comment('heartbeat');
  }

  private async tick(channel: Channel, work: () => Promise<void>): Promise<void> {
    if (channel.busy || this.closed) return;
    channel.busy = true;
    try {
      await work();
    } catch (error) {
      // Redis away for a moment: the next tick tries again; the streams stay open.
      this.deps.logger.warn({ err: error }, 'could not read the state of live events');
    } finally {
      channel.busy = false;
    }
  }

  private async tickTenant(tenantId: string, cursor: TenantCursor, channel: Channel) {
    const broadcast = (event: string, data: unknown) => {
      for (const stream of channel.streams) stream.send(event, data);
    };
    const [entries, jobs] = await Promise.all([
      this.deps.scans.completedSince(
        tenantId,
        cursor.sinceMs,
        SCANS_PER_TICK + cursor.sentAtSince.size,
      ),
      this.deps.retroJobs.list(tenantId, JOBS_WATCHED),
    ]);
    const fresh = entries.filter(
      (entry) => entry.completedMs > cursor.sinceMs || !cursor.sentAtSince.has(entry.id),
    );
    const results = await this.deps.scans.results(
      tenantId,
      fresh.map((entry) => entry.id),
    );
    fresh.forEach((entry, i) => {
      if (entry.completedMs > cursor.sinceMs) {
        cursor.sinceMs = entry.completedMs;
        cursor.sentAtSince = new Set();
      }
      cursor.sentAtSince.add(entry.id);
      const result = results[i];
      if (!result) return; // deleted meanwhile
      broadcast('scan', {
        id: result.id,
        outcome: resultOutcome(result),
        findings: result.findings,
        completed_at: new Date(entry.completedMs).toISOString(),
      });
    });
    for (const job of jobs) {
      const event = jobEvent(job);
      const text = JSON.stringify(event);
      if (cursor.jobs.get(job.id) === text) continue;
      cursor.jobs.set(job.id, text);
      broadcast('job', event);
    }
  }

  private async tickOperators(channel: Channel & { lastWorkers: string }, first = false) {
    const [queues, workers] = await Promise.all([
      queueDepths(this.deps.queues),
      this.deps.heartbeats.list(),
    ]);
    const targets = [...channel.streams];
    for (const stream of targets) stream.send('queues', { queues });
    const text = JSON.stringify(workers);
    if (first || text !== channel.lastWorkers) {
      channel.lastWorkers = text;
      for (const stream of targets) stream.send('workers', { workers });
    }
  }
}

const tooMany = () =>
  new DomainError('rate_limited', 'Too many event streams are open for this account.', 5);

/**
 * A retro job's progress. `findings`: objects found infected or unscannable. `eta_seconds`: once
 * the listing is over (so the objects to scan are known), the objects left divided by the rate
 * scanned so far; null while listing or before anything was scanned, where any figure would be
 * a guess.
 */
export function jobEvent(job: RetroJobRecord, now = Date.now()) {
  const { listed, matched, scanned, infected, unscannable } = job.counters;
  return {
    id: job.id,
    state: job.state,
    listed,
    matched,
    scanned,
    findings: infected + unscannable,
    eta_seconds: etaSeconds(job, now),
  };
}

function etaSeconds(job: RetroJobRecord, now: number): number | null {
  if (job.state !== 'scanning' || !job.crawlDone || !job.startedAt) return null;
  const { matched, scanned } = job.counters;
  const elapsedMs = now - Date.parse(job.startedAt);
  if (scanned === 0 || elapsedMs <= 0) return null;
  // Rounded to 5 s: an estimate that changed by a second is not a change worth an event.
  return Math.round(((matched - scanned) * elapsedMs) / scanned / 5_000) * 5;
}

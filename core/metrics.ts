import type { JobType } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { oldestWaiting, PRIORITIZED_LOOKED_AT, type WatchedQueue } from './queue-depth.js';

/**
 * Prometheus metrics of one process. The composition root (cli/runtime.ts) creates one
 * `Metrics` with its own `Registry` and passes it down: nothing here is a module-level global, so
 * several services in one process (the tests) keep their series apart.
 *
 * Label values are bounded sets: route templates (never raw ids), status codes, queue and engine
 * names, finding classes, outcomes.
 */
export interface Metrics {
  readonly registry: Registry;
  /** One HTTP request answered: `route` is a template such as `/v2.2/files/:id`. */
  httpRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
  /** One engine's scan of one file (`ok`, or `error` when the engine gave no verdict). */
  engineScan(engine: string, outcome: 'ok' | 'error', seconds: number, bytes: number): void;
  /** A result was stored: counts it by class and each of its findings by class. */
  resultStored(result: { findings: string[]; error?: string | undefined }): void;
  /** One callback attempt: 2xx delivered, 410 gone, anything else (or no answer) failed. */
  callbackAttempt(outcome: CallbackOutcome): void;
  /** Records of one S3 notification: how many were read and how many were skipped. */
  s3Events(received: number, skipped: number): void;
  /** One spool sweep ran (`ok`) or stopped on an error (`error`). */
  spoolSweep(outcome: 'ok' | 'error'): void;
  /** A sweeper removed one abandoned spool file (or sanitized copy) of `bytes` from `area`. */
  spoolSwept(area: SweptArea, bytes: number): void;
  /** The pending reaper resolved a pending scan that had no job: queued again, or failed. */
  pendingReaped(action: ReapAction): void;
  /** One update of ClamAV's database folder ended (scanning/signatures/update.ts outcomes). */
  signaturesUpdate(outcome: SignaturesUpdateOutcome): void;
  /** The database versions `engine` scans with now (after a start, an update or a reload). */
  signaturesInstalled(
    engine: string,
    databases: Array<{ database: string; version: number }>,
  ): void;
  /**
   * What an engine's last signature load made of each database type: signatures loaded, and
   * skipped by reason (replaces the engine's previous series).
   */
  signaturesLoaded(engine: string, types: readonly SignatureTypeCounts[]): void;
  /** Queue depth and the age of the oldest waiting job, read from Redis on every scrape. */
  watchQueues(queues: WatchedQueue[]): void;
}

/** One database type's counts (scanning/signatures/database.ts TypeReport has this shape). */
export interface SignatureTypeCounts {
  type: string;
  loaded: number;
  reasons: Record<string, number>;
}

export type CallbackOutcome = 'delivered' | 'failed' | 'gone';

/** The spool's folders: partial uploads, accepted uploads, downloads. */
export type SpoolArea = 'incoming' | 'uploads' | 'fetch';
export const SPOOL_AREAS = ['incoming', 'uploads', 'fetch'] as const satisfies SpoolArea[];
/** The spool's areas, and sanitized copies (worker/chores/sanitized-sweeper.ts). */
export type SweptArea = SpoolArea | 'sanitized';
const SWEPT_AREAS = [...SPOOL_AREAS, 'sanitized'] as const satisfies SweptArea[];

/** `updated`, `current` (nothing newer), `failed` (the old database stays), `busy` (locked). */
export type SignaturesUpdateOutcome = 'updated' | 'current' | 'failed' | 'busy';

/** `requeued`: its job was added again; `failed`: an error result was stored (content lost). */
export type ReapAction = 'requeued' | 'failed';

/** The states reported by `arbiter_queue_jobs`. */
export const QUEUE_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'failed',
  'completed',
] as const satisfies readonly JobType[];

/**
 * Finding classes: `content.<class>.<name>`; a result with no findings is `clean`. Read from the
 * name itself (the grammar scanning/findings.ts writes) because core imports no layer above it.
 */
export type FindingClass = 'clean' | 'malicious' | 'unscannable' | 'other';

export function findingClass(finding: string): Exclude<FindingClass, 'clean'> {
  if (finding.startsWith('content.malicious.')) return 'malicious';
  if (finding.startsWith('content.unscannable.')) return 'unscannable';
  return 'other';
}

/** The class of a whole result: an error, else its most severe finding class, else clean. */
export function resultClass(result: {
  findings: string[];
  error?: string | undefined;
}): FindingClass | 'error' {
  if (result.error) return 'error';
  const classes = new Set(result.findings.map(findingClass));
  if (classes.has('malicious')) return 'malicious';
  if (classes.has('unscannable')) return 'unscannable';
  if (classes.has('other')) return 'other';
  return 'clean';
}

/** Longest a scrape waits for Redis before reporting the queues as unknown (no series). */
const QUEUE_SCRAPE_TIMEOUT_MS = 2_000;

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpRequests = new Counter({
    name: 'arbiter_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'arbiter_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to the end of its answer, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const scanDuration = new Histogram({
    name: 'arbiter_scan_duration_seconds',
    help: 'Time one engine took to scan one file, by engine and outcome (ok, or error when it gave no verdict).',
    labelNames: ['engine', 'outcome'] as const,
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const scanBytes = new Counter({
    name: 'arbiter_scanned_bytes_total',
    help: 'Bytes of content given to each engine.',
    labelNames: ['engine'] as const,
    registers,
  });
  const scans = new Counter({
    name: 'arbiter_scans_total',
    help: 'Files scanned by each engine, by outcome.',
    labelNames: ['engine', 'outcome'] as const,
    registers,
  });
  const results = new Counter({
    name: 'arbiter_scan_results_total',
    help: 'Results stored, by class: clean, malicious, unscannable, other (a finding of another kind) or error (not scanned).',
    labelNames: ['class'] as const,
    registers,
  });
  const findings = new Counter({
    name: 'arbiter_findings_total',
    help: 'Findings in stored results by class (content.malicious.* → malicious, content.unscannable.* → unscannable); results without findings count as clean.',
    labelNames: ['class'] as const,
    registers,
  });
  const callbacks = new Counter({
    name: 'arbiter_callback_attempts_total',
    help: 'Callback delivery attempts by outcome: delivered (2xx), gone (410: no more attempts) or failed (another status, a timeout or a refused connection; retried).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const s3Received = new Counter({
    name: 'arbiter_s3_events_received_total',
    help: 'Records read from S3 event notifications (SQS messages and POST /v1/events/s3).',
    registers,
  });
  const s3Skipped = new Counter({
    name: 'arbiter_s3_events_skipped_total',
    help: 'S3 event records not scanned (not an object-created event, a folder marker, an object too large, …).',
    registers,
  });
  const spoolSweeps = new Counter({
    name: 'arbiter_spool_sweeps_total',
    help: 'Spool sweeps this process ran, by outcome (ok, or error when one stopped on an error).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const sweptFiles = new Counter({
    name: 'arbiter_spool_swept_files_total',
    help: 'Abandoned spool files removed by the sweeper, by area: incoming (partial uploads), uploads (of deleted, finished or expired scans), fetch (downloads no running job holds), sanitized (sanitized copies whose result is gone).',
    labelNames: ['area'] as const,
    registers,
  });
  const sweptBytes = new Counter({
    name: 'arbiter_spool_swept_bytes_total',
    help: 'Bytes of the abandoned spool files removed by the sweeper, by area.',
    labelNames: ['area'] as const,
    registers,
  });
  const reaped = new Counter({
    name: 'arbiter_pending_scans_reaped_total',
    help: 'Pending scans found without a job and resolved by the reaper: requeued, or failed (an error result, when the upload was lost).',
    labelNames: ['action'] as const,
    registers,
  });
  const signatureUpdates = new Counter({
    name: 'arbiter_signatures_update_total',
    help: "Updates of ClamAV's database folder run by this process, by outcome: updated, current (nothing newer), failed (the previous database stays) or busy (another process of the host was updating it).",
    labelNames: ['outcome'] as const,
    registers,
  });
  const signaturesUpdated = new Gauge({
    name: 'arbiter_signatures_updated_timestamp_seconds',
    help: "Unix time of the last update of ClamAV's database folder that left it current (updated, or nothing newer); absent until one did.",
    registers,
  });
  const signatureVersions = new Gauge({
    name: 'arbiter_signatures_version',
    help: 'Version of each ClamAV database (main, daily, bytecode) an engine scans with.',
    labelNames: ['engine', 'database'] as const,
    registers,
  });
  const signaturesLoadedGauge = new Gauge({
    name: 'arbiter_signatures_loaded',
    help: 'Signatures an engine loaded at its last load or reload, by database type (file extension: ndb, hsb, ldb…).',
    labelNames: ['engine', 'type'] as const,
    registers,
  });
  const signaturesSkippedGauge = new Gauge({
    name: 'arbiter_signatures_skipped',
    help: 'Signatures an engine read but did not load at its last load or reload, by database type and reason.',
    labelNames: ['engine', 'type', 'reason'] as const,
    registers,
  });
  /** The label sets set for each engine, removed when it reports again (types may disappear). */
  const signatureSeries = new Map<string, Array<() => void>>();
  for (const outcome of ['updated', 'current', 'failed', 'busy'] as const)
    signatureUpdates.inc({ outcome }, 0);
  for (const outcome of ['ok', 'error'] as const) spoolSweeps.inc({ outcome }, 0);
  for (const area of SWEPT_AREAS) {
    sweptFiles.inc({ area }, 0);
    sweptBytes.inc({ area }, 0);
  }
  for (const action of ['requeued', 'failed'] as const) reaped.inc({ action }, 0);
  for (const outcome of ['delivered', 'failed', 'gone'] as const) callbacks.inc({ outcome }, 0);
  for (const cls of ['clean', 'malicious', 'unscannable', 'error'] as const)
    results.inc({ class: cls }, 0);

  let watched: WatchedQueue[] = [];
  const queueErrors = new Counter({
    name: 'arbiter_queue_scrape_errors_total',
    help: 'Scrapes that could not read the queues from Redis in time (their gauges are then left out).',
    registers,
  });
  new Gauge({
    name: 'arbiter_queue_jobs',
    help: 'Jobs in each queue by state, read from Redis when scraped.',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      this.reset();
      const counts = await withTimeout(
        Promise.all(
          watched.map(
            async (queue) => [queue.name, await queue.getJobCounts(...QUEUE_STATES)] as const,
          ),
        ),
      ).catch(() => undefined);
      if (!counts) {
        if (watched.length > 0) queueErrors.inc();
        return;
      }
      for (const [queue, byState] of counts) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'arbiter_queue_oldest_waiting_age_seconds',
    help: `Age of the oldest job next in line in each queue, since it was added: the head of the waiting list and the first ${PRIORITIZED_LOOKED_AT} prioritized jobs (0 when none waits).`,
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      this.reset();
      const now = Date.now();
      const oldest = await withTimeout(
        Promise.all(
          watched.map(async (queue) => [queue.name, await oldestWaiting(queue)] as const),
        ),
      ).catch(() => undefined);
      if (!oldest) return;
      for (const [queue, timestamp] of oldest) {
        this.set({ queue }, timestamp === undefined ? 0 : Math.max(0, (now - timestamp) / 1000));
      }
    },
  });

  return {
    registry,
    httpRequest({ method, route, status }, seconds) {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    engineScan(engine, outcome, seconds, bytes) {
      scanDuration.observe({ engine, outcome }, seconds);
      scans.inc({ engine, outcome });
      scanBytes.inc({ engine }, bytes);
    },
    resultStored(result) {
      results.inc({ class: resultClass(result) });
      if (result.error) return;
      if (result.findings.length === 0) findings.inc({ class: 'clean' });
      for (const finding of result.findings) findings.inc({ class: findingClass(finding) });
    },
    callbackAttempt(outcome) {
      callbacks.inc({ outcome });
    },
    s3Events(received, skipped) {
      if (received > 0) s3Received.inc(received);
      if (skipped > 0) s3Skipped.inc(skipped);
    },
    spoolSweep(outcome) {
      spoolSweeps.inc({ outcome });
    },
    spoolSwept(area, bytes) {
      sweptFiles.inc({ area });
      sweptBytes.inc({ area }, bytes);
    },
    pendingReaped(action) {
      reaped.inc({ action });
    },
    signaturesUpdate(outcome) {
      signatureUpdates.inc({ outcome });
      if (outcome === 'updated' || outcome === 'current') signaturesUpdated.setToCurrentTime();
    },
    signaturesInstalled(engine, databases) {
      for (const { database, version } of databases)
        signatureVersions.set({ engine, database }, version);
    },
    signaturesLoaded(engine, types) {
      for (const remove of signatureSeries.get(engine) ?? []) remove();
      const removals: Array<() => void> = [];
      for (const { type, loaded, reasons } of types) {
        signaturesLoadedGauge.set({ engine, type }, loaded);
        removals.push(() => signaturesLoadedGauge.remove({ engine, type }));
        for (const [reason, count] of Object.entries(reasons)) {
          signaturesSkippedGauge.set({ engine, type, reason }, count);
          removals.push(() => signaturesSkippedGauge.remove({ engine, type, reason }));
        }
      }
      signatureSeries.set(engine, removals);
    },
    watchQueues(queues) {
      watched = queues;
    },
  };
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), QUEUE_SCRAPE_TIMEOUT_MS);
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

import { DomainError, unavailable } from '../core/errors.js';
import type { NetworkPolicy } from '../core/network-policy.js';
import type { StagedFile } from '../core/upload-store.js';
import { enqueueScan, scanJobEntries } from '../core/queues.js';
import type { EngineVerdict } from '../scanning/engine.js';
import { failScan, runScanPipeline, type PipelineDeps } from './pipeline.js';
import type { ScanRequest, ScanResult } from './results.js';
import type { ScanStore } from './store.js';

/** A new scan handed to the service: its request and how its content arrived. */
export interface ScanIntake {
  request: ScanRequest;
  /** The scan's first trace event ("content received for processing", "S3 event … received"). */
  received: string;
  /**
   * `source: 'upload'`: the upload as staged in the upload store (its `filename` is the scan's
   * id). It is made the scan's (core/upload-store.ts) before the job is queued.
   */
  upload?: StagedFile;
  /** Kept out of the tenant's result index (what rescans walk): a rescan's own scans. */
  unlisted?: boolean;
}

export interface RunNowOptions {
  /** The uploaded file for `source: 'upload'`, read where it is (and removed once scanned). */
  uploadPath?: string;
  /** Called with every engine's verdict (detections included) when the engines have answered. */
  onVerdicts?: (verdicts: EngineVerdict[]) => void;
}

const QUEUE_UNAVAILABLE =
  'The scan queue is unavailable; nothing was accepted. Please retry shortly.';
/** Like every other 503 of a Redis outage (core/redis.ts): clients are told when to retry. */
const RETRY_AFTER_SECONDS = 5;

/**
 * A scan's lifecycle behind one door: accepting a scan (its pending record, first trace event
 * and job), running one now in this process (the synchronous APIs), queueing a pending scan
 * again, and recording that a scan cannot be processed. Built once per process by the
 * composition root (cli/runtime.ts) over the pipeline's dependencies.
 */
export class ScanService {
  constructor(readonly pipeline: PipelineDeps) {}

  get store(): ScanStore {
    return this.pipeline.scans;
  }

  /** The rule every tenant URL follows (read each time: tests swap the outbound client). */
  get networkPolicy(): NetworkPolicy {
    return this.pipeline.http.policy;
  }

  /** Accepts one scan for a worker: see submitMany. */
  async submit(intake: ScanIntake): Promise<void> {
    await this.submitMany([intake]);
  }

  /**
   * Accepts scans for the workers: the pending records with their first trace events (one
   * MULTI), the uploads moved into place, then the jobs (one BullMQ addBulk). When the records
   * or the jobs cannot be written, the records are removed again and a 503 (`unavailable`, with
   * Retry-After) is thrown: nothing is half-accepted. A record written before a crash and never
   * queued is the pending reaper's (scans/pending-reaper.ts).
   */
  async submitMany(intakes: ScanIntake[]): Promise<void> {
    if (intakes.length === 0) return;
    // With each job's fairness priority (core/scan-fairness.ts), like every scan job: asked for
    // while the records are written (both in flight at once). Ranks taken for scans that then
    // fail to be accepted are swept from the backlog like any lost removal.
    const jobs = intakes.map(({ request }) => ({ tenantId: request.tenantId, scanId: request.id }));
    const ranked = scanJobEntries(this.pipeline.queues, jobs);
    ranked.catch(() => undefined); // awaited below, unless the records already failed
    await this.orRetract(intakes, () => this.store.createPendingMany(pendingEntries(intakes)));
    for (const { request, upload } of intakes) {
      if (upload) await this.pipeline.uploads.accept(upload, request.tenantId);
    }
    await this.orRetract(intakes, async () => {
      await this.pipeline.queues.scan.addBulk(await ranked);
    });
  }

  /**
   * Accepts scans whose ids the caller derives and may submit again after a crash (a rescan
   * names each scan after its rescan and result): creates the records not created yet and queues
   * every scan not finished yet (a job already queued is not queued twice: its id is the scan's).
   * Nothing is taken back when a write fails, unlike submitMany: the caller submits the same
   * scans again, and whatever the first attempt wrote is reused. Content must be in place already
   * (no `upload` to move). One tenant's scans per call.
   */
  async ensureSubmitted(tenantId: string, intakes: Omit<ScanIntake, 'upload'>[]): Promise<void> {
    if (intakes.length === 0) return;
    const states = await this.store.states(
      tenantId,
      intakes.map(({ request }) => request.id),
    );
    const fresh = intakes.filter((_, index) => states[index] === undefined);
    await this.store.createPendingMany(pendingEntries(fresh));
    const unfinished = intakes.filter((_, index) => states[index] !== 'done');
    const jobs = unfinished.map(({ request }) => ({ tenantId, scanId: request.id }));
    // With each job's fairness priority (core/scan-fairness.ts), like every scan job.
    const entries = await scanJobEntries(this.pipeline.queues, jobs);
    if (entries.length > 0) await this.pipeline.queues.scan.addBulk(entries);
  }

  /**
   * Scans now, in this process, and returns the stored result (undefined: the scan was deleted
   * meanwhile). The scan is recorded like any other (pending record, trace, result, callback).
   */
  async runNow(
    intake: Pick<ScanIntake, 'request' | 'received'>,
    options: RunNowOptions = {},
  ): Promise<ScanResult | undefined> {
    await this.store.createPendingMany(pendingEntries([intake]));
    return runScanPipeline(this.pipeline, {
      request: intake.request,
      finalAttempt: true,
      ...(options.uploadPath ? { uploadPath: options.uploadPath } : {}),
      ...(options.onVerdicts ? { onVerdicts: options.onVerdicts } : {}),
    });
  }

  /** Queues a pending scan's job again, saying why in its trace. */
  async requeue(request: ScanRequest, why: string): Promise<void> {
    await this.store.appendTrace(request.tenantId, request.id, why);
    await enqueueScan(this.pipeline.queues, { tenantId: request.tenantId, scanId: request.id });
  }

  /**
   * Stores an error result for a scan that cannot be processed at all (its callback fires, a
   * bucket object is tagged `scan-result=error`), and removes its upload.
   */
  async fail(request: ScanRequest, message: string): Promise<void> {
    await failScan(this.pipeline, request, message);
  }

  private async orRetract(intakes: ScanIntake[], write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      await Promise.allSettled(
        intakes.flatMap(({ request, upload }) => [
          this.store.deleteResult(request.tenantId, request.id),
          // Staged uploads too: the sweeper would only find those in a bucket or the spool.
          ...(upload ? [this.pipeline.uploads.remove(request.tenantId, request.id)] : []),
        ]),
      );
      // Already the answer to give: Redis is unreachable (core/redis.ts), a 503 with Retry-After.
      if (error instanceof DomainError) throw error;
      this.pipeline.logger.error(
        { err: error, scanIds: intakes.slice(0, 10).map(({ request }) => request.id) },
        'could not queue scans',
      );
      throw unavailable(QUEUE_UNAVAILABLE, RETRY_AFTER_SECONDS);
    }
  }
}

function pendingEntries(intakes: ScanIntake[]) {
  return intakes.map(({ request, received, unlisted }) => ({
    request,
    trace: received,
    ...(unlisted ? { unlisted } : {}),
  }));
}

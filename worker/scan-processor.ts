import type { Job } from 'bullmq';
import { isFinalAttempt } from './attempts.js';
import { parseJobPayload } from './job-payload.js';
import { ScanJobSchema, type ScanJob } from '../core/queues.js';
import { watchForDeletion } from '../scans/deletion-watch.js';
import {
  failScan,
  runScanPipeline,
  type CallbackHandOff,
  type PipelineDeps,
} from '../scans/pipeline.js';

/**
 * The BullMQ processor for scan jobs: loads the request by id and runs the pipeline. With
 * `callbacks`, a stored result's callback is attempted from here (worker/inline-callback.ts).
 */
export function createScanProcessor(deps: PipelineDeps, callbacks?: CallbackHandOff) {
  return async (job: Job<ScanJob>): Promise<void> => {
    const { tenantId, scanId } = parseJobPayload(job, ScanJobSchema);
    // Out of its tenant's fairness backlog already: it left it when granted its scan slot
    // (worker/scan-slots.ts, core/scan-fairness.ts).
    const record = await deps.scans.get(tenantId, scanId);
    // Expired or deleted by its owner: there is nobody left to tell (a bucket object is freed).
    if (!record || record.state === 'deleted') {
      if (record?.request.source === 'object')
        await deps.objects?.settle(record.request, undefined);
      await discardContent(deps, tenantId, scanId);
      return;
    }
    // A download notices its scan's deletion and stops (uploads have nothing worth stopping).
    const deletion =
      record.request.source === 'location'
        ? watchForDeletion(deps.scans, tenantId, scanId)
        : undefined;
    try {
      await runScanPipeline(deps, {
        request: record.request,
        finalAttempt: isFinalAttempt(job),
        signal: deletion?.signal,
        ...(callbacks ? { callbacks } : {}),
      });
    } finally {
      deletion?.stop();
    }
  };
}

/**
 * A scan that will never run leaves nothing in the spool: its upload (the record may have
 * expired, so whatever its source was) and a download an earlier attempt left behind. Nobody
 * else reads them: this job is the scan's only one and holds it now, and a synchronous scan
 * has no job at all.
 */
async function discardContent(deps: PipelineDeps, tenantId: string, scanId: string) {
  await deps.uploads.remove(tenantId, scanId);
  await deps.spool.remove(deps.spool.fetchPath(scanId));
}

/**
 * Called when BullMQ gives up on a scan job for a reason the pipeline did not see (for example
 * it stalled more often than allowed because workers kept dying): the client still gets an
 * error result and its callback instead of a request that stays pending forever.
 */
export async function failScanForGood(
  deps: PipelineDeps,
  { tenantId, scanId }: ScanJob,
  error: Error,
): Promise<void> {
  const record = await deps.scans.get(tenantId, scanId);
  if (record?.state !== 'pending') return;
  deps.logger.error({ scanId, err: error }, 'scan job failed for good; storing an error result');
  deps.errors?.record({
    kind: 'scan',
    tenantId,
    scanId,
    message: `scan job failed for good: ${error.message}`,
  });
  await failScan(deps, record.request, `processing failed: ${error.message}`);
}

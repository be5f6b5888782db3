import { UnrecoverableError, type Job } from 'bullmq';
import { ScanJobSchema, type ScanJob } from '../core/queues.js';
import { watchForDeletion } from '../scans/deletion-watch.js';
import { failScan, runScanPipeline, type PipelineDeps } from '../scans/pipeline.js';

/** The BullMQ processor for scan jobs: loads the request by id and runs the pipeline. */
export function createScanProcessor(deps: PipelineDeps) {
  return async (job: Job<ScanJob>): Promise<void> => {
    const parsed = ScanJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`malformed scan job: ${parsed.error.message}`);
    const { tenantId, scanId } = parsed.data;
    // Out of the tenant's backlog: its next jobs rank lower (best effort, see core/scan-fairness.ts).
    await deps.queues.fairness?.started(tenantId, scanId).catch(() => undefined);
    const record = await deps.scans.get(tenantId, scanId);
    // Expired or deleted by its owner: there is nobody left to tell (a bucket object is freed).
    if (!record || record.state === 'deleted') {
      if (record?.request.source === 'object')
        await deps.objects?.settle(record.request, undefined);
      await discardContent(deps, tenantId, scanId);
      return;
    }
    const uploadPath =
      record.request.source === 'upload' ? deps.spool.uploadPath(tenantId, scanId) : undefined;
    const attempts = job.opts.attempts ?? 1;
    // A download notices its scan's deletion and stops (uploads have nothing worth stopping).
    const deletion =
      record.request.source === 'location'
        ? watchForDeletion(deps.scans, tenantId, scanId)
        : undefined;
    try {
      await runScanPipeline(deps, {
        request: record.request,
        uploadPath,
        finalAttempt: job.attemptsMade + 1 >= attempts,
        signal: deletion?.signal,
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
  await deps.spool.remove(deps.spool.uploadPath(tenantId, scanId));
  await deps.spool.remove(deps.spool.fetchPath(scanId));
}

/**
 * Called when BullMQ gives up on a scan job for a reason the pipeline did not see (for example
 * it stalled more often than allowed because workers kept dying): the client still gets an
 * error result and its callback instead of a request that stays pending forever.
 */
export async function onScanJobFailed(
  deps: PipelineDeps,
  job: Job<ScanJob> | undefined,
  error: Error,
): Promise<void> {
  if (!job) return;
  const attempts = job.opts.attempts ?? 1;
  const exhausted =
    job.attemptsMade >= attempts ||
    error instanceof UnrecoverableError ||
    /stalled/i.test(error.message);
  if (!exhausted) return;
  const parsed = ScanJobSchema.safeParse(job.data);
  if (!parsed.success) return;
  const record = await deps.scans.get(parsed.data.tenantId, parsed.data.scanId);
  if (record?.state !== 'pending') return;
  const uploadPath =
    record.request.source === 'upload'
      ? deps.spool.uploadPath(parsed.data.tenantId, parsed.data.scanId)
      : undefined;
  deps.logger.error(
    { scanId: parsed.data.scanId, err: error },
    'scan job failed for good; storing an error result',
  );
  await failScan(deps, record.request, uploadPath, `processing failed: ${error.message}`);
}

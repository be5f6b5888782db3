import type { Queue } from 'bullmq';
import { waitFor } from './wait.js';

/**
 * Waits until a finished scan's callback delivery is over. The scan worker makes the first
 * attempt itself once the result is stored (worker/inline-callback.ts) and queues a callback job
 * (`cb-{id}`) only to retry it; a synchronous scan queues that job at once. So the delivery is
 * over when the job has completed or failed, or when there is no job and the scan job is done.
 */
export async function waitForCallbackDone(
  queues: { scan: Queue; callback: Queue },
  scanId: string,
  timeoutMs?: number,
): Promise<void> {
  await waitFor(
    async () => {
      const retry = await queues.callback.getJobState(`cb-${scanId}`);
      if (retry === 'completed' || retry === 'failed') return true;
      if (retry !== 'unknown') return false;
      const scan = await queues.scan.getJobState(scanId);
      // Read the callback job again: it may have been queued just before the scan job ended.
      return (
        scan === 'completed' && (await queues.callback.getJobState(`cb-${scanId}`)) === 'unknown'
      );
    },
    { what: `the callback delivery of ${scanId} to be over`, ...(timeoutMs ? { timeoutMs } : {}) },
  );
}

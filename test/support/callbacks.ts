import type { Queue } from 'bullmq';
import type { Runtime } from '../../cli/runtime.js';
import { waitFor } from './wait.js';

/**
 * Waits until a finished scan's callback delivery is over. The scan worker's process makes the
 * first attempt itself once the result is stored (worker/inline-callback.ts), keeping the scan in
 * the pending index until that attempt is made or handed to a callback job (`cb-{id}`); a
 * synchronous scan queues that job at once. So the delivery is over when the scan has left the
 * pending index and its callback job, if there is one, has completed or failed.
 */
export async function waitForCallbackDone(
  runtime: Pick<Runtime, 'queues' | 'scanning'>,
  tenantId: string,
  scanId: string,
  timeoutMs?: number,
): Promise<void> {
  const callbacks: Queue = runtime.queues.callback;
  await waitFor(
    async () => {
      const owed = await runtime.scanning.store.isPendingIndexed(tenantId, scanId);
      if (owed) return false;
      const job = await callbacks.getJobState(`cb-${scanId}`);
      return job === 'completed' || job === 'failed' || job === 'unknown';
    },
    { what: `the callback delivery of ${scanId} to be over`, ...(timeoutMs ? { timeoutMs } : {}) },
  );
}

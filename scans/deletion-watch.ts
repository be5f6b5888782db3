import type { ScanStore } from './store.js';

/** How often a running download looks whether its scan was deleted. */
export const DELETION_POLL_MS = 2_000;

export interface DeletionWatch {
  /** Aborts once the scan is deleted (or has expired). */
  signal: AbortSignal;
  stop(): void;
}

/**
 * Tells a running download that its scan was deleted (`DELETE /v2.2/files/{id}`), so the worker
 * stops it instead of letting it run to its time limit. The worker reads the scan's record every
 * `intervalMs` while a fetch's job runs (only the download reacts), rather than the API publishing
 * deletions on a Redis channel: most fetches end before the first read, so polling costs nothing
 * for them and one read per slow fetch every `intervalMs`, while a subscription would need a
 * connection of its own in every worker process and a change to the delete path, and would
 * silently miss a deletion published while that connection was reconnecting. A deletion is
 * noticed within `intervalMs`.
 */
export function watchForDeletion(
  scans: Pick<ScanStore, 'get'>,
  tenantId: string,
  scanId: string,
  intervalMs: number = DELETION_POLL_MS,
): DeletionWatch {
  const controller = new AbortController();
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    scans
      .get(tenantId, scanId)
      .then((record) => {
        if (!record || record.state === 'deleted') {
          clearInterval(timer);
          controller.abort();
        }
      })
      // Redis away: the next read will tell; the download's own limits still apply meanwhile.
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, intervalMs);
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

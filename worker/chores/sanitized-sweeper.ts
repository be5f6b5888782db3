import { isId } from '../../core/ids.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../core/metrics.js';
import type { SanitizedStore, StoredCopy } from '../../core/sanitized-store.js';
import type { ScanStore } from '../../scans/store.js';

/**
 * Removes sanitized copies (core/sanitized-store.ts) whose result is gone, so that no copy
 * outlives the result that describes it:
 *
 * - a copy whose scan has no record any more (its result expired after `ARBITER_RESULT_TTL`, or
 *   its tenant was deleted) or whose scan was deleted (a delete removes the copy itself, but a
 *   scan deleted while its worker was still keeping the copy leaves one behind);
 * - any copy older than the result TTL, whatever its record says.
 *
 * The copy of a pending scan stays: its worker keeps the copy before it stores the result, and
 * a retried scan writes it again. Copies are listed from the store itself (the spool folder, or
 * the bucket with ListObjectsV2), so the sweep works the same on both; several processes may
 * sweep at once, and removing a copy that is gone already is fine.
 */
export interface SanitizedSweeperDeps {
  store: Pick<SanitizedStore, 'list' | 'remove'>;
  scans: Pick<ScanStore, 'states'>;
  metrics: Pick<Metrics, 'spoolSwept'>;
  logger: Logger;
  /** How long a result is kept (`ARBITER_RESULT_TTL`), in ms. */
  resultTtlMs: number;
}

/** Scan states read per Redis round trip. */
const STATE_BATCH = 500;

export class SanitizedSweeper {
  constructor(private readonly deps: SanitizedSweeperDeps) {}

  /** One sweep of the store; `signal` (shutdown) stops it early. Returns what was removed. */
  async sweep(signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
    const counts = { files: 0, bytes: 0 };
    const expired = Date.now() - this.deps.resultTtlMs;
    let batch: StoredCopy[] = [];
    for await (const copy of this.deps.store.list()) {
      if (signal?.aborted) break;
      if (!isId(copy.tenantId) || !isId(copy.scanId)) continue;
      if (copy.lastModifiedMs < expired) {
        await this.remove(copy, counts);
        continue;
      }
      // Listed tenant by tenant (a folder each, or key order), so one tenant's copies come together.
      if (batch.length >= STATE_BATCH || (batch[0] && batch[0].tenantId !== copy.tenantId)) {
        await this.sweepBatch(batch, counts);
        batch = [];
      }
      batch.push(copy);
    }
    if (!signal?.aborted) await this.sweepBatch(batch, counts);
    if (counts.files > 0)
      this.deps.logger.info({ swept: counts }, 'sanitized copies of results that are gone removed');
    return counts;
  }

  private async sweepBatch(copies: StoredCopy[], counts: { files: number; bytes: number }) {
    const [first] = copies;
    if (!first) return;
    const states = await this.deps.scans.states(
      first.tenantId,
      copies.map((copy) => copy.scanId),
    );
    for (const [i, copy] of copies.entries()) {
      const state = states[i];
      if (state !== 'pending' && state !== 'done') await this.remove(copy, counts);
    }
  }

  private async remove(copy: StoredCopy, counts: { files: number; bytes: number }) {
    await this.deps.store.remove(copy.tenantId, copy.scanId);
    counts.files += 1;
    counts.bytes += copy.size;
    this.deps.metrics.spoolSwept('sanitized', copy.size);
  }
}

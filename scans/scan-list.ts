import { resultOutcome, type ResultOutcome, type ScanResult } from './results.js';
import type { IndexPosition, ScanStore } from './store.js';

/** Records a `q` search reads per request at most: past it, the page ends with a cursor. */
export const SEARCH_EXAMINE_MAX = 2_000;
/** Records read per pipelined round trip. */
const READ_BATCH = 200;

export interface ScanListQuery {
  limit: number;
  after?: IndexPosition;
  outcome?: ResultOutcome;
  q?: string;
}

export interface ScanListPage {
  scans: ScanResult[];
  /** Where the next page starts; undefined when the index has nothing more. */
  next?: IndexPosition;
}

/**
 * A tenant's stored results, newest first (the tenant's result index, or one outcome's): pages
 * of `limit`, searchable by `q`. Entries whose record has expired or was deleted are skipped. A
 * search reads records in pipelined batches and stops after SEARCH_EXAMINE_MAX of them, ending
 * the page early with a cursor to go on from, so that one request's cost stays bounded.
 */
export async function listScans(
  store: ScanStore,
  tenantId: string,
  query: ScanListQuery,
): Promise<ScanListPage> {
  const matches = matcher(query);
  const scans: ScanResult[] = [];
  let after = query.after;
  let examined = 0;
  while (scans.length < query.limit && examined < SEARCH_EXAMINE_MAX) {
    const batch = Math.min(READ_BATCH, SEARCH_EXAMINE_MAX - examined);
    const entries = await store.listNewest(tenantId, {
      outcome: query.outcome,
      after,
      limit: batch,
    });
    const results = await store.results(
      tenantId,
      entries.map((entry) => entry.id),
    );
    for (const [i, entry] of entries.entries()) {
      examined += 1;
      after = entry;
      const result = results[i];
      if (result && matches(result)) scans.push(result);
      if (scans.length === query.limit) return { scans, next: entry };
    }
    if (entries.length < batch) return { scans };
  }
  return { scans, next: after };
}

function matcher(query: ScanListQuery): (result: ScanResult) => boolean {
  const outcomeMatches = (result: ScanResult) =>
    !query.outcome || resultOutcome(result) === query.outcome;
  if (query.q === undefined) return outcomeMatches;
  const needle = query.q.toLowerCase();
  const contains = (text: string) => text.toLowerCase().includes(needle);
  return (result) =>
    outcomeMatches(result) &&
    (result.id.toLowerCase() === needle ||
      result.checksum?.toLowerCase() === needle ||
      Object.values(result.metadata).some(contains) ||
      result.findings.some(contains));
}

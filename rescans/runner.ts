import { createHash } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import { enqueueCallback, type Queues } from '../core/queues.js';
import { HAS_FINDINGS } from '../scans/sanitizing.js';
import type { ScanRecord, ScanRequest, ScanResult } from '../scans/results.js';
import type { ScanService } from '../scans/service.js';
import type { ScanStore } from '../scans/store.js';
import type { UploadStore } from '../core/upload-store.js';
import {
  parseDatabaseVersion,
  scannedWithOlderDatabase,
  SKIP_REASONS,
  type DatabaseVersion,
  type SkipReason,
} from './schema.js';
import { objectRescan, type ObjectRescanDeps } from './objects.js';
import type { CounterField, RescanCursor, RescanRecord, RescanStore } from './store.js';

/**
 * The run of one rescan, by the BullMQ `rescan` job (worker/rescan-processor.ts).
 *
 * Page by page (ARBITER_RESCAN_PAGE_SIZE results of the tenant's result index, oldest first,
 * within the rescan's window): keep the results scanned with an older database (and, for
 * `findings: "clean"`, with no findings); for each whose content can still be read, record the
 * scan it gets (an id derived from rescan and result, so a resumed run names the same one), and
 * submit it through the ScanService (`ensureSubmitted`: unlisted, it is never a result of its own
 * and has no callback; queued on the scan queue like any other, with the tenant's fairness
 * priority); then checkpoint the cursor with the page's counters in one atomic write, and wait
 * until the page's scans have finished. Each finished scan is compared with the stored result: a
 * changed verdict replaces it (with a `rescan` note) and fires its callback again; then the
 * rescan's scan is removed.
 *
 * A runner that dies leaves its BullMQ job to the stalled-job check, and the next runner starts by
 * settling the scans in flight, then lists from the checkpoint: a page listed again does not queue
 * or count again the results already settled.
 */
export interface RunnerDeps {
  rescans: RescanStore;
  /** Creates and queues the rescan's scans (the one door every scan goes through). */
  scanning: ScanService;
  scans: ScanStore;
  /** The callbacks of changed verdicts. */
  queues: Queues;
  uploads: UploadStore;
  pageSize: number;
  /** How often the scans in flight are looked at. */
  pollMs: number;
  logger: Logger;
  /** Bucket objects (absent in a process without S3 protection: objects are then skipped). */
  objects?: ObjectRescanDeps;
}

export type RunEnd = 'completed' | 'stopped' | 'superseded' | 'interrupted';

export async function runRescan(
  deps: RunnerDeps,
  tenantId: string,
  rescanId: string,
  signal?: AbortSignal,
): Promise<RunEnd> {
  const rescan = await deps.rescans.get(tenantId, rescanId);
  if (!rescan) return 'superseded';
  // Cancelled (or failed) while its job waited: drop whatever scans it still had in flight.
  if (rescan.state !== 'listing' && rescan.state !== 'scanning')
    return cancelInflight(deps, rescan);
  await deps.rescans.markStarted(tenantId, rescanId);
  const references = rescan.databases
    .map(parseDatabaseVersion)
    .filter((version): version is DatabaseVersion => version !== undefined);
  const toMs = Date.parse(rescan.to);

  // Whatever a previous runner left in flight is settled first.
  const settledFirst = await settleInflight(deps, rescan, signal);
  if (settledFirst !== 'done') return settledFirst;

  let cursor = rescan.cursor;
  let listingDone = rescan.listingDone;
  while (!listingDone) {
    if (signal?.aborted) return 'interrupted';
    if ((await deps.rescans.state(tenantId, rescanId)) !== 'listing')
      return cancelInflight(deps, rescan);
    const page = await deps.scans.listResults(tenantId, {
      fromMs: cursor.fromMs,
      toMs,
      skip: cursor.skip,
      limit: deps.pageSize,
    });
    const next = nextCursor(cursor, page);
    listingDone = page.length < deps.pageSize;
    const counts = await submitPage(
      deps,
      rescan,
      references,
      page.map((entry) => entry.id),
    );
    const recorded = await deps.rescans.checkpoint(
      tenantId,
      rescanId,
      cursor.page,
      next,
      listingDone,
      counts,
    );
    if (!recorded) return 'superseded';
    // Every page is read: from here on the rescan only waits for its last scans.
    if (listingDone) await deps.rescans.markScanning(tenantId, rescanId);
    cursor = next;
    const settled = await settleInflight(deps, rescan, signal);
    if (settled !== 'done') return settled;
  }
  const last = await settleInflight(deps, rescan, signal);
  if (last !== 'done') return last;
  await deps.rescans.end(tenantId, rescanId, 'completed');
  return 'completed';
}

/** Where the page after `page` starts: past its last entry, counting ties on the same score. */
function nextCursor(
  cursor: RescanCursor,
  page: Array<{ id: string; completedMs: number }>,
): RescanCursor {
  const last = page.at(-1);
  if (!last) return { ...cursor, page: cursor.page + 1 };
  let ties = 0;
  for (const entry of page) if (entry.completedMs === last.completedMs) ties += 1;
  const skip = last.completedMs === cursor.fromMs ? cursor.skip + ties : ties;
  return { page: cursor.page + 1, fromMs: last.completedMs, skip };
}

/** The scan id a rescan gives one result: the same on every run of the same rescan. */
export const rescanScanId = (rescanId: string, resultId: string): string =>
  createHash('sha256').update(`rescan:${rescanId}:${resultId}`).digest('hex').slice(0, 32);

type Verdict = { kind: 'queue'; request: ScanRequest } | { kind: 'skip'; reason: SkipReason };

/** Queues the page's matching results and returns the page's counters. */
async function submitPage(
  deps: RunnerDeps,
  rescan: RescanRecord,
  references: DatabaseVersion[],
  resultIds: string[],
): Promise<Partial<Record<CounterField, number>>> {
  const tenantId = rescan.tenantId;
  const counts: Partial<Record<CounterField, number>> = { 'c:listed': resultIds.length };
  const add = (field: CounterField) => (counts[field] = (counts[field] ?? 0) + 1);
  const settled = await deps.rescans.settled(tenantId, rescan.id, resultIds);
  const toQueue = new Map<string, ScanRequest>();
  for (const [index, resultId] of resultIds.entries()) {
    const record = await deps.scans.get(tenantId, resultId);
    if (!record?.result || record.state !== 'done') {
      add(`s:${SKIP_REASONS.gone}`);
      continue;
    }
    if (!matches(record.result, rescan, references)) continue;
    add('c:matched');
    // Settled by an earlier run of this page (before its checkpoint): counted, not queued again.
    if (settled[index]) {
      add('c:queued');
      continue;
    }
    const verdict = await rescanRequest(deps, rescan, record);
    if (verdict.kind === 'skip') {
      add(`s:${verdict.reason}`);
      continue;
    }
    add('c:queued');
    toQueue.set(resultId, verdict.request);
  }
  const inflight = new Map([...toQueue].map(([resultId, request]) => [resultId, request.id]));
  await deps.rescans.addInflight(tenantId, rescan.id, inflight);
  await submitScans(deps, tenantId, [...toQueue.values()]);
  return counts;
}

function matches(result: ScanResult, rescan: RescanRecord, references: DatabaseVersion[]) {
  if (result.error) return false; // nothing was scanned: there is no verdict to revisit
  if (rescan.findings === 'clean' && result.findings.length > 0) return false;
  return scannedWithOlderDatabase(result.engines, references);
}

/** The new scan of a result's content, or why its content cannot be read again. */
async function rescanRequest(
  deps: RunnerDeps,
  rescan: RescanRecord,
  record: ScanRecord,
): Promise<Verdict> {
  const original = record.request;
  const id = rescanScanId(rescan.id, original.id);
  const request: ScanRequest = {
    id,
    tenantId: original.tenantId,
    source: original.source,
    metadata: {},
    creationDate: new Date().toISOString(),
    ...(original.fileName ? { fileName: original.fileName } : {}),
    // What the upload was declared as: the file type check judges the same claim again.
    ...(original.declaredContentType ? { declaredContentType: original.declaredContentType } : {}),
    // The key's detection categories again, not the tenant's: otherwise a key's extra category
    // would vanish from the verdict, a change no database made.
    ...(original.keyId ? { keyId: original.keyId } : {}),
  };
  // An object is read again from its bucket, and acted on like any object scan (objects.ts).
  if (original.source === 'object') return objectRescan(deps.objects, record, request);
  if (original.source === 'location') {
    // Fetched again like any fetch: the scan worker's guarded client checks every address.
    return original.location
      ? { kind: 'queue', request: { ...request, location: original.location } }
      : { kind: 'skip', reason: SKIP_REASONS.notHeld };
  }
  // An upload is readable only while it is in the upload store (it is removed when its scan ends).
  return (await deps.uploads.copy(original.tenantId, original.id, id))
    ? { kind: 'queue', request }
    : { kind: 'skip', reason: SKIP_REASONS.notHeld };
}

/**
 * Submits the rescan's scans through the ScanService: those not created yet are created
 * (unlisted: never a result of their own), every one not finished yet is queued (again).
 */
async function submitScans(deps: RunnerDeps, tenantId: string, requests: ScanRequest[]) {
  await deps.scanning.ensureSubmitted(
    tenantId,
    requests.map((request) => ({
      request,
      received: 'content received for processing (a rescan)',
      unlisted: true,
    })),
  );
}

/**
 * Waits until every scan in flight has finished, settling each as it does. Scans found pending
 * are queued again first (a runner that died between creating and queueing them).
 */
async function settleInflight(
  deps: RunnerDeps,
  rescan: RescanRecord,
  signal?: AbortSignal,
): Promise<'done' | RunEnd> {
  const { tenantId } = rescan;
  let requeued = false;
  for (;;) {
    const inflight = await deps.rescans.inflight(tenantId, rescan.id);
    if (inflight.size === 0) return 'done';
    const state = await deps.rescans.state(tenantId, rescan.id);
    if (state !== 'listing' && state !== 'scanning') return cancelInflight(deps, rescan);
    const entries = [...inflight];
    const states = await deps.scans.states(
      tenantId,
      entries.map(([, scanId]) => scanId),
    );
    if (!requeued) {
      requeued = true;
      await requeueStranded(deps, rescan, entries, states);
    }
    for (const [index, [resultId, scanId]] of entries.entries()) {
      if (states[index] === 'pending') continue;
      await settleItem(deps, rescan, resultId, scanId);
    }
    if (signal?.aborted) return 'interrupted';
    await new Promise((resolve) => setTimeout(resolve, deps.pollMs));
  }
}

/** Scans recorded in flight but never created, or created and maybe never queued. */
async function requeueStranded(
  deps: RunnerDeps,
  rescan: RescanRecord,
  entries: Array<[string, string]>,
  states: Array<string | undefined>,
) {
  const requests: ScanRequest[] = [];
  for (const [index, [resultId]] of entries.entries()) {
    if (states[index] === 'done') continue;
    const record = await deps.scans.get(rescan.tenantId, resultId);
    if (!record?.result) continue; // settled as gone below
    const verdict = await rescanRequest(deps, rescan, record);
    if (verdict.kind === 'queue') requests.push(verdict.request);
  }
  // Pending ones keep their record (only what is missing is created).
  await submitScans(deps, rescan.tenantId, requests);
  // A missing scan whose content went meanwhile can never finish: count it as skipped.
  for (const [index, [resultId, scanId]] of entries.entries()) {
    if (states[index] !== undefined) continue;
    if (requests.some((request) => request.id === scanId)) continue;
    await deps.rescans.settle(rescan.tenantId, rescan.id, resultId, 'skipped', [
      `s:${SKIP_REASONS.notHeld}`,
    ]);
  }
}

/** Compares a finished rescan scan with the stored result, applies a change, counts it once. */
async function settleItem(
  deps: RunnerDeps,
  rescan: RescanRecord,
  resultId: string,
  scanId: string,
): Promise<void> {
  const { tenantId } = rescan;
  const fresh = (await deps.scans.get(tenantId, scanId))?.result;
  const stored = await deps.scans.get(tenantId, resultId);
  const settle = (outcome: string, fields: CounterField[]) =>
    deps.rescans.settle(tenantId, rescan.id, resultId, outcome, fields);
  try {
    if (!fresh) {
      await settle('skipped', [`s:${SKIP_REASONS.gone}`]);
    } else if (fresh.error) {
      await deps.rescans.noteError(tenantId, rescan.id, fresh.error);
      await settle('error', ['c:errors']);
    } else if (!stored?.result || stored.state !== 'done') {
      await settle('skipped', [`s:${SKIP_REASONS.gone}`]);
    } else if (stored.result.checksum && stored.result.checksum !== fresh.checksum) {
      await settle('skipped', [`s:${SKIP_REASONS.contentChanged}`]);
    } else if (stored.result.rescan?.id === rescan.id) {
      // Applied by a runner that died before counting it: make sure of the callback, count it.
      await callBackAgain(deps, rescan, stored);
      await settle('changed', ['c:rescanned', 'c:changed']);
    } else if (sameFindings(stored.result.findings, fresh.findings)) {
      await settle('unchanged', ['c:rescanned']);
    } else {
      await applyChange(deps, rescan, stored, fresh);
      await settle('changed', ['c:rescanned', 'c:changed']);
    }
  } finally {
    await deps.scans.purge(tenantId, scanId);
  }
}

/** Replaces the stored result with the rescan's verdict and calls the scan's callback again. */
async function applyChange(
  deps: RunnerDeps,
  rescan: RescanRecord,
  stored: ScanRecord,
  fresh: ScanResult,
): Promise<void> {
  const previous = stored.result!;
  const next: ScanResult = {
    ...previous,
    findings: fresh.findings,
    content_type: fresh.content_type,
    rescan: {
      id: rescan.id,
      date: new Date().toISOString(),
      previous_findings: previous.findings,
      previous_engines: previous.engines ?? [],
    },
  };
  if (fresh.engines) next.engines = fresh.engines;
  // A bucket object: what the rescan's scan found and did to it (the object stage acted on it).
  if (previous.outcome !== undefined || fresh.outcome !== undefined) {
    if (fresh.outcome) next.outcome = fresh.outcome;
    if (fresh.action) next.action = fresh.action;
    if (fresh.action_error) next.action_error = fresh.action_error;
    else delete next.action_error;
  }
  if (fresh.suppressed_findings) next.suppressed_findings = fresh.suppressed_findings;
  else delete next.suppressed_findings;
  // A sanitized copy is made only of content without findings (scans/sanitizing.ts).
  const withdrawn = previous.sanitized?.available === true && next.findings.length > 0;
  if (withdrawn) next.sanitized = { available: false, reason: HAS_FINDINGS };
  // A result changed meanwhile (another rescan, or deleted) is left as it is.
  if (!(await deps.scans.replaceResult(rescan.tenantId, previous, next))) return;
  if (withdrawn) await withdrawSanitizedCopy(deps, rescan.tenantId, previous.id);
  const describe = (findings: string[]) => (findings.length ? findings.join(', ') : 'none');
  await deps.scans.appendTrace(
    rescan.tenantId,
    previous.id,
    `rescan ${rescan.id}: findings changed from ${describe(previous.findings)} to ${describe(next.findings)}`,
  );
  deps.logger.info(
    {
      tenantId: rescan.tenantId,
      scanId: previous.id,
      rescanId: rescan.id,
      findings: next.findings,
    },
    'rescan changed a verdict',
  );
  await callBackAgain(deps, rescan, stored);
}

/**
 * Removes the sanitized copy of a result a rescan found findings in: its result no longer offers
 * it. A store that cannot be reached now leaves it to expire with the result (never served: the
 * download route refuses a result with findings).
 */
async function withdrawSanitizedCopy(deps: RunnerDeps, tenantId: string, scanId: string) {
  await deps.scanning.pipeline.sanitizing?.store
    .remove(tenantId, scanId)
    .catch((error: unknown) => {
      deps.logger.warn({ err: error, scanId }, 'could not remove a withdrawn sanitized copy');
    });
}

/** Queues the callback of a changed result (once per result and rescan: the job id says so). */
async function callBackAgain(deps: RunnerDeps, rescan: RescanRecord, stored: ScanRecord) {
  if (!stored.request.callback) return;
  await enqueueCallback(deps.queues, {
    tenantId: rescan.tenantId,
    scanId: stored.request.id,
    rescan: rescan.id,
  });
}

const sameFindings = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().every((finding, i) => finding === [...b].sort()[i]);

/** A cancelled rescan drops its scans still in flight (their workers see them deleted). */
async function cancelInflight(deps: RunnerDeps, rescan: RescanRecord): Promise<RunEnd> {
  const inflight = await deps.rescans.inflight(rescan.tenantId, rescan.id);
  for (const [resultId, scanId] of inflight) {
    // A dropped object scan gives its version back at once (not when the lease expires).
    const object = (await deps.scans.get(rescan.tenantId, scanId))?.request.object;
    if (object && deps.objects)
      await deps.objects.objectScans.releaseClaim(rescan.tenantId, object, scanId);
    await deps.scans.purge(rescan.tenantId, scanId);
    await deps.rescans.settle(rescan.tenantId, rescan.id, resultId, 'cancelled', []);
  }
  return 'stopped';
}

import { OutboundError, ScanError } from '../core/errors.js';
import { hashFile } from '../core/file-hash.js';
import type { ErrorLog } from '../core/error-log.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { safeOrigin, type OutboundHttp } from '../core/outbound-http.js';
import { enqueueCallback, type Queues } from '../core/queues.js';
import { errorResult, type ScanRequest, type ScanResult, type TraceEvent } from './results.js';
import type { ScanStore } from './store.js';
import type { Spool } from '../core/spool.js';
import type { UploadStore } from '../core/upload-store.js';
import type { TenantSettingsStore } from '../core/tenant-settings.js';
import { parseContentEncoding } from '../scanning/archives/content-encoding.js';
import { sniffContentType } from '../scanning/content-type.js';
import {
  EngineError,
  type ContentClassification,
  type EngineVerdict,
  type ScanTarget,
} from '../scanning/engine.js';
import { fileExtension } from '../scanning/file-extension.js';
import { contentName, describeVerdict, type EngineSet } from '../scanning/engines.js';
import { defaultPlan, type ScanPlan } from '../scanning/plan.js';
import { applyUnscannablePolicy } from './unscannable-policy.js';
import { sanitizeScanned, type SanitizedFile, type SanitizingDeps } from './sanitizing.js';

/**
 * One scan from request to stored result: get the bytes onto local disk (hashing them on the
 * way), sniff the type, run the engines, make the sanitized copy when asked (scans/sanitizing.ts),
 * store the result, queue the callback. The sync API
 * route and the scan worker both run this, so a result means the same thing either way.
 */
export interface PipelineDeps {
  scans: ScanStore;
  engines: EngineSet;
  http: OutboundHttp;
  queues: Queues;
  spool: Spool;
  /** Where async uploads wait for a worker (core/upload-store.ts). */
  uploads: UploadStore;
  limits: {
    maxFetchSize: number;
    fetchTimeoutMs: number;
    /** Slowest acceptable download (core/outbound-http.ts); unset → no minimum. */
    fetchMinRate?: { bytesPerSecond: number; windowMs: number };
  };
  logger: Logger;
  /** Reads and acts on objects of registered buckets (`source: 'object'`, see s3/object-stage.ts). */
  objects?: ObjectStage;
  /** Counts downloaded bytes against the tenant's daily quota (core/limits.ts); best effort. */
  usage?: { chargeFetched(tenantId: string, bytes: number): Promise<void> };
  /** Counts stored results by class and their findings (core/metrics.ts). */
  metrics?: Pick<Metrics, 'resultStored'>;
  /** Tenants' scanning preferences (core/tenant-settings.ts); without it, the defaults apply. */
  settings?: Pick<TenantSettingsStore, 'current'>;
  /**
   * What each scan looks for: its tenant's and key's detection categories and thresholds.
   * Without it every scan is a malware scan with the default settings.
   */
  plans?: ScanPlanner;
  /** Recent errors for operators (core/error-log.ts): engine failures, scans failed for good. */
  errors?: Pick<ErrorLog, 'record'>;
  /**
   * Sanitized copies (scans/sanitizing.ts): the sanitizers, where copies are kept, the limits.
   * Without it a scan that asks for a copy is told there is none.
   */
  sanitizing?: SanitizingDeps;
}

/** Resolves a scan's plan (scanning/plan.ts) from the settings of its tenant and of its key. */
export interface ScanPlanner {
  planFor(request: ScanRequest): Promise<ScanPlan>;
}

/**
 * The S3 part of a scan of a bucket object: how its content is read, what is done with the
 * object once the verdict is known, and what happens once the result is stored.
 */
export interface ObjectStage {
  /**
   * Streams the object into `destination` (hashing it on the way). Returns the content; or a
   * message (a permanent failure: an error result) or a finished result (e.g. unscannable: too
   * large); or throws a retryable ScanError (core/errors.ts) to have the job retried. With it,
   * what the read learnt about the object, which the pipeline hands to `act` of the same run.
   */
  fetch(
    request: ScanRequest,
    destination: string,
    finalAttempt: boolean,
  ): Promise<{ content: Content | string | ScanResult; facts: ObjectFacts }>;
  /**
   * Applies the bucket's actions for the verdict and returns the result with what was done.
   * `facts` come from this run's fetch (empty when the object was never read).
   */
  act(
    request: ScanRequest,
    result: ScanResult,
    facts: ObjectFacts,
    finalAttempt: boolean,
    /** The object's sanitized copy, made because the bucket's `sanitize` asked for it. */
    sanitized?: SanitizedFile,
  ): Promise<ScanResult>;
  /** Once the result is stored (undefined: the scan was deleted): frees the object, tells listeners. */
  settle(request: ScanRequest, result: ScanResult | undefined): Promise<void>;
}

/** What reading a bucket object learnt, for acting on that same object once the verdict is known. */
export interface ObjectFacts {
  /** The version read (versioned buckets), when S3 named one. */
  versionId?: string;
  /** The ETag of what was read: an unversioned object is acted on only if it still has it. */
  eTag?: string;
  /** Why the object could not be read, when that also rules out acting on it. */
  problem?: 'gone' | 'superseded' | 'unreachable';
  /** The bucket promotes sanitized copies (its `sanitize`): the scan makes one. */
  sanitize?: boolean;
}

export interface PipelineRun {
  request: ScanRequest;
  /**
   * The uploaded file of a synchronous scan (`source: 'upload'`), read where it is. Without it,
   * an upload is a queued scan's, read from the upload store.
   */
  uploadPath?: string;
  /**
   * On the last attempt a transient failure becomes an error result instead of a retry: a
   * request that was accepted always ends with a result (and its callback), never in silence.
   */
  finalAttempt: boolean;
  /** Called with every engine's verdict (detections included) when the engines have answered. */
  onVerdicts?: (verdicts: EngineVerdict[]) => void;
  /** Aborts when the scan is deleted meanwhile: a download in progress stops at once. */
  signal?: AbortSignal;
  /**
   * Takes over the callback of the result this run stores (the scan worker's, see
   * worker/inline-callback.ts); without it the callback is queued.
   */
  callbacks?: CallbackHandOff;
}

/**
 * Delivers stored results' callbacks from this process. While one is owed, its scan stays in
 * the pending index with `owedScore()`, so that the pending reaper queues it should this process
 * stop first (scans/pending-reaper.ts); `start` removes it from there once delivered or queued.
 */
export interface CallbackHandOff {
  owedScore(): number;
  start(request: ScanRequest, result: ScanResult): void;
}

/**
 * A run's trace events, stamped as they happen and kept in memory: they are written with the
 * result in one step, or before anything else writes to the trace, or when the run stops.
 */
class RunTrace {
  private events: TraceEvent[] = [];

  constructor(
    private readonly scans: ScanStore,
    private readonly request: ScanRequest,
  ) {}

  add(message: string): void {
    this.events.push({ timestamp: new Date().toISOString(), message });
  }

  /** Stands in for the store's appendTrace, for a step that traces through one. */
  readonly appendTrace = (_tenantId: string, _scanId: string, message: string): Promise<void> => {
    this.add(message);
    return Promise.resolve();
  };

  take(): TraceEvent[] {
    return this.events.splice(0);
  }

  async flush(): Promise<void> {
    await this.scans.appendTraceEvents(this.request.tenantId, this.request.id, this.take());
  }
}

/**
 * A run as the pipeline's steps see it: with its trace buffer, and the bytes it downloaded and
 * has yet to count against the tenant's quota (counted beside the result's write).
 */
type Run = PipelineRun & { trace: RunTrace; uncharged?: number };

/** A download stopped because its scan was deleted: nothing is stored, nobody is called back. */
class ScanDeletedError extends Error {
  override name = 'ScanDeletedError';
}

export interface Content {
  path: string;
  size: number;
  sha1: string;
  /**
   * The codings the bytes at `path` were sent or stored with (`Content-Encoding`, S3's
   * `ContentEncoding`), in the order applied; the engines scan them decoded too, while the
   * checksum and size stay those of the bytes as sent.
   */
  contentEncoding?: readonly string[];
  /**
   * The media type the content was declared as where it was read (a download's Content-Type, an
   * object's ContentType; core/media-type.ts). Uploads carry theirs on the request.
   */
  declaredContentType?: string;
}

export async function runScanPipeline(
  deps: PipelineDeps,
  pipelineRun: PipelineRun,
): Promise<ScanResult | undefined> {
  const { request } = pipelineRun;
  const run: Run = { ...pipelineRun, trace: new RunTrace(deps.scans, request) };
  const fetchPath = deps.spool.fetchPath(request.id);
  const sanitizingPath = deps.spool.sanitizingPath(request.id);
  try {
    const { content, facts } = await obtainContent(deps, run, fetchPath);
    let result: ScanResult;
    let scanned: Content | undefined;
    if (typeof content === 'string') result = errorResult(request, content);
    else if ('findings' in content) result = content;
    else {
      scanned = content;
      result = await scanContent(deps, run, content);
    }
    result = await applyUnscannablePolicy({ ...deps, scans: run.trace }, request.tenantId, result);
    let sanitized: SanitizedFile | undefined;
    if (request.sanitize || facts.sanitize) {
      const step = {
        request,
        content: scanned,
        result,
        scratchPath: sanitizingPath,
        finalAttempt: run.finalAttempt,
        trace: (message: string) => run.trace.add(message),
      };
      ({ result, copy: sanitized } = await sanitizeScanned(deps.sanitizing, step));
    }
    if (request.source === 'object') {
      // The object stage writes its own trace events: ours go first, in order.
      await run.trace.flush();
      result = await objectStage(deps).act(request, result, facts, run.finalAttempt, sanitized);
    }
    return await finish(deps, run, result);
  } catch (error) {
    if (error instanceof ScanDeletedError) return undefined;
    throw error;
  } finally {
    // What a run that stopped early (a retry, a deletion) traced and fetched counts all the same.
    await Promise.all([run.trace.flush(), chargeFetched(deps, run)]);
    // Also the partial file of a download that failed or was cancelled, and the sanitized copy
    // (kept in the sanitized store by now, or not wanted).
    await Promise.all([deps.spool.remove(fetchPath), deps.spool.remove(sanitizingPath)]);
  }
}

/** Stores an error result for a scan that cannot be processed at all (and fires its callback). */
export async function failScan(
  deps: PipelineDeps,
  request: ScanRequest,
  message: string,
): Promise<void> {
  let result = errorResult(request, message);
  // A bucket object is still tagged scan-result=error (never left unmarked).
  if (request.source === 'object') result = await objectStage(deps).act(request, result, {}, true);
  const run = { request, finalAttempt: true, trace: new RunTrace(deps.scans, request) };
  await finish(deps, run, result);
}

function objectStage(deps: PipelineDeps): ObjectStage {
  if (!deps.objects)
    throw new Error('this process cannot scan bucket objects (no object stage configured)');
  return deps.objects;
}

async function obtainContent(
  deps: PipelineDeps,
  run: Run,
  fetchPath: string,
): Promise<{ content: Content | string | ScanResult; facts: ObjectFacts }> {
  const { request } = run;
  if (request.source === 'object')
    return objectStage(deps).fetch(request, fetchPath, run.finalAttempt);
  if (request.source === 'upload') {
    const uploadPath =
      run.uploadPath ?? (await deps.uploads.fetch(request.tenantId, request.id, fetchPath));
    return { content: { path: uploadPath, ...(await hashFile(uploadPath)) }, facts: {} };
  }
  return { content: await download(deps, run, fetchPath), facts: {} };
}

/** Downloads a `location` scan's content into `fetchPath`. */
async function download(
  deps: PipelineDeps,
  run: Run,
  fetchPath: string,
): Promise<Content | string> {
  const { request } = run;
  const location = request.location ?? '';
  const origin = safeOrigin(location);
  // Written at once: reading a pending scan's trace shows that its download has started.
  run.trace.add(`fetching content from ${origin}`);
  await run.trace.flush();
  try {
    const download = await deps.http.download(location, fetchPath, {
      maxBytes: deps.limits.maxFetchSize,
      timeoutMs: deps.limits.fetchTimeoutMs,
      minRate: deps.limits.fetchMinRate,
      signal: run.signal,
    });
    run.trace.add(`content fetched from ${origin} (${download.bytes} bytes)`);
    run.uncharged = download.bytes;
    if (download.bytes === 0) return `the location ${origin} returned no content to process`;
    const content: Content = {
      path: fetchPath,
      size: download.bytes,
      sha1: download.sha1,
      ...(download.contentType ? { declaredContentType: download.contentType } : {}),
    };
    const contentEncoding = parseContentEncoding(download.contentEncoding);
    if (contentEncoding.length === 0) return content;
    run.trace.add(`content sent with Content-Encoding: ${contentEncoding.join(', ')}`);
    return { ...content, contentEncoding };
  } catch (error) {
    if (!(error instanceof OutboundError)) throw error;
    // No trace either: it was deleted with the scan, or is the owner's to delete.
    if (run.signal?.aborted) throw new ScanDeletedError(`scan ${request.id} was deleted`);
    const message = `could not download content from ${origin}: ${error.message}`;
    run.trace.add(message);
    if (!error.retryable || run.finalAttempt) return message;
    throw new ScanError(message, { retryable: true, cause: error });
  }
}

async function scanContent(deps: PipelineDeps, run: Run, content: Content): Promise<ScanResult> {
  const { request } = run;
  const contentType = await sniffContentType(content.path);
  let plan: ScanPlan | undefined;
  const name = contentName(request);
  const declared = content.declaredContentType ?? request.declaredContentType;
  const facts = {
    declared_content_type: declared ?? null,
    file_extension: fileExtension(name) ?? null,
  };
  try {
    plan = (await deps.plans?.planFor(request)) ?? defaultPlan(request.tenantId);
    run.trace.add(`detection categories: ${plan.categories.join(', ')}`);
    const target: ScanTarget = {
      path: content.path,
      size: content.size,
      name,
      contentType,
      ...(declared ? { declaredContentType: declared } : {}),
      ...(content.contentEncoding?.length ? { contentEncoding: content.contentEncoding } : {}),
    };
    const { findings, verdicts } = await deps.engines.scan(target, plan);
    run.onVerdicts?.(verdicts);
    for (const verdict of verdicts) run.trace.add(describeVerdict(verdict));
    const classification = classificationOf(plan, verdicts);
    if (classification) run.trace.add(describeClassification(classification));
    return {
      id: request.id,
      checksum: content.sha1,
      content_length: content.size,
      findings,
      creation_date: request.creationDate,
      content_type: contentType,
      ...facts,
      metadata: request.metadata,
      engines: verdicts.map((v) => ({ name: v.engine, version: v.version })),
      ...(classification ? { classification } : {}),
    };
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    run.trace.add(`engine failed: ${error.message}`);
    deps.errors?.record({
      kind: 'engine',
      tenantId: request.tenantId,
      scanId: request.id,
      message: `engine failed${run.finalAttempt || !error.retryable ? '' : ' (will retry)'}: ${error.message}`,
    });
    // An engine error that is not retryable (clamd's size limit, say) would fail the same way again.
    if (!run.finalAttempt && error.retryable)
      throw new ScanError(error.message, { retryable: true, cause: error });
    return {
      ...errorResult(request, `the content could not be scanned: ${error.message}`),
      checksum: content.sha1,
      content_length: content.size,
      content_type: contentType,
      ...facts,
      ...(plan?.categories.includes('sensitive_data') ? { classification: UNCLASSIFIED } : {}),
    };
  }
}

/** The classification of a scan that failed: nothing counted, never to be read as `none`. */
const UNCLASSIFIED: ContentClassification = { result: 'error', matches: {}, samples: {} };

/**
 * The result's classification when the plan asked for `sensitive_data`: the one its analyzer's
 * verdict carries (an analyzer that gave none did not classify the content: `error`).
 */
function classificationOf(
  plan: ScanPlan,
  verdicts: readonly EngineVerdict[],
): ContentClassification | undefined {
  if (!plan.categories.includes('sensitive_data')) return undefined;
  return verdicts.find((verdict) => verdict.classification)?.classification ?? UNCLASSIFIED;
}

/** The trace line of a classification: the counts of each type, never a value or a sample. */
function describeClassification(classification: ContentClassification): string {
  const counts = Object.entries(classification.matches).map(([type, count]) => `${type}: ${count}`);
  return `sensitive data: ${classification.result}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}`;
}

async function finish(
  deps: PipelineDeps,
  run: Run,
  result: ScanResult,
): Promise<ScanResult | undefined> {
  const { request } = run;
  const summary = result.error
    ? `processing failed: ${result.error}`
    : `content processed successfully (${result.findings.length} findings)`;
  const trace = run.trace.take();
  const handOff = request.callback ? run.callbacks : undefined;
  const [stored] = await Promise.all([
    deps.scans.complete(request.tenantId, result, {
      trace: [...trace, { timestamp: new Date().toISOString(), message: summary }],
      ...(handOff ? { callbackOwedScore: handOff.owedScore() } : {}),
    }),
    chargeFetched(deps, run),
  ]);
  if (stored) {
    deps.metrics?.resultStored(result);
    deps.logger.info(
      {
        scanId: request.id,
        tenantId: request.tenantId,
        source: request.source,
        findings: result.findings,
        contentLength: result.content_length,
        ...(result.error ? { error: result.error } : {}),
      },
      'scan finished',
    );
  }
  // Also on a retry after a crash between "stored" and "delivered" or "queued": the result is
  // there, so the callback is queued (its job id derives from the scan id, so queueing it twice
  // still delivers once). A deleted scan gets no callback.
  if (!stored) await deps.scans.appendTraceEvents(request.tenantId, request.id, trace);
  const record = stored ? undefined : await deps.scans.get(request.tenantId, request.id);
  const done = stored || record?.state === 'done';
  if (stored && handOff) {
    handOff.start(request, result);
  } else if (request.callback && done) {
    await enqueueCallback(deps.queues, { tenantId: request.tenantId, scanId: request.id });
  }
  if (request.source === 'object')
    await objectStage(deps).settle(request, stored ? result : record?.result);
  await removeUpload(deps, run);
  return stored ? result : undefined;
}

/**
 * Removes the scan's upload once its scan ended: a synchronous scan's file, or a queued scan's
 * upload in the store. A store that cannot be reached now does not fail the scan, whose result
 * is stored: the spool sweeper removes the upload later (worker/chores/spool-sweeper.ts).
 */
async function removeUpload(deps: PipelineDeps, run: Run): Promise<void> {
  const { request } = run;
  if (run.uploadPath) {
    await deps.spool.remove(run.uploadPath);
    return;
  }
  if (request.source !== 'upload') return;
  await deps.uploads.remove(request.tenantId, request.id).catch((error: unknown) => {
    deps.logger.warn({ err: error, scanId: request.id }, 'could not remove a finished upload');
  });
}

/** Counts the run's downloaded bytes against the tenant's daily quota, once; best effort. */
async function chargeFetched(deps: PipelineDeps, run: Run): Promise<void> {
  const bytes = run.uncharged ?? 0;
  run.uncharged = 0;
  if (bytes === 0 || !deps.usage) return;
  await deps.usage.chargeFetched(run.request.tenantId, bytes).catch((error: unknown) => {
    deps.logger.warn(
      { err: error, scanId: run.request.id },
      'could not count fetched bytes against the quota',
    );
  });
}

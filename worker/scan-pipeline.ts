import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Logger } from '../core/logger.js';
import { OutboundError, safeOrigin, type OutboundHttp } from '../core/outbound-http.js';
import { enqueueCallback, type Queues } from '../core/queues.js';
import { errorResult, type ScanRequest, type ScanResult } from '../core/results.js';
import type { ScanStore } from '../core/scan-store.js';
import type { Spool } from '../core/spool.js';
import { sniffContentType } from '../scanning/content-type.js';
import { EngineError } from '../scanning/engine.js';
import type { EngineSet } from '../scanning/engines.js';

/**
 * One scan from request to stored result: get the bytes onto local disk (hashing them on the
 * way), sniff the type, run the engines, store the result, queue the callback. The sync API
 * route and the scan worker both run this, so a result means the same thing either way.
 */
export interface PipelineDeps {
  scans: ScanStore;
  engines: EngineSet;
  http: OutboundHttp;
  queues: Queues;
  spool: Spool;
  limits: { maxFetchSize: number; fetchTimeoutMs: number };
  logger: Logger;
}

export interface PipelineRun {
  request: ScanRequest;
  /** The uploaded file for `source: 'upload'`; unused for `location`. */
  uploadPath?: string;
  /**
   * On the last attempt a transient failure becomes an error result instead of a retry: a
   * request that was accepted always ends with a result (and its callback), never in silence.
   */
  finalAttempt: boolean;
}

/** Thrown for failures worth another attempt (the job is retried with backoff). */
export class TransientScanError extends Error {
  override name = 'TransientScanError';
}

interface Content {
  path: string;
  size: number;
  sha1: string;
}

export async function runScanPipeline(deps: PipelineDeps, run: PipelineRun): Promise<ScanResult | undefined> {
  const { request } = run;
  const fetchPath = deps.spool.fetchPath(request.id);
  try {
    const content = await obtainContent(deps, run, fetchPath);
    if (typeof content === 'string') return await finish(deps, run, errorResult(request, content));
    const result = await scanContent(deps, run, content);
    return await finish(deps, run, result);
  } finally {
    await deps.spool.remove(fetchPath);
  }
}

/** Stores an error result for a scan that cannot be processed at all (and fires its callback). */
export async function failScan(deps: PipelineDeps, request: ScanRequest, uploadPath: string | undefined, message: string): Promise<void> {
  await finish(deps, { request, uploadPath, finalAttempt: true }, errorResult(request, message));
}

async function obtainContent(deps: PipelineDeps, run: PipelineRun, fetchPath: string): Promise<Content | string> {
  const { request } = run;
  if (request.source === 'upload') {
    if (!run.uploadPath) throw new Error(`scan ${request.id} has no uploaded file`);
    return hashFile(run.uploadPath);
  }
  const location = request.location ?? '';
  const origin = safeOrigin(location);
  await deps.scans.appendTrace(request.tenantId, request.id, `fetching content from ${origin}`);
  try {
    const download = await deps.http.download(location, fetchPath, {
      maxBytes: deps.limits.maxFetchSize,
      timeoutMs: deps.limits.fetchTimeoutMs,
    });
    await deps.scans.appendTrace(request.tenantId, request.id, `content fetched from ${origin} (${download.bytes} bytes)`);
    if (download.bytes === 0) return `the location ${origin} returned no content to process`;
    return { path: fetchPath, size: download.bytes, sha1: download.sha1 };
  } catch (error) {
    if (!(error instanceof OutboundError)) throw error;
    const message = `could not download content from ${origin}: ${error.message}`;
    await deps.scans.appendTrace(request.tenantId, request.id, message);
    if (error.permanent || run.finalAttempt) return message;
    throw new TransientScanError(message);
  }
}

async function scanContent(deps: PipelineDeps, run: PipelineRun, content: Content): Promise<ScanResult> {
  const { request } = run;
  const contentType = await sniffContentType(content.path);
  try {
    const { findings, verdicts } = await deps.engines.scan({ path: content.path, size: content.size });
    for (const verdict of verdicts) {
      const outcome = verdict.findings.length > 0 ? verdict.findings.join(', ') : 'no findings';
      await deps.scans.appendTrace(request.tenantId, request.id, `scanned by ${verdict.engine} (${verdict.version}): ${outcome}`);
    }
    return {
      id: request.id,
      checksum: content.sha1,
      content_length: content.size,
      findings,
      creation_date: request.creationDate,
      content_type: contentType,
      metadata: request.metadata,
      engines: verdicts.map((v) => ({ name: v.engine, version: v.version })),
    };
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    await deps.scans.appendTrace(request.tenantId, request.id, `engine failed: ${error.message}`);
    if (!run.finalAttempt) throw new TransientScanError(error.message);
    return {
      ...errorResult(request, `the content could not be scanned: ${error.message}`),
      checksum: content.sha1,
      content_length: content.size,
      content_type: contentType,
    };
  }
}

async function finish(deps: PipelineDeps, run: PipelineRun, result: ScanResult): Promise<ScanResult | undefined> {
  const { request } = run;
  const stored = await deps.scans.complete(request.tenantId, result);
  if (stored) {
    const summary = result.error
      ? `processing failed: ${result.error}`
      : `content processed successfully (${result.findings.length} findings)`;
    await deps.scans.appendTrace(request.tenantId, request.id, summary);
  }
  // Also on a retry after a crash between "stored" and "queued": the callback job id derives
  // from the scan id, so queueing it twice still delivers once. A deleted scan gets no callback.
  const done = stored || (await deps.scans.get(request.tenantId, request.id))?.state === 'done';
  if (request.callback && done) {
    await enqueueCallback(deps.queues, { tenantId: request.tenantId, scanId: request.id });
  }
  if (run.uploadPath) await deps.spool.remove(run.uploadPath);
  return stored ? result : undefined;
}

async function hashFile(filePath: string): Promise<Content> {
  const hash = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 })) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    hash.update(buffer);
  }
  return { path: filePath, size, sha1: hash.digest('hex') };
}

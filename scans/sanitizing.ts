import { ScanError } from '../core/errors.js';
import { hashFile } from '../core/file-hash.js';
import type { SanitizedStore } from '../core/sanitized-store.js';
import { contentName } from '../scanning/engines.js';
import type { SanitizeLimits, SanitizerSet } from '../scanning/sanitize/index.js';
import type { ScanRequest, ScanResult } from './results.js';

/**
 * A scan's sanitized copy (`sanitize=true`, a bucket's `sanitize`; docs/sanitizing.md), made by
 * the pipeline once the content is scanned, while the content is still on local disk: the
 * sanitizer writes the copy beside it, the copy is kept in the sanitized store under the scan's
 * id (before the result that describes it is stored, so a result never names a copy that is not
 * there), and the result says what the copy is or why there is none.
 *
 * A copy is made only of content that was scanned and has no findings. A finding of any
 * category means the tenant's scan said no to the content: a copy of malware with its macro
 * taken out still carries the rest of the malware's body (its payload, its exploit of a parser,
 * its lure), and a copy of content with findings of other categories still holds what was
 * found. Content that could not be scanned fully (`suppressed_findings` of a tenant opted out of
 * unscannable findings) gets no copy either. An error result (nothing scanned) gets no
 * `sanitized` at all; its download says why.
 */
export interface SanitizingDeps {
  /** The process's sanitizers (scanning/sanitize/), built once by cli/runtime.ts. */
  sanitizers: Pick<SanitizerSet, 'sanitizeFile'>;
  /** Where copies are kept (and removed from, when a rescan finds the content has findings). */
  store: Pick<SanitizedStore, 'keep' | 'remove'>;
  /** The largest content sanitized and the time one copy may take (ARBITER_SANITIZE_TIMEOUT_MS). */
  limits: SanitizeLimits;
}

/** A sanitized copy on local disk, for the object stage to promote (s3/object-stage.ts). */
export interface SanitizedFile {
  path: string;
  contentType: string;
  size: number;
}

export interface SanitizeStep {
  request: ScanRequest;
  /** The content as scanned; undefined when it was never scanned (an error, too large to read). */
  content: { path: string; size: number } | undefined;
  result: ScanResult;
  /** Where the sanitizer writes the copy (the caller removes it once the run ends). */
  scratchPath: string;
  finalAttempt: boolean;
  trace(message: string): void;
}

/** The result with its `sanitized`, and the copy on local disk when one was made. */
export interface SanitizedResult {
  result: ScanResult;
  copy?: SanitizedFile;
}

export const HAS_FINDINGS = 'the content has findings';

/**
 * Makes the scan's sanitized copy, or says why there is none. A copy that cannot be kept in the
 * store is retried with the scan (ScanError, retryable) before its last attempt, and is
 * `available: false` on it.
 */
export async function sanitizeScanned(
  deps: SanitizingDeps | undefined,
  step: SanitizeStep,
): Promise<SanitizedResult> {
  const { request, content, result } = step;
  if (result.error !== undefined) return { result };
  const refuse = (reason: string): SanitizedResult => {
    step.trace(`no sanitized copy: ${reason}`);
    return { result: { ...result, sanitized: { available: false, reason } } };
  };
  if (result.findings.length > 0) return refuse(HAS_FINDINGS);
  if (result.suppressed_findings?.length) return refuse('the content could not be fully scanned');
  if (!content) return refuse('the content was not scanned');
  if (!deps) return refuse('this service does not make sanitized copies');
  const contentType = result.content_type ?? 'application/octet-stream';
  const outcome = await deps.sanitizers.sanitizeFile(
    { path: content.path, size: content.size, contentType, name: contentName(request) },
    step.scratchPath,
    deps.limits,
  );
  if (!outcome.available) return refuse(outcome.reason);
  const { size, sha1 } = await hashFile(step.scratchPath);
  try {
    await deps.store.keep(request.tenantId, request.id, step.scratchPath, {
      contentType: outcome.contentType,
      size,
    });
  } catch (error) {
    const message = `the sanitized copy could not be stored: ${messageOf(error)}`;
    if (!step.finalAttempt) {
      step.trace(`${message}; the scan will be retried`);
      throw new ScanError(message, { retryable: true, cause: error });
    }
    return refuse(message);
  }
  const removed = outcome.removed.length > 0 ? outcome.removed.join(', ') : 'nothing';
  step.trace(`sanitized copy made (${outcome.contentType}, ${size} bytes); removed: ${removed}`);
  return {
    result: {
      ...result,
      sanitized: {
        available: true,
        removed: [...outcome.removed],
        content_type: outcome.contentType,
        checksum: sha1,
        size,
      },
    },
    copy: { path: step.scratchPath, contentType: outcome.contentType, size },
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

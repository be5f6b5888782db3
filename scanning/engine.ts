import { ArbiterError } from '../core/errors.js';
import type { SensitiveType } from '../core/sensitive-types.js';
import type { LoadReport } from './signatures/database.js';

/** What every scan engine implements; the pipeline runs several and unites their findings. */
export interface ScanTarget {
  /** A local file holding the complete content. */
  path: string;
  size: number;
  /**
   * The content's name (the upload's file name, the last part of a URL or object key): the
   * first part of member paths such as `upload.zip/inner.zip/eicar.com`. Default `content`.
   */
  name?: string;
  /**
   * The HTTP content codings the content was sent or stored with (`Content-Encoding: gzip, br`,
   * an S3 object's `ContentEncoding`), in the order applied; `path` holds the bytes as sent.
   * What a browser would hand over is the decoded bytes: an engine that can decode them scans
   * those too (the built-in engine).
   */
  contentEncoding?: readonly string[];
  /** The content's media type as sniffed from its bytes (the result's `content_type`), if known. */
  contentType?: string;
  /**
   * The media type the content was declared as (an upload part's or a response's Content-Type,
   * an S3 object's ContentType; core/media-type.ts), if it was declared.
   */
  declaredContentType?: string;
}

/** One finding at one place: the content itself or a member at some depth of its archives. */
export interface Detection {
  /** From the top: `['upload.zip', 'inner.zip', 'eicar.com']`; one part for the content itself. */
  path: string[];
  /** The finding in Arbiter's form (`content.malicious.…`, `content.unscannable.…`). */
  finding: string;
  /** The signature that matched, or for unscannable content what could not be scanned. */
  signature: string;
}

export interface EngineVerdict {
  engine: string;
  /** Engine and signature database version, recorded with each result. */
  version: string;
  /** Finding names in Arbiter's form (`content.malicious.…`), united over the whole content. */
  findings: string[];
  /** Where each finding was made, for engines that see inside archives (the built-in one). */
  detections?: Detection[];
  /** How the content was read where that is worth a line in the trace (see `WalkResult.notes`). */
  notes?: string[];
  /**
   * The sensitive-data classification of the whole content, summed over every piece: given by
   * the analyzer of the `sensitive_data` category, and carried into the result as it is.
   */
  classification?: ContentClassification;
}

/**
 * The sensitive-data classification of one scan's content: counts and redacted samples only,
 * never a value. `sensitive` when a type reached the tenant's threshold (those types alone are
 * in `matches` and `samples`), `none` when none did, `error` when it could not be made.
 */
export interface ContentClassification {
  result: 'sensitive' | 'none' | 'error';
  matches: Partial<Record<SensitiveType, number>>;
  samples: Partial<Record<SensitiveType, string[]>>;
}

/** What an engine says about itself after loading or reloading (for the admin API). */
export interface EngineDescription {
  name: string;
  version: string;
  /** Signatures loaded, and database lines skipped or loaded with a caveat, when known. */
  signatures?: number;
  problems?: number;
  warnings?: number;
  loadMs?: number;
}

export interface Engine {
  readonly name: string;
  scan(target: ScanTarget): Promise<EngineVerdict>;
  /** Throws when the engine cannot scan right now (used by `/readyz`). */
  ping(): Promise<void>;
  /** Re-reads the signature database without dropping scans in flight. */
  reload?(): Promise<void>;
  describe?(): EngineDescription;
  /**
   * Per signature type and container, what the engine's last load read and skipped (undefined
   * when the engine does not know: a clamd whose database folder Arbiter was not told).
   */
  loadReport?(): LoadReport | undefined;
  close(): Promise<void>;
}

/**
 * An engine could not give a verdict. By default it is retryable (clamd unreachable, a dropped
 * connection: worth another attempt); `retryable: false` (e.g. clamd's `INSTREAM size limit
 * exceeded`) would fail the same way again, so the scan ends with an error result at once.
 */
export class EngineError extends ArbiterError {
  constructor(
    public readonly engine: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(`${engine}: ${message}`, { retryable: options.retryable ?? true, cause: options.cause });
  }
}

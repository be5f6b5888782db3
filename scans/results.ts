import type { ContentClassification } from '../scanning/engine.js';
import { contentName } from '../scanning/engines.js';
import { fileExtension } from '../scanning/file-extension.js';

/**
 * The processing result, in the Scanii v2.2 wire shape. Field names are the protocol's and must
 * never be renamed or dropped; new fields may be added (clients ignore unknown fields).
 * api/response-schemas.ts and the receiver kit's ArbiterResult repeat it: the compile-time checks
 * in test/scans/result-shape.test.ts fail when they drift apart.
 */
export interface ScanResult {
  id: string;
  checksum: string | null;
  content_length: number | null;
  findings: string[];
  creation_date: string;
  content_type: string | null;
  /**
   * The media type the content was declared as, without parameters: the upload part's
   * Content-Type, the download's Content-Type, the object's ContentType; null when none was (or
   * the value was not a media type). On every result, whatever the detection categories (absent
   * only from results stored before this field existed).
   */
  declared_content_type?: string | null;
  /**
   * The extension of the content's name (the upload's file name, the last part of the location's
   * path, the object key), lower case without the dot; null when it has none. On every result,
   * as `declared_content_type`.
   */
  file_extension?: string | null;
  metadata: Record<string, string>;
  /** Present only when processing failed (e.g. the location could not be downloaded). */
  error?: string;
  /**
   * `content.unscannable.*` findings left out because the tenant opted out of them
   * (core/tenant-settings.ts); absent otherwise.
   */
  suppressed_findings?: string[];
  /** Which engines looked at the content, with their database versions. */
  engines?: Array<{ name: string; version: string }>;
  /** Scans of bucket objects (`source: 'object'`): the object and what was done with it. */
  bucket?: string;
  key?: string;
  versionId?: string | null;
  /** `clean`, `infected`, `unscannable` or `error` (the value of the scan-result tag). */
  outcome?: ObjectOutcome;
  /** What was done: `tag`, `quarantine`, `promote`, `delete`, `keep`, or `none`. */
  action?: ObjectAction;
  /** Set when the action (or part of it) failed; the trace has the details. */
  action_error?: string;
  /**
   * Set when a rescan (`POST /v1/rescans`) changed the verdict: which rescan, when, and what the
   * result said before (its findings and the engine databases that gave them).
   */
  rescan?: RescanNote;
  /**
   * Asked for with `sanitize=true`, a key's or tenant's `sanitize` setting, or a bucket's
   * `sanitize`: the sanitized copy of the content, downloadable from `GET /files/{id}/sanitized`
   * while the result lives, or why there is none (docs/sanitizing.md). Absent when no copy was
   * asked for, or the content was not scanned.
   */
  sanitized?: SanitizedCopy;
  /**
   * Present when the scan's categories include `sensitive_data`: how many sensitive values of
   * each type reaching the tenant's threshold the content holds, with redacted samples.
   */
  classification?: ContentClassification;
}

/** The sanitized copy of a result's content: what it is and what was taken out, or why none. */
export type SanitizedCopy =
  | {
      available: true;
      /** What was taken out (`metadata`, `trailing-data`, `macros`, …; docs/sanitizing.md). */
      removed: string[];
      content_type: string;
      /** SHA-1 (hex) of the copy, as `checksum` is of the content. */
      checksum: string;
      size: number;
    }
  | { available: false; reason: string };

export interface RescanNote {
  id: string;
  date: string;
  previous_findings: string[];
  previous_engines: Array<{ name: string; version: string }>;
}

export type ObjectOutcome = 'clean' | 'infected' | 'unscannable' | 'error';
export type ObjectAction = 'tag' | 'quarantine' | 'promote' | 'delete' | 'keep' | 'none';

/** An object version in a registered bucket. */
export interface ObjectRef {
  bucket: string;
  key: string;
  /** Absent for unversioned buckets (S3 reports them as version "null"). */
  versionId?: string;
  /** From the event, when known: lets an unversioned object be told apart from its replacement. */
  eTag?: string;
  size?: number;
}

/** What the client asked for; stored with the scan so that jobs carry only ids. */
export interface ScanRequest {
  id: string;
  tenantId: string;
  source: 'upload' | 'location' | 'object';
  location?: string;
  callback?: string;
  metadata: Record<string, string>;
  creationDate: string;
  /** The client's file name for uploads, for the trace. */
  fileName?: string;
  /** Uploads: the media type of the file part's Content-Type (core/media-type.ts), if any. */
  declaredContentType?: string;
  /** `source: 'object'`: the object to read from its registered bucket. */
  object?: ObjectRef;
  /** `source: 'object'`: what asked for the scan (an S3 event, the API, a retro job, a rescan). */
  origin?: 'event' | 'api' | 'retro' | 'rescan';
  /** `source: 'object'`, origin `retro`: the retro job that submitted the object. */
  retroJobId?: string;
  /**
   * The API key that submitted the scan (directly, or through an auth token it minted): its own
   * detection categories apply (scans/scan-plans.ts). Unset for scans no key asked for (S3
   * events, retro jobs), which follow their tenant's settings. A rescan keeps its original's.
   */
  keyId?: string;
  /**
   * A sanitized copy of the content is made once it is scanned (clean): the request's
   * `sanitize=true`, or the key's or tenant's setting when the request did not say, decided at
   * submit time (scans/sanitize-choice.ts).
   */
  sanitize?: boolean;
}

export type ScanState = 'pending' | 'done' | 'deleted';

export interface ScanRecord {
  request: ScanRequest;
  state: ScanState;
  result?: ScanResult;
}

export interface TraceEvent {
  timestamp: string;
  message: string;
}

/**
 * A stored result's outcome, as the scan list filters by it: `error` when processing failed (the
 * content was not scanned), `findings` when there is at least one finding, else `clean`.
 */
export const RESULT_OUTCOMES = ['clean', 'findings', 'error'] as const;
export type ResultOutcome = (typeof RESULT_OUTCOMES)[number];

export function resultOutcome(result: ScanResult): ResultOutcome {
  if (result.error !== undefined) return 'error';
  return result.findings.length > 0 ? 'findings' : 'clean';
}

export function errorResult(request: ScanRequest, message: string): ScanResult {
  return {
    id: request.id,
    checksum: null,
    content_length: null,
    findings: [],
    creation_date: request.creationDate,
    content_type: null,
    declared_content_type: request.declaredContentType ?? null,
    file_extension: fileExtension(contentName(request)) ?? null,
    metadata: request.metadata,
    error: message,
  };
}

import { newId } from '../core/ids.js';
import { parseMediaType } from '../core/media-type.js';
import { shortenFileName } from '../scanning/file-extension.js';
import type { ObjectRef, ScanRequest } from './results.js';

/**
 * Building the ScanRequest of a new scan, for each way content arrives: an upload, a location to
 * download, an object of a registered bucket. What is stored with the scan (and read back by the
 * worker that runs it) is decided here only.
 */

/** What a client may send with its content (the Scanii fields). */
export interface ClientFields {
  callback?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /**
   * Whether a sanitized copy is made: by the time a request is built, decided from the client's
   * `sanitize` and the key's and tenant's settings (scans/sanitize-choice.ts); unset is false.
   */
  sanitize?: boolean | undefined;
}

/** Who submitted a scan through the API: the key, whose detection categories then apply. */
export interface Submitter {
  keyId?: string | undefined;
}

/** Client file names are kept for the trace, cut to a sane length (their extension kept). */
const MAX_FILE_NAME = 255;

/** What a multipart file part says of itself: its `filename` and its `Content-Type`. */
export interface UploadedPart {
  name?: string | undefined;
  /** As sent; kept only when it is a media type (core/media-type.ts), without parameters. */
  contentType?: string | undefined;
}

export function uploadRequest(
  tenantId: string,
  fields: ClientFields,
  part: UploadedPart | undefined,
  submitter: Submitter = {},
  /** An async upload's id is chosen when it is staged (core/upload-store.ts). */
  id: string = newId(),
): ScanRequest {
  const request = baseRequest(tenantId, id, 'upload', fields, submitter);
  if (part?.name) request.fileName = shortenFileName(part.name, MAX_FILE_NAME);
  const declared = parseMediaType(part?.contentType);
  if (declared) request.declaredContentType = declared;
  return request;
}

export function locationRequest(
  tenantId: string,
  fields: ClientFields & { location: string },
  submitter: Submitter = {},
): ScanRequest {
  const request = baseRequest(tenantId, newId(), 'location', fields, submitter);
  request.location = fields.location;
  return request;
}

export interface ObjectScanFields {
  object: ObjectRef;
  origin: NonNullable<ScanRequest['origin']>;
  /** The bucket's callback URL, if it has one. */
  callback?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** For origin `retro`: the job to credit with the outcome. */
  retroJobId?: string | undefined;
  /** For origin `api`: the key that asked (see Submitter); never for events, retro, rescans. */
  keyId?: string | undefined;
}

/** An object scan's id is chosen by its submitter (it claims the object version under it first). */
export function objectRequest(
  tenantId: string,
  scanId: string,
  fields: ObjectScanFields,
): ScanRequest {
  const request: ScanRequest = {
    id: scanId,
    tenantId,
    source: 'object',
    object: objectRef(fields.object),
    origin: fields.origin,
    metadata: fields.metadata ?? {},
    creationDate: new Date().toISOString(),
  };
  if (fields.callback) request.callback = fields.callback;
  if (fields.retroJobId) request.retroJobId = fields.retroJobId;
  if (fields.keyId && fields.origin === 'api') request.keyId = fields.keyId;
  return request;
}

/** Just the object's identity (and size), its ETag without the quotes S3 puts around it. */
export function objectRef(item: ObjectRef): ObjectRef {
  const ref: ObjectRef = { bucket: item.bucket, key: item.key };
  if (item.versionId) ref.versionId = item.versionId;
  if (item.eTag) ref.eTag = item.eTag.replace(/^"|"$/g, '');
  if (item.size !== undefined) ref.size = item.size;
  return ref;
}

function baseRequest(
  tenantId: string,
  id: string,
  source: ScanRequest['source'],
  fields: ClientFields,
  submitter: Submitter,
): ScanRequest {
  const request: ScanRequest = {
    id,
    tenantId,
    source,
    metadata: { ...(fields.metadata ?? {}) },
    creationDate: new Date().toISOString(),
  };
  if (fields.callback) request.callback = fields.callback;
  if (submitter.keyId) request.keyId = submitter.keyId;
  if (fields.sanitize) request.sanitize = true;
  return request;
}

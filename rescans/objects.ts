import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { ObjectRef, ScanRecord, ScanRequest } from '../scans/results.js';
import type { BucketRecord } from '../s3/bucket-schema.js';
import type { BucketStore } from '../s3/bucket-store.js';
import type { AwsClients } from '../s3/clients.js';
import { toStorageError } from '../s3/storage-errors.js';
import type { ObjectScanService } from '../s3/object-scans.js';
import { SKIP_REASONS, type SkipReason } from './schema.js';

/**
 * What a rescan needs to scan a bucket object again: the tenant's buckets, their S3 clients, and
 * the object scans' per-version lease (so a rescan and an S3 event never scan one version at once).
 */
export interface ObjectRescanDeps {
  buckets: BucketStore;
  clients: AwsClients;
  objectScans: Pick<ObjectScanService, 'claim' | 'releaseClaim'>;
}

export type ObjectRescan =
  { kind: 'queue'; request: ScanRequest } | { kind: 'skip'; reason: SkipReason };

/**
 * The rescan's scan of the object a stored result was made of, when that exact object is still
 * there: its bucket still registered to the tenant, and the version scanned (the version id; for
 * an unversioned object, the same ETag) still in place. The scan is an ordinary object scan
 * (origin `rescan`): the object stage reads it and acts on it with the new verdict.
 */
export async function objectRescan(
  deps: ObjectRescanDeps | undefined,
  original: ScanRecord,
  request: ScanRequest,
): Promise<ObjectRescan> {
  const ref = scannedVersion(original);
  if (!deps || !ref) return { kind: 'skip', reason: SKIP_REASONS.notHeld };
  const bucket = await deps.buckets.get(request.tenantId, ref.bucket);
  if (!bucket) return { kind: 'skip', reason: SKIP_REASONS.bucketGone };
  const present = await stillInPlace(deps, bucket, ref);
  if (present !== true) return { kind: 'skip', reason: present };
  if (!(await deps.objectScans.claim(request.tenantId, ref, request.id)))
    return { kind: 'skip', reason: SKIP_REASONS.objectBusy };
  return { kind: 'queue', request: { ...request, object: ref, origin: 'rescan' } };
}

/** The version the stored result was made of: the one the object stage read, else the one asked. */
function scannedVersion(original: ScanRecord): ObjectRef | undefined {
  const asked = original.request.object;
  if (!asked) return undefined;
  const ref: ObjectRef = { bucket: asked.bucket, key: asked.key };
  const versionId = original.result?.versionId ?? asked.versionId;
  if (versionId) ref.versionId = versionId;
  else if (asked.eTag) ref.eTag = asked.eTag;
  return ref;
}

/** True when the version is still there; else why it cannot be scanned again now. */
async function stillInPlace(
  deps: ObjectRescanDeps,
  bucket: BucketRecord,
  ref: ObjectRef,
): Promise<true | SkipReason> {
  try {
    await deps.clients.s3(bucket).send(
      new HeadObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ref.versionId ? { VersionId: ref.versionId } : {}),
        ...(!ref.versionId && ref.eTag ? { IfMatch: `"${ref.eTag}"` } : {}),
      }),
    );
    return true;
  } catch (error) {
    const problem = toStorageError(error);
    const code = (error as { name?: string }).name ?? '';
    if (problem.status === 404 || /NoSuchKey|NoSuchVersion|NotFound/.test(code))
      return SKIP_REASONS.objectGone;
    if (problem.status === 412) return SKIP_REASONS.objectReplaced;
    // A version id S3 no longer knows may answer 400 (InvalidArgument) rather than 404.
    if (problem.status === 400 && ref.versionId) return SKIP_REASONS.objectGone;
    // Anything else (credentials refused, S3 away): not this time, said so; a later rescan retries.
    return SKIP_REASONS.objectUnreadable;
  }
}

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ByteCounter } from '../core/byte-counter.js';
import { ScanError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type {
  ObjectAction,
  ObjectOutcome,
  ObjectRef,
  ScanRequest,
  ScanResult,
} from '../scans/results.js';
import { parseMediaType } from '../core/media-type.js';
import { parseContentEncoding } from '../scanning/archives/content-encoding.js';
import { fileExtension } from '../scanning/file-extension.js';
import type { ScanStore } from '../scans/store.js';
import type { Content, ObjectFacts, ObjectStage } from '../scans/pipeline.js';
import type { SanitizedFile } from '../scans/sanitizing.js';
import type { BucketActions, BucketRecord } from './bucket-schema.js';
import type { BucketStore } from './bucket-store.js';
import type { AwsClients } from './clients.js';
import { describeObject, type ObjectLeases, type ObjectOutcomes } from './object-scans.js';
import { toStorageError } from './storage-errors.js';
import { mergeTags, outcomeOf, scanTags, taggingHeader, type Tag } from './tags.js';

/**
 * The S3 side of a scan of a bucket object (the pipeline's ObjectStage):
 *
 * 1. fetch — GetObject (the event's version; for an unversioned object `If-Match` the event's
 *    ETag, so a replaced object is not read in its place), streamed to the spool file with
 *    SHA-1 and size counted on the way: the object is never held in memory.
 * 2. act — after the verdict, with the facts its fetch returned (the version read, its ETag),
 *    which the pipeline hands over: tags merged into the object's own (see tags.ts), quarantine or
 *    promote (copy with tags, then delete the source version), delete, or keep. An error
 *    outcome (engine or S3 failure) is always tagged `scan-result=error` in place, never moved.
 *    An action that cannot be completed falls back to tagging in place, so an object is never
 *    left unmarked when it can be marked at all. A bucket with `sanitize` promotes a clean
 *    object's sanitized copy (PutObject, with the tags) and quarantines the object itself; with
 *    no copy to promote, the object is tagged where it is, never promoted unsanitized.
 *    Transient S3 failures (5xx, throttling,
 *    network) retry the job; on its last attempt whatever could be done is recorded.
 * 3. settle — once the result is stored: the object's lease is released and the outcome
 *    listeners are told (see object-scans.ts).
 *
 * Every step is written to the scan's trace.
 */
export interface ObjectStageDeps {
  buckets: BucketStore;
  clients: AwsClients;
  scans: ScanStore;
  leases: ObjectLeases;
  outcomes: ObjectOutcomes;
  limits: { maxFetchSize: number; fetchTimeoutMs: number };
  logger: Logger;
  now?: () => Date;
}

interface ActContext {
  s3: S3Client;
  bucket: BucketRecord;
  ref: ObjectRef;
  versionId: string | undefined;
  where: string;
  ours: Tag[];
  trace: (message: string) => Promise<void>;
  finalAttempt: boolean;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; message: string };

export class S3ObjectStage implements ObjectStage {
  constructor(private readonly deps: ObjectStageDeps) {}

  async fetch(
    request: ScanRequest,
    destination: string,
    finalAttempt: boolean,
  ): Promise<{ content: Content | string | ScanResult; facts: ObjectFacts }> {
    const ref = request.object;
    if (!ref) return { content: 'the scan names no object', facts: {} };
    const trace = this.tracer(request);
    const unreachable = (message: string) => ({
      content: message,
      facts: { problem: 'unreachable' as const },
    });
    await this.deps.leases.refresh(request.tenantId, ref, request.id);
    const bucket = await this.deps.buckets.get(request.tenantId, ref.bucket);
    if (!bucket) return unreachable(`the bucket ${ref.bucket} is not registered (any more)`);
    const facts: ObjectFacts = bucket.sanitize ? { sanitize: true } : {};
    let s3: S3Client;
    try {
      s3 = this.deps.clients.s3(bucket);
    } catch (error) {
      return unreachable(`the bucket's credentials cannot be used: ${messageOf(error)}`);
    }

    const where = describeObject(ref);
    await trace(`fetching ${where}`);
    const { maxFetchSize, fetchTimeoutMs } = this.deps.limits;
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`reading the object took longer than ${fetchTimeoutMs} ms`)),
      fetchTimeoutMs,
    );
    try {
      const output = await s3.send(
        new GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(ref.versionId
            ? { VersionId: ref.versionId }
            : ref.eTag
              ? { IfMatch: `"${ref.eTag}"` }
              : {}),
        }),
        { abortSignal: abort.signal },
      );
      if (output.VersionId && output.VersionId !== 'null') facts.versionId = output.VersionId;
      if (output.ETag) facts.eTag = unquote(output.ETag);
      const body = output.Body as Readable | undefined;
      const declared = output.ContentLength;
      if (declared !== undefined && declared > maxFetchSize) {
        body?.destroy();
        const declaredType = parseMediaType(output.ContentType);
        return {
          content: await this.tooLarge(request, trace, where, declared, declaredType),
          facts,
        };
      }
      if (!body) {
        await writeFile(destination, '');
        await trace(`fetched ${where}: 0 bytes`);
        const empty = { path: destination, size: 0, sha1: createHash('sha1').digest('hex') };
        return { content: empty, facts };
      }
      abort.signal.addEventListener('abort', () => body.destroy(abort.signal.reason as Error), {
        once: true,
      });
      const counter = new ByteCounter(maxFetchSize, (bytes) => new TooLarge(bytes));
      await pipeline(body, counter, createWriteStream(destination));
      const read = describeObject({ ...ref, versionId: facts.versionId ?? ref.versionId });
      const contentEncoding = parseContentEncoding(output.ContentEncoding);
      const declaredType = parseMediaType(output.ContentType);
      const content: Content = {
        path: destination,
        size: counter.bytes,
        sha1: counter.sha1(),
        ...(declaredType ? { declaredContentType: declaredType } : {}),
      };
      if (contentEncoding.length === 0) {
        await trace(`fetched ${read}: ${counter.bytes} bytes`);
        return { content, facts };
      }
      await trace(
        `fetched ${read}: ${counter.bytes} bytes (ContentEncoding: ${contentEncoding.join(', ')})`,
      );
      // Scanned as stored and as S3 serves it to a browser, decoded (see docs/engines.md).
      return { content: { ...content, contentEncoding }, facts };
    } catch (error) {
      if (error instanceof TooLarge)
        return { content: await this.tooLarge(request, trace, where, error.bytes), facts };
      const problem = toStorageError(error);
      if (problem.status === 412) {
        const message = `${where} was replaced before it could be read (its ETag is no longer ${ref.eTag ?? ''}); the new content is scanned on its own event`;
        await trace(message);
        return { content: message, facts: { problem: 'superseded' } };
      }
      await trace(`could not fetch ${where}: ${problem.message}`);
      if (!problem.retryable || finalAttempt) {
        const message = `could not read ${where}: ${problem.message}`;
        return { content: message, facts: problem.status === 404 ? { problem: 'gone' } : facts };
      }
      throw new ScanError(`could not read ${where}: ${problem.message}`, {
        retryable: true,
        cause: problem,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async act(
    request: ScanRequest,
    result: ScanResult,
    fetched: ObjectFacts,
    finalAttempt: boolean,
    sanitized?: SanitizedFile,
  ): Promise<ScanResult> {
    const ref = request.object;
    if (!ref) return result;
    const trace = this.tracer(request);
    const outcome = outcomeOf(result);
    const versionId = fetched.versionId ?? ref.versionId;
    const where = describeObject({ ...ref, versionId });
    const base: ScanResult = {
      ...result,
      bucket: ref.bucket,
      key: ref.key,
      versionId: versionId ?? null,
      outcome,
    };
    const none = async (why: string): Promise<ScanResult> => {
      await trace(`no action taken on ${where}: ${why}`);
      return { ...base, action: 'none', action_error: why };
    };
    if (fetched.problem === 'gone') return none('the object does not exist (any more)');
    if (fetched.problem === 'superseded')
      return none('the object was replaced before it could be read');
    const bucket = await this.deps.buckets.get(request.tenantId, ref.bucket);
    if (!bucket) return none('the bucket is not registered (any more)');
    let s3: S3Client;
    try {
      s3 = this.deps.clients.s3(bucket);
    } catch (error) {
      return none(`the bucket's credentials cannot be used: ${messageOf(error)}`);
    }
    const now = this.deps.now?.() ?? new Date();
    const ctx: ActContext = {
      s3,
      bucket,
      ref,
      versionId,
      where,
      ours: scanTags(bucket.tags, outcome, result, now),
      trace,
      finalAttempt,
    };

    // Unversioned objects: act only if the key still holds what was scanned.
    if (!versionId && fetched.eTag) {
      const head = await this.attempt(ctx, () =>
        s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key })),
      );
      if (head.ok && head.value.ETag && unquote(head.value.ETag) !== fetched.eTag) {
        return none(
          'the object was replaced while it was being scanned; the new content is scanned on its own event',
        );
      }
    }

    const planned = plannedAction(bucket.actions, outcome);
    if (planned === 'promote' && bucket.sanitize)
      return this.promoteSanitized(ctx, base, sanitized);
    switch (planned) {
      case 'keep':
        await trace(
          `kept ${where} as it is (the bucket's action for ${outcome} objects is "keep")`,
        );
        return { ...base, action: 'keep' };
      case 'tag': {
        const tagged = await this.tagInPlace(ctx);
        return tagged.ok
          ? withError({ ...base, action: 'tag' }, tagged.value)
          : { ...base, action: 'none', action_error: tagged.message };
      }
      case 'delete': {
        const deleted = await this.attempt(ctx, () => this.deleteSource(ctx));
        if (deleted.ok) {
          await trace(`deleted ${where}`);
          return { ...base, action: 'delete' };
        }
        return this.fallBack(ctx, base, `delete failed: ${deleted.message}`);
      }
      case 'quarantine':
      case 'promote':
        return this.move(ctx, base, planned);
    }
  }

  async settle(request: ScanRequest, result: ScanResult | undefined): Promise<void> {
    const ref = request.object;
    if (!ref) return;
    const watchers = await this.deps.leases.release(request.tenantId, ref, request.id);
    const retroJobIds = [
      ...new Set([request.retroJobId, ...watchers].filter((id): id is string => Boolean(id))),
    ];
    await this.deps.outcomes.emit({
      tenantId: request.tenantId,
      scanId: request.id,
      object: {
        bucket: ref.bucket,
        key: ref.key,
        versionId: result?.versionId ?? ref.versionId ?? null,
      },
      outcome: result ? (result.outcome ?? outcomeOf(result)) : 'error',
      action: result?.action ?? 'none',
      origin: request.origin ?? 'event',
      retroJobIds,
      result,
    });
  }

  /** Copy (with the object's tags merged with ours) to the destination, then delete the source. */
  private async move(
    ctx: ActContext,
    base: ScanResult,
    action: 'quarantine' | 'promote',
  ): Promise<ScanResult> {
    const { s3, bucket, ref, versionId, where, trace } = ctx;
    const destination =
      action === 'quarantine' ? bucket.actions.quarantine : bucket.actions.production;
    if (!destination)
      return this.fallBack(ctx, base, `${action} failed: no destination is configured`);
    const destKey = `${destination.prefix}${ref.key}`;
    const destWhere = `s3://${destination.bucket}/${destKey}`;

    const carried = await this.tagsForCopy(ctx);
    if (!carried.ok)
      return this.fallBack(
        ctx,
        base,
        `${action} failed: the object's tags could not be read: ${carried.message}`,
      );
    const { tags, problems } = carried.value;
    const copied = await this.attempt(ctx, () =>
      s3.send(
        new CopyObjectCommand({
          Bucket: destination.bucket,
          Key: destKey,
          CopySource: copySource(ref.bucket, ref.key, versionId),
          MetadataDirective: 'COPY',
          TaggingDirective: 'REPLACE',
          Tagging: taggingHeader(tags),
        }),
      ),
    );
    if (!copied.ok)
      return this.fallBack(
        ctx,
        base,
        `${action} failed: could not copy to ${destWhere}: ${copied.message}`,
      );
    const copyVersion = copied.value.VersionId;
    const copyWhere = describeObject({
      bucket: destination.bucket,
      key: destKey,
      versionId: copyVersion,
    });
    const retagged = await this.retag(ctx, destination.bucket, destKey, copyVersion, tags);
    if (!retagged.ok) problems.push(`the copy's tags could not be set: ${retagged.message}`);
    await trace(
      `${action === 'quarantine' ? 'quarantine' : 'promote'}: copied ${where} to ${copyWhere} with ${tags.length} tags`,
    );

    const deleted = await this.attempt(ctx, () => this.deleteSource(ctx));
    if (!deleted.ok) {
      const message = `copied to ${destWhere}, but the source could not be deleted: ${deleted.message}`;
      const tagged = await this.tagInPlace(ctx);
      if (!tagged.ok) problems.push(`tagging the source failed too: ${tagged.message}`);
      await trace(`${action} incomplete: ${message}`);
      return withError({ ...base, action }, [message, ...problems].join('; '));
    }
    await trace(
      `${action === 'quarantine' ? 'quarantined' : 'promoted'}: deleted the source ${where}${problems.length ? `; ${problems.join('; ')}` : ''}`,
    );
    return withError({ ...base, action }, problems.length ? problems.join('; ') : undefined);
  }

  /**
   * A bucket with `sanitize`: the sanitized copy goes where the clean object would be promoted
   * (with the object's tags and ours, and the copy's content type), then the object itself is
   * quarantined, kept as it was. Without a copy (the content's type has no sanitizer, say) the
   * object is tagged where it is: promoting it unsanitized is what the bucket asked not to do.
   */
  private async promoteSanitized(
    ctx: ActContext,
    base: ScanResult,
    copy: SanitizedFile | undefined,
  ): Promise<ScanResult> {
    const { s3, bucket, ref, where, trace } = ctx;
    const destination = bucket.actions.production;
    if (!copy || !destination) {
      const why = base.sanitized?.available === false ? base.sanitized.reason : 'none was made';
      const message = `not promoted: the bucket promotes sanitized copies only, and there is none (${why})`;
      await trace(`${message}; ${where} stays where it is`);
      const tagged = await this.tagInPlace(ctx);
      if (!tagged.ok)
        return {
          ...base,
          action: 'none',
          action_error: `${message}; tagging failed: ${tagged.message}`,
        };
      return {
        ...base,
        action: 'tag',
        action_error: tagged.value ? `${message}; ${tagged.value}` : message,
      };
    }
    const destKey = `${destination.prefix}${ref.key}`;
    const destWhere = `s3://${destination.bucket}/${destKey}`;
    const carried = await this.tagsForCopy(ctx);
    if (!carried.ok)
      return this.fallBack(
        ctx,
        base,
        `promote failed: the object's tags could not be read: ${carried.message}`,
      );
    const { tags, problems } = carried.value;
    const put = await this.attempt(ctx, () =>
      new Upload({
        client: s3,
        params: {
          Bucket: destination.bucket,
          Key: destKey,
          Body: createReadStream(copy.path),
          ContentType: copy.contentType,
          ...(tags.length > 0 ? { Tagging: taggingHeader(tags) } : {}),
        },
        leavePartsOnError: false,
      }).done(),
    );
    if (!put.ok)
      return this.fallBack(
        ctx,
        base,
        `promote failed: could not put the sanitized copy to ${destWhere}: ${put.message}`,
      );
    const copyVersion = 'VersionId' in put.value ? put.value.VersionId : undefined;
    const retagged = await this.retag(ctx, destination.bucket, destKey, copyVersion, tags);
    const copyWhere = describeObject({
      bucket: destination.bucket,
      key: destKey,
      versionId: copyVersion,
    });
    await trace(
      `promote: put the sanitized copy of ${where} (${copy.contentType}, ${copy.size} bytes) to ${copyWhere} with ${tags.length} tags`,
    );
    if (!retagged.ok)
      problems.push(`the sanitized copy's tags could not be set: ${retagged.message}`);
    const quarantined = await this.move(ctx, base, 'quarantine');
    if (quarantined.action !== 'quarantine')
      problems.push(
        `the sanitized copy was promoted, but the original could not be quarantined: ${quarantined.action_error ?? 'unknown error'}`,
      );
    else if (quarantined.action_error) problems.push(quarantined.action_error);
    return withError(
      { ...base, action: 'promote' },
      problems.length ? problems.join('; ') : undefined,
    );
  }

  /** When the planned action cannot be done: tag the object where it is, and say why. */
  private async fallBack(ctx: ActContext, base: ScanResult, why: string): Promise<ScanResult> {
    await ctx.trace(`${why}; tagging the object in place instead`);
    const tagged = await this.tagInPlace(ctx);
    if (!tagged.ok)
      return {
        ...base,
        action: 'none',
        action_error: `${why}; tagging in place failed too: ${tagged.message}`,
      };
    return { ...base, action: 'tag', action_error: tagged.value ? `${why}; ${tagged.value}` : why };
  }

  /** Merges our tags into the object's; the value is a problem worth reporting (tags left out). */
  private async tagInPlace(ctx: ActContext): Promise<Attempt<string | undefined>> {
    const { s3, bucket, ref, versionId, where, trace } = ctx;
    const existing = await this.attempt(ctx, () => this.readTags(ctx));
    if (!existing.ok) {
      await trace(`could not read the tags of ${where}: ${existing.message}`);
      return existing;
    }
    const merge = mergeTags(existing.value, ctx.ours, bucket.tags);
    if (!merge.tags) {
      const message = noRoomMessage(merge.userTags, ctx.ours.length);
      await trace(`not tagged ${where}: ${message}`);
      return { ok: true, value: message };
    }
    const tagSet = merge.tags;
    const put = await this.attempt(ctx, () =>
      s3.send(
        new PutObjectTaggingCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(versionId ? { VersionId: versionId } : {}),
          Tagging: { TagSet: tagSet },
        }),
      ),
    );
    if (!put.ok) {
      await trace(`could not tag ${where}: ${put.message}`);
      return put;
    }
    const result = ctx.ours[0];
    const written = [`${result?.Key ?? ''}=${result?.Value ?? ''}`, ...merge.written.slice(1)].join(
      ', ',
    );
    const kept =
      merge.userTags > 0
        ? ` (kept its ${merge.userTags} other tag${merge.userTags === 1 ? '' : 's'})`
        : '';
    if (merge.omitted.length > 0) {
      const message = partialMessage(merge.written, merge.omitted, merge.userTags);
      await trace(`tagged ${where}: ${written}${kept}; ${message}`);
      return { ok: true, value: message };
    }
    await trace(`tagged ${where}: ${written}${kept}`);
    return { ok: true, value: undefined };
  }

  private async readTags(ctx: ActContext): Promise<Tag[]> {
    const output = await ctx.s3.send(
      new GetObjectTaggingCommand({
        Bucket: ctx.ref.bucket,
        Key: ctx.ref.key,
        ...(ctx.versionId ? { VersionId: ctx.versionId } : {}),
      }),
    );
    return (output.TagSet ?? []).map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' }));
  }

  private async deleteSource(ctx: ActContext): Promise<void> {
    await ctx.s3.send(
      new DeleteObjectCommand({
        Bucket: ctx.ref.bucket,
        Key: ctx.ref.key,
        ...(ctx.versionId ? { VersionId: ctx.versionId } : {}),
      }),
    );
  }

  /**
   * Runs one S3 call: failures that are not retryable (and any on the last attempt) come back
   * as a message; retryable ones before the last attempt retry the whole job.
   */
  /**
   * The tags a copy of the object carries to another place (quarantine, production): the
   * object's own merged with ours, and what of ours did not fit (for the result's action_error).
   */
  private async tagsForCopy(
    ctx: ActContext,
  ): Promise<Attempt<{ tags: Tag[]; problems: string[] }>> {
    const existing = await this.attempt(ctx, () => this.readTags(ctx));
    if (!existing.ok) return existing;
    const merge = mergeTags(existing.value, ctx.ours, ctx.bucket.tags);
    const problems: string[] = [];
    if (!merge.tags) problems.push(noRoomMessage(merge.userTags, ctx.ours.length));
    else if (merge.omitted.length > 0)
      problems.push(partialMessage(merge.written, merge.omitted, merge.userTags));
    return { ok: true, value: { tags: merge.tags ?? existing.value, problems } };
  }

  /** Sets a written object's tags: some S3-compatible stores ignore a copy's or a put's header. */
  private retag(
    ctx: ActContext,
    bucket: string,
    key: string,
    versionId: string | undefined,
    tags: Tag[],
  ): Promise<Attempt<unknown>> {
    return this.attempt(ctx, () =>
      ctx.s3.send(
        new PutObjectTaggingCommand({
          Bucket: bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
          Tagging: { TagSet: tags },
        }),
      ),
    );
  }

  private async attempt<T>(ctx: ActContext, call: () => Promise<T>): Promise<Attempt<T>> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      const problem = toStorageError(error);
      if (problem.retryable && !ctx.finalAttempt) {
        await ctx.trace(`S3 failed transiently (${problem.message}); the scan will be retried`);
        throw new ScanError(problem.message, { retryable: true, cause: problem });
      }
      return { ok: false, message: problem.message };
    }
  }

  private async tooLarge(
    request: ScanRequest,
    trace: (message: string) => Promise<void>,
    where: string,
    bytes: number,
    declaredType?: string,
  ): Promise<ScanResult> {
    const limit = this.deps.limits.maxFetchSize;
    await trace(
      `${where} is larger than the ${limit}-byte limit (ARBITER_MAX_FETCH_SIZE): not scanned, reported unscannable`,
    );
    return {
      id: request.id,
      checksum: null,
      content_length: bytes,
      findings: ['content.unscannable.limits-exceeded'],
      creation_date: request.creationDate,
      content_type: null,
      declared_content_type: declaredType ?? null,
      file_extension: fileExtension(request.object?.key) ?? null,
      metadata: request.metadata,
    };
  }

  private tracer(request: ScanRequest) {
    return (message: string) => this.deps.scans.appendTrace(request.tenantId, request.id, message);
  }
}

function plannedAction(
  actions: BucketActions,
  outcome: ObjectOutcome,
): Exclude<ObjectAction, 'none'> {
  switch (outcome) {
    case 'clean':
      return actions.onClean;
    case 'infected':
      return actions.onInfected;
    case 'unscannable':
      return actions.onUnscannable;
    default:
      return 'tag'; // errors are marked in place, never moved or deleted
  }
}

function withError(result: ScanResult, error: string | undefined): ScanResult {
  return error ? { ...result, action_error: error } : result;
}

const noRoomMessage = (userTags: number, ours: number) =>
  `no room for the ${ours} scan tags: the object has ${userTags} tags of its own and S3 allows 10 per object; its tags were left unchanged`;

const partialMessage = (written: string[], omitted: string[], userTags: number) =>
  `only ${written.join(', ')} written; no room for ${omitted.join(', ')} (the object has ${userTags} tags of its own and S3 allows 10 per object)`;

/** `bucket/key?versionId=…`, URL-encoded per path segment as CopyObject expects. */
export function copySource(bucket: string, key: string, versionId: string | undefined): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  return `${bucket}/${path}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ''}`;
}

const unquote = (etag: string) => etag.replace(/^(W\/)?"|"$/g, '');

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

class TooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`the object is larger than ${bytes} bytes`);
  }
}

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ScanError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import type { ScanRequest, ScanResult } from '../../scans/results.js';
import type { BucketActions, BucketRecord } from '../../s3/bucket-schema.js';
import { ObjectOutcomes, type ObjectOutcomeEvent } from '../../s3/object-scans.js';
import { S3ObjectStage } from '../../s3/object-stage.js';
import { DEFAULT_TAG_KEYS } from '../../s3/bucket-schema.js';

/**
 * The object stage against a mocked S3 client (aws-sdk-client-mock): what s3rver cannot show —
 * object versions (s3rver has no versioning), If-Match preconditions, 5xx answers — checked on
 * the exact requests Arbiter makes.
 */
const s3Mock = mockClient(S3Client);
const TENANT = 'b'.repeat(32);

const bucket = (actions: Partial<BucketActions> = {}): BucketRecord => ({
  tenantId: TENANT,
  name: 'staging',
  region: 'us-east-1',
  forcePathStyle: false,
  sealedCredentials: '',
  credentialsView: { type: 'static', accessKeyId: 'x' },
  actions: { onClean: 'tag', onInfected: 'tag', onUnscannable: 'tag', ...actions },
  tags: { ...DEFAULT_TAG_KEYS },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

const request = (object: ScanRequest['object'], id = 'c'.repeat(32)): ScanRequest => ({
  id,
  tenantId: TENANT,
  source: 'object',
  object,
  origin: 'retro',
  retroJobId: 'job-1',
  metadata: {},
  creationDate: '2026-01-01T00:00:00.000Z',
});

const result = (id: string, findings: string[] = [], error?: string): ScanResult => ({
  id,
  checksum: 'x',
  content_length: 5,
  findings,
  creation_date: '2026-01-01T00:00:00.000Z',
  content_type: 'text/plain',
  metadata: {},
  ...(error ? { error } : {}),
});

const serviceError = (name: string, status: number) =>
  new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });

describe('the S3 object stage (S3 mocked)', () => {
  let dir: string;
  let record: BucketRecord;
  let traces: string[];
  let outcomes: ObjectOutcomeEvent[];
  let released: string[];
  let stage: S3ObjectStage;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-stage-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    s3Mock.reset();
    record = bucket();
    traces = [];
    outcomes = [];
    released = [];
    const listeners = new ObjectOutcomes(createLogger('silent'));
    listeners.add({ onObjectOutcome: (event) => void outcomes.push(event) });
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    stage = new S3ObjectStage({
      buckets: { get: () => Promise.resolve(record) } as never,
      clients: { s3: () => client, sqs: () => undefined as never, close: () => undefined },
      scans: {
        appendTrace: (_t: string, _id: string, message: string) =>
          Promise.resolve(void traces.push(message)),
      } as never,
      leases: {
        refresh: () => Promise.resolve(),
        release: (_t: string, _r: unknown, id: string) =>
          Promise.resolve((released.push(id), ['job-2'])),
      } as never,
      outcomes: listeners,
      limits: { maxFetchSize: 1024, fetchTimeoutMs: 5_000 },
      logger: createLogger('silent'),
      now: () => new Date('2026-02-03T04:05:06.000Z'),
    });
  });

  it('reads, tags, copies and deletes exactly the version from the event', async () => {
    record = bucket({ onClean: 'promote', production: { bucket: 'production', prefix: 'ok/' } });
    s3Mock.on(GetObjectCommand).resolves({
      Body: Readable.from([Buffer.from('hello')]) as never,
      ContentLength: 5,
      VersionId: 'v1',
      ETag: '"e1"',
    });
    s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [{ Key: 'owner', Value: 'alice' }] });
    s3Mock.on(CopyObjectCommand).resolves({ VersionId: 'copy-v9' });
    s3Mock.on(PutObjectTaggingCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});
    const req = request({ bucket: 'staging', key: 'dir/a b+c.txt', versionId: 'v1' });
    const { content, facts } = await stage.fetch(req, path.join(dir, 'one'), false);
    expect(facts).toEqual({ versionId: 'v1', eTag: 'e1' });
    expect(content).toEqual({
      path: path.join(dir, 'one'),
      size: 5,
      sha1: 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d',
    });
    expect(await readFile(path.join(dir, 'one'), 'utf8')).toBe('hello');
    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'staging',
      Key: 'dir/a b+c.txt',
      VersionId: 'v1',
    });

    const acted = await stage.act(req, result(req.id), facts, false);
    expect(acted).toMatchObject({
      bucket: 'staging',
      key: 'dir/a b+c.txt',
      versionId: 'v1',
      outcome: 'clean',
      action: 'promote',
    });
    expect(acted.action_error).toBeUndefined();
    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0); // versioned: no need to re-check the ETag
    expect(s3Mock.commandCalls(GetObjectTaggingCommand)[0]?.args[0].input).toEqual({
      Bucket: 'staging',
      Key: 'dir/a b+c.txt',
      VersionId: 'v1',
    });
    const copy = s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input;
    expect(copy).toMatchObject({
      Bucket: 'production',
      Key: 'ok/dir/a b+c.txt',
      CopySource: 'staging/dir/a%20b%2Bc.txt?versionId=v1',
      TaggingDirective: 'REPLACE',
      Tagging: 'owner=alice&scan-result=clean&scan-date=2026-02-03T04%3A05%3A06.000Z',
    });
    expect(s3Mock.commandCalls(PutObjectTaggingCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'production',
      Key: 'ok/dir/a b+c.txt',
      VersionId: 'copy-v9',
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'staging',
      Key: 'dir/a b+c.txt',
      VersionId: 'v1',
    });

    await stage.settle(req, acted);
    expect(released).toEqual([req.id]);
    expect(outcomes).toEqual([
      expect.objectContaining({
        scanId: req.id,
        outcome: 'clean',
        action: 'promote',
        origin: 'retro',
        retroJobIds: ['job-1', 'job-2'],
        object: { bucket: 'staging', key: 'dir/a b+c.txt', versionId: 'v1' },
      }),
    ]);
  });

  it('acts on the version it read when the event named none', async () => {
    s3Mock.on(GetObjectCommand).resolves({
      Body: Readable.from([Buffer.from('x')]) as never,
      VersionId: 'latest-v3',
      ETag: '"e"',
    });
    s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3Mock.on(PutObjectTaggingCommand).resolves({});
    const req = request({ bucket: 'staging', key: 'k' });
    const { facts } = await stage.fetch(req, path.join(dir, 'two'), false);
    const acted = await stage.act(req, result(req.id), facts, false);
    expect(acted.versionId).toBe('latest-v3');
    expect(s3Mock.commandCalls(PutObjectTaggingCommand)[0]?.args[0].input).toMatchObject({
      VersionId: 'latest-v3',
    });
  });

  it('reads an unversioned object only if it still has the event’s ETag, and acts only if unchanged', async () => {
    s3Mock.on(GetObjectCommand).rejects(serviceError('PreconditionFailed', 412));
    const req = request({ bucket: 'staging', key: 'k', eTag: 'e1' });
    const fetched = await stage.fetch(req, path.join(dir, 'three'), false);
    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'staging',
      Key: 'k',
      IfMatch: '"e1"',
    });
    expect(fetched.content).toMatch(/was replaced before it could be read/);
    const acted = await stage.act(
      req,
      result(req.id, [], fetched.content as string),
      fetched.facts,
      false,
    );
    expect(acted).toMatchObject({ outcome: 'error', action: 'none' });
    expect(s3Mock.commandCalls(PutObjectTaggingCommand)).toHaveLength(0);

    // Read fine, but replaced during the scan: no tags on someone else's content.
    s3Mock.reset();
    s3Mock
      .on(GetObjectCommand)
      .resolves({ Body: Readable.from([Buffer.from('x')]) as never, ETag: '"e1"' });
    s3Mock.on(HeadObjectCommand).resolves({ ETag: '"e2"' });
    const later = request({ bucket: 'staging', key: 'k', eTag: 'e1' }, 'd'.repeat(32));
    const read = await stage.fetch(later, path.join(dir, 'four'), false);
    expect(await stage.act(later, result(later.id), read.facts, false)).toMatchObject({
      action: 'none',
      action_error: expect.stringMatching(/replaced while it was being scanned/) as string,
    });
    expect(s3Mock.commandCalls(PutObjectTaggingCommand)).toHaveLength(0);
  });

  it('retries on a 5xx before the last attempt; on the last, tags in place rather than leave the object unmarked', async () => {
    record = bucket({ onInfected: 'quarantine', quarantine: { bucket: 'quarantine', prefix: '' } });
    s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3Mock.on(CopyObjectCommand).rejects(serviceError('InternalError', 500));
    s3Mock.on(PutObjectTaggingCommand).resolves({});
    const req = request({ bucket: 'staging', key: 'bad.com', versionId: 'v1' });
    await expect(
      stage.act(req, result(req.id, ['content.malicious.x']), {}, false),
    ).rejects.toBeInstanceOf(ScanError);
    const last = await stage.act(req, result(req.id, ['content.malicious.x']), {}, true);
    expect(last).toMatchObject({
      action: 'tag',
      outcome: 'infected',
      action_error: expect.stringMatching(/^quarantine failed: could not copy/) as string,
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(PutObjectTaggingCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'staging',
      Key: 'bad.com',
      VersionId: 'v1',
    });
  });

  it('tags an error result scan-result=error in place and never moves it', async () => {
    record = bucket({
      onClean: 'promote',
      production: { bucket: 'p', prefix: '' },
      onInfected: 'delete',
    });
    s3Mock
      .on(GetObjectTaggingCommand)
      .resolves({ TagSet: [{ Key: 'scan-result', Value: 'clean' }] });
    s3Mock.on(PutObjectTaggingCommand).resolves({});
    const req = request({ bucket: 'staging', key: 'k', versionId: 'v1' });
    const acted = await stage.act(
      req,
      result(req.id, [], 'the content could not be scanned: clamd: connection refused'),
      {},
      true,
    );
    expect(acted).toMatchObject({ outcome: 'error', action: 'tag' });
    expect(
      s3Mock.commandCalls(PutObjectTaggingCommand)[0]?.args[0].input.Tagging?.TagSet?.[0],
    ).toEqual({ Key: 'scan-result', Value: 'error' });
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('reports an object over ARBITER_MAX_FETCH_SIZE as unscannable without reading it', async () => {
    const body = Readable.from([Buffer.alloc(10)]);
    s3Mock.on(GetObjectCommand).resolves({ Body: body as never, ContentLength: 5_000_000 });
    const req = request({ bucket: 'staging', key: 'huge.iso' });
    const { content } = await stage.fetch(req, path.join(dir, 'five'), false);
    expect(content).toMatchObject({
      findings: ['content.unscannable.limits-exceeded'],
      content_length: 5_000_000,
      checksum: null,
    });
    expect(body.destroyed).toBe(true);
  });

  it('classifies S3 failures: 403/404 permanent (an error result), network and 503 retried', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejectsOnce(serviceError('AccessDenied', 403))
      .rejectsOnce(serviceError('SlowDown', 503))
      .rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const req = request({ bucket: 'staging', key: 'k' });
    expect((await stage.fetch(req, path.join(dir, 'six'), false)).content).toMatch(
      /could not read s3:\/\/staging\/k: AccessDenied \(HTTP 403\)/,
    );
    await expect(stage.fetch(req, path.join(dir, 'six'), false)).rejects.toBeInstanceOf(ScanError);
    await expect(stage.fetch(req, path.join(dir, 'six'), false)).rejects.toBeInstanceOf(ScanError);
    expect((await stage.fetch(req, path.join(dir, 'six'), true)).content).toMatch(/socket hang up/);
  });
});

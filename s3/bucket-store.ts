import { badRequest, notFound, unavailable } from '../core/errors.js';
import type { RedisKeys } from '../core/keys.js';
import type { NetworkPolicy } from '../core/network-policy.js';
import type { Redis } from '../core/redis.js';
import type { SecretBox } from '../core/secret-box.js';
import { requireAllowedUrl } from '../core/url-policy.js';
import {
  BucketInputSchema,
  bucketNameProblem,
  checkDestinations,
  checkExternalId,
  credentialsToStore,
  credentialsView,
  type BucketCredentials,
  type BucketInput,
  type BucketRecord,
  type StoredQueue,
  tagKeysOf,
} from './bucket-schema.js';

export const SECRET_KEY_MISSING =
  'Bucket registration is disabled: the operator has not set ARBITER_SECRET_KEY (32 random bytes, hex or base64), which encrypts stored bucket credentials.';

/**
 * Registered buckets, per tenant. Each is one JSON value; its credentials (and the queue's) are
 * sealed with ARBITER_SECRET_KEY and opened only when a client for the bucket is built. Every
 * call is scoped by tenant: another tenant's bucket of the same name is simply not found.
 */
export class BucketStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly box: SecretBox | undefined,
    private readonly policy: NetworkPolicy,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Creates or replaces a registration (PUT semantics: fields left out take their defaults), except
   * that the bucket's `credentials` may be left out of a replacement to keep the stored ones.
   */
  async put(
    tenantId: string,
    name: string,
    body: unknown,
  ): Promise<{ record: BucketRecord; created: boolean }> {
    const box = this.requireBox();
    const problem = bucketNameProblem(name);
    if (problem) throw badRequest(`"${name.slice(0, 70)}" is not a valid bucket name: ${problem}.`);
    const input = BucketInputSchema.parse(body ?? {});
    const destinationProblem = checkDestinations(name, input.actions);
    if (destinationProblem) throw badRequest(destinationProblem);
    const externalIdProblem =
      checkExternalId('credentials', input.credentials, tenantId) ??
      checkExternalId('queue.credentials', input.queue?.credentials, tenantId);
    if (externalIdProblem) throw badRequest(externalIdProblem);
    this.checkUrls(input);
    const existing = await this.get(tenantId, name);
    if (!input.credentials && !existing) {
      throw badRequest(
        'credentials are required: {"type":"static","accessKeyId","secretAccessKey"} or {"type":"role","roleArn"}',
      );
    }
    const context = bucketContext(tenantId, name);
    const sealedCredentials = input.credentials
      ? box.seal(JSON.stringify(credentialsToStore(input.credentials)), context)
      : existing!.sealedCredentials;
    const view = input.credentials
      ? credentialsView(input.credentials, tenantId)
      : existing!.credentialsView;

    let queue: StoredQueue | undefined;
    if (input.queue) {
      queue = { url: input.queue.url, region: input.queue.region ?? input.region ?? 'us-east-1' };
      if (input.queue.endpoint) queue.endpoint = input.queue.endpoint;
      if (input.queue.credentials) {
        queue.sealedCredentials = box.seal(
          JSON.stringify(credentialsToStore(input.queue.credentials)),
          queueContext(tenantId, name),
        );
        queue.credentialsView = credentialsView(input.queue.credentials, tenantId);
      }
    }

    const now = this.now().toISOString();
    const record: BucketRecord = {
      tenantId,
      name,
      region: input.region ?? 'us-east-1',
      forcePathStyle: input.forcePathStyle ?? input.endpoint !== undefined,
      sealedCredentials,
      credentialsView: view,
      actions: input.actions,
      tags: input.tags,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    if (input.endpoint) record.endpoint = input.endpoint;
    if (input.callback) record.callback = input.callback;
    if (queue) record.queue = queue;
    if (input.detectionCategories) record.detectionCategories = input.detectionCategories;
    if (input.classify)
      record.classify = { include: input.classifyInclude, exclude: input.classifyExclude };
    if (input.sanitize) record.sanitize = true;

    // bucket-queues is global, so it is written apart from the bucket's keys (one slot on a
    // Cluster), in the order that lets a crash in between go unseen: the pollers list a bucket
    // only when its record has a queue, so an entry goes in before a record with a queue is
    // written, and comes out only after the record without one is.
    const member = `${tenantId}/${name}`;
    if (queue) await this.redis.sadd(this.keys.bucketQueues(), member);
    await this.redis
      .multi()
      .set(this.keys.bucket(tenantId, name), JSON.stringify(record))
      .sadd(this.keys.tenantBuckets(tenantId), name)
      .exec();
    if (!queue) await this.redis.srem(this.keys.bucketQueues(), member);
    return { record, created: !existing };
  }

  async get(tenantId: string, name: string): Promise<BucketRecord | undefined> {
    if (bucketNameProblem(name)) return undefined;
    const raw = await this.redis.get(this.keys.bucket(tenantId, name));
    return raw ? parseRecord(raw) : undefined;
  }

  /** Like get, but a bucket the tenant has not registered is a 404. */
  async require(tenantId: string, name: string): Promise<BucketRecord> {
    const record = await this.get(tenantId, name);
    if (!record) throw notFound(`There is no registered bucket named "${name.slice(0, 70)}".`);
    return record;
  }

  async list(tenantId: string): Promise<BucketRecord[]> {
    const names = (await this.redis.smembers(this.keys.tenantBuckets(tenantId))).sort();
    if (names.length === 0) return [];
    const values = await this.redis.mget(...names.map((name) => this.keys.bucket(tenantId, name)));
    return values.flatMap((raw) => (raw ? [parseRecord(raw)] : []));
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    if (bucketNameProblem(name)) return false;
    const [[, deleted] = [null, 0]] =
      (await this.redis
        .multi()
        .del(this.keys.bucket(tenantId, name))
        .srem(this.keys.tenantBuckets(tenantId), name)
        // Its state (s3/bucket-status.ts) goes with it: a bucket registered again starts at zero.
        .del(this.keys.bucketStatus(tenantId, name), this.keys.bucketPoll(tenantId, name))
        .exec()) ?? [];
    // After the record: an entry left by a crash names no bucket, and the pollers skip it.
    await this.redis.srem(this.keys.bucketQueues(), `${tenantId}/${name}`);
    return deleted === 1;
  }

  /** Every bucket (of every tenant) that has an SQS queue to poll: for the worker's pollers. */
  async withQueues(): Promise<BucketRecord[]> {
    const members = await this.redis.smembers(this.keys.bucketQueues());
    if (members.length === 0) return [];
    const keys = members.map((member) => {
      const [tenantId = '', name = ''] = member.split('/');
      return this.keys.bucket(tenantId, name);
    });
    // One GET each, not an MGET: the buckets of many tenants are in many slots on a Cluster.
    const values = await Promise.all(keys.map((key) => this.redis.get(key)));
    return values.flatMap((raw) => {
      const record = raw ? parseRecord(raw) : undefined;
      return record?.queue ? [record] : [];
    });
  }

  /** The bucket's credentials, decrypted (for building its S3 client only; never log them). */
  openCredentials(record: BucketRecord): BucketCredentials {
    return JSON.parse(
      this.requireBox().open(record.sealedCredentials, bucketContext(record.tenantId, record.name)),
    ) as BucketCredentials;
  }

  /** The queue's own credentials, or the bucket's when it has none. */
  openQueueCredentials(record: BucketRecord): BucketCredentials {
    const sealed = record.queue?.sealedCredentials;
    if (!sealed) return this.openCredentials(record);
    return JSON.parse(
      this.requireBox().open(sealed, queueContext(record.tenantId, record.name)),
    ) as BucketCredentials;
  }

  private requireBox(): SecretBox {
    if (!this.box) throw unavailable(SECRET_KEY_MISSING);
    return this.box;
  }

  /**
   * Every URL of the registration follows the rule of every tenant URL (core/url-policy.ts), now:
   * a callback, endpoint or queue at a forbidden IP literal is a 400 before anything is stored or
   * sent. Names are judged at every connection (the guarded agents, the callback client).
   */
  private checkUrls(input: BucketInput): void {
    const urls: Array<[string, string | null | undefined]> = [
      ['endpoint', input.endpoint],
      ['callback', input.callback],
      ['queue.url', input.queue?.url],
      ['queue.endpoint', input.queue?.endpoint],
    ];
    for (const [field, url] of urls) if (url) requireAllowedUrl(field, url, this.policy);
  }
}

/** A stored record, with what was added since it was written at its defaults. */
function parseRecord(raw: string): BucketRecord {
  const record = JSON.parse(raw) as BucketRecord;
  return { ...record, tags: tagKeysOf(record.tags) };
}

const bucketContext = (tenantId: string, name: string) => `bucket:${tenantId}:${name}`;
const queueContext = (tenantId: string, name: string) => `queue:${tenantId}:${name}`;

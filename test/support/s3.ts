import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateTopicCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import S3rver from 's3rver';
import { waitFor } from './wait.js';

/**
 * S3, SQS and SNS for tests, in this process and on 127.0.0.1 only:
 *
 * - S3: s3rver 3.7.1. It needs access key id
 *   `S3RVER` (any secret), path-style URLs, and checksums only where required
 *   (`requestChecksumCalculation/responseChecksumValidation: 'WHEN_REQUIRED'`), and the test
 *   process must run with `--openssl-legacy-provider` for ListObjectsV2 pagination (its
 *   continuation tokens use DES): vitest.config.ts passes that flag to the test workers.
 * - SQS and SNS: fauxqs 1.9.2 (the last release for Node 20 in this registry), built with its
 *   `buildApp` and bound to 127.0.0.1 (its `startFauxqs` listens on every interface).
 * - S3 event notifications: neither emulator delivers them, so the harness forwards s3rver's
 *   `event`s itself, shaped as AWS does (object keys form-URL-encoded: a space is `+`), to an SQS
 *   queue directly, to an SNS topic (whose subscriptions deliver an envelope or, with raw
 *   delivery, the notification itself), as EventBridge "Object Created" events, or as an HTTP
 *   POST to an endpoint (Arbiter's `/v1/events/s3`). Only buckets given to `bridge` are
 *   forwarded, as only buckets with a notification configuration are in AWS.
 */

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const REGION = 'us-east-1';

export type BridgeTarget =
  | { mode: 'direct'; queueUrl: string }
  | { mode: 'sns'; topicArn: string }
  | { mode: 'eventbridge'; queueUrl: string }
  | { mode: 'http'; url: string; authorization: string };

export interface S3rverEvent {
  Records: Array<{
    eventName: string;
    eventTime: string;
    s3: {
      bucket: { name: string };
      object: { key: string; size?: number; eTag?: string; sequencer?: string };
    };
  }>;
}

export interface S3Harness {
  s3Endpoint: string;
  sqsEndpoint: string;
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  /** Every event s3rver emitted, as it emitted it. */
  events: S3rverEvent[];
  /** Failures of forwarding (a test may assert there were none). */
  bridgeErrors: Error[];
  createBucket(name: string): Promise<void>;
  createQueue(
    name: string,
    options?: { maxReceiveCount?: number },
  ): Promise<{ url: string; arn: string; dlqUrl?: string }>;
  createTopic(name: string): Promise<string>;
  subscribe(topicArn: string, queueArn: string, options?: { raw?: boolean }): Promise<void>;
  /** Calls `listener` with each s3rver event as it is emitted (`at`: performance.now()). */
  onEvent(listener: (event: S3rverEvent, at: number) => void): () => void;
  /** Forwards s3rver's events for `bucket` to `target` until the returned function is called. */
  bridge(bucket: string, target: BridgeTarget): () => void;
  putObject(
    bucket: string,
    key: string,
    body: string | Buffer,
    tags?: Record<string, string>,
  ): Promise<void>;
  tags(bucket: string, key: string): Promise<Record<string, string>>;
  exists(bucket: string, key: string): Promise<boolean>;
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** Waits until the object's `tagKey` tag exists (and equals `value`, if given). */
  waitForTag(
    bucket: string,
    key: string,
    tagKey: string,
    value?: string,
    timeoutMs?: number,
  ): Promise<Record<string, string>>;
  /** Visible + in-flight messages of a queue (ApproximateNumberOfMessages[NotVisible]). */
  queueDepth(url: string): Promise<{ visible: number; inFlight: number }>;
  receiveAll(url: string, waitSeconds?: number): Promise<string[]>;
  stop(): Promise<void>;
}

/** AWS form-encodes keys in notifications: `my file+ü.txt` → `my+file%2B%C3%BC.txt` (slashes kept). */
/** Requests to a tenant's `/v1` API (JSON bodies); `init.auth` overrides the tenant's credentials. */
export function v1Client(service: { url: string }, auth: string) {
  return (requestPath: string, init: RequestInit & { auth?: string } = {}) => {
    const { auth: override, ...rest } = init;
    return fetch(`${service.url}/v1${requestPath}`, {
      ...rest,
      headers: {
        authorization: override ?? auth,
        'content-type': 'application/json',
        ...(rest.headers ?? {}),
      },
    });
  };
}

/**
 * Registers a bucket of the harness's s3rver for a tenant (`PUT /v1/buckets/{name}` with static
 * credentials, plus `settings`). Throws unless the answer is 201 or 200; returns both.
 */
export async function registerBucket(
  service: { url: string },
  auth: string,
  harness: Pick<S3Harness, 's3Endpoint'>,
  name: string,
  settings: Record<string, unknown> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await v1Client(service, auth)(`/buckets/${name}`, {
    method: 'PUT',
    body: JSON.stringify({
      endpoint: harness.s3Endpoint,
      credentials: { type: 'static', ...S3RVER_CREDENTIALS },
      ...settings,
    }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status !== 201 && response.status !== 200)
    throw new Error(`PUT /v1/buckets/${name}: ${response.status} ${JSON.stringify(json)}`);
  return { status: response.status, json };
}

export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
}

export function toEventBridge(
  record: S3rverEvent['Records'][number],
  encodedKey: string,
): Record<string, unknown> {
  return {
    version: '0',
    id: `eb-${Math.random().toString(16).slice(2)}`,
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '000000000000',
    time: record.eventTime,
    region: REGION,
    resources: [`arn:aws:s3:::${record.s3.bucket.name}`],
    detail: {
      version: '0',
      bucket: { name: record.s3.bucket.name },
      object: {
        key: encodedKey,
        ...(record.s3.object.size !== undefined ? { size: record.s3.object.size } : {}),
        ...(record.s3.object.eTag ? { etag: record.s3.object.eTag } : {}),
        sequencer: record.s3.object.sequencer,
      },
      'request-id': 'TEST',
      requester: '000000000000',
      reason: record.eventName.replace('ObjectCreated:', '') === 'Put' ? 'PutObject' : 'CopyObject',
    },
  };
}

export async function startS3Harness(): Promise<S3Harness> {
  const directory = await mkdtemp(path.join(tmpdir(), 'arbiter-s3rver-'));
  await mkdir(directory, { recursive: true });
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
  const s3Address = await s3rver.run();
  const s3Endpoint = `http://127.0.0.1:${s3Address.port}`;

  const fauxqs = buildApp({ logger: false });
  await fauxqs.listen({ port: 0, host: '127.0.0.1' });
  const sqsPort = (fauxqs.server.address() as AddressInfo).port;
  const sqsEndpoint = `http://127.0.0.1:${sqsPort}`;

  const awsCredentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const s3 = new S3Client({
    region: REGION,
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS }, // a copy: the SDK marks the object it is given
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const sqs = new SQSClient({ region: REGION, endpoint: sqsEndpoint, credentials: awsCredentials });
  const sns = new SNSClient({ region: REGION, endpoint: sqsEndpoint, credentials: awsCredentials });

  const events: S3rverEvent[] = [];
  const bridgeErrors: Error[] = [];
  const bridges = new Map<string, Set<BridgeTarget>>();
  const listeners = new Set<(event: S3rverEvent, at: number) => void>();

  const forward = async (event: S3rverEvent) => {
    for (const record of event.Records) {
      const targets = bridges.get(record.s3.bucket.name);
      if (!targets) continue;
      const encodedKey = encodeEventKey(record.s3.object.key);
      const notification = {
        Records: [
          { ...record, s3: { ...record.s3, object: { ...record.s3.object, key: encodedKey } } },
        ],
      };
      for (const target of targets) {
        switch (target.mode) {
          case 'direct':
            await sqs.send(
              new SendMessageCommand({
                QueueUrl: target.queueUrl,
                MessageBody: JSON.stringify(notification),
              }),
            );
            break;
          case 'sns':
            await sns.send(
              new PublishCommand({
                TopicArn: target.topicArn,
                Subject: 'Amazon S3 Notification',
                Message: JSON.stringify(notification),
              }),
            );
            break;
          case 'eventbridge':
            if (!record.eventName.startsWith('ObjectCreated:')) break; // the rule matches "Object Created" only
            await sqs.send(
              new SendMessageCommand({
                QueueUrl: target.queueUrl,
                MessageBody: JSON.stringify(toEventBridge(record, encodedKey)),
              }),
            );
            break;
          case 'http': {
            const response = await fetch(target.url, {
              method: 'POST',
              headers: { authorization: target.authorization, 'content-type': 'application/json' },
              body: JSON.stringify(notification),
            });
            if (response.status !== 202)
              throw new Error(
                `POST ${target.url} answered ${response.status}: ${await response.text()}`,
              );
            break;
          }
        }
      }
    }
  };
  // s3rver is a Koa application (an EventEmitter); its types leave that out.
  (s3rver as unknown as NodeJS.EventEmitter).on('event', (event: S3rverEvent) => {
    events.push(event);
    const at = performance.now();
    for (const listener of listeners) listener(event, at);
    forward(event).catch((error: unknown) =>
      bridgeErrors.push(error instanceof Error ? error : new Error(String(error))),
    );
  });

  const queueArn = async (url: string) => {
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return attributes.Attributes?.QueueArn ?? '';
  };

  const harness: S3Harness = {
    s3Endpoint,
    sqsEndpoint,
    s3,
    sqs,
    sns,
    events,
    bridgeErrors,
    async createBucket(name) {
      await s3.send(new CreateBucketCommand({ Bucket: name }));
    },
    async createQueue(name, options = {}) {
      let dlqUrl: string | undefined;
      const attributes: Record<string, string> = {};
      if (options.maxReceiveCount) {
        const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
        dlqUrl = dlq.QueueUrl ?? '';
        attributes.RedrivePolicy = JSON.stringify({
          deadLetterTargetArn: await queueArn(dlqUrl),
          maxReceiveCount: options.maxReceiveCount,
        });
      }
      const created = await sqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      const url = created.QueueUrl ?? '';
      return { url, arn: await queueArn(url), ...(dlqUrl ? { dlqUrl } : {}) };
    },
    async createTopic(name) {
      const topic = await sns.send(new CreateTopicCommand({ Name: name }));
      return topic.TopicArn ?? '';
    },
    async subscribe(topicArn, arn, options = {}) {
      await sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: arn,
          ...(options.raw ? { Attributes: { RawMessageDelivery: 'true' } } : {}),
        }),
      );
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    bridge(bucket, target) {
      const targets = bridges.get(bucket) ?? new Set<BridgeTarget>();
      targets.add(target);
      bridges.set(bucket, targets);
      return () => targets.delete(target);
    },
    async putObject(bucket, key, body, tags) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: typeof body === 'string' ? Buffer.from(body) : body,
        }),
      );
      if (tags) {
        // s3rver ignores the x-amz-tagging header of PutObject: tag it separately. (The event
        // for the object is already on its way, as on AWS when tags are set after the upload.)
        await s3.send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: key,
            Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
          }),
        );
      }
    },
    async tags(bucket, key) {
      const output = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
      return Object.fromEntries(
        (output.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']),
      );
    },
    async exists(bucket, key) {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if (
          (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
        )
          return false;
        throw error;
      }
    },
    async listKeys(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            ...(prefix ? { Prefix: prefix } : {}),
            ContinuationToken: token,
          }),
        );
        keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    waitForTag(bucket, key, tagKey, value, timeoutMs = 20_000) {
      return waitFor(
        async () => {
          const tags = await harness.tags(bucket, key);
          return tags[tagKey] !== undefined && (value === undefined || tags[tagKey] === value)
            ? tags
            : undefined;
        },
        {
          timeoutMs,
          intervalMs: 25,
          what: `tag ${tagKey}${value ? `=${value}` : ''} on s3://${bucket}/${key}`,
        },
      );
    },
    async queueDepth(url) {
      const output = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return {
        visible: Number(output.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(output.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    },
    async receiveAll(url, waitSeconds = 0) {
      const output = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitSeconds,
        }),
      );
      return (output.Messages ?? []).map((message) => message.Body ?? '');
    },
    async stop() {
      s3.destroy();
      sqs.destroy();
      sns.destroy();
      await fauxqs.close();
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
  return harness;
}

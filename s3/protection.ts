import type { STSClient } from '@aws-sdk/client-sts';
import type { Config } from '../core/config.js';
import type { RedisKeys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { createNetworkPolicy } from '../core/network-policy.js';
import type { Redis } from '../core/redis.js';
import type { ScanStore } from '../scans/store.js';
import { SecretBox } from '../core/secret-box.js';
import type { ScanService } from '../scans/service.js';
import { BucketPlans } from './bucket-plans.js';
import { BucketStatusStore } from './bucket-status.js';
import { BucketStore } from './bucket-store.js';
import { createAwsClients, type AwsClients } from './clients.js';
import { EventIntake } from './event-intake.js';
import { ObjectLeases, ObjectOutcomes, ObjectScanService } from './object-scans.js';
import { S3ObjectStage } from './object-stage.js';
import { QueuePollers } from './sqs-poller.js';

/*
 * S3 protection is two plain constructions by the composition root (cli/runtime.ts), because
 * the scan pipeline and the object scans each need one half of it: `createS3Access` builds what
 * reads and acts on bucket objects (the pipeline's object stage among it), and
 * `createS3Protection` builds over that, with the ScanService of that pipeline, what submits
 * object scans.
 */

/** Registered buckets, their clients, the per-version leases, and the object stage over them. */
export interface S3Access {
  buckets: BucketStore;
  clients: AwsClients;
  leases: ObjectLeases;
  outcomes: ObjectOutcomes;
  /** Each bucket's counts by outcome, last event and poller state (for the console). */
  status: BucketStatusStore;
  /** The scan pipeline's object stage (`PipelineDeps.objects`, scans/pipeline.ts). */
  stage: S3ObjectStage;
  /** What each bucket changes in its objects' scan plans (categories, classification). */
  plans: BucketPlans;
}

export function createS3Access(options: {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  scans: ScanStore;
  logger: Logger;
  sts?: (region: string) => STSClient;
}): S3Access {
  const { config, redis, keys, scans, logger } = options;
  const policy = createNetworkPolicy(config.allowedNetworks);
  const buckets = new BucketStore(
    redis,
    keys,
    config.secretKey ? new SecretBox(config.secretKey) : undefined,
    policy,
  );
  const clients = createAwsClients({
    store: buckets,
    policy,
    ...(options.sts ? { sts: options.sts } : {}),
  });
  const leases = new ObjectLeases(redis, keys);
  const outcomes = new ObjectOutcomes(logger);
  const stage = new S3ObjectStage({
    buckets,
    clients,
    scans,
    leases,
    outcomes,
    limits: { maxFetchSize: config.maxFetchSize, fetchTimeoutMs: config.fetchTimeoutMs },
    logger,
  });
  return {
    buckets,
    clients,
    leases,
    outcomes,
    status: new BucketStatusStore(redis, keys),
    stage,
    plans: new BucketPlans(buckets),
  };
}

/** What submits object scans, and what the rest of the process uses of S3 protection. */
export interface S3Protection {
  buckets: BucketStore;
  clients: AwsClients;
  /** Each bucket's state: its outcome listener is registered by the composition root. */
  status: BucketStatusStore;
  /** Submit object scans (events, API, retro jobs), scanExistingObject, outcome listeners. */
  objectScans: ObjectScanService;
  /** One notification message of a tenant → object scans (SQS messages, POST /v1/events/s3). */
  intake: EventIntake;
  /** The SQS pollers for the worker role (not started: see QueuePollers.start). */
  createPollers(): QueuePollers;
  close(): void;
}

export function createS3Protection(options: {
  access: S3Access;
  /** The ScanService over the pipeline that has `access.stage` as its object stage. */
  scanning: ScanService;
  config: Config;
  logger: Logger;
  /** S3 events received and skipped (core/metrics.ts). */
  metrics?: Pick<Metrics, 's3Events'>;
}): S3Protection {
  const { access, scanning, config, logger } = options;
  const { buckets, clients, leases, outcomes, status } = access;
  const objectScans = new ObjectScanService({ buckets, scanning, leases, outcomes });
  const intake = new EventIntake(buckets, objectScans, options.metrics, status);
  return {
    buckets,
    clients,
    status,
    objectScans,
    intake,
    createPollers: () =>
      new QueuePollers({ buckets, clients, intake, status, settings: config.sqs, logger }),
    close: () => clients.close(),
  };
}

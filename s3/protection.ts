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
import { BucketStore } from './bucket-store.js';
import { createAwsClients, type AwsClients } from './clients.js';
import { EventIntake } from './event-intake.js';
import { ObjectLeases, ObjectOutcomes, ObjectScanService } from './object-scans.js';
import { S3ObjectStage } from './object-stage.js';
import { QueuePollers } from './sqs-poller.js';

/**
 * S3 protection, assembled once by the composition root (cli/runtime.ts) in two steps because
 * scanning and the object scans need each other: `createS3Stage` gives the scan pipeline its
 * object stage, `complete` adds what submits scans through the ScanService built over it.
 */
export interface S3Protection {
  buckets: BucketStore;
  clients: AwsClients;
  /** Submit object scans (events, API, retro jobs), scanExistingObject, outcome listeners. */
  objectScans: ObjectScanService;
  /** One notification message of a tenant → object scans (SQS messages, POST /v1/events/s3). */
  intake: EventIntake;
  /** The SQS pollers for the worker role (not started: see QueuePollers.start). */
  createPollers(): QueuePollers;
  close(): void;
}

export interface S3StageParts {
  stage: S3ObjectStage;
  complete(scanning: ScanService): S3Protection;
}

export function createS3Stage(options: {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  scans: ScanStore;
  logger: Logger;
  sts?: (region: string) => STSClient;
  /** S3 events received and skipped (core/metrics.ts). */
  metrics?: Pick<Metrics, 's3Events'>;
}): S3StageParts {
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
    stage,
    complete(scanning) {
      const objectScans = new ObjectScanService({ buckets, scanning, leases, outcomes });
      const intake = new EventIntake(buckets, objectScans, options.metrics);
      return {
        buckets,
        clients,
        objectScans,
        intake,
        createPollers: () =>
          new QueuePollers({ buckets, clients, intake, settings: config.sqs, logger }),
        close: () => clients.close(),
      };
    },
  };
}

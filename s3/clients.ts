import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { createNetworkGuard, type Connector, type Resolver } from '../core/network-guard.js';
import type { NetworkPolicy } from '../core/network-policy.js';
import { tenantExternalId, type BucketCredentials, type BucketRecord } from './bucket-schema.js';
import type { BucketStore } from './bucket-store.js';

/**
 * Builds (and caches) the AWS SDK clients for a registered bucket: its S3 client and its SQS
 * client. Credentials are opened from the bucket record only here. A role is assumed with STS
 * `AssumeRole` (with the tenant's own external id, `arbiter-<tenant id>`) using the service's own AWS identity (the SDK's default
 * credential chain: environment, instance/task role, …); the temporary credentials are reused
 * until five minutes before they expire.
 *
 * Every client of a tenant-supplied endpoint or queue URL connects through the network guard's
 * agents (core/network-guard.ts), like `location` and `callback` URLs: loopback, private,
 * link-local (cloud metadata) and the like are refused unless listed in ARBITER_ALLOWED_NETWORKS. Checksums are computed and validated only where S3 requires them: the
 * newer SDK defaults break many S3-compatible stores, and Arbiter computes its own SHA-1.
 */
export interface AwsClients {
  s3(bucket: BucketRecord): S3Client;
  sqs(bucket: BucketRecord): SQSClient;
  close(): void;
}

type Credentials = {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
};
type CredentialsProvider = () => Promise<Credentials>;

export interface AwsClientOptions {
  store: Pick<BucketStore, 'openCredentials' | 'openQueueCredentials'>;
  policy: NetworkPolicy;
  /** Tests answer names and open connections themselves (core/network-guard.ts); default: DNS, TCP. */
  resolve?: Resolver;
  connect?: Connector;
  /** Connect timeout and socket idle timeout of S3/SQS requests. */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Tests replace STS (it cannot run here); by default one STSClient per region. */
  sts?: (region: string) => STSClient;
  /** Clients kept at once; the least recently used is closed beyond this. */
  maxCached?: number;
}

/** Re-assume this long before the temporary credentials expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const guard = createNetworkGuard({
    policy: options.policy,
    resolve: options.resolve,
    connect: options.connect,
    connectTimeoutMs,
  });
  // Kept alive (S3 traffic is many small requests); every new connection is checked.
  const agentOptions = { keepAlive: true, maxSockets: 50 };
  const requestHandler = {
    httpAgent: guard.agent(false, agentOptions),
    httpsAgent: guard.agent(true, agentOptions),
    connectionTimeout: connectTimeoutMs,
    requestTimeout: options.idleTimeoutMs ?? 60_000,
  };
  const stsClients = new Map<string, STSClient>();
  const sts =
    options.sts ??
    ((region: string) => {
      let client = stsClients.get(region);
      if (!client) {
        client = new STSClient({ region });
        stsClients.set(region, client);
      }
      return client;
    });
  const maxCached = options.maxCached ?? 500;
  const cache = new Map<string, S3Client | SQSClient>();

  const remember = <T extends S3Client | SQSClient>(key: string, build: () => T): T => {
    const hit = cache.get(key) as T | undefined;
    if (hit) {
      cache.delete(key);
      cache.set(key, hit); // most recently used last
      return hit;
    }
    // A changed registration gets a new key (updatedAt); forget the clients of older versions.
    // Forgotten clients are not destroy()ed: that would destroy the shared agents' sockets,
    // under requests other clients have in flight. They hold nothing else.
    const stem = key.slice(0, key.lastIndexOf('@'));
    for (const other of cache.keys()) if (other.startsWith(`${stem}@`)) cache.delete(other);
    const client = build();
    cache.set(key, client);
    while (cache.size > maxCached) {
      const oldest = cache.keys().next().value as string;
      cache.delete(oldest);
    }
    return client;
  };

  const provider = (
    credentials: BucketCredentials,
    region: string,
    tenantId: string,
  ): Credentials | CredentialsProvider => {
    if (credentials.type === 'static') {
      const fixed: Credentials = {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
      };
      if (credentials.sessionToken) fixed.sessionToken = credentials.sessionToken;
      return fixed;
    }
    return assumeRoleProvider(sts(region), {
      roleArn: credentials.roleArn,
      // Derived, never read from the registration: a stored foreign id (from before external ids
      // were assigned) must not let this tenant act as the tenant that id names.
      externalId: tenantExternalId(tenantId),
      sessionName: credentials.sessionName ?? `arbiter-${tenantId.slice(0, 16)}`,
    });
  };

  return {
    s3(bucket) {
      return remember(`s3:${bucket.tenantId}/${bucket.name}@${bucket.updatedAt}`, () => {
        const client = new S3Client({
          region: bucket.region,
          ...(bucket.endpoint ? { endpoint: bucket.endpoint } : {}),
          forcePathStyle: bucket.forcePathStyle,
          credentials: provider(
            options.store.openCredentials(bucket),
            bucket.region,
            bucket.tenantId,
          ),
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          requestHandler,
          maxAttempts: 3,
        });
        return client;
      });
    },
    sqs(bucket) {
      const queue = bucket.queue;
      if (!queue) throw new Error(`bucket ${bucket.name} has no queue`);
      return remember(
        `sqs:${bucket.tenantId}/${bucket.name}@${bucket.updatedAt}`,
        () =>
          new SQSClient({
            region: queue.region,
            ...(queue.endpoint ? { endpoint: queue.endpoint } : {}),
            credentials: provider(
              options.store.openQueueCredentials(bucket),
              queue.region,
              bucket.tenantId,
            ),
            requestHandler,
            maxAttempts: 3,
          }),
      );
    },
    close() {
      cache.clear();
      for (const client of stsClients.values()) client.destroy();
      stsClients.clear();
      requestHandler.httpAgent.destroy();
      requestHandler.httpsAgent.destroy();
    },
  };
}

/**
 * Credentials from STS AssumeRole, cached until REFRESH_MARGIN_MS before they expire; calls made
 * while a refresh is under way share it.
 */
export function assumeRoleProvider(
  sts: STSClient,
  role: { roleArn: string; externalId: string; sessionName: string },
  now: () => number = Date.now,
): CredentialsProvider {
  let current: Credentials | undefined;
  let pending: Promise<Credentials> | undefined;
  return async () => {
    if (current?.expiration && current.expiration.getTime() - REFRESH_MARGIN_MS > now())
      return current;
    pending ??= (async () => {
      try {
        const output = await sts.send(
          new AssumeRoleCommand({
            RoleArn: role.roleArn,
            RoleSessionName: role.sessionName,
            ExternalId: role.externalId,
            DurationSeconds: 3600,
          }),
        );
        const c = output.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey)
          throw new Error(`AssumeRole of ${role.roleArn} returned no credentials`);
        current = {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
          ...(c.Expiration ? { expiration: c.Expiration } : {}),
        };
        return current;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

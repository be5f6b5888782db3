import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createNetworkPolicy } from '../../core/network-policy.js';
import type { BucketCredentials, BucketRecord } from '../../s3/bucket-schema.js';
import { createAwsClients } from '../../s3/clients.js';
import { NetworkRefused } from '../../core/errors.js';
import { toStorageError } from '../../s3/storage-errors.js';
import { guardedNetwork } from '../support/guarded-network.js';
import { DEFAULT_TAG_KEYS } from '../../s3/bucket-schema.js';

/**
 * A bucket's S3 endpoint and SQS queue are URLs a tenant supplied: every connection to them is
 * held to ARBITER_ALLOWED_NETWORKS like `location` and `callback` URLs. Nothing listens on the
 * ports used here: a connection that got through would fail differently (ECONNREFUSED).
 */
const record = (endpoint: string): BucketRecord => ({
  // (clients are cached per bucket and registration time: one per endpoint here)
  tenantId: 'a'.repeat(32),
  name: 'guarded',
  region: 'us-east-1',
  endpoint,
  forcePathStyle: true,
  sealedCredentials: JSON.stringify({ type: 'static', accessKeyId: 'k', secretAccessKey: 's' }),
  credentialsView: { type: 'static', accessKeyId: 'k' },
  actions: { onClean: 'tag', onInfected: 'tag', onUnscannable: 'tag' },
  tags: { ...DEFAULT_TAG_KEYS },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: endpoint,
});
const store = {
  openCredentials: (r: BucketRecord) => JSON.parse(r.sealedCredentials) as BucketCredentials,
  openQueueCredentials: (r: BucketRecord) => JSON.parse(r.sealedCredentials) as BucketCredentials,
};

describe('the network guard on S3 and SQS clients', () => {
  it('refuses loopback, private and metadata addresses, by literal or by name, before connecting', async () => {
    const clients = createAwsClients({
      store,
      policy: createNetworkPolicy([]),
      connectTimeoutMs: 2_000,
    });
    const cases: Array<[string, RegExp]> = [
      ['http://127.0.0.1:9', /refused: 127\.0\.0\.1 is a loopback address/],
      ['http://169.254.169.254', /refused: 169\.254\.169\.254 is a cloud metadata/],
      ['http://[::1]:9', /refused: ::1 is a loopback address/],
      ['http://localhost:9', /refused: localhost resolves to a forbidden address/],
    ];
    for (const [endpoint, pattern] of cases) {
      const error = await clients
        .s3(record(endpoint))
        .send(new HeadBucketCommand({ Bucket: 'guarded' }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(String((error as Error | undefined)?.message), endpoint).toMatch(pattern);
      expect(error, endpoint).toBeInstanceOf(NetworkRefused);
      expect(toStorageError(error).retryable).toBe(false);
    }
    clients.close();
  });

  it('checks every address a name resolves to, through the injected resolver, before connecting', async () => {
    const net = guardedNetwork({
      permitted: ['127.0.0.1'],
      names: { 'store.test': ['93.184.215.14', '10.1.2.3'] },
    });
    const clients = createAwsClients({
      store,
      policy: createNetworkPolicy([]),
      resolve: net.resolve,
      connect: net.connect,
      connectTimeoutMs: 2_000,
    });
    const error = await clients
      .s3(record('http://store.test:9'))
      .send(new HeadBucketCommand({ Bucket: 'guarded' }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(NetworkRefused);
    expect((error as Error).message).toMatch(
      /refused: store\.test resolves to a forbidden address: 10\.1\.2\.3 is a private address/,
    );
    expect(net.lookups).toContain('store.test');
    expect(net.attempts).toEqual([]);
    expect(net.violations).toEqual([]);
    clients.close();
  });

  it('lets the operator allow a network', async () => {
    const clients = createAwsClients({
      store,
      policy: createNetworkPolicy(['127.0.0.0/8']),
      connectTimeoutMs: 2_000,
    });
    const error = await clients
      .s3(record('http://127.0.0.1:9'))
      .send(new HeadBucketCommand({ Bucket: 'guarded' }))
      .then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
    expect(error?.code ?? error?.message).toMatch(/ECONNREFUSED/);
    clients.close();
  });
});

import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createNetworkPolicy } from '../../core/network-policy.js';
import type { BucketCredentials, BucketRecord } from '../../s3/bucket-schema.js';
import { assumeRoleProvider, createAwsClients } from '../../s3/clients.js';
import { DEFAULT_TAG_KEYS } from '../../s3/bucket-schema.js';

/**
 * Role credentials: Arbiter assumes the tenant's role with STS AssumeRole (role ARN + external
 * id) and signs S3/SQS requests with the temporary credentials.
 *
 * STS cannot run in this environment (no AWS account, and neither s3rver nor fauxqs implement
 * AssumeRole), so these tests replace STSClient with aws-sdk-client-mock: they check the
 * AssumeRole request Arbiter makes and what it does with the answer, not STS itself.
 */
const stsMock = mockClient(STSClient);

const bucket = (
  credentials: BucketCredentials,
  queueCredentials?: BucketCredentials,
): BucketRecord => ({
  tenantId: 'a'.repeat(32),
  name: 'uploads',
  region: 'eu-west-1',
  forcePathStyle: false,
  sealedCredentials: JSON.stringify(credentials),
  credentialsView: { type: 'static', accessKeyId: 'x' },
  actions: { onClean: 'tag', onInfected: 'tag', onUnscannable: 'tag' },
  tags: { ...DEFAULT_TAG_KEYS },
  queue: {
    url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/events',
    region: 'eu-west-1',
    ...(queueCredentials ? { sealedCredentials: JSON.stringify(queueCredentials) } : {}),
  },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

// The store normally opens sealed credentials; here they are stored in the clear.
const store = {
  openCredentials: (record: BucketRecord) =>
    JSON.parse(record.sealedCredentials) as BucketCredentials,
  openQueueCredentials: (record: BucketRecord) =>
    JSON.parse(record.queue?.sealedCredentials ?? record.sealedCredentials) as BucketCredentials,
};

const temporary = (expiration: Date, id = 'ASIATEMPORARY') => ({
  Credentials: {
    AccessKeyId: id,
    SecretAccessKey: 'temporary-secret',
    SessionToken: 'session-token',
    Expiration: expiration,
  },
});

afterEach(() => stsMock.reset());

describe('role credentials through STS AssumeRole (STS mocked: aws-sdk-client-mock)', () => {
  it('assumes the role with its ARN, the tenant’s own external id and session name, and signs with the result', async () => {
    stsMock.on(AssumeRoleCommand).resolves(temporary(new Date(Date.now() + 3600_000)));
    const clients = createAwsClients({ store, policy: createNetworkPolicy([]) });
    const s3: S3Client = clients.s3(
      bucket({
        type: 'role',
        roleArn: 'arn:aws:iam::111122223333:role/arbiter-scanner',
        // Stored before external ids were assigned: never presented (see role-external-id.test.ts).
        externalId: 'tenant-external-id',
      }),
    );
    const identity = await s3.config.credentials();
    expect(identity).toMatchObject({
      accessKeyId: 'ASIATEMPORARY',
      secretAccessKey: 'temporary-secret',
      sessionToken: 'session-token',
    });
    const calls = stsMock.commandCalls(AssumeRoleCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      RoleArn: 'arn:aws:iam::111122223333:role/arbiter-scanner',
      ExternalId: `arbiter-${'a'.repeat(32)}`,
      RoleSessionName: `arbiter-${'a'.repeat(16)}`,
      DurationSeconds: 3600,
    });
    clients.close();
  });

  it('uses the per-tenant external id when the registration gives none', async () => {
    stsMock.on(AssumeRoleCommand).resolves(temporary(new Date(Date.now() + 3600_000)));
    const clients = createAwsClients({ store, policy: createNetworkPolicy([]) });
    await clients
      .s3(bucket({ type: 'role', roleArn: 'arn:aws:iam::111122223333:role/r' }))
      .config.credentials();
    expect(stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input.ExternalId).toBe(
      `arbiter-${'a'.repeat(32)}`,
    );
    clients.close();
  });

  it('reuses the temporary credentials until five minutes before they expire, then assumes again', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    stsMock
      .on(AssumeRoleCommand)
      .resolvesOnce(temporary(new Date(now + 3600_000), 'ASIAFIRST'))
      .resolvesOnce(temporary(new Date(now + 7200_000), 'ASIASECOND'));
    const sts = new STSClient({ region: 'eu-west-1' });
    const provider = assumeRoleProvider(
      sts,
      { roleArn: 'arn:aws:iam::111122223333:role/r', externalId: 'e', sessionName: 's' },
      () => now,
    );
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(a.accessKeyId).toBe('ASIAFIRST');
    expect(b.accessKeyId).toBe('ASIAFIRST');
    now += 50 * 60_000; // 10 minutes left: still fine
    expect((await provider()).accessKeyId).toBe('ASIAFIRST');
    now += 6 * 60_000; // 4 minutes left: refresh
    expect((await provider()).accessKeyId).toBe('ASIASECOND');
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('fails clearly when STS refuses, and tries again on the next call', async () => {
    stsMock
      .on(AssumeRoleCommand)
      .rejectsOnce(
        Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), {
          name: 'AccessDenied',
        }),
      )
      .resolves(temporary(new Date(Date.now() + 3600_000)));
    const sts = new STSClient({ region: 'eu-west-1' });
    const provider = assumeRoleProvider(sts, {
      roleArn: 'arn:aws:iam::111122223333:role/r',
      externalId: 'e',
      sessionName: 's',
    });
    await expect(provider()).rejects.toThrow(/not authorized/);
    expect((await provider()).accessKeyId).toBe('ASIATEMPORARY');
  });

  it('gives the SQS client the queue’s own credentials, or the bucket’s', async () => {
    stsMock.on(AssumeRoleCommand).resolves(temporary(new Date(Date.now() + 3600_000)));
    const clients = createAwsClients({ store, policy: createNetworkPolicy([]) });
    const own: SQSClient = clients.sqs(
      bucket(
        { type: 'static', accessKeyId: 'AKIABUCKET', secretAccessKey: 'b' },
        { type: 'static', accessKeyId: 'AKIAQUEUE', secretAccessKey: 'q' },
      ),
    );
    expect((await own.config.credentials()).accessKeyId).toBe('AKIAQUEUE');
    const shared = createAwsClients({ store, policy: createNetworkPolicy([]) }).sqs(
      bucket({ type: 'role', roleArn: 'arn:aws:iam::111122223333:role/r', externalId: 'x1' }),
    );
    expect((await shared.config.credentials()).accessKeyId).toBe('ASIATEMPORARY');
    clients.close();
  });
});

import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { SecretBox } from '../../core/secret-box.js';
import type { BucketRecord, BucketView } from '../../s3/bucket-schema.js';
import { createAwsClients } from '../../s3/clients.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';

/**
 * The external id of a role registration belongs to the registering tenant: Arbiter assigns it
 * (`arbiter-<tenant id>`) and always presents that one to STS. Otherwise tenant B could register
 * tenant A's role with A's external id and have Arbiter assume it (the "confused deputy").
 *
 * STS cannot run in this environment (no AWS account; neither s3rver nor fauxqs implement
 * AssumeRole), so STSClient is replaced with aws-sdk-client-mock: the tests check the AssumeRole
 * request Arbiter makes, built from the registration the real API stored in the real Redis.
 */
const SECRET_KEY = Buffer.alloc(32, 7);
const ROLE_ARN = 'arn:aws:iam::111122223333:role/tenant-a-scanner';
const stsMock = mockClient(STSClient);

describe('role external ids', () => {
  let service: TestService;
  let tenantA: TestTenant;
  let tenantB: TestTenant;

  beforeAll(async () => {
    service = await startTestService({ ARBITER_SECRET_KEY: SECRET_KEY.toString('base64') });
    tenantA = await service.createTenant('role-owner');
    tenantB = await service.createTenant('role-borrower');
  });
  afterAll(async () => {
    await service?.stop();
  });
  afterEach(() => stsMock.reset());

  const register = (tenant: TestTenant, name: string, body: unknown) =>
    fetch(`${service.url}/v1/buckets/${name}`, {
      method: 'PUT',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const view = async (tenant: TestTenant, name: string) => {
    const response = await fetch(`${service.url}/v1/buckets/${name}`, {
      headers: { authorization: tenant.auth },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as BucketView;
  };

  /** The ExternalId of the AssumeRole call Arbiter makes for the stored registration. */
  async function assumedExternalId(tenantId: string, name: string): Promise<string | undefined> {
    stsMock.on(AssumeRoleCommand).resolves({
      Credentials: {
        AccessKeyId: 'ASIATEMPORARY',
        SecretAccessKey: 'temporary-secret',
        SessionToken: 'session-token',
        Expiration: new Date(Date.now() + 3600_000),
      },
    });
    const store = service.service.runtime.s3.buckets;
    const record = await store.get(tenantId, name);
    expect(record).toBeDefined();
    const clients = createAwsClients({ store, policy: createNetworkPolicy([]) });
    try {
      await clients.s3(record!).config.credentials();
    } finally {
      clients.close();
    }
    const calls = stsMock.commandCalls(AssumeRoleCommand);
    expect(calls).toHaveLength(1);
    return calls[0]?.args[0].input.ExternalId;
  }

  it('refuses tenant B registering a role with tenant A’s external id, naming B’s own', async () => {
    const response = await register(tenantB, 'borrowed-bucket', {
      region: 'eu-west-1',
      credentials: { type: 'role', roleArn: ROLE_ARN, externalId: `arbiter-${tenantA.id}` },
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain(`credentials.externalId must be "arbiter-${tenantB.id}" or left out`);
    expect(error).toMatch(/trust policy.*sts:ExternalId/);
    // Nothing was registered.
    const missing = await fetch(`${service.url}/v1/buckets/borrowed-bucket`, {
      headers: { authorization: tenantB.auth },
    });
    expect(missing.status).toBe(404);

    // The queue's own role credentials obey the same rule.
    const queue = await register(tenantB, 'borrowed-bucket', {
      region: 'eu-west-1',
      credentials: { type: 'role', roleArn: ROLE_ARN },
      queue: {
        url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/events',
        credentials: { type: 'role', roleArn: ROLE_ARN, externalId: 'anything-chosen' },
      },
    });
    expect(queue.status).toBe(400);
    expect(((await queue.json()) as { error: string }).error).toContain(
      `queue.credentials.externalId must be "arbiter-${tenantB.id}"`,
    );
  });

  it('assigns the tenant’s own external id, shows it, and presents it to STS', async () => {
    const created = await register(tenantB, 'own-role-bucket', {
      region: 'eu-west-1',
      credentials: { type: 'role', roleArn: ROLE_ARN },
    });
    expect(created.status).toBe(201);
    expect((await view(tenantB, 'own-role-bucket')).credentials).toEqual({
      type: 'role',
      roleArn: ROLE_ARN,
      externalId: `arbiter-${tenantB.id}`,
    });
    // Giving exactly the tenant's own is accepted too.
    const replaced = await register(tenantB, 'own-role-bucket', {
      region: 'eu-west-1',
      credentials: { type: 'role', roleArn: ROLE_ARN, externalId: `arbiter-${tenantB.id}` },
    });
    expect(replaced.status).toBe(200);
    expect(await assumedExternalId(tenantB.id, 'own-role-bucket')).toBe(`arbiter-${tenantB.id}`);
  });

  it('never presents a foreign external id a registration stored before the rule', async () => {
    expect(
      (
        await register(tenantB, 'old-role-bucket', {
          region: 'eu-west-1',
          credentials: { type: 'role', roleArn: ROLE_ARN },
        })
      ).status,
    ).toBe(201);
    // What an older Arbiter accepted and stored: B's registration carrying A's external id.
    const key = service.keys.bucket(tenantB.id, 'old-role-bucket');
    const redis = service.service.runtime.redis;
    const record = JSON.parse((await redis.get(key))!) as BucketRecord;
    const foreign = { type: 'role', roleArn: ROLE_ARN, externalId: `arbiter-${tenantA.id}` };
    record.sealedCredentials = new SecretBox(SECRET_KEY).seal(
      JSON.stringify(foreign),
      `bucket:${tenantB.id}:old-role-bucket`,
    );
    record.credentialsView = { type: 'role', roleArn: ROLE_ARN, externalId: foreign.externalId };
    await redis.set(key, JSON.stringify(record));

    expect((await view(tenantB, 'old-role-bucket')).credentials).toMatchObject({
      externalId: `arbiter-${tenantB.id}`,
    });
    expect(await assumedExternalId(tenantB.id, 'old-role-bucket')).toBe(`arbiter-${tenantB.id}`);
  });
});

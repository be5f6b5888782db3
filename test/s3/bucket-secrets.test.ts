import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../cli/serve.js';
import { ConfigError, loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { eicar } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { S3RVER_CREDENTIALS, startS3Harness, type S3Harness } from '../support/s3.js';
import { ADMIN_TOKEN, basic, startTestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/** Bucket credentials are encrypted at rest, never returned, never logged. */

const SECRET_ACCESS_KEY = 'Sup3rSecretAccessKey/ThatMustNeverLeak+0123456789';
const QUEUE_SECRET = 'QueueSecretThatMustNeverLeak/987654321';
const SESSION_TOKEN = 'SessionTokenThatMustNeverLeak0000';

describe('ARBITER_SECRET_KEY', () => {
  it('takes 32 bytes as hex or base64 and refuses anything else, saying how to make one', () => {
    expect(loadConfig({ ARBITER_SECRET_KEY: 'ab'.repeat(32) }).secretKey).toEqual(
      Buffer.alloc(32, 0xab),
    );
    expect(
      loadConfig({ ARBITER_SECRET_KEY: Buffer.alloc(32, 9).toString('base64') }).secretKey,
    ).toEqual(Buffer.alloc(32, 9));
    expect(
      loadConfig({ ARBITER_SECRET_KEY: Buffer.alloc(32, 9).toString('base64url') }).secretKey,
    ).toEqual(Buffer.alloc(32, 9));
    expect(loadConfig({}).secretKey).toBeUndefined();
    for (const bad of [
      'short',
      'ab'.repeat(31),
      Buffer.alloc(16).toString('base64'),
      Buffer.alloc(48, 9).toString('base64'),
    ]) {
      expect(() => loadConfig({ ARBITER_SECRET_KEY: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ARBITER_SECRET_KEY: bad })).toThrow(
        /ARBITER_SECRET_KEY: must be 32 random bytes .*openssl rand -base64 32/,
      );
    }
  });

  it('without it, bucket registration answers 503 saying what the operator must set', async () => {
    const service = await startTestService();
    try {
      const tenant = await service.createTenant('no-key');
      const response = await fetch(`${service.url}/v1/buckets/some-bucket`, {
        method: 'PUT',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          region: 'us-east-1',
          credentials: { type: 'static', accessKeyId: 'a', secretAccessKey: 'b' },
        }),
      });
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: string }).error).toMatch(/ARBITER_SECRET_KEY/);
      const list = await fetch(`${service.url}/v1/buckets`, {
        headers: { authorization: tenant.auth },
      });
      expect(await list.json()).toEqual({ buckets: [] });
    } finally {
      await service.stop();
    }
  });
});

describe('bucket credentials', () => {
  let redis: TestRedis;
  let harness: S3Harness;
  let receiver: CallbackReceiver;
  let service: RunningService;
  let dataDir: string;
  let url: string;
  let auth: string;
  const logs: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-data-'));
    const config = loadConfig({
      PORT: '0',
      ARBITER_LISTEN_HOST: '127.0.0.1',
      ...redis.serviceEnv,
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
      ARBITER_SECRET_KEY: 'cd'.repeat(32),
      ARBITER_SQS_WAIT_SECONDS: '1',
      ARBITER_SQS_REFRESH_MS: '100',
      LOG_LEVEL: 'trace',
    });
    // Everything the service logs, at the most verbose level, into memory.
    const capture = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(chunk.toString('utf8'));
        callback();
      },
    });
    service = await startService(config, createLogger('trace', 'arbiter', capture), {
      api: true,
      workers: true,
    });
    url = service.url ?? '';
    const created = await fetch(`${url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'secretive' }),
    });
    const tenant = (await created.json()) as { key: string; secret: string };
    auth = basic(tenant.key, tenant.secret);
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('are encrypted in Redis, absent from every answer, trace, callback and log line', async () => {
    await harness.createBucket('secretive');
    await harness.createBucket('locked-out');
    const queue = await harness.createQueue('q-secretive');
    const register = async (name: string, accessKeyId: string) => {
      const response = await fetch(`${url}/v1/buckets/${name}`, {
        method: 'PUT',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          endpoint: harness.s3Endpoint,
          credentials: {
            type: 'static',
            accessKeyId,
            secretAccessKey: SECRET_ACCESS_KEY,
            sessionToken: SESSION_TOKEN,
          },
          queue: {
            url: queue.url,
            endpoint: harness.sqsEndpoint,
            credentials: {
              type: 'static',
              accessKeyId: 'queue-user',
              secretAccessKey: QUEUE_SECRET,
            },
          },
          callback: `${receiver.url}/callback`,
        }),
      });
      expect(response.status).toBe(201);
      return response.text();
    };
    const answers = [
      await register('secretive', S3RVER_CREDENTIALS.accessKeyId),
      await register('locked-out', 'UNKNOWNKEYID'),
    ];
    harness.bridge('secretive', { mode: 'direct', queueUrl: queue.url });
    harness.bridge('locked-out', { mode: 'direct', queueUrl: queue.url });

    // Normal work, and work that fails on the credentials (s3rver refuses the unknown key id).
    await harness.putObject('secretive', 'fine.txt', 'fine');
    await harness.putObject('secretive', 'bad.com', eicar());
    await harness.putObject('locked-out', 'refused.txt', 'nobody reads me');
    await harness.waitForTag('secretive', 'fine.txt', 'scan-result', 'clean');
    await harness.waitForTag('secretive', 'bad.com', 'scan-result', 'infected');
    const refused = await waitFor(
      () => receiver.deliveries.find((d) => d.json.key === 'refused.txt'),
      { what: 'the refused object’s callback' },
    );
    expect(refused.json).toMatchObject({ outcome: 'error', action: 'none' });
    expect(String(refused.json.error)).toMatch(/InvalidAccessKeyId \(HTTP 403\)/);
    await receiver.waitForDeliveries(3);

    for (const view of [
      ...answers,
      await (await fetch(`${url}/v1/buckets`, { headers: { authorization: auth } })).text(),
    ]) {
      expect(view).toContain('"type":"static"');
      for (const secret of [
        SECRET_ACCESS_KEY,
        QUEUE_SECRET,
        SESSION_TOKEN,
        'UNKNOWNKEYID',
        'queue-user',
      ])
        expect(view).not.toContain(secret);
    }

    // At rest: the stored records hold sealed values only.
    const client = new Redis({ path: redis.socket });
    try {
      const keys = await client.keys('*');
      const values = await Promise.all(
        keys.map(async (key) => {
          const type = await client.type(key);
          if (type === 'string') return client.get(key);
          if (type === 'hash') return JSON.stringify(await client.hgetall(key));
          if (type === 'list') return JSON.stringify(await client.lrange(key, 0, -1));
          return '';
        }),
      );
      const dump = values.join('\n');
      expect(dump).toContain('"sealedCredentials":"v1.');
      for (const secret of [SECRET_ACCESS_KEY, QUEUE_SECRET, SESSION_TOKEN])
        expect(dump).not.toContain(secret);
    } finally {
      client.disconnect();
    }

    const everything = [...logs, ...receiver.deliveries.map((d) => d.body)].join('\n');
    expect(logs.length).toBeGreaterThan(5);
    expect(logs.join('\n')).toContain('polling SQS for S3 events');
    for (const secret of [SECRET_ACCESS_KEY, QUEUE_SECRET, SESSION_TOKEN])
      expect(everything).not.toContain(secret);
  });
});

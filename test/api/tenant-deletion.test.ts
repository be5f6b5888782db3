import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../core/keys.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import {
  basic,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/** What a tenant leaves behind once it has used everything: the credentials it holds. */
interface Footprint {
  tenant: TestTenant;
  secondKey: { key: string; secret: string };
  tokens: string[];
  scheduleId: string;
}

/**
 * `DELETE /admin/tenants/{id}` (docs/api.md): every key naming the tenant goes from Redis
 * (results, traces, tokens, keys and their overrides, settings, limits, buckets, retro jobs and
 * schedules, rescans, and keys other modules add under the same layout, such as tenant rules),
 * and so do its entries in the global indexes and its schedules' job schedulers; its keys and
 * tokens stop authenticating at once; another tenant that did all the same is untouched.
 */
describe('deleting a tenant', () => {
  let harness: S3Harness;
  let service: TestService;
  let redis: Redis;
  let keys: RedisKeys;
  let prefix: string;
  let slow: TestHttpServer;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({ ARBITER_SECRET_KEY: 'cd'.repeat(32) });
    redis = createRedis(service.redis.url, 'command', () => undefined);
    prefix = service.config.redisPrefix;
    keys = service.keys;
    // Answers nothing until released: a fetch from it keeps its scan pending.
    slow = await startHttpServer({
      '/hang': (_req, res) => void held.push(res),
      '/hook': (_req, res) => void res.writeHead(200).end(),
    });
  });
  afterAll(async () => {
    for (const res of held) res.end('late');
    await slow?.close();
    redis?.disconnect();
    await service?.stop();
    await harness?.stop();
  });

  const ping = (auth: string) =>
    fetch(`${service.url}/v2.2/ping`, { headers: { authorization: auth } });

  /** Every Redis key but BullMQ's (whose names hold job ids, never tenant ids). */
  const allKeys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      found.push(...batch.filter((key) => !key.startsWith(`${keys.queueRoot()}:`)));
      cursor = next;
    } while (cursor !== '0');
    return found.sort();
  };

  /** Everything the tenant can create through the API, and a key another module would add. */
  async function useEverything(name: string): Promise<Footprint> {
    const tenant = await service.createTenant(name);
    const v1 = v1Client(service, tenant.auth);
    const secondKey = (await (
      await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const put = (path: string, body: unknown) =>
      service.admin(path, { method: 'PUT', body: JSON.stringify(body) });
    expect(
      (await put(`/keys/${secondKey.key}/settings`, { detection_categories: ['malware'] })).status,
    ).toBe(200);
    expect((await put(`/tenants/${tenant.id}/settings`, { image_threshold: 0.5 })).status).toBe(
      200,
    );
    expect((await put(`/tenants/${tenant.id}/limits`, { burst: 500 })).status).toBe(200);

    const sync = await fetch(`${service.url}/v2.2/files`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: fileForm(LOCAL_TEST_FILE, {}, 'test.txt'),
    });
    expect(sync.status).toBe(201);
    const accepted = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: fileForm(randomContent(2048), { callback: `${slow.url}/hook` }, 'later.bin'),
    });
    const acceptedId = ((await accepted.json()) as { id: string }).id;
    await pollScanResult(service, tenant, acceptedId);
    // Its callback attempts and the tenant's hourly counters are the tenant's keys too.
    await waitFor(async () => (await redis.exists(keys.callbacks(tenant.id, acceptedId))) === 1, {
      what: 'the callback attempt to be recorded',
    });

    const browserToken = (await (
      await fetch(`${service.url}/v2.2/auth/tokens`, {
        method: 'POST',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: '{"timeout":600}',
      })
    ).json()) as { id: string };
    const verdictToken = (await (
      await fetch(`${service.url}/api/Token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
      })
    ).json()) as { accessToken: string };
    expect(
      (
        await v1('/webhooks/signing-secret/rotate', {
          method: 'POST',
          body: '{"grace_seconds":600}',
        })
      ).status,
    ).toBe(201);

    const bucket = `bucket-${name}`;
    await harness.createBucket(bucket);
    await harness.putObject(bucket, 'old.txt', 'old content');
    const queue = await harness.createQueue(`queue-${name}`);
    await registerBucket(service, tenant.auth, harness, bucket, {
      queue: {
        url: queue.url,
        endpoint: harness.sqsEndpoint,
        credentials: { type: 'static', accessKeyId: 'sqs-user', secretAccessKey: 'sqs-secret' },
      },
    });
    const schedule = await v1('/schedules', {
      method: 'POST',
      body: JSON.stringify({ cron: '0 3 * * *', buckets: [{ name: bucket }] }),
    });
    expect(schedule.status).toBe(201);
    const job = await v1('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: bucket }] }),
    });
    expect(job.status).toBe(201);
    const jobId = ((await job.json()) as { id: string }).id;
    await waitFor(
      async () =>
        ((await (await v1(`/jobs/${jobId}`)).json()) as { state: string }).state === 'completed',
      { what: `retro job ${jobId}` },
    );
    const rescan = await v1('/rescans', {
      method: 'POST',
      // Every result is older than this database: the rescan walks them all (none is held).
      body: JSON.stringify({ older_than: 'arbiter-builtin/0.0.1 db:000000 (1 signature)' }),
    });
    expect(rescan.status).toBe(201);
    const rescanId = ((await rescan.json()) as { id: string }).id;
    await waitFor(
      async () =>
        ((await (await v1(`/rescans/${rescanId}`)).json()) as { state: string }).state ===
        'completed',
      { what: `rescan ${rescanId}` },
    );
    // As the tenant rules of another part of the service store them (same layout).
    const segment = keys.tenantSegment(tenant.id);
    await redis.set(`${prefix}:tenant-rules:${segment}`, '1');
    await redis.hset(`${prefix}:tenant-rules:${segment}:my_rule`, 'source', 'rule x {}');
    return {
      tenant,
      secondKey,
      tokens: [browserToken.id, verdictToken.accessToken],
      scheduleId: ((await schedule.json()) as { id: string }).id,
    };
  }

  it('removes everything under its id and nothing of another tenant that did the same', async () => {
    const doomed = await useEverything('doomed');
    const kept = await useEverything('kept');
    const before = await allKeys();
    const keptKeys = before.filter((key) => key.includes(kept.tenant.id));
    expect(before.filter((key) => key.includes(doomed.tenant.id)).length).toBeGreaterThan(15);
    for (const kind of ['callbacks', 'stats'])
      expect(
        before.some(
          (key) => key.startsWith(`${prefix}:${kind}:`) && key.includes(doomed.tenant.id),
        ),
      ).toBe(true);
    for (const token of doomed.tokens) expect((await ping(basic(token, ''))).status).toBe(200);

    const deleted = await service.admin(`/tenants/${doomed.tenant.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);

    const after = await allKeys();
    expect(after.filter((key) => key.includes(doomed.tenant.id))).toEqual([]);
    for (const key of [doomed.tenant.key, doomed.secondKey.key])
      expect(await redis.exists(keys.apiKey(key))).toBe(0);
    for (const token of doomed.tokens) expect(await redis.exists(keys.tokenOwner(token))).toBe(0);
    expect(await redis.sismember(keys.tenants(), doomed.tenant.id)).toBe(0);
    expect(await redis.exists(keys.pendingScans(doomed.tenant.id))).toBe(0);
    expect(await redis.smembers(keys.bucketQueues())).toEqual([`${kept.tenant.id}/bucket-kept`]);
    const schedulers = await service.service.runtime.queues.retro.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).not.toContain(doomed.scheduleId);
    expect(schedulers.map((s) => s.key)).toContain(kept.scheduleId);

    // Its credentials no longer authenticate; the other tenant's all do.
    expect((await ping(doomed.tenant.auth)).status).toBe(401);
    expect((await ping(basic(doomed.secondKey.key, doomed.secondKey.secret))).status).toBe(401);
    for (const token of doomed.tokens) expect((await ping(basic(token, ''))).status).toBe(401);
    expect((await ping(kept.tenant.auth)).status).toBe(200);
    for (const token of kept.tokens) expect((await ping(basic(token, ''))).status).toBe(200);

    // The other tenant's keys are all there (keys only grow as the live service works).
    expect(after.filter((key) => key.includes(kept.tenant.id))).toEqual(
      expect.arrayContaining(keptKeys),
    );
    expect(await redis.exists(keys.apiKey(kept.secondKey.key))).toBe(1);
    const listed = (await (await service.admin('/tenants')).json()) as Array<{ id: string }>;
    expect(listed.map((t) => t.id)).toContain(kept.tenant.id);
    expect(listed.map((t) => t.id)).not.toContain(doomed.tenant.id);

    expect((await service.admin(`/tenants/${doomed.tenant.id}`, { method: 'DELETE' })).status).toBe(
      404,
    );
    expect((await service.admin(`/tenants/${doomed.tenant.id}/settings`)).status).toBe(404);
  });

  it('refuses while scans of the tenant are pending, unless forced', async () => {
    const busy = await service.createTenant('busy');
    const fetched = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: busy.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${slow.url}/hang` }),
    });
    expect(fetched.status).toBe(202);
    await waitFor(() => held.length > 0, { what: 'the download to start' });

    const refused = await service.admin(`/tenants/${busy.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /1 scan\(s\) still pending.*\?force=true/,
    );
    expect((await ping(busy.auth)).status).toBe(200);
    const badForce = await service.admin(`/tenants/${busy.id}?force=yes`, { method: 'DELETE' });
    expect(badForce.status).toBe(400);

    const forced = await service.admin(`/tenants/${busy.id}?force=true`, { method: 'DELETE' });
    expect(forced.status).toBe(204);
    expect((await ping(busy.auth)).status).toBe(401);
    expect(await redis.exists(keys.tenant(busy.id))).toBe(0);
    expect(await redis.exists(keys.pendingScans(busy.id))).toBe(0);
  });

  it('needs the admin token and an existing tenant id', async () => {
    const tenant = await service.createTenant('survivor');
    const asTenant = await fetch(`${service.url}/admin/tenants/${tenant.id}`, {
      method: 'DELETE',
      headers: { authorization: tenant.auth },
    });
    expect(asTenant.status).toBe(401);
    for (const id of ['0123456789abcdef0123456789abcdef', 'not-an-id', '*', `${tenant.id}:keys`])
      expect(
        (await service.admin(`/tenants/${encodeURIComponent(id)}`, { method: 'DELETE' })).status,
        id,
      ).toBe(404);
    expect((await ping(tenant.auth)).status).toBe(200);
  });
});

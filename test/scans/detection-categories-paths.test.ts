import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../core/redis.js';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { zip } from '../support/archives.js';
import { fileForm } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type Delivery,
  type TestHttpServer,
} from '../support/http-servers.js';
import { triggerPng } from '../support/images.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import {
  basic,
  pollScanResult,
  scanUpload,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 13's "done when", end to end: a tenant with every detection category and its own YARA
 * rules gets the malware, language, image and custom findings of the documented test contents
 * through every path a scan can take (sync, async, fetch, the verdict API, an existing bucket
 * object, S3 events posted and through SQS, a retro job, a rescan); a tenant on the defaults gets the malware finding alone,
 * from the malware engine alone. Then a key's own categories, a deleted rule file and a deleted
 * tenant, as an operator and a tenant would do them; and a change of categories reaching a worker
 * that runs apart from the api.
 */

interface Result {
  id: string;
  findings: string[];
  engines: Array<{ name: string; version: string }>;
  error?: string;
}

const CUSTOM_MARKER = 'ARBITER-E2E-CUSTOM-MARKER-5D1B';
const RULE_FILE = 'e2e.yar';
const RULES = `rule E2E_Custom_Marker {
  strings:
    $marker = "${CUSTOM_MARKER}"
  condition:
    $marker
}

rule e2e_with_meta {
  meta:
    finding = "content.custom.e2e-meta"
  strings:
    $marker = "${CUSTOM_MARKER}"
  condition:
    $marker
}
`;

const MALWARE_FINDING = 'content.malicious.local-test-file';
const LANGUAGE_FINDINGS = ['content.en.language.nsfw.0', 'content.en.language.nsfw.test'];
const CUSTOM_FINDINGS = ['content.custom.e2e-meta', 'content.custom.e2e_custom_marker'];
const ALL_FINDINGS = [
  ...CUSTOM_FINDINGS,
  ...LANGUAGE_FINDINGS,
  'content.image.nsfw.nudity',
  MALWARE_FINDING,
];
const ALL_CATEGORIES = 'detection categories: malware, unsafe_image, unsafe_language';
const MALWARE_ONLY = 'detection categories: malware';

/** What each engine's version looks like in a result (docs/engines.md). */
const ENGINE_VERSIONS: Record<string, RegExp> = {
  builtin: /^arbiter-builtin\/\S+ db:[0-9a-f]{12} \(1 signatures?\)$/,
  'language-rules': /^arbiter-language\/[0-9a-f]{12} \(\d+ rules, en\)$/,
  nsfwjs: /^nsfwjs \d+\.\d+\.\d+ MobileNetV2$/,
  'tenant-rules': /^tenant-rules v\d+ \(2 rules\)$/,
};

/** One zip holding every documented test content, and a file with the tenant rule's marker. */
async function everyTestContent(): Promise<Buffer> {
  return zip([
    { name: 'malware/test-file.txt', data: LOCAL_TEST_FILE },
    {
      name: 'notes/chat.txt',
      data: Buffer.from('minutes of the meeting\nC681D880-8EB3-4D8F-B2E6-FE25EB415C47\n'),
    },
    {
      name: 'site/index.html',
      data: Buffer.from(
        '<!doctype html><html><head><title>Page</title></head><body><p>Hello ' +
          '<b>E78F3BC5-9633-4FF8-9311-148ACC4880DF</b> there</p></body></html>\n',
      ),
    },
    { name: 'photos/beach.png', data: await triggerPng() },
    { name: 'internal/report.txt', data: Buffer.from(`classified: ${CUSTOM_MARKER}\n`) },
  ]);
}

describe('detection categories on every scan path', () => {
  let harness: S3Harness;
  let service: TestService;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let redis: Redis;
  let bundle: Buffer;
  let signatures: string;
  /** Every category on, and two tenant rules. */
  let all: TestTenant;
  /** The defaults: malware alone, no rules. */
  let none: TestTenant;

  beforeAll(async () => {
    harness = await startS3Harness();
    // A database of one signature that matches nothing here: the built-in engine's version then
    // names a database, which a rescan can compare.
    signatures = await mkdtemp(path.join(tmpdir(), 'arbiter-e2e-signatures-'));
    await writeFile(
      path.join(signatures, 'unused.ndb'),
      `Test.Never.Seen:0:*:${Buffer.from('arbiter-e2e-never-seen-3c1f').toString('hex')}\n`,
    );
    service = await startTestService({
      ARBITER_SECRET_KEY: 'e2'.repeat(32),
      ARBITER_SIGNATURES_DIR: signatures,
      // Registered queues are found, and polled, at once.
      ARBITER_SQS_WAIT_SECONDS: '1',
      ARBITER_SQS_REFRESH_MS: '100',
    });
    redis = createRedis(service.redis.url, 'command', () => undefined);
    receiver = await startCallbackReceiver();
    bundle = await everyTestContent();
    content = await startHttpServer({ '/bundle.zip': bundle });
    all = await service.createTenant('every-category');
    none = await service.createTenant('defaults');
    const settings = await service.admin(`/tenants/${all.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({
        detection_categories: ['malware', 'unsafe_image', 'unsafe_language'],
      }),
    });
    expect(settings.status).toBe(200);
    expect((await putRules(all, RULES)).status).toBe(201);
    for (const [tenant, name] of [
      [all, 'all'],
      [none, 'none'],
    ] as const) {
      for (const bucket of [`events-${name}`, `objects-${name}`]) {
        await harness.createBucket(bucket);
        await registerBucket(service, tenant.auth, harness, bucket, {
          callback: `${receiver.url}/callback`,
        });
      }
      harness.bridge(`events-${name}`, {
        mode: 'http',
        url: `${service.url}/v1/events/s3`,
        authorization: tenant.auth,
      });
      // Events of this one come through an SQS queue that the service polls.
      const queue = await harness.createQueue(`queue-${name}`);
      await harness.createBucket(`queued-${name}`);
      await registerBucket(service, tenant.auth, harness, `queued-${name}`, {
        callback: `${receiver.url}/callback`,
        queue: {
          url: queue.url,
          endpoint: harness.sqsEndpoint,
          credentials: { type: 'static', accessKeyId: 'sqs-user', secretAccessKey: 'sqs-secret' },
        },
      });
      harness.bridge(`queued-${name}`, { mode: 'direct', queueUrl: queue.url });
    }
  });
  afterAll(async () => {
    redis?.disconnect();
    await content?.close();
    await receiver?.close();
    await service?.stop();
    await harness?.stop();
    if (signatures) await rm(signatures, { recursive: true, force: true });
  });

  function putRules(tenant: TestTenant, source: string): Promise<Response> {
    return fetch(`${service.url}/v1/rules/${RULE_FILE}`, {
      method: 'PUT',
      headers: { authorization: tenant.auth, 'content-type': 'text/plain' },
      body: source,
    });
  }

  const resultOf = async (auth: string, id: string): Promise<Result> => {
    const response = await fetch(`${service.url}/v2.2/files/${id}`, {
      headers: { authorization: auth },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Result;
  };

  const traceOf = (auth: string, id: string) => traceMessages(service, { auth }, id);
  const scanSync = (auth: string, data: Buffer = bundle) =>
    scanUpload<Result>(service, { auth }, data, 'bundle.zip');

  /** Each engine named once, in the order they ran, each with a version of its own shape. */
  const expectEngines = (result: Pick<Result, 'engines'>, names: string[]) => {
    expect(result.engines.map((engine) => engine.name)).toEqual(names);
    for (const engine of result.engines)
      expect(engine.version, engine.name).toMatch(ENGINE_VERSIONS[engine.name] ?? /^$/);
  };

  /** The tenant with every category: every test content found, by every engine, and said so. */
  async function expectEverything(result: Result): Promise<void> {
    expect(result.error).toBeUndefined();
    expect(result.findings).toEqual(ALL_FINDINGS);
    expectEngines(result, ['builtin', 'language-rules', 'nsfwjs', 'tenant-rules']);
    const trace = await traceOf(all.auth, result.id);
    expect(trace).toContain(ALL_CATEGORIES);
    expect(trace).not.toContain(MALWARE_ONLY);
  }

  /** The tenant on the defaults: the malware test content alone, by the malware engine alone. */
  async function expectMalwareOnly(result: Result): Promise<void> {
    expect(result.error).toBeUndefined();
    expect(result.findings).toEqual([MALWARE_FINDING]);
    expectEngines(result, ['builtin']);
    const trace = await traceOf(none.auth, result.id);
    expect(trace).toContain(MALWARE_ONLY);
    expect(trace.some((line) => /nsfwjs|language-rules|tenant-rules/.test(line))).toBe(false);
  }

  const both = () =>
    [
      [all, expectEverything],
      [none, expectMalwareOnly],
    ] as const;

  it('sync: POST /v2.2/files', async () => {
    for (const [tenant, expectations] of both()) await expectations(await scanSync(tenant.auth));
  });

  it('async: POST /v2.2/files/async, then GET /v2.2/files/{id}', async () => {
    for (const [tenant, expectations] of both()) {
      const accepted = await fetch(`${service.url}/v2.2/files/async`, {
        method: 'POST',
        headers: { authorization: tenant.auth },
        body: fileForm(bundle, {}, 'bundle.zip'),
      });
      expect(accepted.status).toBe(202);
      const { id } = (await accepted.json()) as { id: string };
      await expectations(await pollScanResult<Result>(service, tenant, id));
    }
  });

  it('fetch: POST /v2.2/files/fetch from a server (the callback has the result), and POST /v2.1/files with a location', async () => {
    for (const [tenant, expectations] of both()) {
      const accepted = await fetch(`${service.url}/v2.2/files/fetch`, {
        method: 'POST',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          location: `${content.url}/bundle.zip`,
          callback: `${receiver.url}/callback`,
        }),
      });
      expect(accepted.status).toBe(202);
      const { id } = (await accepted.json()) as { id: string };
      const result = await pollScanResult<Result>(service, tenant, id);
      await expectations(result);
      const delivery = await waitFor(() => receiver.deliveries.find((d) => d.json.id === id), {
        what: `the callback of ${id}`,
      });
      expect(delivery.json).toEqual(result);

      // A location given to the synchronous endpoint (the v2.1 path, as older clients call it).
      const form = new FormData();
      form.append('location', `${content.url}/bundle.zip`);
      const sync = await fetch(`${service.url}/v2.1/files`, {
        method: 'POST',
        headers: { authorization: tenant.auth },
        body: form,
      });
      expect(sync.status).toBe(201);
      await expectations((await sync.json()) as Result);
    }
  });

  it('the verdict API: POST /api/Scan with an access token, and POST /api/Scan/Existing', async () => {
    for (const [tenant, expectations, name] of [
      [all, expectEverything, 'all'],
      [none, expectMalwareOnly, 'none'],
    ] as const) {
      const token = await fetch(`${service.url}/api/Token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: tenant.key, password: tenant.secret }),
      });
      expect(token.status).toBe(200);
      const bearer = `Bearer ${((await token.json()) as { accessToken: string }).accessToken}`;
      const form = new FormData();
      form.append('file', new Blob([bundle]), 'bundle.zip');
      const scanned = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: bearer },
        body: form,
      });
      expect(scanned.status).toBe(200);
      expect(await scanned.json()).toMatchObject({ result: 'Infected', errorMessage: null });
      const scanId = scanned.headers.get('x-arbiter-scan-ids') ?? '';
      expect(scanId).toMatch(/^[0-9a-f]{32}$/);
      await expectations(await resultOf(tenant.auth, scanId));

      await harness.putObject(`objects-${name}`, 'existing/bundle.zip', bundle);
      const existing = await fetch(`${service.url}/api/Scan/Existing`, {
        method: 'POST',
        headers: { authorization: bearer, 'content-type': 'application/json' },
        body: JSON.stringify({ bucket: `objects-${name}`, key: 'existing/bundle.zip' }),
      });
      expect(existing.status).toBe(200);
      expect(await existing.json()).toMatchObject({ result: 'Infected', errorMessage: null });
      const existingId = existing.headers.get('x-arbiter-scan-ids') ?? '';
      expect(existingId).toMatch(/^[0-9a-f]{32}$/);
      await expectations(await resultOf(tenant.auth, existingId));
    }
  });

  /** The bucket callback of an object's scan (S3 events and retro jobs call nothing else). */
  const objectDelivery = (bucket: string, key: string, after = 0): Promise<Delivery> =>
    waitFor(
      () =>
        receiver.deliveries
          .slice(after)
          .find((d) => d.json.bucket === bucket && d.json.key === key),
      { timeoutMs: 30_000, what: `the callback for s3://${bucket}/${key}` },
    );

  it('S3 events (posted, and read from SQS): the object is scanned for the tenant, tagged, and called back', async () => {
    for (const [tenant, expectations, bucket] of [
      [all, expectEverything, 'events-all'],
      [none, expectMalwareOnly, 'events-none'],
      [all, expectEverything, 'queued-all'],
      [none, expectMalwareOnly, 'queued-none'],
    ] as const) {
      await harness.putObject(bucket, 'incoming/bundle.zip', bundle);
      const tags = await harness.waitForTag(
        bucket,
        'incoming/bundle.zip',
        'scan-result',
        'infected',
        30_000,
      );
      const delivery = await objectDelivery(bucket, 'incoming/bundle.zip');
      expect(delivery.json).toMatchObject({ outcome: 'infected', action: 'tag' });
      const result = await resultOf(tenant.auth, String(delivery.json.id));
      expect(delivery.json.findings).toEqual(result.findings);
      expect(delivery.json.engines).toEqual(result.engines);
      // The tags name every finding and every engine (versions without their remarks).
      expect(tags['scan-findings']).toBe(result.findings.join(' '));
      expect(tags['scan-engine']).toBe(
        result.engines.map((e) => e.version.replace(/\s*\([^)]*\)/g, '')).join(' + '),
      );
      await expectations(result);
    }
  });

  it('a retro job: objects already in the bucket, scanned for the tenant', async () => {
    for (const [tenant, expectations, name] of [
      [all, expectEverything, 'all'],
      [none, expectMalwareOnly, 'none'],
    ] as const) {
      const bucket = `objects-${name}`;
      await harness.putObject(bucket, 'old/bundle.zip', bundle);
      const before = receiver.deliveries.length;
      const v1 = v1Client(service, tenant.auth);
      const created = await v1('/jobs', {
        method: 'POST',
        body: JSON.stringify({ buckets: [{ name: bucket, prefix: 'old/' }] }),
      });
      expect(created.status).toBe(201);
      const { id: jobId } = (await created.json()) as { id: string };
      const done = await waitFor(
        async () => {
          const job = (await (await v1(`/jobs/${jobId}`)).json()) as {
            state: string;
            counters: Record<string, number>;
          };
          return job.state === 'completed' ? job : undefined;
        },
        { timeoutMs: 30_000, what: `retro job ${jobId}` },
      );
      expect(done.counters).toMatchObject({ matched: 1, scanned: 1, infected: 1, errors: 0 });
      const delivery = await objectDelivery(bucket, 'old/bundle.zip', before);
      const result = await resultOf(tenant.auth, String(delivery.json.id));
      expect(delivery.json.findings).toEqual(result.findings);
      expect(await traceOf(tenant.auth, result.id)).toContain(
        `retro job ${jobId} submitted s3://${bucket}/old/bundle.zip`,
      );
      await expectations(result);
    }
  });

  it('a rescan scans again for the same categories: no verdict changes', async () => {
    // A rescan that looked for less (or more) would change the verdicts it scans again.
    for (const tenant of [all, none]) {
      const v1 = v1Client(service, tenant.auth);
      const created = await v1('/rescans', {
        method: 'POST',
        // Every result is older than this database: the rescan walks them all.
        body: JSON.stringify({ older_than: 'arbiter-builtin/0.0.1 db:000000 (1 signature)' }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const ended = await waitFor(
        async () => {
          const rescan = (await (await v1(`/rescans/${id}`)).json()) as {
            state: string;
            counters: Record<string, unknown>;
          };
          return ['listing', 'scanning'].includes(rescan.state) ? undefined : rescan;
        },
        { timeoutMs: 30_000, what: `rescan ${id}` },
      );
      expect(ended.state).toBe('completed');
      // Nine results so far: the three uploads (sync, async, /api/Scan) are no longer held;
      // the two locations are downloaded again, the four bucket objects read again.
      expect(ended.counters).toEqual({
        listed: 9,
        matched: 9,
        queued: 6,
        rescanned: 6,
        changed: 0,
        errors: 0,
        skipped: { 'content no longer held': 3 },
      });
    }
  });

  it("a rescan of a key's scan looks for that key's categories, not its tenant's", async () => {
    const tenant = await service.createTenant('rescanned-key');
    const set = await service.admin(`/keys/${tenant.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["malware","unsafe_image"]}',
    });
    expect(set.status).toBe(200);
    const accepted = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/bundle.zip` }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const before = await pollScanResult<Result>(service, tenant, id);
    const withImage = ['content.image.nsfw.nudity', MALWARE_FINDING];
    expect(before.findings).toEqual(withImage);
    // And a bucket object the key asked for.
    await harness.createBucket('objects-rescanned');
    await registerBucket(service, tenant.auth, harness, 'objects-rescanned');
    await harness.putObject('objects-rescanned', 'asked/bundle.zip', bundle);
    const existing = await fetch(`${service.url}/api/Scan/Existing`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'objects-rescanned', key: 'asked/bundle.zip' }),
    });
    expect(existing.status).toBe(200);
    const objectId = existing.headers.get('x-arbiter-scan-ids') ?? '';
    expect((await resultOf(tenant.auth, objectId)).findings).toEqual(withImage);

    const v1 = v1Client(service, tenant.auth);
    const created = await v1('/rescans', {
      method: 'POST',
      body: JSON.stringify({ older_than: 'arbiter-builtin/0.0.1 db:000000 (1 signature)' }),
    });
    expect(created.status).toBe(201);
    const rescanId = ((await created.json()) as { id: string }).id;
    const ended = await waitFor(
      async () => {
        const rescan = (await (await v1(`/rescans/${rescanId}`)).json()) as {
          state: string;
          counters: Record<string, unknown>;
        };
        return ['listing', 'scanning'].includes(rescan.state) ? undefined : rescan;
      },
      { timeoutMs: 30_000, what: `rescan ${rescanId}` },
    );
    expect(ended.counters).toMatchObject({ matched: 2, rescanned: 2, changed: 0, errors: 0 });
    expect((await resultOf(tenant.auth, id)).findings).toEqual(withImage);
    expect((await resultOf(tenant.auth, objectId)).findings).toEqual(withImage);
  });

  it("a key's own categories win for its scans, and only for them", async () => {
    const added = await service.admin(`/tenants/${none.id}/keys`, { method: 'POST' });
    expect(added.status).toBe(201);
    const second = (await added.json()) as { key: string; secret: string };
    const set = await service.admin(`/keys/${second.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["unsafe_language"]}',
    });
    expect(set.status).toBe(200);
    const secondAuth = basic(second.key, second.secret);

    const expectLanguageOnly = async (result: Result) => {
      expect(result.findings).toEqual(LANGUAGE_FINDINGS);
      expectEngines(result, ['language-rules']);
      const trace = await traceOf(secondAuth, result.id);
      expect(trace).toContain('detection categories: unsafe_language');
      expect(trace.some((line) => line.startsWith('scanned by builtin'))).toBe(false);
    };
    await expectLanguageOnly(await scanSync(secondAuth));
    // The key goes with the scan through the queue: async, fetch, and a token the key minted.
    const accepted = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: secondAuth },
      body: fileForm(bundle, {}, 'bundle.zip'),
    });
    expect(accepted.status).toBe(202);
    const asyncId = ((await accepted.json()) as { id: string }).id;
    await expectLanguageOnly(await pollScanResult<Result>(service, { auth: secondAuth }, asyncId));
    const minted = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: secondAuth, 'content-type': 'application/json' },
      body: '{"timeout":60}',
    });
    expect(minted.status).toBe(201);
    const token = basic(((await minted.json()) as { id: string }).id, '');
    const fetched = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: token, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/bundle.zip` }),
    });
    expect(fetched.status).toBe(202);
    const fetchId = ((await fetched.json()) as { id: string }).id;
    await expectLanguageOnly(await pollScanResult<Result>(service, { auth: token }, fetchId));

    // The tenant's first key still follows the tenant.
    await expectMalwareOnly(await scanSync(none.auth));

    // A tenant's own rules run whatever the key's categories.
    const allSecond = (await (
      await service.admin(`/tenants/${all.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const narrowed = await service.admin(`/keys/${allSecond.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["malware"]}',
    });
    expect(narrowed.status).toBe(200);
    const malwareAndRules = await scanSync(basic(allSecond.key, allSecond.secret));
    expect(malwareAndRules.findings).toEqual([...CUSTOM_FINDINGS, MALWARE_FINDING]);
    expectEngines(malwareAndRules, ['builtin', 'tenant-rules']);
    expect(await traceOf(all.auth, malwareAndRules.id)).toContain(MALWARE_ONLY);
  });

  it('a deleted rule file stops giving its findings at the next scan', async () => {
    const deleted = await fetch(`${service.url}/v1/rules/${RULE_FILE}`, {
      method: 'DELETE',
      headers: { authorization: all.auth },
    });
    expect(deleted.status).toBe(204);
    const result = await waitFor(
      async () => {
        const scanned = await scanSync(all.auth);
        return scanned.findings.some((finding) => finding.startsWith('content.custom.'))
          ? undefined
          : scanned;
      },
      { what: 'a scan without the custom findings' },
    );
    expect(result.findings).toEqual(ALL_FINDINGS.filter((f) => !CUSTOM_FINDINGS.includes(f)));
    expectEngines(result, ['builtin', 'language-rules', 'nsfwjs']);
  });

  it("a deleted tenant leaves none of its keys in Redis, its rules' included", async () => {
    // Rules again, so that there is something of them to delete.
    expect((await putRules(all, RULES)).status).toBe(201);
    const keysOf = async (tenantId: string): Promise<string[]> => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `*${tenantId}*`, 'COUNT', 1000);
        found.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      return found.sort();
    };
    expect(await keysOf(all.id)).toEqual(
      expect.arrayContaining([
        service.keys.tenantRules(all.id),
        service.keys.tenantRulesVersion(all.id),
      ]),
    );

    const deleted = await service.admin(`/tenants/${all.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await keysOf(all.id)).toEqual([]);
    const ping = await fetch(`${service.url}/v2.2/ping`, { headers: { authorization: all.auth } });
    expect(ping.status).toBe(401);
    const rules = await fetch(`${service.url}/v1/rules`, { headers: { authorization: all.auth } });
    expect(rules.status).toBe(401);
    // The other tenant scans on as before.
    await expectMalwareOnly(await scanSync(none.auth));
  });
});

describe('detection categories across separate api and worker processes', () => {
  let redis: TestRedis;
  let api: TestService;
  let worker: TestService;
  let content: TestHttpServer;
  let bundle: Buffer;

  beforeAll(async () => {
    redis = await startTestRedis();
    api = await startTestService({}, { redis, roles: { api: true, workers: false } });
    worker = await startTestService({}, { redis, roles: { api: false, workers: true } });
    bundle = await everyTestContent();
    content = await startHttpServer({ '/bundle.zip': bundle });
  });
  afterAll(async () => {
    await content?.close();
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
  });

  /** A URL scan: queued by the api, run by the worker, whose settings cache is its own. */
  async function fetchScan(auth: string): Promise<Result> {
    const response = await fetch(`${api.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/bundle.zip` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    return pollScanResult<Result>(api, { auth }, id);
  }

  it("a tenant's and a key's new categories reach the running worker within seconds", async () => {
    const tenant = await api.createTenant('split');
    // The worker has planned a scan for this tenant: it holds "malware" in its cache.
    expect((await fetchScan(tenant.auth)).findings).toEqual([MALWARE_FINDING]);
    const changed = await api.admin(`/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({
        detection_categories: ['malware', 'unsafe_image', 'unsafe_language'],
      }),
    });
    expect(changed.status).toBe(200);
    const everything = ALL_FINDINGS.filter((finding) => !CUSTOM_FINDINGS.includes(finding));
    await waitFor(
      async () =>
        JSON.stringify((await fetchScan(tenant.auth)).findings) === JSON.stringify(everything),
      { timeoutMs: 5_000, what: 'the worker to scan for every category' },
    );
    const narrowed = await api.admin(`/keys/${tenant.key}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["unsafe_image"]}',
    });
    expect(narrowed.status).toBe(200);
    await waitFor(
      async () =>
        JSON.stringify((await fetchScan(tenant.auth)).findings) ===
        JSON.stringify(['content.image.nsfw.nudity']),
      { timeoutMs: 5_000, what: "the worker to scan for the key's category alone" },
    );
  });
});

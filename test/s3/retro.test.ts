import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineLuaScripts } from '../../core/lua-scripts.js';
import { RetroJobStore } from '../../s3/retro/jobs.js';
import { normalizeBuckets, type RetroJobView } from '../../s3/retro/schema.js';
import { eicar } from '../support/content.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Retro jobs end to end: s3rver holds the objects, the whole service (api + workers) runs in
 * this process against a real redis-server. The crash/resume and cancel-mid-crawl cases, which
 * need a worker in another process, are in retro-resume.test.ts.
 */

const SECRET_KEY = Buffer.alloc(32, 9).toString('base64');
const BIG = 'retro-big';

/** The next whole second after now (s3rver's LastModified has second precision). */
const nextSecond = () => Math.floor(Date.now() / 1000) * 1000 + 1000;

describe('retro jobs', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;
  let redis: Redis;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_SCAN_CONCURRENCY: '8',
    });
    tenant = await service.createTenant('retro-owner');
    other = await service.createTenant('someone-else');
    redis = new Redis({ path: service.redis.socket });
  });
  afterAll(async () => {
    redis?.disconnect();
    await service?.stop();
    await harness?.stop();
  });

  const v1 = (path: string, init: RequestInit & { auth?: string } = {}) =>
    v1Client(service, tenant.auth)(path, init);

  const register = (name: string, body: Record<string, unknown> = {}, auth = tenant.auth) =>
    registerBucket(service, auth, harness, name, body);

  const createJob = async (body: unknown, auth = tenant.auth) => {
    const response = await v1('/jobs', { method: 'POST', auth, body: JSON.stringify(body) });
    return {
      status: response.status,
      json: (await response.json()) as RetroJobView & { error?: string },
    };
  };

  const getJob = async (id: string, auth = tenant.auth) => {
    const response = await v1(`/jobs/${id}`, { auth });
    return { status: response.status, json: (await response.json()) as RetroJobView };
  };

  const waitForState = (id: string, state: string, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const { json } = await getJob(id);
        if (json.state === 'failed') throw new Error(`job failed: ${json.error}`);
        return json.state === state ? json : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `retro job ${id} to be ${state}` },
    );

  /** Puts objects with small bodies, `concurrency` at a time. */
  const putMany = async (bucket: string, entries: Array<[string, Buffer]>, concurrency = 16) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < entries.length) {
          const [key, body] = entries[next++]!;
          await harness.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        }
      }),
    );
  };

  const waitForSecondBoundary = async () => {
    const boundary = nextSecond();
    await waitFor(() => Date.now() >= boundary, {
      timeoutMs: 3_000,
      intervalMs: 5,
      what: 'the clock to pass a second boundary',
    });
    return boundary;
  };

  it('refuses bad input with a 400 that says what is wrong', async () => {
    await harness.createBucket('retro-input');
    await register('retro-input');
    await harness.createBucket('retro-theirs');
    await register('retro-theirs', {}, other.auth);

    const cases: Array<[unknown, RegExp]> = [
      [{}, /buckets is required/],
      [{ buckets: [] }, /at least one/],
      [{ buckets: 'retro-input' }, /list/],
      [{ buckets: [{ name: 'not-registered' }] }, /no registered bucket named "not-registered"/],
      // Another tenant's bucket is as unknown as one that does not exist.
      [{ buckets: [{ name: 'retro-theirs' }] }, /no registered bucket named "retro-theirs"/],
      [{ buckets: [{ name: 'retro-input', prefix: 7 }] }, /prefix/],
      [{ buckets: [{ name: 'retro-input', bogus: 1 }] }, /Unknown field "bogus"/],
      [{ buckets: [{ name: 'retro-input' }], since: '2024-01-01' }, /Unknown field "since"/],
      [{ buckets: [{ name: 'retro-input' }], from: 'yesterday' }, /from must be an ISO 8601/],
      [
        { buckets: [{ name: 'retro-input' }], to: '2024-02-30T00:00:00Z' },
        /to must be an ISO 8601/,
      ],
      [{ buckets: [{ name: 'retro-input' }], from: '2024-01-01T00:00:00' }, /time zone/],
      [{ buckets: [{ name: 'retro-input' }], from: 12 }, /from must be a date-time/],
      [
        { buckets: [{ name: 'retro-input' }], from: '2024-05-02', to: '2024-05-01T23:59:59Z' },
        /after to/,
      ],
      // Only "to" defaults (to now): a "from" in the future is after it.
      [{ buckets: [{ name: 'retro-input' }], from: '2999-01-01T00:00:00Z' }, /after to/],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await createJob(body);
      expect({ body, status }).toEqual({ body, status: 400 });
      expect(json.error).toMatch(message);
    }
    const notJson = await v1('/jobs', {
      method: 'POST',
      body: 'buckets=retro-input',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(notJson.status).toBe(415);
    // Nothing was created by any of them.
    const list = (await (await v1('/jobs')).json()) as { jobs: RetroJobView[] };
    expect(list.jobs).toEqual([]);
  });

  it('keeps every job to its tenant', async () => {
    await harness.createBucket('retro-iso');
    await register('retro-iso');
    const { status, json: job } = await createJob({ buckets: [{ name: 'retro-iso' }] });
    expect(status).toBe(201);
    expect(job).toMatchObject({
      state: 'crawling',
      buckets: [{ name: 'retro-iso', prefix: '' }],
      from: '2006-03-14T00:00:00.000Z',
      schedule_id: null,
      finished_at: null,
      counters: {
        listed: 0,
        matched: 0,
        scanned: 0,
        clean: 0,
        infected: 0,
        unscannable: 0,
        errors: 0,
        skipped: 0,
      },
    });
    expect(Date.parse(job.to)).toBeGreaterThan(Date.now() - 60_000);
    expect(job.id).toMatch(/^[0-9a-f]{32}$/);

    expect((await getJob(job.id, other.auth)).status).toBe(404);
    expect((await v1(`/jobs/${job.id}/cancel`, { method: 'POST', auth: other.auth })).status).toBe(
      404,
    );
    const theirs = (await (await v1('/jobs', { auth: other.auth })).json()) as { jobs: unknown[] };
    expect(theirs.jobs).toEqual([]);
    expect((await getJob('0'.repeat(32))).status).toBe(404);
    expect((await getJob('../etc')).status).toBe(404);

    // An empty bucket: nothing to scan, so the job completes as soon as the crawl is done.
    const done = await waitForState(job.id, 'completed');
    expect(done.counters).toMatchObject({ listed: 0, matched: 0, scanned: 0 });
    expect(done.started_at).not.toBeNull();
    expect(done.finished_at).not.toBeNull();
    const cancel = await v1(`/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(409);
  });

  it(
    'crawls 5,000 objects and scans exactly those in the window, with exact counters',
    { timeout: 120_000 },
    async () => {
      await harness.createBucket(BIG);
      // The quarantine location is this bucket's "quarantine/" prefix: keys under it are skipped
      // (scanning them would loop); infected objects are only tagged here.
      await register(BIG, {
        actions: { onInfected: 'tag', quarantine: { bucket: BIG, prefix: 'quarantine/' } },
      });
      const small = (i: number) => Buffer.from(`object ${i}\n`);
      const started = performance.now();

      // Before the window: 2,400 objects.
      const before = Array.from(
        { length: 2400 },
        (_v, i) => [`a/${i}.txt`, small(i)] as [string, Buffer],
      );
      await putMany(BIG, before);
      const from = await waitForSecondBoundary();

      // In the window: 250 keys, of which 2 folder markers (not matched), 3 under the
      // quarantine prefix (skipped), 1 EICAR (infected) and 244 clean objects. (Few: scanning
      // is the slow part here; the crawl still lists and filters all 5,000.)
      const inside: Array<[string, Buffer]> = [
        ['b/folder-one/', Buffer.alloc(0)],
        ['b/folder-two/', Buffer.alloc(0)],
        ['quarantine/q-0.txt', small(0)],
        ['quarantine/q-1.txt', small(1)],
        ['quarantine/q-2.txt', small(2)],
        ['b/eicar.com', eicar()],
        ...Array.from({ length: 244 }, (_v, i) => [`b/${i}.txt`, small(i)] as [string, Buffer]),
      ];
      await putMany(BIG, inside);
      const after = await waitForSecondBoundary();

      // After the window: 2,350 objects.
      const late = Array.from(
        { length: 2350 },
        (_v, i) => [`c/${i}.txt`, small(i)] as [string, Buffer],
      );
      await putMany(BIG, late);
      const createdIn = performance.now() - started;
      // Creating the objects is the slow part (s3rver writes several files per object).
      console.log(`retro test: 5,000 objects created in ${Math.round(createdIn)} ms`);

      const crawlStarted = performance.now();
      const { status, json: job } = await createJob({
        buckets: [{ name: BIG }],
        from: new Date(from).toISOString(),
        to: new Date(after - 1).toISOString(),
      });
      expect(status).toBe(201);
      const done = await waitForState(job.id, 'completed', 90_000);
      console.log(
        `retro test: crawl + 245 scans in ${Math.round(performance.now() - crawlStarted)} ms`,
      );
      expect(done.counters).toEqual({
        listed: 5000,
        matched: 245,
        scanned: 245,
        clean: 244,
        infected: 1,
        unscannable: 0,
        errors: 0,
        skipped: 3,
      });
      expect(done.from).toBe(new Date(from).toISOString());
      expect(done.to).toBe(new Date(after - 1).toISOString());

      // What the scans did to the objects: tagged inside the window, untouched outside it.
      expect((await harness.tags(BIG, 'b/eicar.com'))['scan-result']).toBe('infected');
      expect((await harness.tags(BIG, 'b/243.txt'))['scan-result']).toBe('clean');
      expect(await harness.tags(BIG, 'a/0.txt')).toEqual({});
      expect(await harness.tags(BIG, 'c/2349.txt')).toEqual({});
      expect(await harness.tags(BIG, 'quarantine/q-1.txt')).toEqual({});

      // Every page was submitted once (5 pages of 1,000).
      const keys = service.keys;
      const pages = await redis.hgetall(keys.retroPages(tenant.id, job.id));
      expect(pages).toEqual({ '0': '1', '1': '1', '2': '1', '3': '1', '4': '1' });

      // A prefix narrows the listing; a window that ends before anything existed matches nothing.
      const narrow = await createJob({ buckets: [{ name: BIG, prefix: 'b/' }], to: '2020-01-01' });
      const narrowDone = await waitForState(narrow.json.id, 'completed');
      expect(narrowDone.counters).toMatchObject({ listed: 247, matched: 0, scanned: 0 });

      const list = (await (await v1('/jobs')).json()) as { jobs: RetroJobView[] };
      expect(list.jobs.slice(0, 2).map((j) => j.id)).toEqual([narrow.json.id, job.id]);
      const limited = (await (await v1('/jobs?limit=1')).json()) as { jobs: RetroJobView[] };
      expect(limited.jobs.map((j) => j.id)).toEqual([narrow.json.id]);
      expect((await v1('/jobs?limit=0')).status).toBe(400);
    },
  );

  it('drops repeated and overlapping bucket prefixes so no object is listed twice', () => {
    expect(
      normalizeBuckets([
        { name: 'x', prefix: 'a/b/' },
        { name: 'x', prefix: 'a/' },
        { name: 'y', prefix: 'a/' },
        { name: 'x', prefix: 'a/' },
        { name: 'y', prefix: 'b/' },
      ]),
    ).toEqual([
      { name: 'x', prefix: 'a/' },
      { name: 'y', prefix: 'a/' },
      { name: 'y', prefix: 'b/' },
    ]);
    expect(
      normalizeBuckets([
        { name: 'x', prefix: 'a' },
        { name: 'x', prefix: '' },
      ]),
    ).toEqual([{ name: 'x', prefix: '' }]);
  });

  it('counts each outcome once per object and fences checkpoints', async () => {
    const store = new RetroJobStore(defineLuaScripts(redis), service.redis.keys('unit'), 60);
    const tid = 'f'.repeat(32);
    const id = 'e'.repeat(32);
    await store.create(tid, id, { buckets: [{ name: 'x', prefix: '' }], from: 'a', to: 'b' });
    const next = { page: 1, bucket: 1, token: '', after: '' };
    // A crawler whose page number is stale (another took over) records nothing.
    expect(
      await store.checkpoint(tid, id, 3, next, { listed: 9, matched: 9, skipped: 0 }, true),
    ).toEqual({ ok: false, reason: 'moved' });
    // Outcomes may arrive before the page's checkpoint: counted, but the job cannot end yet.
    expect(await store.credit(tid, id, { bucket: 'x', key: 'k1' }, 'clean')).toBe(true);
    expect(await store.credit(tid, id, { bucket: 'x', key: 'k1' }, 'clean')).toBe(false);
    expect(
      await store.checkpoint(tid, id, 0, next, { listed: 3, matched: 2, skipped: 1 }, true),
    ).toEqual({ ok: true, state: 'scanning' });
    expect(
      await store.checkpoint(tid, id, 0, next, { listed: 3, matched: 2, skipped: 1 }, true),
    ).toEqual({ ok: false, reason: 'moved' });
    // A redelivered outcome, or a second scan of the same object, is not counted again.
    expect(await store.credit(tid, id, { bucket: 'x', key: 'k1' }, 'error')).toBe(false);
    expect(await store.credit(tid, id, { bucket: 'y', key: 'k1' }, 'infected')).toBe(true);
    const job = await store.get(tid, id);
    expect(job).toMatchObject({
      state: 'completed',
      counters: { listed: 3, matched: 2, scanned: 2, clean: 1, infected: 1, errors: 0, skipped: 1 },
    });
    // Once completed, late redeliveries change nothing; the job expires with the result TTL.
    expect(await store.credit(tid, id, { bucket: 'z', key: 'k' }, 'clean')).toBe(false);
    const ttl = await redis.ttl(service.redis.keys('unit').retroJob(tid, id));
    expect(ttl).toBeGreaterThan(0);
    expect(await store.end(tid, id, 'cancelled')).toBe('completed');
  });
});

import { request as httpRequest, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetroJobView } from '../../s3/retro/schema.js';
import { eicar, fileForm, randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type Delivery,
  type TestHttpServer,
} from '../support/http-servers.js';
import { pacedLoad, tally } from '../support/load.js';
import {
  clusterTopology,
  sentinelTopology,
  startArbiterNodes,
  type ArbiterNode,
  type ArbiterNodes,
  type MultiNodeTenant,
  type RedisTopology,
} from '../support/multi-node.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { scaniiRequest } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses } from '../support/worker-process.js';

const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const UPLOADS = 'arbiter-uploads';
const PREFIX = 'staged/';
/** A bucket whose S3 events the load posts to the API nodes. */
const EVENTS = 'events';
/** A bucket a retro job crawls while the nodes and Redis are killed: CRAWLED objects, a few infected. */
const CRAWLED_BUCKET = 'crawled';
const CRAWLED = 300;
const CRAWLED_INFECTED = 5;
const RETRO_PAGE = 25;
/** Connection errors a client sees from a node that died under its request. */
const CONNECTION_ERRORS = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET'];

/**
 * Arbiter spread over machines, as real processes on loopback: two `arbiter api` and two
 * `arbiter worker` processes, each with its own data folder (nothing shared on disk), Redis
 * behind Sentinels or a Redis Cluster, s3rver as the upload store and as the tenant's buckets. Every flow works
 * across the nodes; then, under a steady load of async uploads and fetches, one API node, one
 * worker node and the Redis primary are SIGKILLed in turn, and no accepted request is lost.
 */
describe.each([
  ['Sentinel', sentinelTopology],
  ['Cluster', clusterTopology],
] as const)('two API and two worker nodes, Redis: %s', (_name, topology) => {
  let redis: RedisTopology;
  let s3: S3Harness;
  let nodes: ArbiterNodes;
  let tenant: MultiNodeTenant;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let apiA: ArbiterNode;
  let apiB: ArbiterNode;

  const clean = randomContent(32 * 1024);
  /** Fetches of /held answer their headers and part of the body, then wait for `release`. */
  const held: ServerResponse[] = [];
  let heldReleased = false;
  const releaseHeld = () => {
    heldReleased = true;
    for (const res of held.splice(0)) res.end(eicar().subarray(20));
  };

  /** The crawled bucket's objects: the first CRAWLED_INFECTED are EICAR, the rest clean. */
  const putCrawledObjects = async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < CRAWLED; i = next++)
          await s3.putObject(
            CRAWLED_BUCKET,
            `objects/${String(i).padStart(4, '0')}`,
            i < CRAWLED_INFECTED ? eicar() : `object ${i}\n`,
          );
      }),
    );
  };

  beforeAll(async () => {
    [redis, s3, receiver] = await Promise.all([
      topology(),
      startS3Harness(),
      startCallbackReceiver(),
    ]);
    await Promise.all([UPLOADS, EVENTS, CRAWLED_BUCKET].map((name) => s3.createBucket(name)));
    await putCrawledObjects();
    content = await startHttpServer({
      '/clean': clean,
      '/eicar': eicar(),
      '/held': (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': '68',
        });
        if (heldReleased) {
          res.end(eicar());
          return;
        }
        res.write(eicar().subarray(0, 20));
        held.push(res);
      },
    });
    nodes = await startArbiterNodes({
      redis,
      s3,
      uploadStore: `s3://${UPLOADS}/${PREFIX}`,
      apis: 2,
      workers: 2,
      env: {
        // Every async upload goes to the bucket (none staged in Redis), so the bucket shows them.
        ARBITER_UPLOAD_STORE_REDIS_MAX: '0',
        // A dead worker's jobs and tenant slots are taken over within seconds, not 30 s.
        ARBITER_JOB_LOCK_MS: '2000',
        ARBITER_STALLED_INTERVAL_MS: '500',
        // Four scan slots per worker, and room for one tenant to fill both workers' slots: eight
        // held downloads then mean four held by each worker.
        ARBITER_SCAN_CONCURRENCY: '4',
        ARBITER_SCAN_TENANT_CONCURRENCY: '8',
        ARBITER_SCAN_RETRY_BASE_MS: '200',
        ARBITER_CALLBACK_RETRY_BASE_MS: '200',
        ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
        // A scan recorded by an API node that died before queueing it is queued by the reaper
        // within seconds.
        ARBITER_PENDING_GRACE_MS: '3000',
        ARBITER_PENDING_REAP_INTERVAL_MS: '500',
        // A crawl of many checkpoints, so a kill lands between two of them.
        ARBITER_RETRO_PAGE_SIZE: String(RETRO_PAGE),
        // An outcome credit lost with the old primary (replication is asynchronous) is found by
        // the stall audit within seconds: the job is reconciled instead of waiting for ever.
        ARBITER_RETRO_STALL_SECONDS: '5',
      },
    });
    [apiA, apiB] = nodes.apis as [ArbiterNode, ArbiterNode];
    tenant = await nodes.createTenant(apiA, 'multi-node');
    await registerBucket(apiA, tenant.auth, s3, EVENTS, { callback: callbackUrl() });
    await registerBucket(apiB, tenant.auth, s3, CRAWLED_BUCKET);
  }, 90_000);

  afterAll(async () => {
    releaseHeld();
    await nodes?.stop();
    await killAllArbiterProcesses();
    await content?.close();
    await receiver?.close();
    await s3?.stop();
    await redis?.stop();
  });

  const callbackUrl = () => `${receiver.url}/callback`;

  const submitAsync = (api: ArbiterNode, body: Buffer) =>
    scaniiRequest(
      api,
      tenant,
      '/files/async',
      { method: 'POST', body: fileForm(body, { callback: callbackUrl() }) },
      15_000,
    );

  const submitFetch = (api: ArbiterNode, location: string) =>
    scaniiRequest(
      api,
      tenant,
      '/files/fetch',
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ location, callback: callbackUrl() }),
      },
      15_000,
    );

  /** Puts an object in the events bucket and posts its S3 notification to `api`. */
  const submitEvent = async (api: ArbiterNode, key: string, body: Buffer) => {
    await s3.putObject(EVENTS, key, body);
    const notification = {
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: { bucket: { name: EVENTS }, object: { key, size: body.length } },
        },
      ],
    };
    return v1Client(api, tenant.auth)('/events/s3', {
      method: 'POST',
      body: JSON.stringify(notification),
      signal: AbortSignal.timeout(15_000),
    });
  };

  const acceptedId = async (response: Response) => {
    expect(response.status, await response.clone().text()).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  /** The stored result of `id`, read through `api` (404 while it is pending). */
  const resultOf = async (api: ArbiterNode, id: string) => {
    const response = await scaniiRequest(api, tenant, `/files/${id}`, {}, 15_000);
    return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : null;
  };

  const retroJob = async (api: ArbiterNode, id: string) =>
    (await (await v1Client(api, tenant.auth)(`/jobs/${id}`)).json()) as RetroJobView;

  const waitForResult = (api: ArbiterNode, id: string, timeoutMs = 20_000) =>
    waitFor(() => resultOf(api, id).then((result) => result ?? undefined), {
      timeoutMs,
      intervalMs: 100,
      what: `the result of ${id} through ${api.name}`,
    });

  const deliveriesOf = (id: string): Delivery[] =>
    receiver.deliveries.filter((delivery) => delivery.json.id === id);

  const expectSigned = (delivery: Delivery) =>
    expect(() =>
      new Webhook(tenant.signing_secret).verify(
        delivery.body,
        delivery.headers as Record<string, string>,
      ),
    ).not.toThrow();

  const staged = () => s3.listKeys(UPLOADS, PREFIX);
  /** Where the upload store puts the tenant's staged uploads (core/s3-upload-store.ts). */
  const stagedPrefix = () => `${PREFIX}uploads/${tenant.id}/`;
  /** Uploads staged so far: the bucket's object-created events under the staging prefix. */
  const stagedEvents = () =>
    s3.events.filter((event) =>
      event.Records.some(
        (record) =>
          record.eventName.startsWith('ObjectCreated:') &&
          record.s3.object.key.startsWith(stagedPrefix()),
      ),
    ).length;

  it('runs every flow across the nodes: uploads, fetches, callbacks, S3 events, a retro job', async () => {
    // Synchronous uploads are scanned by the API node that receives them.
    const syncClean = await scaniiRequest(apiA, tenant, '/files', {
      method: 'POST',
      body: fileForm(clean),
    });
    expect(syncClean.status).toBe(201);
    expect(await syncClean.json()).toMatchObject({ checksum: sha1(clean), findings: [] });
    const syncInfected = await scaniiRequest(apiB, tenant, '/files', {
      method: 'POST',
      body: fileForm(eicar()),
    });
    expect(syncInfected.status).toBe(201);
    expect(await syncInfected.json()).toMatchObject({ findings: [EICAR_FINDING] });

    // An async upload staged in the bucket by one API node, scanned by a worker on another
    // data folder, read through the other API node; a fetch the other way round.
    const upload = randomContent(200 * 1024);
    const uploadId = await acceptedId(await submitAsync(apiA, upload));
    const fetchId = await acceptedId(await submitFetch(apiB, `${content.url}/eicar`));
    const uploadResult = await waitForResult(apiB, uploadId);
    expect(uploadResult).toMatchObject({ checksum: sha1(upload), findings: [] });
    const fetchResult = await waitForResult(apiA, fetchId);
    expect(fetchResult).toMatchObject({ checksum: sha1(eicar()), findings: [EICAR_FINDING] });
    expect(
      s3.events.some((event) =>
        event.Records.some(
          (record) =>
            record.eventName.startsWith('ObjectCreated:') &&
            record.s3.object.key === `${stagedPrefix()}${uploadId}`,
        ),
      ),
    ).toBe(true);
    await waitFor(async () => (await staged()).length === 0, {
      what: 'the staged upload to be removed',
    });

    // Callbacks, signed with the tenant's secret, carrying the result.
    for (const [id, result] of [
      [uploadId, uploadResult],
      [fetchId, fetchResult],
    ] as const) {
      const delivery = await waitFor(() => deliveriesOf(id)[0], {
        what: `the callback of ${id}`,
      });
      expectSigned(delivery);
      expect(delivery.json).toEqual(result);
    }

    // An S3 event for a watched bucket, posted to an API node; the worker fetches, scans, tags.
    await s3.createBucket('watched');
    await registerBucket(apiA, tenant.auth, s3, 'watched', { callback: callbackUrl() });
    s3.bridge('watched', {
      mode: 'http',
      url: `${apiB.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    await s3.putObject('watched', 'in/eicar.com', eicar());
    await s3.putObject('watched', 'in/plain.txt', clean);
    await s3.waitForTag('watched', 'in/eicar.com', 'scan-result', 'infected');
    await s3.waitForTag('watched', 'in/plain.txt', 'scan-result', 'clean');
    for (const [key, findings] of [
      ['in/eicar.com', [EICAR_FINDING]],
      ['in/plain.txt', []],
    ] as const) {
      const delivery = await waitFor(
        () => receiver.deliveries.find((d) => d.json.bucket === 'watched' && d.json.key === key),
        { what: `the callback for s3://watched/${key}` },
      );
      expectSigned(delivery);
      expect(delivery.json.findings).toEqual(findings);
    }
    expect(s3.bridgeErrors).toEqual([]);

    // A retro job over a small bucket, created through one API node, followed through the other.
    await s3.createBucket('archive');
    for (const [key, body] of [
      ['old/1.txt', clean],
      ['old/2.txt', randomContent(1024)],
      ['old/3.txt', randomContent(1024)],
      ['old/eicar.com', eicar()],
    ] as const)
      await s3.putObject('archive', key, body);
    await registerBucket(apiB, tenant.auth, s3, 'archive');
    const created = await v1Client(apiA, tenant.auth)('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: 'archive' }] }),
    });
    expect(created.status).toBe(201);
    const job = (await created.json()) as RetroJobView;
    const done = await waitFor(
      async () => {
        const view = await retroJob(apiB, job.id);
        return view.state === 'completed' ? view : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `retro job ${job.id} to complete` },
    );
    expect(done.counters).toMatchObject({
      listed: 4,
      matched: 4,
      scanned: 4,
      clean: 3,
      infected: 1,
      unscannable: 0,
      errors: 0,
    });
  }, 60_000);

  /** One request of the load and what became of it. */
  interface Attempt {
    kind: 'upload' | 'fetch' | 'event';
    infected: boolean;
    checksum: string;
    node: string;
    startedAt: number;
    endedAt: number;
    status?: number;
    retryAfter?: string | null;
    id?: string;
    /** The connection error's code, or the error's name (e.g. TimeoutError). */
    error?: string;
  }

  const errorCode = (error: unknown) => {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? (error as Error).name ?? String(error);
  };

  /**
   * An async upload whose body is sent in part and then held, as one being received when its
   * API node dies: resolves with what the client sees (a status, or the connection error).
   */
  const holdUpload = (api: ArbiterNode) => {
    const boundary = 'multi-node-held-upload';
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="held.bin"\r\n` +
        'content-type: application/octet-stream\r\n\r\n',
    );
    const total = head.length + 1024 * 1024;
    const url = new URL(`${api.url}/v2.2/files/async`);
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        authorization: tenant.auth,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(total),
      },
    });
    const settled = new Promise<{ status?: number; error?: string }>((resolve) => {
      request.on('response', (response) => resolve({ status: response.statusCode }));
      request.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ error: error.code ?? error.message }),
      );
    });
    const sent = new Promise<void>((resolve) =>
      request.write(Buffer.concat([head, randomContent(256 * 1024)]), () => resolve()),
    );
    return { sent, settled };
  };

  it(
    'loses no accepted request when an API node, a worker node and the Redis primary are killed under load',
    { timeout: 150_000 },
    async () => {
      const [workerA] = nodes.workers as [ArbiterNode, ArbiterNode];
      const dead = new Set<string>();
      /** When each failure was caused and each stage ended (Date.now()). */
      const timeline = {
        apiKilled: 0,
        workerKilled: 0,
        redisKilled: 0,
        failedOver: 0,
        loadEnded: 0,
        allResults: 0,
        retroCompleted: 0,
      };
      let started = 0;

      /** Round robin over the API nodes, as a balancer would, leaving out a node it saw die. */
      const pickApi = (i: number) => {
        const preferred = i % 2 === 0 ? apiA : apiB;
        return dead.has(preferred.name) ? (preferred === apiA ? apiB : apiA) : preferred;
      };

      const KINDS = ['upload', 'fetch', 'event'] as const;
      /** Request `i` of the load (its number decides its kind and content) sent to `api`. */
      const attemptOn = async (api: ArbiterNode, i: number): Promise<Attempt> => {
        const kind = KINDS[i % KINDS.length]!;
        const infected = Math.floor(i / KINDS.length) % 4 === 0;
        const body =
          kind === 'fetch'
            ? infected
              ? eicar()
              : clean
            : infected
              ? eicar()
              : randomContent(48 * 1024);
        const attempt: Attempt = {
          kind,
          infected,
          checksum: sha1(body),
          node: api.name,
          startedAt: Date.now(),
          endedAt: 0,
        };
        try {
          const response =
            kind === 'upload'
              ? await submitAsync(api, body)
              : kind === 'fetch'
                ? await submitFetch(api, `${content.url}/${infected ? 'eicar' : 'clean'}`)
                : await submitEvent(api, `load/${i}`, body);
          const answer = (await response.json()) as {
            id?: string;
            queued?: Array<{ id: string }>;
          };
          attempt.status = response.status;
          attempt.retryAfter = response.headers.get('retry-after');
          if (response.status === 202)
            attempt.id = kind === 'event' ? answer.queued?.[0]?.id : answer.id;
        } catch (error) {
          attempt.error = errorCode(error);
        }
        attempt.endedAt = Date.now();
        return attempt;
      };
      const send = (i: number) => {
        started += 1;
        return attemptOn(pickApi(i), i);
      };

      const startedAtLeast = (count: number) =>
        waitFor(() => started >= count, {
          timeoutMs: 60_000,
          what: `${count} requests of the load to start`,
        });

      // The failures, in turn, while the load runs.
      let heldUpload: { status?: number; error?: string } | undefined;
      const heldFetchIds: string[] = [];
      const burst: Array<Promise<Attempt>> = [];
      let retroJobId = '';
      let retroAtRedisKill = 0;
      let startedAtFailover = 0;
      const chaos = async () => {
        // 1. An API node dies while it receives an upload, and as soon as the first of a burst
        // of others sent to it is staged in the bucket: the rest are being received, staged or
        // submitted when it dies.
        await startedAtLeast(20);
        const upload = holdUpload(apiA);
        await upload.sent;
        const stagedBefore = stagedEvents();
        for (let n = 0; n < 6; n += 1) burst.push(attemptOn(apiA, KINDS.length * (1000 + n)));
        await waitFor(() => stagedEvents() > stagedBefore, {
          what: 'an upload of the burst to be staged',
        });
        dead.add(apiA.name);
        timeline.apiKilled = Date.now();
        await apiA.process.kill();
        heldUpload = await upload.settled;

        // 2. A worker node dies holding scans: eight fetches whose downloads are held fill every
        // slot of both workers (4 each), so the killed one certainly holds four of them.
        await startedAtLeast(60);
        for (let n = 0; n < 8; n += 1)
          heldFetchIds.push(await acceptedId(await submitFetch(apiB, `${content.url}/held`)));
        await waitFor(() => held.length === 8, {
          timeoutMs: 20_000,
          what: 'both workers to hold four downloads each',
        });
        // A retro job starts: its crawl, on either worker, queues scans behind the held ones.
        const created = await v1Client(apiB, tenant.auth)('/jobs', {
          method: 'POST',
          body: JSON.stringify({ buckets: [{ name: CRAWLED_BUCKET }] }),
        });
        expect(created.status).toBe(201);
        retroJobId = ((await created.json()) as RetroJobView).id;
        await waitFor(async () => (await retroJob(apiB, retroJobId)).counters.listed > 0, {
          what: 'the crawl to start',
        });
        dead.add(workerA.name);
        timeline.workerKilled = Date.now();
        await workerA.process.kill();
        releaseHeld();

        // 3. The Redis primary dies while the retro job's scans run; the Sentinels promote the
        // replica.
        await waitFor(
          async () => (await retroJob(apiB, retroJobId)).counters.scanned >= CRAWLED / 3,
          { timeoutMs: 30_000, intervalMs: 50, what: 'a third of the crawled objects scanned' },
        );
        retroAtRedisKill = (await retroJob(apiB, retroJobId)).counters.scanned;
        timeline.redisKilled = Date.now();
        await redis.killPrimary();
        timeline.failedOver = Date.now();
        startedAtFailover = started;
      };

      const [loadAttempts] = await Promise.all([
        // `send` records every failure in its Attempt: it never throws.
        // Until some 7 s of load after the failover, however long the kills take to line up.
        pacedLoad(
          {
            count: 600,
            perTick: 1,
            tickMs: 150,
            maxInFlight: 16,
            until: () => timeline.failedOver > 0 && started >= startedAtFailover + 45,
          },
          send,
        ).then((settled) => settled.flatMap((outcome) => (outcome.ok ? [outcome.value] : []))),
        chaos(),
      ]);
      const burstAttempts = await Promise.all(burst);
      const attempts = [...loadAttempts, ...burstAttempts];
      timeline.loadEnded = Date.now();

      // The upload being received by the killed node: a connection error, never a 202.
      expect(heldUpload?.status).toBeUndefined();
      expect(CONNECTION_ERRORS).toContain(heldUpload?.error);

      // Every request was accepted, refused with 503 and Retry-After (the Redis failover), or
      // cut by the API node that died under it: nothing hung, nothing else failed.
      for (const attempt of attempts) {
        if (attempt.status === 202) continue;
        if (attempt.status === 503) {
          expect(attempt.retryAfter).toMatch(/^\d+$/);
          // Answered while Redis failed over (a request in flight at the kill may have started
          // just before it).
          expect(attempt.endedAt).toBeGreaterThanOrEqual(timeline.redisKilled);
          continue;
        }
        expect(attempt).toMatchObject({ node: apiA.name });
        expect(CONNECTION_ERRORS).toContain(attempt.error);
      }
      const accepted = attempts.filter((attempt) => attempt.status === 202);
      for (const attempt of accepted) expect(attempt.id).toMatch(/^[0-9a-f]{32}$/);
      expect(accepted.length).toBeGreaterThan(attempts.length * 0.8);
      const afterFailover = accepted.filter((a) => a.startedAt >= timeline.redisKilled);
      expect(afterFailover.length).toBeGreaterThan(0);

      // Every accepted scan gets its result, read through the surviving API node, with the
      // verdict its content calls for.
      const expected = new Map<string, { checksum: string; findings: string[] }>();
      for (const attempt of accepted)
        expected.set(attempt.id!, {
          checksum: attempt.checksum,
          findings: attempt.infected ? [EICAR_FINDING] : [],
        });
      for (const id of heldFetchIds)
        expected.set(id, { checksum: sha1(eicar()), findings: [EICAR_FINDING] });
      const results = new Map<string, Record<string, unknown>>();
      await waitFor(
        async () => {
          for (const id of expected.keys()) {
            if (results.has(id)) continue;
            const result = await resultOf(apiB, id);
            if (!result) return false;
            results.set(id, result);
          }
          return true;
        },
        {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: `results of ${expected.size} accepted scans`,
        },
      );
      timeline.allResults = Date.now();
      for (const [id, want] of expected) expect(results.get(id)).toMatchObject({ id, ...want });

      // Every accepted scan calls back at least once; every callback is signed and carries the
      // one verdict its scan has (a scan run again after a crash never contradicts itself).
      await waitFor(() => [...expected.keys()].every((id) => deliveriesOf(id).length > 0), {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: `callbacks of ${expected.size} accepted scans`,
      });
      for (const [id, want] of expected) {
        for (const delivery of deliveriesOf(id)) {
          expectSigned(delivery);
          expect(delivery.json).toMatchObject({ id, ...want });
        }
      }

      // The retro job crawled through both kills and counted each object once.
      const crawl = await waitFor(
        async () => {
          const job = await retroJob(apiB, retroJobId);
          if (job.state === 'failed') throw new Error(`retro job failed: ${job.error}`);
          return job.state === 'completed' ? job : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `retro job ${retroJobId} to complete` },
      );
      expect(crawl.counters).toEqual({
        listed: CRAWLED,
        matched: CRAWLED,
        scanned: CRAWLED,
        clean: CRAWLED - CRAWLED_INFECTED,
        infected: CRAWLED_INFECTED,
        unscannable: 0,
        errors: 0,
        skipped: 0,
      });
      timeline.retroCompleted = Date.parse(crawl.finished_at ?? '');

      // The killed worker's held downloads were taken over: fetched again by the survivor.
      expect(content.hits.get('/held')).toBeGreaterThan(8);

      // The staged uploads are gone from the bucket once their scans end (the sweeper, the
      // backstop for uploads never accepted, waits an hour: it has no part in this).
      const acceptedUploads = new Set(
        accepted.filter((a) => a.kind === 'upload').map((a) => `${stagedPrefix()}${a.id}`),
      );
      await waitFor(async () => !(await staged()).some((key) => acceptedUploads.has(key)), {
        timeoutMs: 20_000,
        what: 'the staged uploads of accepted scans to be removed',
      });
      // What is left was staged for a request cut by the API kill before its scan was even
      // recorded (no trace): nothing is pending on it, and the sweeper removes it after
      // ARBITER_SPOOL_GRACE_MS. A recorded scan whose object stayed would be a stuck scan.
      const leftovers = await staged();
      for (const key of leftovers) {
        const id = key.slice(stagedPrefix().length);
        const trace = await scaniiRequest(apiB, tenant, `/files/${id}/trace`);
        expect({ key, status: trace.status }).toEqual({ key, status: 404 });
      }

      const refused = attempts.filter((attempt) => attempt.status === 503);
      const firstAcceptedAfterKill = afterFailover[0]!;
      const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;
      console.log(
        `${redis.description}: ${attempts.length} requests (${JSON.stringify(tally(attempts.map((a) => a.status ?? a.error ?? '?')))}); ` +
          `Redis failover ${seconds(timeline.redisKilled, timeline.failedOver)}, ` +
          `first accepted again ${seconds(timeline.redisKilled, firstAcceptedAfterKill.endedAt)} after the kill, ` +
          `${refused.length} refused with 503; ` +
          `${expected.size} results all in ${seconds(timeline.loadEnded, timeline.allResults)} after the load; ` +
          `${[...expected.keys()].flatMap(deliveriesOf).length} callbacks for them; ` +
          `held fetches fetched ${content.hits.get('/held')} times; ` +
          `${leftovers.length} staged uploads of requests cut by the API kill left for the sweeper; ` +
          `retro job: ${retroAtRedisKill}/${CRAWLED} scanned at the Redis kill, completed ${seconds(timeline.redisKilled, timeline.retroCompleted)} after it`,
      );
    },
  );
});

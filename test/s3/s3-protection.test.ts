import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  type CallbackReceiver,
  type Delivery,
} from '../support/http-servers.js';
import {
  encodeEventKey,
  registerBucket,
  startS3Harness,
  toEventBridge,
  v1Client,
  type S3Harness,
} from '../support/s3.js';
import { encryptedZip } from '../support/archives.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * S3 protection end to end: s3rver as the bucket store, fauxqs as SQS/SNS, the harness
 * forwarding s3rver's object events the way S3 would (directly to a queue, through SNS as an
 * envelope and raw, as EventBridge events, and as HTTP POSTs to /v1/events/s3), and the whole
 * service (api + workers + SQS pollers) in this process against a real redis-server.
 */

const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

/** Keys S3 users really have: spaces, plus signs, percent signs, non-ASCII, deep prefixes. */
const AWKWARD_KEYS = [
  'plain.txt',
  'with space.txt',
  'plus+sign.txt',
  '100% sure.txt',
  'ünïcödé/文件 ☃.txt',
  'a/b/c/d/e/f/g/deep file (1).bin',
];

describe('S3 protection', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;
  let receiver: CallbackReceiver;
  let callback: string;

  beforeAll(async () => {
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    callback = `${receiver.url}/callback`;
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_SQS_WAIT_SECONDS: '1',
      ARBITER_SQS_VISIBILITY_SECONDS: '2',
      ARBITER_SQS_REFRESH_MS: '100',
      ARBITER_CALLBACK_RETRY_BASE_MS: '200',
    });
    tenant = await service.createTenant('bucket-owner');
    other = await service.createTenant('someone-else');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
  });

  const v1 = (path: string, init: RequestInit & { auth?: string } = {}) =>
    v1Client(service, tenant.auth)(path, init);

  const register = async (name: string, body: Record<string, unknown> = {}, auth = tenant.auth) =>
    (await registerBucket(service, auth, harness, name, { callback, ...body })).json;

  const queueConfig = (url: string) => ({
    url,
    endpoint: harness.sqsEndpoint,
    credentials: { type: 'static', accessKeyId: 'sqs-user', secretAccessKey: 'sqs-secret' },
  });

  /** A bucket whose events reach Arbiter through a queue fed as `mode` says. */
  const watchedBucket = async (
    name: string,
    mode: 'direct' | 'sns-envelope' | 'sns-raw' | 'eventbridge' | 'http',
    body: Record<string, unknown> = {},
  ) => {
    await harness.createBucket(name);
    if (mode === 'http') {
      await register(name, body);
      harness.bridge(name, {
        mode: 'http',
        url: `${service.url}/v1/events/s3`,
        authorization: tenant.auth,
      });
      return undefined;
    }
    const queue = await harness.createQueue(`q-${name}`);
    if (mode === 'sns-envelope' || mode === 'sns-raw') {
      const topicArn = await harness.createTopic(`t-${name}`);
      await harness.subscribe(topicArn, queue.arn, { raw: mode === 'sns-raw' });
      harness.bridge(name, { mode: 'sns', topicArn });
    } else {
      harness.bridge(name, { mode, queueUrl: queue.url });
    }
    await register(name, { queue: queueConfig(queue.url), ...body });
    return queue;
  };

  const deliveryFor = (bucket: string, key: string, timeoutMs = 20_000) =>
    waitFor(() => receiver.deliveries.find((d) => d.json.bucket === bucket && d.json.key === key), {
      timeoutMs,
      what: `the callback for s3://${bucket}/${key}`,
    });

  const deliveriesFor = (bucket: string, key: string): Delivery[] =>
    receiver.deliveries.filter((d) => d.json.bucket === bucket && d.json.key === key);

  const trace = async (id: string) => {
    const response = await fetch(`${service.url}/v2.2/files/${id}/trace`, {
      headers: { authorization: tenant.auth },
    });
    const body = (await response.json()) as { events: Array<{ message: string }> };
    return body.events.map((event) => event.message);
  };

  const readObject = async (bucket: string, key: string) => {
    const output = await harness.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await output.Body!.transformToByteArray());
  };

  describe('event intake in every shape', () => {
    const shapes = ['direct', 'sns-envelope', 'sns-raw', 'eventbridge', 'http'] as const;

    it.each(shapes)(
      '%s: decodes the keys, scans, tags, stores the result and calls back (signed)',
      async (mode) => {
        const bucket = `in-${mode}`;
        await watchedBucket(bucket, mode);
        const contents = new Map(
          AWKWARD_KEYS.map((key) => [key, randomContent(1024 + key.length)]),
        );
        contents.set('infected/eicar test+1.com', eicar());
        for (const [key, body] of contents) await harness.putObject(bucket, key, body);

        for (const [key, body] of contents) {
          const infected = key.startsWith('infected/');
          const tags = await harness.waitForTag(bucket, key, 'scan-result');
          expect(tags['scan-result']).toBe(infected ? 'infected' : 'clean');
          expect(tags['scan-date']).toMatch(/^\d{4}-\d\d-\d\dT/);
          expect(tags['scan-engine']).toMatch(/^arbiter-builtin\//);
          if (infected) expect(tags['scan-findings']).toBe(EICAR_FINDING);
          else expect(tags['scan-findings']).toBeUndefined();

          const delivery = await deliveryFor(bucket, key);
          expect(delivery.json).toMatchObject({
            bucket,
            key,
            versionId: null,
            action: 'tag',
            outcome: infected ? 'infected' : 'clean',
            checksum: sha1(body),
            content_length: body.length,
            findings: infected ? [EICAR_FINDING] : [],
          });
          // Signed like every webhook (Standard Webhooks, the tenant's signing secret).
          expect(() =>
            new Webhook(tenant.signing_secret).verify(
              delivery.body,
              delivery.headers as Record<string, string>,
            ),
          ).not.toThrow();

          // The result is an ordinary scan result of the tenant.
          const id = String(delivery.json.id);
          const stored = await fetch(`${service.url}/v2.2/files/${id}`, {
            headers: { authorization: tenant.auth },
          });
          expect(stored.status).toBe(200);
          expect(await stored.json()).toEqual(delivery.json);
        }
        expect(harness.bridgeErrors).toEqual([]);
      },
    );

    it('traces every step: event, fetch, scan, action, callback', async () => {
      const delivery = await deliveryFor('in-direct', 'with space.txt');
      const events = await waitFor(async () => {
        const messages = await trace(String(delivery.json.id));
        return messages.some((m) => m.startsWith('callback attempt 1')) ? messages : undefined;
      });
      const order = [
        /^S3 event ObjectCreated:Put received for s3:\/\/in-direct\/with space\.txt$/,
        /^fetching s3:\/\/in-direct\/with space\.txt$/,
        /^fetched s3:\/\/in-direct\/with space\.txt: \d+ bytes$/,
        /^scanned by builtin/,
        /^tagged s3:\/\/in-direct\/with space\.txt: scan-result=clean, scan-date, scan-engine$/,
        /^content processed successfully/,
        /^callback attempt 1 .*HTTP 200/,
      ];
      let at = 0;
      for (const pattern of order) {
        const index = events.findIndex((message, i) => i >= at && pattern.test(message));
        expect(index, `${String(pattern)} in ${JSON.stringify(events)}`).toBeGreaterThanOrEqual(0);
        at = index + 1;
      }
    });

    it('deletes each message only once its scan is queued, leaving the queues empty', async () => {
      for (const mode of ['direct', 'sns-envelope', 'sns-raw', 'eventbridge']) {
        const queue = (await harness.createQueue(`q-in-${mode}`)).url; // CreateQueue of an existing name returns it
        await waitFor(
          async () => {
            const depth = await harness.queueDepth(queue);
            return depth.visible === 0 && depth.inFlight === 0;
          },
          { what: `queue q-in-${mode} to drain` },
        );
      }
    });
  });

  describe('object versions', () => {
    it('honours versionId from the event: it is read, acted on and reported', async () => {
      await watchedBucket('versioned', 'http');
      await harness.putObject('versioned', 'report.pdf', 'content of version one');
      // s3rver has no versioning (it ignores versionId); this checks the id travels end to end.
      const record = {
        eventName: 'ObjectCreated:Put',
        eventTime: new Date().toISOString(),
        s3: {
          bucket: { name: 'versioned' },
          object: { key: 'report.pdf', size: 22, versionId: 'v1.EXAMPLE' },
        },
      };
      const response = await v1('/events/s3', {
        method: 'POST',
        body: JSON.stringify({ Records: [record] }),
      });
      expect(response.status).toBe(202);
      const report = (await response.json()) as {
        queued: Array<{ id: string; versionId: string }>;
      };
      expect(report.queued).toEqual([expect.objectContaining({ versionId: 'v1.EXAMPLE' })]);
      const delivery = await waitFor(() =>
        receiver.deliveries.find((d) => d.json.id === report.queued[0]?.id),
      );
      expect(delivery.json).toMatchObject({
        key: 'report.pdf',
        versionId: 'v1.EXAMPLE',
        outcome: 'clean',
      });
      const messages = await trace(report.queued[0]!.id);
      expect(messages).toContain('fetching s3://versioned/report.pdf (version v1.EXAMPLE)');
    });
  });

  describe('tags', () => {
    const userTags = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`owner-tag-${i}`, `value ${i}`]));

    it('merges with the object’s own tags and never drops or overwrites one', async () => {
      await watchedBucket('tags-in', 'direct');
      await harness.putObject('tags-in', 'two.txt', 'two tags', userTags(2));
      const tags = await harness.waitForTag('tags-in', 'two.txt', 'scan-result', 'clean');
      expect(tags).toMatchObject(userTags(2));
      expect(Object.keys(tags).sort()).toEqual([
        'owner-tag-0',
        'owner-tag-1',
        'scan-date',
        'scan-engine',
        'scan-result',
      ]);
    });

    it('with 9 tags: keeps all 9, writes scan-result only, and records the rest as an error', async () => {
      await harness.putObject('tags-in', 'nine.txt', eicar(), userTags(9));
      const tags = await harness.waitForTag('tags-in', 'nine.txt', 'scan-result', 'infected');
      expect(tags).toEqual({ ...userTags(9), 'scan-result': 'infected' });
      const delivery = await deliveryFor('tags-in', 'nine.txt');
      expect(delivery.json).toMatchObject({ action: 'tag', outcome: 'infected' });
      expect(String(delivery.json.action_error)).toContain(
        'no room for scan-date, scan-findings, scan-engine',
      );
      const messages = await trace(String(delivery.json.id));
      expect(
        messages.some((m) =>
          m.includes('only scan-result written; no room for scan-date, scan-findings, scan-engine'),
        ),
      ).toBe(true);
    });

    it('with 10 tags: writes nothing, keeps the 10, and records the error', async () => {
      await harness.putObject('tags-in', 'ten.txt', eicar(), userTags(10));
      const delivery = await deliveryFor('tags-in', 'ten.txt');
      expect(delivery.json).toMatchObject({ action: 'tag', outcome: 'infected' });
      expect(String(delivery.json.action_error)).toContain('no room for the 4 scan tags');
      expect(await harness.tags('tags-in', 'ten.txt')).toEqual(userTags(10));
      const messages = await trace(String(delivery.json.id));
      expect(messages.some((m) => m.startsWith('not tagged s3://tags-in/ten.txt: no room'))).toBe(
        true,
      );
    });

    it('replaces its own tags on a rescan instead of counting them against the limit', async () => {
      const first = await harness.tags('tags-in', 'nine.txt');
      const response = await v1('/events/s3', {
        method: 'POST',
        body: JSON.stringify({
          Records: [
            {
              eventName: 'ObjectCreated:Put',
              s3: { bucket: { name: 'tags-in' }, object: { key: 'nine.txt' } },
            },
          ],
        }),
      });
      const report = (await response.json()) as { queued: Array<{ id: string }> };
      await waitFor(() => receiver.deliveries.find((d) => d.json.id === report.queued[0]?.id));
      const again = await harness.tags('tags-in', 'nine.txt');
      expect(Object.keys(again)).toHaveLength(10);
      expect(again).toEqual({ ...first, 'scan-result': 'infected' });
    });
  });

  describe('actions', () => {
    it('promotes clean objects to production and quarantines infected ones, with their tags', async () => {
      await harness.createBucket('production');
      await harness.createBucket('quarantine');
      await watchedBucket('staging', 'direct', {
        actions: {
          onClean: 'promote',
          production: { bucket: 'production', prefix: 'clean/' },
          onInfected: 'quarantine',
          quarantine: { bucket: 'quarantine', prefix: 'infected/' },
        },
      });
      const clean = randomContent(50_000);
      await harness.putObject('staging', 'docs/report 1 ü.pdf', clean, { owner: 'alice' });
      await harness.putObject('staging', 'docs/bad file.com', eicar(), { owner: 'bob' });

      const promoted = await deliveryFor('staging', 'docs/report 1 ü.pdf');
      expect(promoted.json).toMatchObject({ action: 'promote', outcome: 'clean' });
      expect(promoted.json.action_error).toBeUndefined();
      const quarantined = await deliveryFor('staging', 'docs/bad file.com');
      expect(quarantined.json).toMatchObject({ action: 'quarantine', outcome: 'infected' });
      expect(quarantined.json.action_error).toBeUndefined();

      expect(await harness.listKeys('staging')).toEqual([]);
      expect(await harness.listKeys('production')).toEqual(['clean/docs/report 1 ü.pdf']);
      expect(await harness.listKeys('quarantine')).toEqual(['infected/docs/bad file.com']);
      expect(sha1(await readObject('production', 'clean/docs/report 1 ü.pdf'))).toBe(sha1(clean));
      expect(sha1(await readObject('quarantine', 'infected/docs/bad file.com'))).toBe(
        sha1(eicar()),
      );
      expect(await harness.tags('production', 'clean/docs/report 1 ü.pdf')).toMatchObject({
        owner: 'alice',
        'scan-result': 'clean',
      });
      expect(await harness.tags('quarantine', 'infected/docs/bad file.com')).toMatchObject({
        owner: 'bob',
        'scan-result': 'infected',
        'scan-findings': EICAR_FINDING,
      });
      const messages = await trace(String(quarantined.json.id));
      expect(messages).toContain(
        'quarantine: copied s3://staging/docs/bad file.com to s3://quarantine/infected/docs/bad file.com with 5 tags',
      );
      expect(messages).toContain('quarantined: deleted the source s3://staging/docs/bad file.com');
    });

    it('deletes infected objects with "delete" and leaves them alone with "keep"', async () => {
      await watchedBucket('delete-in', 'http', { actions: { onInfected: 'delete' } });
      await watchedBucket('keep-in', 'http', { actions: { onInfected: 'keep' } });
      for (const bucket of ['delete-in', 'keep-in']) {
        await harness.putObject(bucket, 'bad.com', eicar());
        await harness.putObject(bucket, 'good.txt', 'fine');
      }
      expect((await deliveryFor('delete-in', 'bad.com')).json).toMatchObject({
        action: 'delete',
        outcome: 'infected',
      });
      expect((await deliveryFor('keep-in', 'bad.com')).json).toMatchObject({
        action: 'keep',
        outcome: 'infected',
      });
      expect(await harness.exists('delete-in', 'bad.com')).toBe(false);
      expect(await harness.exists('keep-in', 'bad.com')).toBe(true);
      expect(await harness.tags('keep-in', 'bad.com')).toEqual({});
      for (const bucket of ['delete-in', 'keep-in']) {
        expect((await harness.waitForTag(bucket, 'good.txt', 'scan-result'))['scan-result']).toBe(
          'clean',
        );
        expect((await deliveryFor(bucket, 'good.txt')).json).toMatchObject({
          action: 'tag',
          outcome: 'clean',
        });
      }
    });
  });

  describe('duplicates, test events, folder markers, poison messages', () => {
    it('scans one object version once when its event arrives several times at once', async () => {
      // Not bridged: the only events for it are the copies sent below.
      await harness.createBucket('dup-in');
      const queue = await harness.createQueue('q-dup-in');
      await register('dup-in', { queue: queueConfig(queue.url) });
      // Over HTTP, one notification naming the same version three times: one scan.
      await harness.createBucket('dup-http');
      await register('dup-http');
      await harness.putObject('dup-http', 'same.txt', 'same content');
      const record = {
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'dup-http' }, object: { key: 'same.txt', eTag: 'abc123', size: 12 } },
      };
      const response = await v1('/events/s3', {
        method: 'POST',
        body: JSON.stringify({ Records: [record, record, record] }),
      });
      const report = (await response.json()) as {
        queued: Array<{ id: string }>;
        duplicates: Array<{ id: string }>;
      };
      expect(report.queued).toHaveLength(1);
      expect(report.duplicates).toHaveLength(2);
      expect(report.duplicates.map((d) => d.id)).toEqual([
        report.queued[0]!.id,
        report.queued[0]!.id,
      ]);

      // Through SQS: five copies of one event in one batch.
      await harness.s3.send(
        new PutObjectCommand({ Bucket: 'dup-in', Key: 'burst.txt', Body: 'x' }),
      );
      const event = {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'dup-in' }, object: { key: 'burst.txt', size: 1, eTag: 'e1' } },
          },
        ],
      };
      await harness.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: Array.from({ length: 5 }, (_, i) => ({
            Id: String(i),
            MessageBody: JSON.stringify(event),
          })),
        }),
      );
      const first = await deliveryFor('dup-in', 'burst.txt');
      await deliveryFor('dup-http', 'same.txt');
      await waitFor(
        async () => {
          const depth = await harness.queueDepth(queue.url);
          return depth.visible === 0 && depth.inFlight === 0;
        },
        { what: 'the duplicate events to be consumed' },
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(deliveriesFor('dup-in', 'burst.txt')).toEqual([first]);
      expect(deliveriesFor('dup-http', 'same.txt')).toHaveLength(1);
      const messages = await trace(report.queued[0]!.id);
      expect(
        messages.filter((m) => m.includes('arrived while it was being scanned: not scanned twice')),
      ).toHaveLength(2);
    });

    it('skips s3:TestEvent, folder markers and removal events, and deletes those messages', async () => {
      const queue = await watchedBucket('skip-in', 'direct');
      const testEvent = {
        Service: 'Amazon S3',
        Event: 's3:TestEvent',
        Time: new Date().toISOString(),
        Bucket: 'skip-in',
        RequestId: 'R',
        HostId: 'H',
      };
      await harness.sqs.send(
        new SendMessageCommand({ QueueUrl: queue!.url, MessageBody: JSON.stringify(testEvent) }),
      );
      await harness.putObject('skip-in', 'folder/', '');
      await harness.putObject('skip-in', 'folder/file.txt', 'in a folder');
      await harness.waitForTag('skip-in', 'folder/file.txt', 'scan-result', 'clean');
      await harness.s3.send(new DeleteObjectCommand({ Bucket: 'skip-in', Key: 'folder/file.txt' }));
      await waitFor(
        async () => {
          const depth = await harness.queueDepth(queue!.url);
          return depth.visible === 0 && depth.inFlight === 0;
        },
        { what: 'the skipped events to be deleted from the queue' },
      );
      expect(await harness.tags('skip-in', 'folder/')).toEqual({});
      expect(deliveriesFor('skip-in', 'folder/')).toEqual([]);

      const response = await v1('/events/s3', { method: 'POST', body: JSON.stringify(testEvent) });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({
        shape: 'S3 test event',
        queued: [],
        duplicates: [],
        skipped: [{ bucket: 'skip-in', reason: 's3:TestEvent' }],
      });
      const folder = await v1('/events/s3', {
        method: 'POST',
        body: JSON.stringify(
          toEventBridge(
            {
              eventName: 'ObjectCreated:Put',
              eventTime: '',
              s3: { bucket: { name: 'skip-in' }, object: { key: 'folder/', size: 0 } },
            },
            encodeEventKey('folder/'),
          ),
        ),
      });
      expect(
        ((await folder.json()) as { skipped: Array<{ reason: string }> }).skipped[0]?.reason,
      ).toMatch(/folder marker/);
    });

    it('leaves poison messages in the queue until its redrive policy moves them to the DLQ', async () => {
      await harness.createBucket('poison-in');
      const queue = await harness.createQueue('q-poison', { maxReceiveCount: 2 });
      await register('poison-in', { queue: queueConfig(queue.url) });
      const unknownBucket = {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'not-registered-here' }, object: { key: 'x' } },
          },
        ],
      };
      await harness.sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'this is not JSON' }),
      );
      await harness.sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: JSON.stringify(unknownBucket) }),
      );
      // Received, left (not deleted), received again after the 2 s visibility timeout, then moved.
      await waitFor(async () => (await harness.queueDepth(queue.dlqUrl!)).visible === 2, {
        timeoutMs: 25_000,
        what: 'both messages in the DLQ',
      });
      expect(await harness.queueDepth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
      expect((await harness.receiveAll(queue.dlqUrl!)).sort()).toEqual(
        [JSON.stringify(unknownBucket), 'this is not JSON'].sort(),
      );
    });

    it('answers 400 for a body that is not an S3 notification and 404 for an unregistered bucket', async () => {
      const garbage = await v1('/events/s3', { method: 'POST', body: '{"hello":"world"}' });
      expect(garbage.status).toBe(400);
      expect(((await garbage.json()) as { error: string }).error).toMatch(
        /not an S3 event notification/,
      );
      const unknown = await v1('/events/s3', {
        method: 'POST',
        body: JSON.stringify({
          Records: [
            {
              eventName: 'ObjectCreated:Put',
              s3: { bucket: { name: 'nobody-has-this' }, object: { key: 'x' } },
            },
          ],
        }),
      });
      expect(unknown.status).toBe(404);
    });
  });

  describe('bucket registration', () => {
    it('shows credentials masked, never the secret, and keeps them when a replacement leaves them out', async () => {
      await harness.createBucket('shown');
      const created = await v1('/buckets/shown', {
        method: 'PUT',
        body: JSON.stringify({
          endpoint: harness.s3Endpoint,
          credentials: {
            type: 'static',
            accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
            secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
          },
        }),
      });
      expect(created.status).toBe(201);
      const text = await created.text();
      expect(text).not.toContain('wJalrXUtnFEMI');
      expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
      expect(JSON.parse(text)).toMatchObject({
        name: 'shown',
        credentials: { type: 'static', accessKeyId: 'AKIA…MPLE' },
        actions: { onClean: 'tag', onInfected: 'tag', onUnscannable: 'tag' },
        tags: {
          result: 'scan-result',
          date: 'scan-date',
          findings: 'scan-findings',
          engine: 'scan-engine',
        },
        forcePathStyle: true,
        callback: null,
        queue: null,
      });
      const replaced = await v1('/buckets/shown', {
        method: 'PUT',
        body: JSON.stringify({
          endpoint: harness.s3Endpoint,
          tags: { result: 'av-status' },
          actions: { onInfected: 'delete' },
        }),
      });
      expect(replaced.status).toBe(200);
      expect(await replaced.json()).toMatchObject({
        credentials: { accessKeyId: 'AKIA…MPLE' },
        tags: { result: 'av-status' },
        actions: { onInfected: 'delete' },
      });
      const list = (await (await v1('/buckets')).json()) as { buckets: Array<{ name: string }> };
      expect(list.buckets.map((b) => b.name)).toContain('shown');
      const all = JSON.stringify(list);
      expect(all).not.toContain('wJalrXUtnFEMI');
      expect(all).not.toContain('S3RVER');
      expect((await v1('/buckets/shown', { method: 'DELETE' })).status).toBe(204);
      expect((await v1('/buckets/shown')).status).toBe(404);
    });

    it('refuses bad registrations with a clear 400', async () => {
      const put = (name: string, body: unknown) =>
        v1(`/buckets/${name}`, { method: 'PUT', body: JSON.stringify(body) });
      const credentials = { type: 'static', accessKeyId: 'k', secretAccessKey: 's' };
      const cases: Array<[string, unknown, RegExp]> = [
        [
          'Bad_Name',
          { region: 'us-east-1', credentials },
          /not a valid bucket name: bucket names contain only lower-case/,
        ],
        ['ab', { region: 'us-east-1', credentials }, /3 to 63 characters/],
        ['192.168.1.1', { region: 'us-east-1', credentials }, /IP addresses/],
        ['fresh-bucket', { region: 'us-east-1' }, /credentials are required/],
        ['fresh-bucket', { credentials }, /region is required/],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, colour: 'red' },
          /Unknown field "colour"/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials: { type: 'password', value: 'x' } },
          /credentials must be/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials: { type: 'role', roleArn: 'not-an-arn' } },
          /IAM role ARN/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, actions: { onClean: 'promote' } },
          /actions.production/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, actions: { onInfected: 'quarantine' } },
          /actions.quarantine/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, actions: { onInfected: 'shred' } },
          /onInfected must be/,
        ],
        [
          'fresh-bucket',
          {
            region: 'us-east-1',
            credentials,
            actions: { onInfected: 'quarantine', quarantine: { bucket: 'fresh-bucket' } },
          },
          /copied onto themselves/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, tags: { result: 'aws:scan' } },
          /reserved by AWS/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, tags: { result: 'a,b' } },
          /may contain only/,
        ],
        [
          'fresh-bucket',
          { endpoint: 'ftp://example.com', credentials },
          /The endpoint was refused: only http and https URLs are accepted \(got ftp\)/,
        ],
        [
          'fresh-bucket',
          { endpoint: 'http://169.254.169.254', credentials },
          /The endpoint was refused: .*cloud metadata/,
        ],
        [
          'fresh-bucket',
          { endpoint: 'http://s3.example.com/path', credentials },
          /scheme, host and optional port only/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, callback: 'not a url' },
          /The callback was refused: "not a url" is not a valid URL/,
        ],
        [
          'fresh-bucket',
          { region: 'us-east-1', credentials, queue: { url: 'http://10.1.2.3/123/q' } },
          /The queue.url was refused: .*private/,
        ],
      ];
      for (const [name, body, pattern] of cases) {
        const response = await put(name, body);
        const error = ((await response.json()) as { error: string }).error;
        expect(`${response.status} ${error}`, `${name} ${JSON.stringify(body)}`).toMatch(
          new RegExp(`^400 .*${pattern.source}`),
        );
      }
      const notJson = await v1('/buckets/fresh-bucket', {
        method: 'PUT',
        body: 'x=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(notJson.status).toBe(415);
    });

    it('needs an API key (not an auth token)', async () => {
      const token = (await (
        await fetch(`${service.url}/v2.2/auth/tokens`, {
          method: 'POST',
          headers: { authorization: tenant.auth },
        })
      ).json()) as { id: string };
      const response = await v1('/buckets', {
        auth: `Basic ${Buffer.from(`${token.id}:`).toString('base64')}`,
      });
      expect(response.status).toBe(403);
      expect((await v1('/buckets', { auth: 'Basic bm9ib2R5Om5vdGhpbmc=' })).status).toBe(401);
    });

    it('keeps tenants apart: another tenant’s bucket is a 404', async () => {
      await harness.createBucket('mine-only');
      await register('mine-only');
      expect((await v1('/buckets/mine-only', { auth: other.auth })).status).toBe(404);
      expect((await v1('/buckets/mine-only', { method: 'DELETE', auth: other.auth })).status).toBe(
        404,
      );
      const list = (await (await v1('/buckets', { auth: other.auth })).json()) as {
        buckets: unknown[];
      };
      expect(list.buckets).toEqual([]);
      const event = {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'mine-only' }, object: { key: 'x' } },
          },
        ],
      };
      expect(
        (await v1('/events/s3', { method: 'POST', auth: other.auth, body: JSON.stringify(event) }))
          .status,
      ).toBe(404);
      // The other tenant registering the same name gets its own registration; ours is untouched.
      await register(
        'mine-only',
        { region: 'eu-west-1', endpoint: undefined, callback: undefined },
        other.auth,
      );
      expect(await (await v1('/buckets/mine-only')).json()).toMatchObject({
        endpoint: harness.s3Endpoint,
        callback,
      });
      expect(await (await v1('/buckets/mine-only', { auth: other.auth })).json()).toMatchObject({
        region: 'eu-west-1',
        endpoint: null,
      });
      // And a scan of the other tenant's results is not visible to us.
      const theirs = receiver.deliveries.find((d) => d.json.bucket === 'in-direct');
      const peek = await fetch(`${service.url}/v2.2/files/${String(theirs?.json.id)}`, {
        headers: { authorization: other.auth },
      });
      expect(peek.status).toBe(404);
    });
  });

  describe('scanExistingObject', () => {
    it('scans an object of a registered bucket in the calling process and applies the actions', async () => {
      await harness.createBucket('existing');
      await register('existing', {
        actions: {
          onInfected: 'quarantine',
          quarantine: { bucket: 'existing', prefix: 'quarantine/' },
        },
      });
      await harness.putObject('existing', 'old/upload.com', eicar());
      const scans = service.service.runtime.s3.objectScans;
      const scan = await scans.scanExistingObject(tenant.id, 'existing', 'old/upload.com');
      expect(scan.duplicate).toBe(false);
      expect(scan.result).toMatchObject({
        bucket: 'existing',
        key: 'old/upload.com',
        outcome: 'infected',
        action: 'quarantine',
      });
      expect(await harness.listKeys('existing')).toEqual(['quarantine/old/upload.com']);
      await expect(
        scans.scanExistingObject(other.id, 'existing', 'old/upload.com'),
      ).rejects.toMatchObject({ kind: 'not_found' });
      // The quarantine prefix of the same bucket is never scanned again (no loop).
      const again = await scans.submit(tenant.id, [
        { bucket: 'existing', key: 'quarantine/old/upload.com', origin: 'event' },
      ]);
      expect(again).toEqual([
        { status: 'skipped', reason: expect.stringMatching(/quarantine prefix/) as string },
      ]);
    });

    it('tags encrypted content unscannable, or clean for a tenant opted out of unscannable findings', async () => {
      const locked = encryptedZip([{ name: 'payroll.xlsx', data: randomContent(3000) }]);
      const optedOut = await service.createTenant('no-unscannable');
      const setting = await service.admin(`/tenants/${optedOut.id}/settings`, {
        method: 'PUT',
        body: JSON.stringify({ report_unscannable: false }),
      });
      expect(setting.status).toBe(200);
      const scans = service.service.runtime.s3.objectScans;
      for (const [who, bucket, outcome] of [
        [tenant, 'locked-reported', 'unscannable'],
        [optedOut, 'locked-ignored', 'clean'],
      ] as const) {
        await harness.createBucket(bucket);
        await register(bucket, {}, who.auth);
        await harness.putObject(bucket, 'payroll.zip', locked);
        const scan = await scans.scanExistingObject(who.id, bucket, 'payroll.zip');
        expect(scan.result).toMatchObject({ outcome, action: 'tag' });
        const tags = await harness.tags(bucket, 'payroll.zip');
        expect(tags['scan-result']).toBe(outcome);
        if (outcome === 'clean') {
          expect(scan.result?.suppressed_findings).toEqual(['content.unscannable.encrypted']);
          expect(tags['scan-findings']).toBeUndefined();
        } else {
          expect(tags['scan-findings']).toBe('content.unscannable.encrypted');
        }
      }
    });
  });
});

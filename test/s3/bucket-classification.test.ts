import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { buildPe } from '../support/pe-builder.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { dumpRedis } from '../support/redis-dump.js';
import { waitFor } from '../support/wait.js';

/**
 * Sensitive-data classification and detection categories chosen per bucket, end to end: s3rver
 * holds the objects, the whole service (api + workers) scans them on their S3 events and in
 * retro jobs, and what a user sees is checked where they see it: the objects' tags, the result
 * delivered to the bucket's callback, the trace. The tenant itself looks for malware alone, so
 * whatever else runs was asked for by the bucket.
 */

// Three card numbers (Visa, Mastercard, American Express) and two e-mail addresses.
const CARDS = ['4111 1111 1111 1111', '5555-5555-5555-4444', '3782 822463 10005'];
const EMAILS = ['ada.lovelace@example.com', 'bob.builder@example.org'];
const STAFF_CSV = [
  'name,card,email,note',
  `Ada,${CARDS[0]},${EMAILS[0]},first`,
  `Bob,${CARDS[1]},${EMAILS[1]},second`,
  `Cy,${CARDS[2]},,third`,
  '',
].join('\n');
/** Pieces of the values that must never reach a tag, Redis or the log. */
const RAW = [
  ...CARDS,
  ...CARDS.map((card) => card.replace(/\D/g, '')),
  '4111111111111111',
  'ada.lovelace',
  'bob.builder',
];
// Look-alikes: a number that fails the Luhn check, an image name, an order number.
const CLEAN_TEXT = 'Order 4111 1111 1111 1112 shipped; see logo@2x.png and ticket 1234567890.\n';

const CLASSIFICATION_TAGS = [
  'classification-result',
  'date-classified',
  'classification-matches',
  'classification-message',
];

describe('bucket classification and detection categories', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  let redis: Redis;
  const logLines: string[] = [];
  let stopRecordsEvents = () => {};

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService(
      // Everything logged, so that the log can be searched for values.
      { LOG_LEVEL: 'trace', ARBITER_SECRET_KEY: 'cd'.repeat(32) },
      { logDestination: { write: (line: string) => void logLines.push(line) } },
    );
    tenant = await service.createTenant('classify');
    receiver = await startCallbackReceiver();
    redis = new Redis({ path: service.redis.socket });
  });
  afterAll(async () => {
    redis?.disconnect();
    await receiver?.close();
    await service?.stop();
    await harness?.stop();
  });

  const v1 = (path: string, init: RequestInit = {}) => v1Client(service, tenant.auth)(path, init);

  /** The result the bucket's callback received for an object. */
  const resultFor = (bucket: string, key: string) =>
    waitFor(
      () => receiver.deliveries.find((d) => d.json.bucket === bucket && d.json.key === key)?.json,
      { what: `the callback for s3://${bucket}/${key}` },
    );

  const traceOf = async (id: unknown) => {
    const response = await fetch(`${service.url}/v2.2/files/${String(id)}/trace`, {
      headers: { authorization: tenant.auth },
    });
    const { events } = (await response.json()) as { events: Array<{ message: string }> };
    return events.map((event) => event.message);
  };

  it('classifies objects under an include prefix, but not under an exclude prefix or elsewhere', async () => {
    await harness.createBucket('records');
    const { json: view } = await registerBucket(service, tenant.auth, harness, 'records', {
      callback: `${receiver.url}/callback`,
      classify: true,
      classifyInclude: ['hr/', 'finance/'],
      classifyExclude: ['hr/public/'],
    });
    expect(view).toMatchObject({
      detectionCategories: null,
      classify: true,
      classifyInclude: ['hr/', 'finance/'],
      classifyExclude: ['hr/public/'],
      tags: {
        classificationResult: 'classification-result',
        classificationDate: 'date-classified',
        classificationMatches: 'classification-matches',
        classificationMessage: 'classification-message',
      },
    });
    stopRecordsEvents = harness.bridge('records', {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    await harness.putObject('records', 'hr/staff.csv', STAFF_CSV);
    await harness.putObject('records', 'finance/clean.txt', CLEAN_TEXT);
    await harness.putObject('records', 'hr/public/staff.csv', STAFF_CSV);
    await harness.putObject('records', 'other/staff.csv', STAFF_CSV);

    const staff = await harness.waitForTag('records', 'hr/staff.csv', 'classification-result');
    expect(staff).toMatchObject({
      'scan-result': 'infected',
      'classification-result': 'Sensitive',
      'classification-matches': 'credit_card email',
      'classification-message': '3 credit_card + 2 email',
      'scan-findings': 'content.sensitive.credit_card content.sensitive.email',
    });
    expect(Date.parse(staff['date-classified'] ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(staff['date-classified']).toBe(staff['scan-date']);
    const staffResult = await resultFor('records', 'hr/staff.csv');
    expect(staffResult.classification).toMatchObject({
      result: 'sensitive',
      matches: { credit_card: 3, email: 2 },
    });
    expect(await traceOf(staffResult.id)).toContain(
      'detection categories: malware, sensitive_data',
    );

    const clean = await harness.waitForTag('records', 'finance/clean.txt', 'classification-result');
    expect(clean).toMatchObject({
      'scan-result': 'clean',
      'classification-result': 'Clean',
      'classification-message': 'no sensitive data found',
    });
    expect(clean['classification-matches']).toBeUndefined();
    expect((await resultFor('records', 'finance/clean.txt')).classification).toMatchObject({
      result: 'none',
      matches: {},
    });

    for (const key of ['hr/public/staff.csv', 'other/staff.csv']) {
      const tags = await harness.waitForTag('records', key, 'scan-result', 'clean');
      expect(Object.keys(tags).filter((name) => CLASSIFICATION_TAGS.includes(name))).toEqual([]);
      const result = await resultFor('records', key);
      expect(result).not.toHaveProperty('classification');
      expect(await traceOf(result.id)).toContain('detection categories: malware');
    }
  });

  it('keeps every user tag when the budget is tight: the result tags first, and the trace says what was left out', async () => {
    const key = 'hr/tagged.csv';
    const userTags = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [`team-${i}`, `value-${i}`]),
    );
    // The object is tagged before its event is sent, so that the scan finds the user's tags.
    stopRecordsEvents();
    await harness.putObject('records', key, STAFF_CSV, userTags);
    const sent = await v1('/events/s3', {
      method: 'POST',
      body: JSON.stringify({
        Records: [
          { eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'records' }, object: { key } } },
        ],
      }),
    });
    expect(sent.status).toBe(202);
    const tags = await harness.waitForTag('records', key, 'classification-result', 'Sensitive');
    expect(tags).toEqual({
      ...userTags,
      'scan-result': 'infected',
      'classification-result': 'Sensitive',
      'scan-date': tags['scan-date'],
      'scan-findings': 'content.sensitive.credit_card content.sensitive.email',
    });
    const result = await resultFor('records', key);
    expect(result.action).toBe('tag');
    expect(result.action_error).toMatch(
      /no room for date-classified, classification-matches, scan-engine, classification-message/,
    );
    const trace = await traceOf(result.id);
    expect(
      trace.some(
        (line) =>
          line.startsWith('tagged s3://records/hr/tagged.csv') &&
          line.includes('scan-result=infected, classification-result, scan-date, scan-findings') &&
          line.includes('(kept its 6 other tags)') &&
          line.includes(
            'no room for date-classified, classification-matches, scan-engine, classification-message',
          ),
      ),
      trace.join('\n'),
    ).toBe(true);
  });

  it('classifies what a retro job scans by the same settings', async () => {
    await harness.createBucket('archive');
    await registerBucket(service, tenant.auth, harness, 'archive', {
      callback: `${receiver.url}/callback`,
      classify: true,
      classifyExclude: ['public/'],
    });
    await harness.putObject('archive', 'old/staff.csv', STAFF_CSV);
    await harness.putObject('archive', 'public/staff.csv', STAFF_CSV);
    const created = await v1('/jobs', {
      method: 'POST',
      body: JSON.stringify({ buckets: [{ name: 'archive' }] }),
    });
    expect(created.status).toBe(201);
    const tags = await harness.waitForTag('archive', 'old/staff.csv', 'classification-result');
    expect(tags).toMatchObject({
      'classification-result': 'Sensitive',
      'classification-message': '3 credit_card + 2 email',
    });
    const excluded = await harness.waitForTag('archive', 'public/staff.csv', 'scan-result');
    expect(excluded['classification-result']).toBeUndefined();
    expect(await resultFor('archive', 'public/staff.csv')).not.toHaveProperty('classification');
  });

  it('checks true file types in the one bucket that asks for file_type', async () => {
    // A small Windows program (one code section), stored as a photo.
    const program = buildPe({
      sections: [{ name: '.text', data: Buffer.from([0xc3]) }],
      entry: { section: 0, offset: 0 },
    }).bytes;
    for (const name of ['photos', 'plain-photos']) {
      await harness.createBucket(name);
      await registerBucket(service, tenant.auth, harness, name, {
        callback: `${receiver.url}/callback`,
        ...(name === 'photos' ? { detectionCategories: ['malware', 'file_type'] } : {}),
      });
      harness.bridge(name, {
        mode: 'http',
        url: `${service.url}/v1/events/s3`,
        authorization: tenant.auth,
      });
      await harness.s3.send(
        new PutObjectCommand({
          Bucket: name,
          Key: 'holiday/beach.jpg',
          Body: program,
          ContentType: 'image/jpeg',
        }),
      );
    }
    const tags = await harness.waitForTag('photos', 'holiday/beach.jpg', 'scan-result', 'infected');
    expect(tags['scan-findings']).toBe('content.type.mismatch');
    const result = await resultFor('photos', 'holiday/beach.jpg');
    expect(result).toMatchObject({
      findings: ['content.type.mismatch'],
      file_extension: 'jpg',
      declared_content_type: 'image/jpeg',
    });
    expect(await traceOf(result.id)).toContain('detection categories: malware, file_type');
    // The same object in a bucket that follows the tenant (malware alone): no type check.
    await harness.waitForTag('plain-photos', 'holiday/beach.jpg', 'scan-result', 'clean');
    expect((await resultFor('plain-photos', 'holiday/beach.jpg')).findings).toEqual([]);
  });

  it('scans a bucket with its own detection categories in place of the tenant’s', async () => {
    await harness.createBucket('language');
    const { json } = await registerBucket(service, tenant.auth, harness, 'language', {
      callback: `${receiver.url}/callback`,
      detectionCategories: ['unsafe_language', 'unsafe_language'],
    });
    expect(json.detectionCategories).toEqual(['unsafe_language']);
    harness.bridge('language', {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    // Malware is not looked for in this bucket: the test file is not found.
    await harness.putObject('language', 'test-file.txt', LOCAL_TEST_FILE);
    await harness.waitForTag('language', 'test-file.txt', 'scan-result', 'clean');
    const result = await resultFor('language', 'test-file.txt');
    expect(result.findings).toEqual([]);
    expect(await traceOf(result.id)).toContain('detection categories: unsafe_language');
  });

  it('never lets a raw value reach a tag, Redis or the log', async () => {
    for (const key of ['hr/staff.csv', 'hr/tagged.csv'])
      expect(Object.keys(await harness.tags('records', key))).toContain('classification-result');
    const everyTag = JSON.stringify([
      await harness.tags('records', 'hr/staff.csv'),
      await harness.tags('records', 'hr/tagged.csv'),
      await harness.tags('archive', 'old/staff.csv'),
    ]);
    const stored = await dumpRedis(redis);
    expect(stored).toContain('content.sensitive.credit_card'); // the results are there
    const log = logLines.join('\n');
    expect(log).toContain('content.sensitive.credit_card'); // the scans were logged
    for (const raw of RAW) {
      expect(everyTag, 'tags').not.toContain(raw);
      expect(stored, 'Redis').not.toContain(raw);
      expect(log, 'log').not.toContain(raw);
    }
  });

  it('refuses bad classification settings with a clear 400', async () => {
    await registerBucket(service, tenant.auth, harness, 'strict', {
      classify: true,
      classifyInclude: ['hr/', 'finance/'],
    });
    const put = (body: Record<string, unknown>) =>
      v1('/buckets/strict', {
        method: 'PUT',
        body: JSON.stringify({ endpoint: harness.s3Endpoint, ...body }),
      });
    const prefixes = (count: number) => Array.from({ length: count }, (_, i) => `p${i}/`);
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { classfy: true },
        /Unknown field "classfy" in the bucket: the accepted fields are .*classify, classifyInclude, classifyExclude and sanitize/,
      ],
      [{ classify: 'yes' }, /classify must be true or false/],
      [{ classify: 1 }, /classify must be true or false/],
      [
        { classify: true, classifyInclude: prefixes(21) },
        /classifyInclude has more than 20 prefixes/,
      ],
      [
        { classify: true, classifyExclude: prefixes(21) },
        /classifyExclude has more than 20 prefixes/,
      ],
      [
        { classify: true, classifyInclude: 'hr/' },
        /classifyInclude must be a list of key prefixes/,
      ],
      [{ classify: true, classifyInclude: [''] }, /classifyInclude: a prefix must not be empty/],
      [{ classify: true, classifyInclude: ['x'.repeat(1025)] }, /at most 1024 characters/],
      [{ classifyInclude: ['hr/'] }, /they need "classify": true/],
      [
        { detectionCategories: ['malware', 'viruses'] },
        /detectionCategories: unknown category "viruses"/,
      ],
      [{ detectionCategories: [] }, /detectionCategories must name at least one category/],
      [{ tags: { classificationResult: 'scan-result' } }, /the 8 tag keys must differ/],
      [{ tags: { classificationMatches: 'a,b' } }, /tags.classificationMatches may contain only/],
      [{ tags: { colour: 'x' } }, /Unknown field "colour" in tags/],
    ];
    for (const [body, pattern] of cases) {
      const response = await put(body);
      const error = ((await response.json()) as { error: string }).error;
      expect(`${response.status} ${error}`, JSON.stringify(body).slice(0, 200)).toMatch(
        new RegExp(`^400 .*${pattern.source}`),
      );
    }
    // Nothing was changed by any of them.
    const kept = (await (await v1('/buckets/strict')).json()) as Record<string, unknown>;
    expect(kept).toMatchObject({ classify: true, classifyInclude: ['hr/', 'finance/'] });
  });
});

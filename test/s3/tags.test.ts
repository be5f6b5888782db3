import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../core/secret-box.js';
import { SENSITIVE_TYPES } from '../../core/sensitive-types.js';
import type { ScanResult } from '../../scans/results.js';
import { bucketNameProblem, DEFAULT_TAG_KEYS, maskKeyId } from '../../s3/bucket-schema.js';
import { copySource } from '../../s3/object-stage.js';
import { mergeTags, outcomeOf, scanTags, tagValue, type Tag } from '../../s3/tags.js';

const keys = { ...DEFAULT_TAG_KEYS };
const result = (findings: string[], extra: Partial<ScanResult> = {}): ScanResult => ({
  id: '0'.repeat(32),
  checksum: 'c',
  content_length: 1,
  findings,
  creation_date: '2026-01-01T00:00:00.000Z',
  content_type: 'text/plain',
  metadata: {},
  engines: [
    { name: 'builtin', version: 'arbiter-builtin/0.2.0 db:abc (12 signatures)' },
    { name: 'clamd', version: 'ClamAV 1.4.6/27514/Tue Jan  6 09:42:01 2026' },
  ],
  ...extra,
});
const user = (count: number): Tag[] =>
  Array.from({ length: count }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }));
const at = new Date('2026-05-06T07:08:09.010Z');

describe('scan tags', () => {
  it('classifies results: clean, infected, unscannable, error', () => {
    expect(outcomeOf(result([]))).toBe('clean');
    expect(outcomeOf(result(['content.malicious.eicar-test-signature']))).toBe('infected');
    expect(outcomeOf(result(['content.unscannable.encrypted']))).toBe('unscannable');
    expect(outcomeOf(result(['content.unscannable.encrypted', 'content.malicious.x']))).toBe(
      'infected',
    );
    expect(outcomeOf(result([], { error: 'boom' }))).toBe('error');
  });

  it('writes result, date, findings and engine, in that priority, with S3-safe values', () => {
    const tags = scanTags(
      keys,
      'infected',
      result(['content.malicious.a', 'content.malicious.b']),
      at,
    );
    expect(tags).toEqual([
      { Key: 'scan-result', Value: 'infected' },
      { Key: 'scan-date', Value: '2026-05-06T07:08:09.010Z' },
      { Key: 'scan-findings', Value: 'content.malicious.a content.malicious.b' },
      {
        Key: 'scan-engine',
        Value: 'arbiter-builtin/0.2.0 db:abc + ClamAV 1.4.6/27514/Tue Jan  6 09:42:01 2026',
      },
    ]);
    expect(scanTags(keys, 'clean', result([]), at).map((t) => t.Key)).toEqual([
      'scan-result',
      'scan-date',
      'scan-engine',
    ]);
    const long = tagValue(`${'content.malicious.x '.repeat(40)}`);
    expect(long.length).toBe(256);
    expect(long.endsWith('...')).toBe(true);
    expect(tagValue('a,b;c(d)é')).toBe('a_b_c_d_é');
  });

  it('keeps every user tag and replaces only its own keys', () => {
    const existing = [
      ...user(3),
      { Key: 'scan-result', Value: 'clean' },
      { Key: 'scan-findings', Value: 'stale' },
    ];
    const merge = mergeTags(existing, scanTags(keys, 'clean', result([]), at), keys);
    expect(merge.tags).toEqual([
      ...user(3),
      { Key: 'scan-result', Value: 'clean' },
      { Key: 'scan-date', Value: at.toISOString() },
      merge.tags?.[5],
    ]);
    expect(merge.tags?.some((t) => t.Key === 'scan-findings')).toBe(false);
    expect(merge.omitted).toEqual([]);
  });

  it('with 7, 8, 9 and 10 user tags writes what fits in priority order, and nothing without room for the result', () => {
    const ours = scanTags(keys, 'infected', result(['content.malicious.a']), at);
    expect(mergeTags(user(6), ours, keys).written).toEqual([
      'scan-result',
      'scan-date',
      'scan-findings',
      'scan-engine',
    ]);
    expect(mergeTags(user(7), ours, keys)).toMatchObject({
      written: ['scan-result', 'scan-date', 'scan-findings'],
      omitted: ['scan-engine'],
    });
    expect(mergeTags(user(8), ours, keys)).toMatchObject({
      written: ['scan-result', 'scan-date'],
      omitted: ['scan-findings', 'scan-engine'],
    });
    const nine = mergeTags(user(9), ours, keys);
    expect(nine.tags).toEqual([...user(9), { Key: 'scan-result', Value: 'infected' }]);
    const ten = mergeTags(user(10), ours, keys);
    expect(ten).toEqual({
      tags: undefined,
      written: [],
      omitted: ['scan-result', 'scan-date', 'scan-findings', 'scan-engine'],
      userTags: 10,
    });
    // Our own old tags do not count: 9 user tags + our 4 old ones still leave room for the result.
    expect(mergeTags([...user(9), ...ours], ours, keys).tags).toHaveLength(10);
  });

  it('honours renamed tag keys', () => {
    const renamed = {
      result: 'av-status',
      date: 'av-timestamp',
      findings: 'av-signature',
      engine: 'av-engine',
      classificationResult: 'dlp-status',
      classificationDate: 'dlp-timestamp',
      classificationMatches: 'dlp-types',
      classificationMessage: 'dlp-summary',
    };
    const merge = mergeTags(
      [{ Key: 'scan-result', Value: 'mine' }],
      scanTags(renamed, 'clean', result([]), at),
      renamed,
    );
    expect(merge.tags?.map((t) => t.Key)).toEqual([
      'scan-result',
      'av-status',
      'av-timestamp',
      'av-engine',
    ]);
  });
});

describe('classification tags', () => {
  const classified = (
    classification: ScanResult['classification'],
    findings: string[] = [],
    extra: Partial<ScanResult> = {},
  ) => result(findings, { classification, ...extra });

  it('says Sensitive with the types found, most first, and their counts in a sentence', () => {
    const tags = scanTags(
      keys,
      'infected',
      classified(
        {
          result: 'sensitive',
          matches: { email: 3, credit_card: 12, iban: 3 },
          samples: { credit_card: ['…1111'], email: ['j***@example.com'], iban: ['DE…3000'] },
        },
        ['content.sensitive.credit_card', 'content.sensitive.email', 'content.sensitive.iban'],
      ),
      at,
    );
    expect(tags.map((tag) => tag.Key)).toEqual([
      'scan-result',
      'classification-result',
      'scan-date',
      'scan-findings',
      'date-classified',
      'classification-matches',
      'scan-engine',
      'classification-message',
    ]);
    const byKey = Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]));
    expect(byKey).toMatchObject({
      'classification-result': 'Sensitive',
      'date-classified': at.toISOString(),
      'classification-matches': 'credit_card email iban',
      'classification-message': '12 credit_card + 3 email + 3 iban',
    });
    // Counts and type names only: no sample, redacted or not, goes into a tag.
    expect(JSON.stringify(tags)).not.toMatch(/1111|example\.com|DE…/);
    for (const tag of tags) expect(tagValue(tag.Value)).toBe(tag.Value);
  });

  it('says Clean with no matches tag, and Error with its reason', () => {
    const clean = scanTags(
      keys,
      'clean',
      classified({ result: 'none', matches: {}, samples: {} }),
      at,
    );
    expect(clean.filter((tag) => tag.Key.includes('classif'))).toEqual([
      { Key: 'classification-result', Value: 'Clean' },
      { Key: 'date-classified', Value: at.toISOString() },
      { Key: 'classification-message', Value: 'no sensitive data found' },
    ]);
    const failed = scanTags(
      keys,
      'error',
      classified({ result: 'error', matches: {}, samples: {} }, [], {
        error: 'the content could not be scanned: clamd (timeout)',
      }),
      at,
    );
    expect(Object.fromEntries(failed.map((tag) => [tag.Key, tag.Value]))).toMatchObject({
      'classification-result': 'Error',
      'classification-message': 'the content could not be scanned: clamd _timeout_',
    });
    const unread = scanTags(
      keys,
      'clean',
      classified({ result: 'error', matches: {}, samples: {} }),
      at,
    );
    expect(unread.find((tag) => tag.Key === 'classification-message')?.Value).toBe(
      'the text of the content could not be classified',
    );
    expect(scanTags(keys, 'clean', result([]), at).some((t) => t.Key.includes('classif'))).toBe(
      false,
    );
  });

  it('keeps the message within 256 characters in whole parts, saying how many more there are', () => {
    // Every type with a ten-digit count: all their names fit, their counts do not.
    const matches = Object.fromEntries(SENSITIVE_TYPES.map((type, i) => [type, 1_000_000_000 - i]));
    const tags = scanTags(
      keys,
      'infected',
      classified({ result: 'sensitive', matches, samples: {} }),
      at,
    );
    const value = (key: string) => tags.find((tag) => tag.Key === key)?.Value ?? '';
    expect(value('classification-matches')).toBe(SENSITIVE_TYPES.join(' '));
    const message = value('classification-message');
    expect(message.length).toBeLessThanOrEqual(256);
    const parts = message.split(' + ');
    const more = /^(\d+) more$/.exec(parts.at(-1) ?? '');
    expect(more).not.toBeNull();
    const listed = parts.slice(0, -1);
    expect(listed).toEqual(
      SENSITIVE_TYPES.slice(0, listed.length).map((t, i) => `${1_000_000_000 - i} ${t}`),
    );
    expect(Number(more?.[1])).toBe(SENSITIVE_TYPES.length - listed.length);
  });

  it('fills the budget in priority order: 6 user tags leave room for four of ours', () => {
    const ours = scanTags(
      keys,
      'infected',
      classified({ result: 'sensitive', matches: { credit_card: 2 }, samples: {} }, [
        'content.sensitive.credit_card',
      ]),
      at,
    );
    const merge = mergeTags(user(6), ours, keys);
    expect(merge.written).toEqual([
      'scan-result',
      'classification-result',
      'scan-date',
      'scan-findings',
    ]);
    expect(merge.omitted).toEqual([
      'date-classified',
      'classification-matches',
      'scan-engine',
      'classification-message',
    ]);
    expect(merge.tags?.slice(0, 6)).toEqual(user(6));
    // Old classification tags are ours: replaced, or removed when the new result has none.
    const stale = [...user(2), { Key: 'classification-result', Value: 'Sensitive' }];
    const rescanned = mergeTags(stale, scanTags(keys, 'clean', result([]), at), keys);
    expect(rescanned.tags?.some((tag) => tag.Key === 'classification-result')).toBe(false);
  });
});

describe('bucket names, masking, copy sources and sealing', () => {
  it('follows the S3 naming rules', () => {
    for (const good of [
      'abc',
      'my-bucket',
      'my.bucket.name',
      'a'.repeat(63),
      '1bucket',
      'in-direct',
    ])
      expect(bucketNameProblem(good)).toBeUndefined();
    for (const bad of [
      'ab',
      'a'.repeat(64),
      'My-Bucket',
      'under_score',
      '-start',
      'end-',
      'two..dots',
      'dot.-hyphen',
      '192.168.5.4',
      'xn--punycode',
      'sthree-x',
      'amzn-s3-demo-x',
      'x-s3alias',
      'x--ol-s3',
      'x.mrap',
      'x--x-s3',
      'x--table-s3',
    ]) {
      expect(bucketNameProblem(bad), bad).toBeDefined();
    }
  });

  it('masks access key ids', () => {
    expect(maskKeyId('AKIAIOSFODNN7EXAMPLE')).toBe('AKIA…MPLE');
    expect(maskKeyId('S3RVER')).toBe('S3****');
  });

  it('URL-encodes copy sources per path segment, with the version', () => {
    expect(copySource('b', 'dir/my file+ü.txt', undefined)).toBe('b/dir/my%20file%2B%C3%BC.txt');
    expect(copySource('b', 'k', 'v1+x')).toBe('b/k?versionId=v1%2Bx');
  });

  it('seals credentials with AES-256-GCM, bound to their record', () => {
    const box = new SecretBox(Buffer.alloc(32, 1));
    const sealed = box.seal('{"secretAccessKey":"wJalr"}', 'bucket:t1:uploads');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('wJalr');
    expect(box.seal('same', 'c')).not.toBe(box.seal('same', 'c')); // fresh IV each time
    expect(box.open(sealed, 'bucket:t1:uploads')).toBe('{"secretAccessKey":"wJalr"}');
    expect(() => box.open(sealed, 'bucket:t2:uploads')).toThrow(/cannot be opened/);
    expect(() => new SecretBox(Buffer.alloc(32, 2)).open(sealed, 'bucket:t1:uploads')).toThrow(
      /cannot be opened/,
    );
    const [v, iv, tag, ct = ''] = sealed.split('.');
    const flipped = `${v}.${iv}.${tag}.${ct.startsWith('A') ? `B${ct.slice(1)}` : `A${ct.slice(1)}`}`;
    expect(() => box.open(flipped, 'bucket:t1:uploads')).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { decodeEventKey, parseEventMessage, type ParsedItem } from '../../s3/events.js';
import { encodeEventKey } from '../support/s3.js';

const s3Record = (
  key: string,
  extra: Record<string, unknown> = {},
  eventName = 'ObjectCreated:Put',
) => ({
  eventVersion: '2.1',
  eventSource: 'aws:s3',
  awsRegion: 'us-east-1',
  eventTime: '2026-01-02T03:04:05.678Z',
  eventName,
  s3: {
    s3SchemaVersion: '1.0',
    bucket: { name: 'uploads', arn: 'arn:aws:s3:::uploads' },
    object: {
      key,
      size: 12,
      eTag: 'd41d8cd98f00b204e9800998ecf8427e',
      sequencer: '0A1B',
      ...extra,
    },
  },
});

const objects = (items: ParsedItem[]) =>
  items.flatMap((item) => (item.kind === 'object' ? [item.event] : []));

describe('S3 event messages', () => {
  it('decodes keys the way S3 encodes them: + is a space, %xx UTF-8, slashes kept', () => {
    expect(decodeEventKey('red+flower.jpg')).toBe('red flower.jpg');
    expect(decodeEventKey('a%2Bb+c%25d')).toBe('a+b c%d');
    expect(decodeEventKey('dir/sub/%C3%BC%E6%96%87.txt')).toBe('dir/sub/ü文.txt');
    expect(decodeEventKey('test%2F10%3A47%3A07.log')).toBe('test/10:47:07.log');
    // Not valid percent-encoding (a store that does not encode): taken as it is.
    expect(decodeEventKey('100%.txt')).toBe('100%.txt');
    for (const key of [
      'with space.txt',
      'plus+sign',
      '100% sure',
      'ünïcödé/文件 ☃.txt',
      'a/b/c/(1)&=;:@$,?#[].bin',
    ]) {
      expect(decodeEventKey(encodeEventKey(key))).toBe(key);
    }
  });

  it('reads a direct S3 notification, with version id, ETag and size', () => {
    const parsed = parseEventMessage(
      JSON.stringify({
        Records: [s3Record('my+file.txt', { versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY' })],
      }),
    );
    expect(parsed).toEqual({
      ok: true,
      shape: 'S3 notification',
      items: [
        {
          kind: 'object',
          event: {
            bucket: 'uploads',
            key: 'my file.txt',
            versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
            eTag: 'd41d8cd98f00b204e9800998ecf8427e',
            size: 12,
            eventName: 'ObjectCreated:Put',
            eventTime: '2026-01-02T03:04:05.678Z',
          },
        },
      ],
    });
  });

  it('takes several records, and the s3: prefix some S3-compatible stores put on event names', () => {
    const parsed = parseEventMessage({
      EventName: 's3:ObjectCreated:Put',
      Key: 'uploads/a.txt',
      Records: [
        s3Record('a.txt', {}, 's3:ObjectCreated:Put'),
        s3Record('b.txt', {}, 'ObjectCreated:CompleteMultipartUpload'),
      ],
    });
    expect(parsed.ok && objects(parsed.items).map((e) => [e.key, e.eventName])).toEqual([
      ['a.txt', 'ObjectCreated:Put'],
      ['b.txt', 'ObjectCreated:CompleteMultipartUpload'],
    ]);
  });

  it('treats version "null" as no version', () => {
    const parsed = parseEventMessage({ Records: [s3Record('x', { versionId: 'null' })] });
    expect(parsed.ok && objects(parsed.items)[0]?.versionId).toBeUndefined();
  });

  it('unwraps an SNS envelope (and an EventBridge event inside one)', () => {
    const notification = { Records: [s3Record('in+sns.txt')] };
    const envelope = {
      Type: 'Notification',
      MessageId: 'm',
      TopicArn: 'arn:aws:sns:us-east-1:1:t',
      Subject: 'Amazon S3 Notification',
      Message: JSON.stringify(notification),
    };
    const parsed = parseEventMessage(JSON.stringify(envelope));
    expect(parsed.ok && parsed.shape).toBe('SNS envelope');
    expect(parsed.ok && objects(parsed.items)[0]?.key).toBe('in sns.txt');

    const eventBridge = {
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: 'b' }, object: { key: 'eb+key', size: 3 } },
    };
    const wrapped = parseEventMessage({
      Type: 'Notification',
      Message: JSON.stringify(eventBridge),
    });
    expect(wrapped.ok && objects(wrapped.items)[0]?.key).toBe('eb key');
  });

  it('reads an EventBridge "Object Created" event with version-id and etag', () => {
    const event = {
      version: '0',
      id: '17793124-05d4-b198-2fde-7ededc63b103',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: '111122223333',
      time: '2021-11-12T00:00:00Z',
      region: 'ca-central-1',
      resources: ['arn:aws:s3:::example-bucket'],
      detail: {
        version: '0',
        bucket: { name: 'example-bucket' },
        object: {
          key: 'dir/example+key',
          size: 5,
          etag: 'b1946ac92492d2347c6235b4d2611184',
          'version-id': 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
          sequencer: '617f08299329d189',
        },
        'request-id': 'N4N7GDK58NMKJ12R',
        requester: '123456789012',
        reason: 'PutObject',
      },
    };
    expect(parseEventMessage(JSON.stringify(event))).toEqual({
      ok: true,
      shape: 'EventBridge event',
      items: [
        {
          kind: 'object',
          event: {
            bucket: 'example-bucket',
            key: 'dir/example key',
            versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
            eTag: 'b1946ac92492d2347c6235b4d2611184',
            size: 5,
            eventName: 'Object Created',
            eventTime: '2021-11-12T00:00:00Z',
          },
        },
      ],
    });
  });

  it('skips test events, folder markers and every event that is not an object creation', () => {
    const testEvent = parseEventMessage({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: 't',
      Bucket: 'uploads',
      RequestId: 'r',
      HostId: 'h',
    });
    expect(testEvent).toEqual({
      ok: true,
      shape: 'S3 test event',
      items: [{ kind: 'skipped', reason: 's3:TestEvent', bucket: 'uploads' }],
    });
    const inSns = parseEventMessage({
      Type: 'Notification',
      Message: JSON.stringify({ Event: 's3:TestEvent' }),
    });
    expect(inSns.ok && inSns.shape).toBe('S3 test event');

    const folder = parseEventMessage({ Records: [s3Record('photos/2026/', { size: 0 })] });
    expect(folder.ok && folder.items[0]).toMatchObject({
      kind: 'skipped',
      reason: expect.stringMatching(/folder marker/) as string,
    });
    // A key ending in "/" that has content is scanned.
    const notEmpty = parseEventMessage({ Records: [s3Record('odd/', { size: 10 })] });
    expect(notEmpty.ok && notEmpty.items[0]?.kind).toBe('object');

    for (const name of [
      'ObjectRemoved:Delete',
      'ObjectRestore:Completed',
      'ObjectTagging:Put',
      's3:ObjectRemoved:DeleteMarkerCreated',
    ]) {
      const parsed = parseEventMessage({ Records: [s3Record('k', {}, name)] });
      expect(parsed.ok && parsed.items[0]).toMatchObject({
        kind: 'skipped',
        reason: expect.stringMatching(/are not scanned/) as string,
      });
    }
    const deleted = parseEventMessage({
      source: 'aws.s3',
      'detail-type': 'Object Deleted',
      detail: { bucket: { name: 'b' }, object: { key: 'k' } },
    });
    expect(deleted.ok && deleted.items[0]?.kind).toBe('skipped');
    const confirm = parseEventMessage({
      Type: 'SubscriptionConfirmation',
      SubscribeURL: 'https://example.com',
    });
    expect(confirm.ok && confirm.items[0]?.kind).toBe('skipped');
  });

  it('refuses what is not an S3 notification, naming the problem', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['not json', /not JSON/],
      ['[1,2]', /not a JSON object/],
      [{ hello: 'world' }, /not an S3 event notification/],
      [{ Records: [] }, /no records/],
      [
        { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' } } }] },
        /record 0: no s3.bucket.name or s3.object.key/,
      ],
      [{ Records: [{ s3: {} }] }, /record 0: no eventName/],
      [{ Type: 'Notification', Message: 'nope' }, /SNS envelope: the message is not JSON/],
      [
        { source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: {} } },
        /EventBridge event: no detail.bucket.name/,
      ],
    ];
    for (const [input, pattern] of cases) {
      const parsed = parseEventMessage(typeof input === 'string' ? input : JSON.stringify(input));
      expect(parsed.ok).toBe(false);
      expect(!parsed.ok && parsed.error).toMatch(pattern);
    }
  });
});

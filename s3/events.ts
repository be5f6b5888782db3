/**
 * S3 "object created" notifications, in every shape they reach Arbiter:
 *
 * - direct S3 event notifications: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{…}}]}`
 *   (S3-compatible stores send the same, sometimes with an `s3:` prefix on the event name);
 * - through SNS: the envelope `{"Type":"Notification","Message":"<the notification as a JSON
 *   string>"}`, or with raw message delivery the notification itself;
 * - EventBridge: `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name"},
 *   "object":{"key","size","etag","version-id"}}}` (directly, or inside an SNS envelope);
 * - `s3:TestEvent` messages S3 sends when notifications are configured.
 *
 * Object keys arrive URL-encoded the way HTML forms are (`+` is a space, `%xx` UTF-8 bytes) and
 * are decoded here. Test events, folder markers (a key ending in `/` with size 0) and every event
 * other than object creation are returned as skipped, with the reason.
 */

export interface ObjectEvent {
  bucket: string;
  key: string;
  versionId?: string;
  eTag?: string;
  size?: number;
  /** `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, `Object Created` … */
  eventName: string;
  eventTime?: string;
}

export type EventShape =
  | 'S3 notification'
  | 'SNS envelope'
  | 'EventBridge event'
  | 'S3 test event'
  | 'SNS control message';

export type ParsedItem =
  | { kind: 'object'; event: ObjectEvent }
  | { kind: 'skipped'; reason: string; bucket?: string; key?: string };

export type ParsedMessage =
  { ok: true; shape: EventShape; items: ParsedItem[] } | { ok: false; error: string };

/** `red+flower%C3%A9.jpg` → `red flowerè.jpg`; a key that is not valid encoding is taken as it is. */
export function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

const size = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** S3 writes `"null"` for objects without a version (unversioned or suspended buckets). */
const version = (value: unknown): string | undefined => {
  const v = text(value);
  return v === undefined || v === 'null' ? undefined : v;
};

const MAX_DEPTH = 3;

export function parseEventMessage(body: unknown, depth = 0): ParsedMessage {
  let message = body;
  if (typeof message === 'string' || Buffer.isBuffer(message)) {
    try {
      message = JSON.parse(String(message)) as unknown;
    } catch {
      return { ok: false, error: 'the message is not JSON' };
    }
  }
  if (!isRecord(message)) return { ok: false, error: 'the message is not a JSON object' };

  // SNS: the envelope carries the S3 (or EventBridge) message as a JSON string.
  if (message.Type === 'Notification' && typeof message.Message === 'string') {
    if (depth >= MAX_DEPTH) return { ok: false, error: 'envelopes nested too deeply' };
    const inner = parseEventMessage(message.Message, depth + 1);
    if (!inner.ok) return { ok: false, error: `SNS envelope: ${inner.error}` };
    return {
      ok: true,
      shape: inner.shape === 'S3 test event' ? inner.shape : 'SNS envelope',
      items: inner.items,
    };
  }
  if (message.Type === 'SubscriptionConfirmation' || message.Type === 'UnsubscribeConfirmation') {
    return {
      ok: true,
      shape: 'SNS control message',
      items: [
        {
          kind: 'skipped',
          reason: `SNS ${String(message.Type)} (subscribe the queue with the SQS protocol, not HTTP)`,
        },
      ],
    };
  }

  if (message.Event === 's3:TestEvent') {
    return {
      ok: true,
      shape: 'S3 test event',
      items: [{ kind: 'skipped', reason: 's3:TestEvent', bucket: text(message.Bucket) }],
    };
  }

  if (Array.isArray(message.Records)) {
    if (message.Records.length === 0)
      return { ok: false, error: 'the notification has no records' };
    const items: ParsedItem[] = [];
    for (const [index, record] of message.Records.entries()) {
      const item = parseRecord(record);
      if ('error' in item) return { ok: false, error: `record ${index}: ${item.error}` };
      items.push(item);
    }
    return { ok: true, shape: 'S3 notification', items };
  }

  if (message.source === 'aws.s3' && typeof message['detail-type'] === 'string') {
    const item = parseEventBridge(message['detail-type'], message.detail, text(message.time));
    if ('error' in item) return { ok: false, error: `EventBridge event: ${item.error}` };
    return { ok: true, shape: 'EventBridge event', items: [item] };
  }

  return { ok: false, error: 'not an S3 event notification, SNS envelope or EventBridge event' };
}

function parseRecord(record: unknown): ParsedItem | { error: string } {
  if (!isRecord(record)) return { error: 'not an object' };
  const rawName = text(record.eventName);
  if (!rawName) return { error: 'no eventName' };
  const eventName = rawName.replace(/^s3:/, '');
  const s3 = isRecord(record.s3) ? record.s3 : undefined;
  const bucket = s3 && isRecord(s3.bucket) ? text(s3.bucket.name) : undefined;
  const object = s3 && isRecord(s3.object) ? s3.object : undefined;
  const rawKey = object ? text(object.key) : undefined;
  if (!bucket || !object || rawKey === undefined)
    return { error: 'no s3.bucket.name or s3.object.key' };
  const key = decodeEventKey(rawKey);
  const event: ObjectEvent = { bucket, key, eventName };
  const eventTime = text(record.eventTime);
  if (eventTime) event.eventTime = eventTime;
  return objectItem(
    event,
    version(object.versionId),
    text(object.eTag),
    size(object.size),
    eventName.startsWith('ObjectCreated:'),
  );
}

function parseEventBridge(
  detailType: string,
  detail: unknown,
  time: string | undefined,
): ParsedItem | { error: string } {
  if (!isRecord(detail)) return { error: 'no detail' };
  const bucket = isRecord(detail.bucket) ? text(detail.bucket.name) : undefined;
  const object = isRecord(detail.object) ? detail.object : undefined;
  const rawKey = object ? text(object.key) : undefined;
  if (!bucket || !object || rawKey === undefined)
    return { error: 'no detail.bucket.name or detail.object.key' };
  const event: ObjectEvent = { bucket, key: decodeEventKey(rawKey), eventName: detailType };
  if (time) event.eventTime = time;
  return objectItem(
    event,
    version(object['version-id']),
    text(object.etag),
    size(object.size),
    detailType === 'Object Created',
  );
}

function objectItem(
  event: ObjectEvent,
  versionId: string | undefined,
  eTag: string | undefined,
  bytes: number | undefined,
  created: boolean,
): ParsedItem {
  if (versionId) event.versionId = versionId;
  if (eTag) event.eTag = eTag.replace(/^"|"$/g, '');
  if (bytes !== undefined) event.size = bytes;
  if (!created)
    return {
      kind: 'skipped',
      reason: `${event.eventName} events are not scanned`,
      bucket: event.bucket,
      key: event.key,
    };
  if (event.key.endsWith('/') && event.size === 0) {
    return {
      kind: 'skipped',
      reason: 'folder marker (key ending in "/" with no content)',
      bucket: event.bucket,
      key: event.key,
    };
  }
  if (event.key === '')
    return { kind: 'skipped', reason: 'empty object key', bucket: event.bucket };
  return { kind: 'object', event };
}

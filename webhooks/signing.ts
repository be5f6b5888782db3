import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): a delivery carries
 *
 *   webhook-id:         an id that stays the same across every attempt of the same message
 *   webhook-timestamp:  the attempt's time, in whole seconds since the epoch
 *   webhook-signature:  `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one entry per
 *                       valid secret, separated by spaces (two during a secret rotation)
 *
 * The key is the base64-decoded part of a `whsec_…` secret. This module depends on node:crypto
 * only, so the receiver kit (receiver.ts) can share it with the sender.
 */

export const SECRET_PREFIX = 'whsec_';

export class InvalidSigningSecret extends Error {
  override name = 'InvalidSigningSecret';
}

/** `whsec_<base64>` (or bare base64, as the standardwebhooks libraries also accept) → key bytes. */
export function decodeSigningSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  // Buffer.from(…, 'base64') skips characters outside the alphabet; refuse them instead, so a
  // pasted secret with a stray character fails loudly rather than signing with another key.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new InvalidSigningSecret('a signing secret is "whsec_" followed by base64');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new InvalidSigningSecret('the signing secret is empty');
  return key;
}

/** The base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` (without the `v1,` prefix). */
export function computeSignature(
  key: Buffer,
  id: string,
  timestamp: number,
  body: string | Buffer,
): string {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(body);
  return hmac.digest('base64');
}

/** The `webhook-signature` value: one `v1,<signature>` entry per key, separated by spaces. */
export function signatureHeader(
  keys: readonly Buffer[],
  id: string,
  timestamp: number,
  body: string | Buffer,
): string {
  return keys.map((key) => `v1,${computeSignature(key, id, timestamp, body)}`).join(' ');
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The three Standard Webhooks headers for one attempt. `secrets` are `whsec_…` strings, the
 * current one first; `timestamp` is in seconds (defaults to now).
 */
export function signWebhook(options: {
  id: string;
  body: string | Buffer;
  secrets: readonly string[];
  timestamp?: number;
}): WebhookHeaders {
  if (options.secrets.length === 0)
    throw new InvalidSigningSecret('no signing secret to sign with');
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const keys = options.secrets.map(decodeSigningSecret);
  return {
    'webhook-id': options.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(keys, options.id, timestamp, options.body),
  };
}

/**
 * The webhook id of a scan's result: the same for every attempt and every redelivery of it. A
 * rescan that changed the verdict sends another result, so it has its own id (`msg_{scan}_{rescan}`):
 * a receiver de-duplicating by webhook id still takes it.
 */
export const webhookIdFor = (scanId: string, rescanId?: string): string =>
  rescanId ? `msg_${scanId}_${rescanId}` : `msg_${scanId}`;

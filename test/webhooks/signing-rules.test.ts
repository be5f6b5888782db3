import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  decodeSigningSecret,
  InvalidSigningSecret,
  SECRET_PREFIX,
  signWebhook,
  webhookIdFor,
} from '../../webhooks/signing.js';

/**
 * The signing rules themselves, without a service: which secrets are refused (and how), what a
 * signature covers, and the ids that let a receiver de-duplicate. test/webhooks/signing.test.ts
 * checks the same headers on real deliveries.
 */
describe('webhook signing rules', () => {
  const key = Buffer.from('a key of thirty-two bytes, exact', 'latin1');
  const secret = `whsec_${key.toString('base64')}`;

  it('reads whsec_ secrets and bare base64 alike, padded or not', () => {
    expect(SECRET_PREFIX).toBe('whsec_');
    expect(decodeSigningSecret(secret)).toEqual(key);
    expect(decodeSigningSecret(key.toString('base64'))).toEqual(key);
    const twoBytes = Buffer.from([0xfb, 0xff]);
    expect(decodeSigningSecret(`whsec_${twoBytes.toString('base64')}`)).toEqual(twoBytes);
    expect(twoBytes.toString('base64')).toBe('+/8=');
    expect(decodeSigningSecret('whsec_QQ==')).toEqual(Buffer.from('A'));
  });

  it('refuses, by name, a secret with a stray character anywhere, too much padding, or no key', () => {
    const refused = (value: string) => {
      try {
        decodeSigningSecret(value);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidSigningSecret);
        return { name: (error as Error).name, message: (error as Error).message };
      }
      return undefined;
    };
    const notBase64 = {
      name: 'InvalidSigningSecret',
      message: 'a signing secret is "whsec_" followed by base64',
    };
    for (const value of [
      `${secret}!`,
      `whsec_!${key.toString('base64')}`,
      'whsec_QQ===',
      'whsec_',
      '',
    ]) {
      expect(refused(value), value).toEqual(notBase64);
    }
    // Valid base64 that decodes to nothing.
    expect(refused('whsec_=')).toEqual(notBase64);
    expect(refused('whsec_A')).toEqual({
      name: 'InvalidSigningSecret',
      message: 'the signing secret is empty',
    });
  });

  it('signs with every secret given, current first, verifiable by the standard library', () => {
    const other = `whsec_${Buffer.from('another key, also 32 bytes long!').toString('base64')}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"a":1}';
    const headers = signWebhook({ id: 'msg_1', body, secrets: [secret, other], timestamp });
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toBe(String(timestamp));
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const each of [secret, other]) {
      const verify = () => new Webhook(each).verify(body, headers);
      expect(verify()).toEqual({ a: 1 });
    }
    // The signature covers the body and the time: either changed, it no longer verifies.
    const forged = { ...headers, 'webhook-timestamp': String(timestamp - 1) };
    expect(() =>
      new Webhook(secret).verify(body, forged as unknown as Record<string, string>),
    ).toThrow();
    expect(() =>
      new Webhook(secret).verify('{"a":2}', headers as unknown as Record<string, string>),
    ).toThrow();
  });

  it('stamps the current time in whole seconds when none is given', () => {
    const before = Math.floor(Date.now() / 1000);
    const headers = signWebhook({ id: 'msg_2', body: '{}', secrets: [secret] });
    const after = Math.floor(Date.now() / 1000);
    const stamped = Number(headers['webhook-timestamp']);
    expect(stamped).toBeGreaterThanOrEqual(before);
    expect(stamped).toBeLessThanOrEqual(after);
    // The standard library verifies it as recent.
    expect(new Webhook(secret).verify('{}', headers as unknown as Record<string, string>)).toEqual(
      {},
    );
  });

  it('refuses to sign without a secret', () => {
    expect(() => signWebhook({ id: 'msg_3', body: 'x', secrets: [] })).toThrow(
      new InvalidSigningSecret('no signing secret to sign with'),
    );
  });

  it('gives a result one id for all its attempts, and a rescan result its own', () => {
    expect(webhookIdFor('abc')).toBe('msg_abc');
    expect(webhookIdFor('abc', 'r1')).toBe('msg_abc_r1');
    expect(webhookIdFor('abc', 'r1')).not.toBe(webhookIdFor('abc', 'r2'));
  });
});

import { describe, expect, it } from 'vitest';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { judgeUrl, MAX_URL_LENGTH, requireAllowedUrl } from '../../core/url-policy.js';

/** The one rule every tenant-supplied URL follows at submit time, judged from the text alone. */
describe('tenant URL policy', () => {
  const none = createNetworkPolicy([]);

  it('refuses what no tenant URL may be, saying why', () => {
    const cases: Array<[string, string]> = [
      ['not a url', '"not a url" is not a valid URL'],
      ['ftp://files.example.com/a', 'only http and https URLs are accepted (got ftp)'],
      [
        'https://user:pw@files.example.com/a',
        'URLs with embedded credentials (user:password@) are not accepted',
      ],
      ['http://unix:/run/docker.sock:/info', '"unix" URLs name a local socket, not a host'],
      [
        `https://files.example.com/${'a'.repeat(MAX_URL_LENGTH)}`,
        `the URL is longer than ${MAX_URL_LENGTH} characters`,
      ],
      ['http://10.0.0.1/', '10.0.0.1 is a private address (not in ARBITER_ALLOWED_NETWORKS)'],
      [
        'http://[::ffff:127.0.0.1]/',
        '::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
      ],
    ];
    for (const [raw, reason] of cases) {
      expect(judgeUrl(raw, none), raw).toEqual({ allowed: false, reason });
    }
    expect(() => requireAllowedUrl('callback', 'http://10.0.0.1/', none)).toThrow(
      'The callback was refused: 10.0.0.1 is a private address (not in ARBITER_ALLOWED_NETWORKS)',
    );
  });

  it('leaves host names to the connect-time guard, and follows the allowed networks', () => {
    expect(judgeUrl('https://hooks.example.com/a', none)).toMatchObject({ allowed: true });
    const loopback = createNetworkPolicy(['127.0.0.0/8']);
    expect(judgeUrl('http://127.0.0.1:9000/', loopback)).toMatchObject({ allowed: true });
    expect(judgeUrl('http://[::ffff:127.0.0.1]/', loopback)).toMatchObject({ allowed: true });
    expect(requireAllowedUrl('endpoint', 'http://127.0.0.1:9000', loopback).port).toBe('9000');
  });
});

import { describe, expect, it } from 'vitest';
import { sanitize } from '../../core/error-log.js';

/** What an error entry keeps of a message: no URL paths or queries, no control characters. */
describe('error log messages', () => {
  it('cuts URLs to their origin, since a query may be a credential', () => {
    expect(
      sanitize('could not download https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc (403)'),
    ).toBe('could not download https://bucket.s3.amazonaws.com/… (403)');
  });

  it('removes control characters and bounds the length', () => {
    expect(sanitize('a\nb\u0000c')).toBe('a b c');
    const long = sanitize('x'.repeat(10_000));
    expect(long).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import {
  findingCategory,
  hourStamp,
  latencyBucket,
  latencyOfBucket,
  resultStatFields,
} from '../../scans/stats.js';
import type { ScanResult } from '../../scans/results.js';

/** The hourly counters' pure parts: finding categories, the latency histogram, hour keys. */
describe('activity statistics', () => {
  it('puts each finding name in its category by its real prefix', () => {
    expect(findingCategory('content.malicious.eicar-test-signature')).toBe('malware');
    expect(findingCategory('content.image.nsfw.nudity')).toBe('unsafe_image');
    expect(findingCategory('content.en.language.nsfw.3')).toBe('unsafe_language');
    expect(findingCategory('content.sensitive.credit_card')).toBe('sensitive_data');
    expect(findingCategory('content.custom.my_rule')).toBe('custom');
    expect(findingCategory('content.unscannable.encrypted')).toBe('unscannable');
    expect(findingCategory('content.unscannable.image.corrupt')).toBe('unscannable');
    expect(findingCategory('content.unscannable.language.too-long')).toBe('unscannable');
    expect(findingCategory('content.acme.special')).toBe('other');
  });

  it('reports a latency within ±9% of the true value', () => {
    for (const ms of [2, 3, 10, 57, 120, 999, 4_321, 65_000, 3_600_000, 86_400_000]) {
      const reported = latencyOfBucket(latencyBucket(ms));
      expect(Math.abs(reported - ms) / ms, `${ms} ms → ${reported}`).toBeLessThanOrEqual(0.1);
    }
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(1e15)).toBe(140);
  });

  it('counts a result once per category, and its error', () => {
    const result: ScanResult = {
      id: 'x',
      checksum: null,
      content_length: 1,
      findings: ['content.malicious.a', 'content.malicious.b', 'content.image.nsfw.nudity'],
      creation_date: new Date().toISOString(),
      content_type: null,
      metadata: {},
    };
    expect(resultStatFields(result, 100).sort()).toEqual(
      ['completed', 'with_findings', 'cat:malware', 'cat:unsafe_image', 'lat:27'].sort(),
    );
    expect(resultStatFields({ ...result, findings: [], error: 'boom' }, 1)).toEqual([
      'completed',
      'lat:0',
      'errors',
    ]);
  });

  it('names hours in UTC', () => {
    expect(hourStamp(Date.UTC(2026, 0, 2, 3, 59, 59))).toBe('2026010203');
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseByteSize } from '../../core/config.js';

describe('configuration from the environment', () => {
  it('starts on documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      redisUrl: undefined,
      engines: ['builtin'],
      maxFileSize: 200 * 1024 ** 2,
      maxFetchSize: 2 * 1024 ** 3,
      resultTtlSeconds: 30 * 24 * 3600,
      trustProxy: false,
    });
    expect(config.hostId).toMatch(/^[0-9a-f]{8}$/);
  });

  it('reads sizes with units and treats empty values as unset', () => {
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('512KB')).toBe(512 * 1024);
    expect(parseByteSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('12 parsecs')).toBeUndefined();
    expect(parseByteSize('-5MB')).toBeUndefined();
    expect(loadConfig({ ARBITER_MAX_FILE_SIZE: '1KB', REDIS_URL: '' })).toMatchObject({ maxFileSize: 1024, redisUrl: undefined });
  });

  it('names every bad value in one error, with what would be valid', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        REDIS_URL: 'http://example.invalid',
        ARBITER_ENGINES: 'builtin,mcafee',
        ARBITER_MAX_FILE_SIZE: 'huge',
        ARBITER_ADMIN_TOKEN: 'short',
        ARBITER_TRUST_PROXY: 'perhaps',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/^PORT: /m);
    expect(problems).toMatch(/^REDIS_URL: must be a redis:\/\/, rediss:\/\/ or unix:\/\/ URL/m);
    expect(problems).toMatch(/^ARBITER_ENGINES: must list engines among "builtin", "clamd" \(got "builtin,mcafee"\)/m);
    expect(problems).toMatch(/^ARBITER_MAX_FILE_SIZE: "huge" is not a size/m);
    expect(problems).toMatch(/^ARBITER_ADMIN_TOKEN: must be at least 16 characters/m);
    expect(problems).toMatch(/^ARBITER_TRUST_PROXY: /m);
  });
});

import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, clamavDatabaseDir, loadConfig, parseByteSize } from '../../core/config.js';
import { scanJobOptions } from '../../core/queues.js';
import { redisTarget } from '../../core/redis.js';

describe('configuration from the environment', () => {
  it('starts on documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      redis: { url: undefined, sentinel: undefined },
      engines: ['builtin'],
      maxFileSize: 200 * 1024 ** 2,
      maxFetchSize: 2 * 1024 ** 3,
      resultTtlSeconds: 30 * 24 * 3600,
      trustProxy: false,
    });
    expect(config.hostId).toMatch(/^[0-9a-f]{8}$/);
  });

  it('stages async uploads in the spool unless ARBITER_UPLOAD_STORE names a bucket', () => {
    expect(loadConfig({}).uploadStore).toEqual({ kind: 'local' });
    expect(
      loadConfig({
        ARBITER_UPLOAD_STORE: 's3://arbiter-uploads/staging/area/',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      }).uploadStore,
    ).toEqual({
      kind: 's3',
      location: { bucket: 'arbiter-uploads', prefix: 'staging/area/' },
      endpoint: 'http://127.0.0.1:9000',
      redisMaxBytes: 64 * 1024,
    });
    expect(
      loadConfig({ ARBITER_UPLOAD_STORE: 's3://uploads', ARBITER_UPLOAD_STORE_REDIS_MAX: '0' })
        .uploadStore,
    ).toMatchObject({ location: { bucket: 'uploads', prefix: '' }, redisMaxBytes: 0 });
    expect(() => loadConfig({ ARBITER_UPLOAD_STORE: '/srv/uploads' })).toThrow(
      /ARBITER_UPLOAD_STORE/,
    );
  });

  it('tries a private clamd only when neither ARBITER_ENGINES nor CLAMD_ADDRESS is set', () => {
    const unset = loadConfig({ ARBITER_DATA_DIR: '/srv/arbiter' });
    expect(unset.engines).toEqual(['builtin']); // clamd is added at start-up if it runs
    expect(unset.clamd.embedded).toEqual({ binary: undefined, startTimeoutMs: 300_000 });
    expect(clamavDatabaseDir(unset)).toBe('/srv/arbiter/clamav');
    expect(
      loadConfig({ ARBITER_CLAMD_BINARY: '/opt/clamav/sbin/clamd' }).clamd.embedded?.binary,
    ).toBe('/opt/clamav/sbin/clamd');
    // An external clamd: both engines on it, no child.
    const external = loadConfig({ CLAMD_ADDRESS: 'unix:///run/clamav/clamd.sock' });
    expect(external.engines).toEqual(['builtin', 'clamd']);
    expect(external.clamd).toMatchObject({
      address: 'unix:///run/clamav/clamd.sock',
      embedded: undefined,
    });
    // Engines named: exactly those; clamd without an address is the local clamd's port.
    expect(loadConfig({ ARBITER_ENGINES: 'builtin' }).clamd.embedded).toBeUndefined();
    const listed = loadConfig({ ARBITER_ENGINES: 'builtin,clamd' });
    expect(listed.clamd).toMatchObject({ address: 'tcp://127.0.0.1:3310', embedded: undefined });
  });

  it('runs `serve` on every core unless ARBITER_PROCESSES says otherwise', () => {
    expect(loadConfig({}).processes).toBe(availableParallelism());
    expect(loadConfig({ ARBITER_PROCESSES: '1' }).processes).toBe(1);
    expect(loadConfig({ ARBITER_PROCESSES: '3' }).processes).toBe(3);
    expect(() => loadConfig({ ARBITER_PROCESSES: '0' })).toThrow(/ARBITER_PROCESSES/);
  });

  it('schedules ClamAV database updates every ARBITER_SIGNATURES_UPDATE_INTERVAL seconds', () => {
    expect(loadConfig({}).clamav.updateIntervalMs).toBe(3_600_000);
    const every = (seconds: string) =>
      loadConfig({ ARBITER_SIGNATURES_UPDATE_INTERVAL: seconds }).clamav.updateIntervalMs;
    expect(every('900')).toBe(900_000);
    expect(every('0')).toBe(0);
    expect(() => every('-1')).toThrow(/ARBITER_SIGNATURES_UPDATE_INTERVAL/);
    expect(() => every('30m')).toThrow(/ARBITER_SIGNATURES_UPDATE_INTERVAL/);
    // Its earlier name in milliseconds is refused with the new one, never silently ignored.
    let error: unknown;
    try {
      loadConfig({ ARBITER_SIGNATURES_UPDATE_INTERVAL_MS: '60000', ARBITER_PROCESSES: '0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'ARBITER_SIGNATURES_UPDATE_INTERVAL_MS: renamed; set ARBITER_SIGNATURES_UPDATE_INTERVAL, in seconds',
      expect.stringMatching(/^ARBITER_PROCESSES: /),
    ]);
  });

  it('sets the scan retry schedule of the scan jobs', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ scanAttempts: 5, scanRetryBaseMs: 2000 });
    expect(scanJobOptions(defaults)).toMatchObject({
      attempts: 5,
      backoff: { type: 'exponential', delay: 2000 },
    });
    const quick = loadConfig({ ARBITER_SCAN_ATTEMPTS: '2', ARBITER_SCAN_RETRY_BASE_MS: '100' });
    expect(scanJobOptions(quick)).toMatchObject({
      attempts: 2,
      backoff: { type: 'exponential', delay: 100 },
    });
    expect(() => loadConfig({ ARBITER_SCAN_ATTEMPTS: '0' })).toThrow(/ARBITER_SCAN_ATTEMPTS/);
  });

  it('reads the per-tenant rate limit and quota defaults (burst follows the rate, 0 = no limit)', () => {
    expect(loadConfig({}).limits).toEqual({ requestsPerSecond: 50, burst: 50, bytesPerDay: 0 });
    expect(
      loadConfig({ ARBITER_RATE_LIMIT_RPS: '10', ARBITER_QUOTA_BYTES_PER_DAY: '2GB' }).limits,
    ).toEqual({
      requestsPerSecond: 10,
      burst: 10,
      bytesPerDay: 2 * 1024 ** 3,
    });
    expect(
      loadConfig({
        ARBITER_RATE_LIMIT_RPS: '0',
        ARBITER_RATE_LIMIT_BURST: '0',
        ARBITER_QUOTA_BYTES_PER_DAY: '0',
      }).limits,
    ).toEqual({
      requestsPerSecond: 0,
      burst: 0,
      bytesPerDay: 0,
    });
    expect(() => loadConfig({ ARBITER_RATE_LIMIT_RPS: '-1' })).toThrow(/ARBITER_RATE_LIMIT_RPS/);
    expect(() => loadConfig({ ARBITER_QUOTA_BYTES_PER_DAY: 'lots' })).toThrow(
      /ARBITER_QUOTA_BYTES_PER_DAY.*0 for no limit/,
    );
  });

  it('reads sizes with units and treats empty values as unset', () => {
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('512KB')).toBe(512 * 1024);
    expect(parseByteSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('12 parsecs')).toBeUndefined();
    expect(parseByteSize('-5MB')).toBeUndefined();
    expect(loadConfig({ ARBITER_MAX_FILE_SIZE: '1KB', REDIS_URL: '' })).toMatchObject({
      maxFileSize: 1024,
      redis: { url: undefined },
    });
  });

  it('reads where Redis is: one server, or Sentinels with the primary named', () => {
    const sentinel = loadConfig({
      REDIS_SENTINELS: '10.0.0.1:26379, [::1]:26380',
      REDIS_SENTINEL_NAME: 'arbiter',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_USERNAME: 'arbiter',
      REDIS_PASSWORD: 'secret',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: '/etc/redis/ca.pem',
    });
    expect(sentinel.redis).toMatchObject({
      url: undefined,
      sentinel: {
        nodes: [
          { host: '10.0.0.1', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        name: 'arbiter',
        password: 'sentinel-secret',
        tls: false,
      },
      username: 'arbiter',
      password: 'secret',
      tls: true,
      tlsFiles: { ca: '/etc/redis/ca.pem' },
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (error) {
        return (error as ConfigError).problems.join('\n');
      }
    };
    expect(problems({ REDIS_SENTINELS: 'redis-a' })).toMatch(
      /^REDIS_SENTINELS: "redis-a" is not host:port/m,
    );
    expect(problems({ REDIS_SENTINELS: '10.0.0.1:26379' })).toMatch(
      /^REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/m,
    );
    expect(
      problems({
        REDIS_SENTINELS: '10.0.0.1:26379',
        REDIS_SENTINEL_NAME: 'a',
        REDIS_URL: 'redis://r',
      }),
    ).toMatch(
      /^REDIS_SENTINELS: set one of REDIS_URL \(one server\), REDIS_SENTINELS or REDIS_CLUSTER_NODES, not REDIS_URL and REDIS_SENTINELS/m,
    );
    expect(problems({ REDIS_URL: 'redis://r', REDIS_PASSWORD: 'secret' })).toMatch(
      /^REDIS_PASSWORD: only with REDIS_SENTINELS or REDIS_CLUSTER_NODES \(with REDIS_URL, put it in the URL\)/m,
    );
    expect(problems({ REDIS_TLS_CERT_FILE: '/etc/redis/client.pem' })).toMatch(
      /^REDIS_TLS_CERT_FILE: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE together/m,
    );
  });

  it('reads a Cluster: its seed nodes, with the credentials and TLS of every node', () => {
    const cluster = loadConfig({
      REDIS_CLUSTER_NODES: 'redis-1:6379,10.0.0.2:6380, [::1]:6381',
      REDIS_USERNAME: 'arbiter',
      REDIS_PASSWORD: 'secret',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: '/etc/redis/ca.pem',
    });
    expect(cluster.redis).toMatchObject({
      url: undefined,
      sentinel: undefined,
      clusterNodes: [
        { host: 'redis-1', port: 6379 },
        { host: '10.0.0.2', port: 6380 },
        { host: '::1', port: 6381 },
      ],
      username: 'arbiter',
      password: 'secret',
      tls: true,
      tlsFiles: { ca: '/etc/redis/ca.pem' },
    });
    const target = redisTarget(
      loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:6379', REDIS_PASSWORD: 'secret' }).redis,
    );
    expect(target).toMatchObject({
      mode: 'cluster',
      label: 'cluster via redis-1:6379',
      options: { nodes: [{ host: 'redis-1', port: 6379 }], password: 'secret' },
    });

    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (error) {
        return (error as ConfigError).problems.join('\n');
      }
    };
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-1' })).toMatch(
      /^REDIS_CLUSTER_NODES: "redis-1" is not host:port/m,
    );
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-1:6379', REDIS_URL: 'redis://r' })).toMatch(
      /^REDIS_CLUSTER_NODES: set one of REDIS_URL \(one server\), REDIS_SENTINELS or REDIS_CLUSTER_NODES, not REDIS_URL and REDIS_CLUSTER_NODES/m,
    );
    expect(
      problems({
        REDIS_CLUSTER_NODES: 'redis-1:6379',
        REDIS_SENTINELS: 'sentinel-1:26379',
        REDIS_SENTINEL_NAME: 'arbiter',
      }),
    ).toMatch(/^REDIS_CLUSTER_NODES: set one of .*not REDIS_SENTINELS and REDIS_CLUSTER_NODES/m);
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
    expect(problems).toMatch(
      /^ARBITER_ENGINES: must list engines among "builtin", "clamd" \(got "builtin,mcafee"\)/m,
    );
    expect(problems).toMatch(/^ARBITER_MAX_FILE_SIZE: "huge" is not a size/m);
    expect(problems).toMatch(/^ARBITER_ADMIN_TOKEN: must be at least 16 characters/m);
    expect(problems).toMatch(/^ARBITER_TRUST_PROXY: /m);
  });
});

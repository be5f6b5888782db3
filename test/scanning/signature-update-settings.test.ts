import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { clamavDatabaseDir, loadConfig } from '../../core/config.js';
import { parseContainerHeader } from '../../scanning/signatures/cvd.js';
import { freshclamConfig, proxyLines } from '../../scanning/signatures/freshclam.js';
import { jittered } from '../../worker/chores/housekeeping.js';

/** The freshclam config Arbiter writes, and what it reads from a database header. */
describe('freshclam config', () => {
  const lines = (text: string) => text.trim().split('\n');

  it('runs once into the given folder, never as a daemon or notifying clamd', () => {
    const config = lines(freshclamConfig('/data/clamav/.update/db', {}));
    expect(config).toContain('DatabaseDirectory /data/clamav/.update/db');
    expect(config).toContain('Foreground yes');
    expect(config).toContain('UpdateLogFile /dev/null');
    expect(config).toContain('ScriptedUpdates yes');
    expect(config).toContain(
      `DatabaseOwner ${process.getuid?.() === 0 ? 'root' : userInfo().username}`,
    );
    expect(
      config.filter((line) => /^(NotifyClamd|Checks|PrivateMirror|HTTPProxy)/.test(line)),
    ).toEqual([]);
    // Without a private mirror, ClamAV's own: freshclam refuses to run with no server named.
    expect(config).toContain('DatabaseMirror database.clamav.net');
  });

  it('uses a private mirror without DNS, and a proxy with its credentials', () => {
    const config = lines(
      freshclamConfig('/db', {
        mirror: 'http://mirror.internal:8080',
        proxy: 'http://scanner:p%40ss@proxy.internal:3128',
      }),
    );
    expect(config).toEqual(
      expect.arrayContaining([
        'PrivateMirror http://mirror.internal:8080',
        'DNSDatabaseInfo no',
        'HTTPProxyServer http://proxy.internal',
        'HTTPProxyPort 3128',
        'HTTPProxyUsername scanner',
        'HTTPProxyPassword p@ss',
      ]),
    );
    expect(proxyLines('proxy.internal')).toEqual([
      'HTTPProxyServer http://proxy.internal',
      'HTTPProxyPort 80',
    ]);
    expect(() => proxyLines('http://[bad')).toThrow('is not a URL');
  });

  it('takes the folder, mirror, schedule and proxy from the environment', () => {
    const defaults = loadConfig({ ARBITER_DATA_DIR: '/var/lib/arbiter' });
    expect(clamavDatabaseDir(defaults)).toBe('/var/lib/arbiter/clamav');
    expect(defaults.clamav).toEqual({
      databaseDir: '/var/lib/arbiter/clamav',
      mirror: undefined,
      updateIntervalMs: 3_600_000,
      proxy: undefined,
    });
    const set = loadConfig({
      ARBITER_CLAMAV_DATABASE_DIR: '/srv/clamav',
      ARBITER_CLAMAV_MIRROR: 'http://127.0.0.1:8081/',
      ARBITER_SIGNATURES_UPDATE_INTERVAL: '0',
      HTTP_PROXY: 'http://plain:3128',
      HTTPS_PROXY: 'http://secure:3128',
    });
    expect(set.clamav).toEqual({
      databaseDir: '/srv/clamav',
      mirror: 'http://127.0.0.1:8081',
      updateIntervalMs: 0,
      proxy: 'http://secure:3128',
    });
    expect(() => loadConfig({ ARBITER_CLAMAV_MIRROR: 'ftp://mirror' })).toThrow(
      /ARBITER_CLAMAV_MIRROR/,
    );
  });

  it('reads version, signature count and build time from a database header', () => {
    const header =
      'ClamAV-VDB:04 Dec 2026 08-25 +0000:27514:2077120:90:0123456789abcdef0123456789abcdef:sig:builder:1796372743';
    expect(parseContainerHeader(header.padEnd(512, ' '), 'daily.cvd')).toEqual({
      database: 'daily',
      version: 27514,
      signatures: 2077120,
      functionalityLevel: 90,
      builtAt: new Date(1796372743 * 1000),
      md5: '0123456789abcdef0123456789abcdef',
    });
    expect(parseContainerHeader('<html>not found</html>', 'daily.cvd')).toBeUndefined();
  });
});

describe("the workers' update schedule", () => {
  it('spreads each wait by ±10 % so a fleet does not reach the mirror at once', () => {
    const waits = Array.from({ length: 500 }, () => jittered(3_600_000, 0.1));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(3_240_000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(3_960_000);
    expect(new Set(waits).size).toBeGreaterThan(400);
    expect(jittered(1_000, 0)).toBe(1_000);
  });
});

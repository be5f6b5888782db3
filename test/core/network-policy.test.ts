import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../core/config.js';
import { createNetworkPolicy, parseNetworkList } from '../../core/network-policy.js';

/** Pure address classification: no sockets are opened in this file. */

const strict = createNetworkPolicy([]);

const reasonOf = (address: string, policy = strict): string => {
  const verdict = policy.check(address);
  return verdict.allowed ? 'allowed' : verdict.reason;
};

describe('network policy: which addresses a tenant URL may reach', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'], // TEST-NET-1
    ['198.51.100.7', 'reserved'], // TEST-NET-2
    ['203.0.113.9', 'reserved'], // TEST-NET-3
    ['198.18.0.1', 'reserved'], // benchmarking
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['2001:db8::1', 'reserved'], // documentation
    ['2001::1', 'Teredo'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'discard'],
    ['fec0::1', 'site-local'],
    ['4000::1', 'outside global unicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped form of 127.0.0.1, a loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped form of 169.254.169.254, a cloud metadata'],
    ['::ffff:10.1.2.3', 'IPv4-mapped form of 10.1.2.3, a private'],
    ['::ffff:0:a00:1', 'IPv4-translated form of 10.0.0.1'],
    ['::127.0.0.1', 'IPv4-compatible form of 127.0.0.1'],
    ['::a9fe:a9fe', 'IPv4-compatible form of 169.254.169.254'],
    ['::7f00:1', 'IPv4-compatible form of 127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 form of 169.254.169.254'],
    ['64:ff9b::7f00:1', 'NAT64 form of 127.0.0.1'],
    ['2002:7f00:1::', '6to4 form of 127.0.0.1'],
    ['2002:a9fe:a9fe::1', '6to4 form of 169.254.169.254'],
    ['2002:c0a8:101::', '6to4 form of 192.168.1.1'],
    ['64:ff9b:1::1', 'special-purpose (rfc6052)'], // local-use NAT64: not the well-known prefix
  ])('refuses %s (%s)', (address, what) => {
    const reason = reasonOf(address);
    expect(reason).toContain(what);
    expect(reason).toContain('(not in ARBITER_ALLOWED_NETWORKS)');
  });

  it('names the address and what it is, in words an operator can act on', () => {
    expect(reasonOf('10.0.0.5')).toBe(
      '10.0.0.5 is a private address (not in ARBITER_ALLOWED_NETWORKS)',
    );
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('allows the globally routable %s', (address) => {
    expect(strict.check(address)).toEqual({ allowed: true });
  });

  it('refuses what is not an IP address at all', () => {
    for (const input of [
      'localhost',
      '0x7f.1',
      '2130706433',
      '127.1',
      '',
      'fe80::1%',
      '1.2.3.4/8',
    ]) {
      expect(strict.check(input).allowed).toBe(false);
    }
  });

  it('allows listed networks, and IPv4-embedding forms of listed IPv4 addresses', () => {
    const policy = createNetworkPolicy(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8']);
    expect(policy.check('127.0.0.1')).toEqual({ allowed: true });
    expect(policy.check('::ffff:127.0.0.1')).toEqual({ allowed: true });
    expect(policy.check('10.200.3.4')).toEqual({ allowed: true });
    expect(policy.check('fd00:ec2::254')).toEqual({ allowed: true });
    // Outside the listed networks, the default rules apply.
    expect(reasonOf('127.0.0.2', policy)).toContain('loopback');
    expect(reasonOf('::1', policy)).toContain('loopback');
    expect(reasonOf('169.254.169.254', policy)).toContain('cloud metadata');
    expect(reasonOf('fc00::1', policy)).toContain('unique-local');
    expect(policy.allowedNetworks).toEqual(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8']);
  });
});

describe('network policy: how a refusal reads', () => {
  it('names an embedding form with the right article, and :: as unspecified itself', () => {
    expect(reasonOf('64:ff9b::7f00:1')).toBe(
      '64:ff9b::7f00:1 is a NAT64 form of 127.0.0.1, a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(reasonOf('2002:7f00:1::')).toBe(
      '2002:7f00:1:: is a 6to4 form of 127.0.0.1, a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(reasonOf('::')).toBe(':: is an unspecified address (not in ARBITER_ALLOWED_NETWORKS)');
  });

  it('shows a dotted IPv6 address canonically, keeping its zone', () => {
    expect(reasonOf('::ffff:127.0.0.1')).toBe(
      '::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(reasonOf('::ffff:127.0.0.1%eth0')).toBe(
      '::ffff:7f00:1%eth0 is an IPv4-mapped form of 127.0.0.1, a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
  });

  it('names a special-purpose range it has no words for by its name', () => {
    expect(reasonOf('192.31.196.1')).toBe(
      '192.31.196.1 is a special-purpose (as112) address (not in ARBITER_ALLOWED_NETWORKS)',
    );
  });

  it('judges a bracketed address as the address, and quotes what is not one, shortened', () => {
    expect(reasonOf('[::1]')).toBe('::1 is a loopback address (not in ARBITER_ALLOWED_NETWORKS)');
    expect(reasonOf('[::1')).toBe('[::1 is not an IP address');
    expect(reasonOf('::1]')).toBe('::1] is not an IP address');
    expect(reasonOf('a::1]')).toBe('a::1] is not an IP address');
    expect(reasonOf('localhost')).toBe('localhost is not an IP address');
    const exactly64 = 'x'.repeat(64);
    expect(reasonOf(exactly64)).toBe(`${exactly64} is not an IP address`);
    expect(reasonOf('y'.repeat(65))).toBe(`${'y'.repeat(61)}... is not an IP address`);
  });
});

describe('ARBITER_ALLOWED_NETWORKS', () => {
  it('reads comma-separated CIDRs and bare addresses, ignoring blanks and spaces', () => {
    expect(parseNetworkList(' 127.0.0.0/8, ::1/128 ,,10.1.2.3')).toEqual({
      networks: ['127.0.0.0/8', '::1/128', '10.1.2.3/32'],
      problems: [],
    });
    expect(loadConfig({ ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128' }).allowedNetworks).toEqual(
      ['127.0.0.0/8', '::1/128'],
    );
    expect(loadConfig({}).allowedNetworks).toEqual([]);
    expect(loadConfig({ ARBITER_ALLOWED_NETWORKS: '' }).allowedNetworks).toEqual([]);
  });

  it('refuses a prefix that is not one to three digits, and skips blank entries', () => {
    for (const entry of ['10.0.0.0/', '10.0.0.0/+8', '10.0.0.0/8x', '10.0.0.0/ 8']) {
      expect(parseNetworkList(entry).networks, entry).toEqual([]);
    }
    expect(parseNetworkList('10.0.0.0/8, ,\t,')).toEqual({
      networks: ['10.0.0.0/8'],
      problems: [],
    });
    const long = `${'z'.repeat(100)}/8`;
    expect(parseNetworkList(long).problems).toEqual([
      `"${'z'.repeat(64)}" is not a network in CIDR notation (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`,
    ]);
  });

  it('builds a policy from trimmed entries, none by default, and refuses a bad one by name', () => {
    expect(createNetworkPolicy().allowedNetworks).toEqual([]);
    expect(createNetworkPolicy([' 10.0.0.0/8 ']).check('10.1.2.3')).toEqual({ allowed: true });
    expect(() => createNetworkPolicy(['10.0.0.0/8', 'nope'])).toThrow(
      '"nope" is not a network in CIDR notation',
    );
  });

  it('names every bad entry in the configuration error', () => {
    let error: unknown;
    try {
      loadConfig({
        ARBITER_ALLOWED_NETWORKS:
          '10.0.0.0/8,10.0.0.0/33,localhost,0x7f.1/8,fe80::/129,1.2.3.4/8/9',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.filter((p) =>
      p.startsWith('ARBITER_ALLOWED_NETWORKS'),
    );
    expect(problems).toHaveLength(5);
    for (const entry of ['10.0.0.0/33', 'localhost', '0x7f.1/8', 'fe80::/129', '1.2.3.4/8/9']) {
      expect(problems.some((p) => p.includes(`"${entry}" is not a network in CIDR notation`))).toBe(
        true,
      );
    }
  });
});

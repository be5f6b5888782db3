import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses a tenant-supplied URL may reach (docs/architecture.md, "Outbound requests
 * to tenant URLs"). Only globally routable unicast addresses are allowed: loopback, private, link-local (cloud metadata), CGNAT,
 * unique-local, multicast, unspecified, broadcast, reserved and documentation ranges, and the
 * IPv6 forms that embed such an IPv4 address, are refused unless the operator lists the network
 * in `ARBITER_ALLOWED_NETWORKS`.
 *
 * Addresses are parsed and classified by ipaddr.js (its `range()` names), never by regexes.
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Network = [Address, number];

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

export interface NetworkPolicy {
  /** The operator's allowed networks, as CIDRs. */
  readonly allowedNetworks: readonly string[];
  /** Judges one IP address (any spelling ipaddr.js parses); anything that is not an IP is refused. */
  check(address: string): AddressVerdict;
}

/** The environment variable named in refusals, so an operator knows what to change. */
export const ALLOWED_NETWORKS_VARIABLE = 'ARBITER_ALLOWED_NETWORKS';

const CLOUD_METADATA = [ipaddr.parse('169.254.169.254'), ipaddr.parse('fd00:ec2::254')];

const V4_DESCRIPTIONS: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT (CGNAT)',
  private: 'a private',
  reserved: 'a reserved (not globally routable)',
};

const V6_DESCRIPTIONS: Record<string, string> = {
  unspecified: 'an unspecified',
  linkLocal: 'a link-local',
  multicast: 'a multicast',
  loopback: 'a loopback',
  uniqueLocal: 'a unique-local',
  deprecatedSiteLocal: 'a site-local',
  discard: 'a discard-only',
  teredo: 'a Teredo tunnel',
  benchmarking: 'a benchmarking',
  reserved: 'a reserved (not globally routable)',
};

/** 2000::/3: the only IPv6 space IANA allocates for global unicast. */
const GLOBAL_UNICAST_V6: Network = [ipaddr.IPv6.parse('2000::'), 3];

/**
 * IPv6 prefixes whose last (or, for 6to4, second and third) 32 bits are an IPv4 address that the
 * packet ends up at, or stands for: these are judged by the IPv4 address they embed.
 */
const EMBEDDING_PREFIXES: {
  network: Network;
  name: string;
  extract: (parts: number[]) => [number, number];
}[] = [
  {
    network: [ipaddr.IPv6.parse('::ffff:0:0'), 96],
    name: 'IPv4-mapped',
    extract: (p) => [p[6] ?? 0, p[7] ?? 0],
  },
  {
    network: [ipaddr.IPv6.parse('::ffff:0:0:0'), 96],
    name: 'IPv4-translated',
    extract: (p) => [p[6] ?? 0, p[7] ?? 0],
  },
  {
    network: [ipaddr.IPv6.parse('64:ff9b::'), 96],
    name: 'NAT64',
    extract: (p) => [p[6] ?? 0, p[7] ?? 0],
  },
  {
    network: [ipaddr.IPv6.parse('2002::'), 16],
    name: '6to4',
    extract: (p) => [p[1] ?? 0, p[2] ?? 0],
  },
  // Deprecated IPv4-compatible ::a.b.c.d (:: and ::1 are classified before this is consulted).
  {
    network: [ipaddr.IPv6.parse('::'), 96],
    name: 'IPv4-compatible',
    extract: (p) => [p[6] ?? 0, p[7] ?? 0],
  },
];

/**
 * Parses one CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare address (taken as /32 or /128). Returns
 * undefined for anything else. Only the strict four-part decimal IPv4 spelling is accepted here:
 * an operator's list should read the same to a human as to the parser.
 */
export function parseNetwork(entry: string): Network | undefined {
  const value = entry.trim();
  const [address, prefix, ...rest] = value.split('/');
  if (!address || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix)))
    return undefined;
  let parsed: Address;
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) parsed = ipaddr.IPv4.parse(address);
  else if (ipaddr.IPv6.isValid(address) && !address.includes('%'))
    parsed = ipaddr.IPv6.parse(address);
  else return undefined;
  const max = parsed.kind() === 'ipv4' ? 32 : 128;
  const bits = prefix === undefined ? max : Number(prefix);
  if (bits > max) return undefined;
  return [parsed, bits];
}

/** Splits a comma-separated list of CIDRs, naming every entry that is not one. */
export function parseNetworkList(value: string): { networks: string[]; problems: string[] } {
  const networks: string[] = [];
  const problems: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const network = parseNetwork(entry);
    if (network) networks.push(`${network[0].toString()}/${network[1]}`);
    else
      problems.push(
        `"${entry.slice(0, 64)}" is not a network in CIDR notation (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`,
      );
  }
  return { networks: [...new Set(networks)], problems };
}

export function createNetworkPolicy(allowedNetworks: readonly string[] = []): NetworkPolicy {
  const networks = allowedNetworks.map((entry) => {
    const network = parseNetwork(entry);
    if (!network) throw new Error(`"${entry}" is not a network in CIDR notation`);
    return network;
  });
  const isListed = (address: Address): boolean =>
    networks.some(([base, bits]) => base.kind() === address.kind() && address.match(base, bits));

  return {
    allowedNetworks: networks.map(([base, bits]) => `${base.toString()}/${bits}`),
    check(input) {
      const address = parseAddress(input);
      if (!address) return { allowed: false, reason: `${truncate(input)} is not an IP address` };
      const embedded = address.kind() === 'ipv6' ? embeddedIPv4(address as ipaddr.IPv6) : undefined;
      // An allowed network admits an address directly, or through the IPv4 address it embeds
      // (::ffff:127.0.0.1 is 127.0.0.1 to the kernel).
      if (isListed(address) || (embedded && isListed(embedded.v4))) return { allowed: true };
      const shown = address.toString();
      if (embedded) {
        const problem = describeV4(embedded.v4);
        if (problem)
          return refusal(
            `${shown} is ${embedded.name} form of ${embedded.v4.toString()}, ${problem} address`,
          );
        return { allowed: true };
      }
      const problem =
        address.kind() === 'ipv4'
          ? describeV4(address as ipaddr.IPv4)
          : describeV6(address as ipaddr.IPv6);
      return problem ? refusal(`${shown} is ${problem} address`) : { allowed: true };
    },
  };
}

function refusal(what: string): AddressVerdict {
  return { allowed: false, reason: `${what} (not in ${ALLOWED_NETWORKS_VARIABLE})` };
}

/** Strict parse: canonical IPv4 dotted quad or any valid IPv6 text; the zone of fe80::1%eth0 is kept. */
function parseAddress(input: string): Address | undefined {
  const value = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return ipaddr.IPv4.parse(value);
  if (!ipaddr.IPv6.isValid(value)) return undefined;
  const [bare = '', zone] = value.split('%');
  if (!bare.includes('.')) return ipaddr.IPv6.parse(value);
  // ipaddr.js reads ::a.b.c.d (IPv4-compatible, which is what inet_ntop prints for ::7f00:1) as
  // ::ffff:a.b.c.d; the WHATWG URL parser reads a dotted tail as RFC 4291 says.
  let canonical: string;
  try {
    canonical = unbracket(new URL(`http://[${bare}]/`).hostname);
  } catch {
    return undefined;
  }
  return ipaddr.IPv6.parse(zone === undefined ? canonical : `${canonical}%${zone}`);
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Returns "a private" and the like for a refused IPv4 address, undefined for an allowed one. */
function describeV4(address: ipaddr.IPv4): string | undefined {
  if (CLOUD_METADATA.some((m) => m.kind() === 'ipv4' && address.match(m, 32)))
    return 'a cloud metadata (link-local)';
  const range = address.range();
  if (range === 'unicast') return undefined;
  return V4_DESCRIPTIONS[range] ?? `a special-purpose (${range})`;
}

function describeV6(address: ipaddr.IPv6): string | undefined {
  if (CLOUD_METADATA.some((m) => m.kind() === 'ipv6' && address.match(m, 128)))
    return 'a cloud metadata (unique-local)';
  const range = address.range();
  if (range !== 'unicast') return V6_DESCRIPTIONS[range] ?? `a special-purpose (${range})`;
  if (!address.match(GLOBAL_UNICAST_V6)) return 'a reserved (outside global unicast 2000::/3)';
  return undefined;
}

function embeddedIPv4(address: ipaddr.IPv6): { v4: ipaddr.IPv4; name: string } | undefined {
  const range = address.range();
  if (range === 'unspecified' || range === 'loopback') return undefined;
  for (const prefix of EMBEDDING_PREFIXES) {
    if (!address.match(prefix.network)) continue;
    const [high, low] = prefix.extract(address.parts);
    const v4 = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    return { v4, name: /^[aeiou]/i.test(prefix.name) ? `an ${prefix.name}` : `a ${prefix.name}` };
  }
  return undefined;
}

function truncate(value: string): string {
  return value.length > 64 ? `${value.slice(0, 61)}...` : value;
}

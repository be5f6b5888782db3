import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetworkPolicy } from '../../core/network-policy.js';
import { OutboundError } from '../../core/errors.js';
import {
  createOutboundHttp,
  safeOrigin,
  type OutboundHttp,
  type OutboundOptions,
} from '../../core/outbound-http.js';
import { guardedNetwork, type GuardedNetwork, type TestNames } from '../support/guarded-network.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { waitFor } from '../support/wait.js';

/**
 * The guarded outbound client against real loopback servers. Every client here is built with the
 * test resolver and connector (test/support/guarded-network.ts): names are answered by the test
 * only, and a connection to anything but a permitted loopback address fails and is recorded, so
 * each case asserts both the refusal and that no connection ever targeted the forbidden address.
 */

const FILE = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(100));
const FILE_SHA1 = createHash('sha1').update(FILE).digest('hex');
const LIMITS = { maxBytes: 1024 * 1024, timeoutMs: 10_000 };

let server: TestHttpServer;
let port: number;
let dir: string;
let downloads = 0;

const destination = () => path.join(dir, `download-${++downloads}`);

/** A client whose network is the test's: `permitted` loopback addresses only. */
function client(
  allowed: string[],
  permitted: string[],
  names: TestNames = {},
  extra: Partial<OutboundOptions> = {},
): { http: OutboundHttp; net: GuardedNetwork } {
  const net = guardedNetwork({ permitted, names });
  const http = createOutboundHttp({
    userAgent: 'arbiter-test',
    policy: createNetworkPolicy(allowed),
    resolve: net.resolve,
    connect: net.connect,
    ...extra,
  });
  return { http, net };
}

async function refusal(promise: Promise<unknown>): Promise<OutboundError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the request to be refused').toBeInstanceOf(OutboundError);
  return error as OutboundError;
}

const redirectTo =
  (location: (req: IncomingMessage) => string, status = 302) =>
  (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { location: location(req) }).end();
  };

const query = (req: IncomingMessage, name: string): string =>
  new URL(req.url ?? '/', 'http://test').searchParams.get(name) ?? '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbiter-outbound-'));
  server = await startHttpServer({
    '/file': FILE,
    '/echo-host': (req, res) => {
      res.writeHead(200).end(String(req.headers.host));
    },
    // /redirect?to=<url>: one redirect to wherever the test says.
    '/redirect': redirectTo((req) => query(req, 'to')),
    // /loop: redirects to itself forever.
    '/loop': redirectTo(() => '/loop'),
    // /hops?n=3: n redirects, then the file.
    '/hops': redirectTo((req) => {
      const n = Number(query(req, 'n'));
      return n <= 1 ? '/file' : `/hops?n=${n - 1}`;
    }),
    '/huge-declared': (_req, res) => {
      res.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
      res.write(Buffer.alloc(16 * 1024));
      // ...and never more: the client must not wait for the rest.
    },
    '/huge-undeclared': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked, no length
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let open = true;
      res.on('close', () => (open = false));
      const pump = () => {
        while (open && res.write(chunk)) {
          /* fill the socket */
        }
        if (open) res.once('drain', pump);
      };
      pump();
    },
    '/slow-drip': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write('x'), 50);
      res.on('close', () => clearInterval(timer));
    },
    '/silent': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders(); // headers, then nothing at all
    },
    '/never-answers': () => {
      /* request accepted, no response */
    },
    '/receiver': async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      res.writeHead(200, { 'x-received': String(Buffer.concat(chunks).length) }).end();
    },
    '/receiver-endless-answer': (req, res) => {
      req.resume();
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024)), 5);
      res.on('close', () => clearInterval(timer));
    },
  });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('hostile URLs, with no network allowed: refused before any connection', () => {
  // Names answered by the test resolver only; "public" addresses are never connected to either.
  const names: TestNames = {
    localhost: ['127.0.0.1', '::1'],
    'localhost.': ['127.0.0.1', '::1'],
    '127.0.0.1.nip.io': ['127.0.0.1'],
    'internal.test': ['10.0.0.5'],
    'router.test': ['192.168.1.1'],
    'metadata.test': ['169.254.169.254'],
    'metadata6.test': ['fd00:ec2::254'],
    'cgnat.test': ['100.64.0.1'],
    'mapped.test': ['::ffff:169.254.169.254'],
    'compat.test': ['::127.0.0.1'], // what inet_ntop prints for ::7f00:1
    'nat64.test': ['64:ff9b::a9fe:a9fe'],
    'mixed.test': ['93.184.216.34', '10.0.0.5'],
    'mixed6.test': ['2606:2800:220:1::1', 'fe80::1'],
    'zero.test': ['0.0.0.0'],
  };

  const hostile: [string, string][] = [
    // Loopback, in every IPv4 spelling the WHATWG parser accepts.
    [`http://127.0.0.1:${'PORT'}/file`, 'loopback'],
    ['http://2130706433:PORT/file', 'loopback'], // decimal
    ['http://0177.0.0.1:PORT/file', 'loopback'], // octal
    ['http://017700000001:PORT/file', 'loopback'], // octal, one part
    ['http://0x7f.1:PORT/file', 'loopback'], // hex, shortened
    ['http://0x7f000001:PORT/file', 'loopback'], // hex, one part
    ['http://0x7F.0.0.0x1:PORT/file', 'loopback'], // mixed case hex parts
    ['http://127.1:PORT/file', 'loopback'], // shortened
    ['http://127.0.1:PORT/file', 'loopback'], // shortened, three parts
    ['http://127.0.0.1.:PORT/file', 'loopback'], // trailing dot
    ['http://127.000.000.001:PORT/file', 'loopback'], // zero-padded
    ['http://%31%32%37.0.0.1:PORT/file', 'loopback'], // percent-encoded
    ['http://１２７.０.０.１:PORT/file', 'loopback'], // full-width digits
    ['http://127.0.0.2:PORT/file', 'loopback'], // any of 127/8
    ['https://127.0.0.1:PORT/file', 'loopback'], // https too
    // Loopback in IPv6 forms.
    ['http://[::1]:PORT/file', 'loopback'],
    ['http://[0:0:0:0:0:0:0:1]:PORT/file', 'loopback'],
    ['http://[::ffff:127.0.0.1]:PORT/file', 'IPv4-mapped form of 127.0.0.1'],
    ['http://[::ffff:7f00:1]:PORT/file', 'IPv4-mapped form of 127.0.0.1'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]:PORT/file', 'IPv4-mapped form of 127.0.0.1'],
    ['http://[::127.0.0.1]:PORT/file', 'IPv4-compatible form of 127.0.0.1'],
    ['http://[::ffff:0:127.0.0.1]:PORT/file', 'IPv4-translated form of 127.0.0.1'],
    ['http://[64:ff9b::127.0.0.1]:PORT/file', 'NAT64 form of 127.0.0.1'],
    ['http://[2002:7f00:1::1]:PORT/file', '6to4 form of 127.0.0.1'],
    // Cloud metadata.
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['http://2852039166/latest/meta-data/', 'cloud metadata'], // decimal
    ['http://0xa9fea9fe/latest/meta-data/', 'cloud metadata'], // hex
    ['http://0251.0376.0251.0376/latest/meta-data/', 'cloud metadata'], // octal
    ['http://169.254.43518/latest/meta-data/', 'cloud metadata'], // shortened
    ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'IPv4-mapped form of 169.254.169.254'],
    ['http://[::ffff:a9fe:a9fe]/latest/meta-data/', 'IPv4-mapped form of 169.254.169.254'],
    ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/', 'NAT64 form of 169.254.169.254'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'cloud metadata'],
    // Private, link-local, CGNAT, unique-local, multicast, broadcast, unspecified, reserved.
    ['http://10.0.0.5/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://192.168.0.1/', 'private'],
    ['http://[::ffff:10.0.0.5]/', 'IPv4-mapped form of 10.0.0.5, a private'],
    ['http://169.254.1.1/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://[fc00::1]/', 'unique-local'],
    ['http://[fd12:3456:789a::1]/', 'unique-local'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://0/', 'unspecified'],
    ['http://0.0.0.0:PORT/file', 'unspecified'],
    ['http://[::]:PORT/file', 'unspecified'],
    ['http://192.0.2.1/', 'reserved'],
    ['http://[2001:db8::1]/', 'reserved'],
    // Names, answered by the test resolver.
    [
      'http://localhost:PORT/file',
      'localhost resolves to a forbidden address: 127.0.0.1 is a loopback',
    ],
    [
      'http://localhost.:PORT/file',
      'localhost. resolves to a forbidden address: 127.0.0.1 is a loopback',
    ],
    [
      'http://127.0.0.1.nip.io:PORT/file',
      '127.0.0.1.nip.io resolves to a forbidden address: 127.0.0.1',
    ],
    [
      'http://internal.test/',
      'internal.test resolves to a forbidden address: 10.0.0.5 is a private',
    ],
    ['http://router.test/', '192.168.1.1 is a private'],
    ['http://metadata.test/latest/meta-data/', '169.254.169.254 is a cloud metadata'],
    ['http://metadata6.test/latest/meta-data/', 'fd00:ec2::254 is a cloud metadata'],
    ['http://cgnat.test/', 'carrier-grade NAT'],
    ['http://mapped.test/', 'IPv4-mapped form of 169.254.169.254'],
    ['http://compat.test:PORT/file', 'IPv4-compatible form of 127.0.0.1'],
    ['http://nat64.test/', 'NAT64 form of 169.254.169.254'],
    ['http://mixed.test/', 'mixed.test resolves to a forbidden address: 10.0.0.5'],
    ['http://mixed6.test/', 'fe80::1 is a link-local'],
    ['http://zero.test:PORT/file', '0.0.0.0 is an unspecified'],
    ['https://metadata.test/latest/meta-data/', 'cloud metadata'],
    // Not http(s), or carrying credentials, or a local socket.
    ['file:///etc/passwd', 'only http and https'],
    ['ftp://127.0.0.1/file', 'only http and https'],
    ['gopher://127.0.0.1:6379/_INFO', 'only http and https'],
    ['data:text/plain,hello', 'only http and https'],
    ['http://user:secret@example.test/', 'embedded credentials'],
    ['http://user@127.0.0.1:PORT/file', 'embedded credentials'],
    ['http://unix:/var/run/docker.sock:/containers/json', 'local socket'],
    ['not a url', 'not a valid URL'],
  ];

  it('has at least 40 hostile URLs', () => {
    expect(hostile.length).toBeGreaterThanOrEqual(40);
  });

  it.each(hostile)('download refuses %s (%s)', async (raw, why) => {
    const url = raw.replaceAll('PORT', String(port));
    const { http, net } = client([], [], names);
    const error = await refusal(http.download(url, destination(), LIMITS));
    expect(error.message).toMatch(/^refused: /);
    expect(error.message).toContain(why);
    expect(error.retryable).toBe(false);
    expect(net.attempts).toEqual([]);
    expect(net.violations).toEqual([]);
  });

  it.each(hostile)('post refuses %s (%s)', async (raw, why) => {
    const url = raw.replaceAll('PORT', String(port));
    const { http, net } = client([], [], names);
    const error = await refusal(
      http.post(url, '{}', { 'content-type': 'application/json' }, 5_000),
    );
    expect(error.message).toContain(why);
    expect(error.retryable).toBe(false);
    expect(net.attempts).toEqual([]);
    expect(net.violations).toEqual([]);
  });

  it('refuses IP literals, bad schemes and credentials from the URL alone (submit time); names wait for resolution', () => {
    const { http, net } = client([], [], names);
    for (const [raw, why] of hostile) {
      const url = raw.replaceAll('PORT', String(port));
      const host = URL.canParse(url) ? new URL(url).hostname : '';
      const isName = /[a-z]/.test(host.replace(/^\[.*\]$/, '')) && host !== 'unix';
      if (isName && !why.includes('credentials') && !why.includes('only http')) {
        expect(() => http.screen(url), url).not.toThrow();
      } else {
        expect(() => http.screen(url), url).toThrow(why);
      }
    }
    expect(net.lookups).toEqual([]);
    expect(net.attempts).toEqual([]);
  });
});

describe('redirects from an allowed loopback server (only 127.0.0.1/32 allowed)', () => {
  const allowed = ['127.0.0.1/32'];
  const names: TestNames = {
    'alias.test': ['127.0.0.2'],
    'localhost.': ['127.0.0.1', '::1'],
    'metadata.test': ['169.254.169.254'],
    'files.example.test': ['127.0.0.1'],
  };

  const targets: [string, string][] = [
    ['http://127.0.0.2:PORT/file', '127.0.0.2 is a loopback'],
    ['http://0x7f.0.0.2:PORT/file', '127.0.0.2 is a loopback'],
    ['http://2130706434:PORT/file', '127.0.0.2 is a loopback'],
    ['http://[::ffff:127.0.0.2]:PORT/file', 'IPv4-mapped form of 127.0.0.2'],
    ['http://[::1]:PORT/file', '::1 is a loopback'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['//169.254.169.254/latest/meta-data/', 'cloud metadata'], // scheme-relative
    ['http://[fd00:ec2::254]/latest/meta-data/', 'cloud metadata'],
    ['http://10.0.0.5/', 'private'],
    ['http://alias.test:PORT/file', 'alias.test resolves to a forbidden address: 127.0.0.2'],
    ['http://localhost.:PORT/file', '::1 is a loopback'], // one good address does not save a name
    ['http://metadata.test/latest/meta-data/', 'cloud metadata'],
    ['file:///etc/passwd', 'only http and https'],
    ['ftp://127.0.0.1:PORT/file', 'only http and https'],
    ['http://user:pw@127.0.0.1:PORT/file', 'embedded credentials'],
  ];

  it.each(targets)('refuses a redirect to %s (%s)', async (target, why) => {
    const { http, net } = client(allowed, ['127.0.0.1'], names);
    const to = encodeURIComponent(target.replaceAll('PORT', String(port)));
    const error = await refusal(
      http.download(`${server.url}/redirect?to=${to}`, destination(), LIMITS),
    );
    expect(error.message).toContain(why);
    expect(error.retryable).toBe(false);
    expect(net.addresses()).toEqual(['127.0.0.1']); // the first hop, and nothing else
    expect(net.violations).toEqual([]);
  });

  it('follows allowed redirects, at most 5', async () => {
    const { http, net } = client(allowed, ['127.0.0.1'], names);
    const result = await http.download(
      `http://files.example.test:${port}/hops?n=5`,
      destination(),
      LIMITS,
    );
    expect(result).toEqual({
      bytes: FILE.length,
      sha1: FILE_SHA1,
      contentType: 'application/octet-stream',
    });
    expect(net.addresses()).toEqual(Array(6).fill('127.0.0.1'));

    const endless = await refusal(http.download(`${server.url}/loop`, destination(), LIMITS));
    expect(endless.message).toBe('refused: more than 5 redirects');
    expect(endless.retryable).toBe(false);
    const six = await refusal(http.download(`${server.url}/hops?n=6`, destination(), LIMITS));
    expect(six.message).toBe('refused: more than 5 redirects');
    expect(net.violations).toEqual([]);
  });

  it('post never follows a redirect: the 3xx is the answer', async () => {
    const { http, net } = client(allowed, ['127.0.0.1'], names);
    const to = encodeURIComponent('http://169.254.169.254/latest/meta-data/');
    const outcome = await http.post(`${server.url}/redirect?to=${to}`, '{}', {}, 5_000);
    expect(outcome.status).toBe(302);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    expect(net.violations).toEqual([]);
  });
});

describe('DNS rebinding: the address checked is the address connected to', () => {
  it('resolves once per connection and connects to exactly the checked address', async () => {
    // First answer allowed, every later one forbidden: a second lookup would be caught.
    const { http, net } = client(['127.0.0.1/32'], ['127.0.0.1'], {
      'rebind.test': (call) => (call === 1 ? ['127.0.0.1'] : ['127.0.0.2']),
    });
    const result = await http.download(`http://rebind.test:${port}/file`, destination(), LIMITS);
    expect(result.sha1).toBe(FILE_SHA1);
    expect(net.lookups).toEqual(['rebind.test']);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    expect(net.attempts[0]?.options.host).toBe('127.0.0.1');
    expect(net.violations).toEqual([]);
  });

  it('refuses the hop whose lookup rebinds to a forbidden address', async () => {
    const { http, net } = client(['127.0.0.1/32'], ['127.0.0.1'], {
      'rebind.test': (call) => (call === 1 ? ['127.0.0.1'] : ['127.0.0.2']),
    });
    const error = await refusal(
      http.download(`http://rebind.test:${port}/hops?n=1`, destination(), LIMITS),
    );
    expect(error.message).toBe(
      'refused: rebind.test resolves to a forbidden address: 127.0.0.2 is a loopback address (not in ARBITER_ALLOWED_NETWORKS)',
    );
    expect(net.lookups).toEqual(['rebind.test', 'rebind.test']);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    expect(net.violations).toEqual([]);
  });

  it('judges every request afresh: a name that turns from allowed to metadata is refused', async () => {
    const { http, net } = client(['127.0.0.1/32'], ['127.0.0.1'], {
      'flip.test': (call) => (call === 1 ? ['127.0.0.1'] : ['169.254.169.254']),
    });
    http.screen(`http://flip.test:${port}/file`); // names are not resolved at submit time
    expect(net.lookups).toEqual([]);
    expect((await http.download(`http://flip.test:${port}/file`, destination(), LIMITS)).sha1).toBe(
      FILE_SHA1,
    );
    const second = await refusal(
      http.download(`http://flip.test:${port}/file`, destination(), LIMITS),
    );
    expect(second.message).toContain(
      'flip.test resolves to a forbidden address: 169.254.169.254 is a cloud metadata',
    );
    expect(net.lookups).toEqual(['flip.test', 'flip.test']);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    expect(net.violations).toEqual([]);
  });
});

describe('size and time limits', () => {
  const allowed = ['127.0.0.1/32'];

  it('refuses a declared Content-Length over the limit at once, writing nothing', async () => {
    const { http, net } = client(allowed, ['127.0.0.1']);
    const file = destination();
    const started = Date.now();
    const error = await refusal(
      http.download(`${server.url}/huge-declared`, file, { maxBytes: 1024, timeoutMs: 10_000 }),
    );
    expect(error.message).toBe('refused: content is larger than the 1024-byte download limit');
    expect(error.retryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(
      await stat(file).then(
        (s) => s.size,
        () => 0,
      ),
    ).toBe(0);
    expect(net.violations).toEqual([]);
  });

  it('stops an undeclared endless body at the limit', async () => {
    const { http, net } = client(allowed, ['127.0.0.1']);
    const file = destination();
    const error = await refusal(
      http.download(`${server.url}/huge-undeclared`, file, {
        maxBytes: 100_000,
        timeoutMs: 10_000,
      }),
    );
    expect(error.message).toBe('refused: content is larger than the 100000-byte download limit');
    expect(
      await stat(file).then(
        (s) => s.size,
        () => 0,
      ),
    ).toBeLessThanOrEqual(100_000);
    expect(net.violations).toEqual([]);
  });

  it('ends a slow-drip body at the total time limit, for good (a retry would be as slow)', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const started = Date.now();
    const error = await refusal(
      http.download(`${server.url}/slow-drip`, destination(), {
        maxBytes: 1024 * 1024,
        timeoutMs: 600,
      }),
    );
    expect(error.message).toMatch(
      /^timed out: the download took longer than the 600 ms limit \(\d+ bytes received\)$/,
    );
    expect(error.retryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('counts the total time across redirects', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const to = encodeURIComponent(`${server.url}/slow-drip`);
    const error = await refusal(
      http.download(`${server.url}/redirect?to=${to}`, destination(), {
        maxBytes: 1024 * 1024,
        timeoutMs: 500,
      }),
    );
    expect(error.message).toMatch(/^timed out: the download took longer than the 500 ms limit/);
  });

  it('ends a download below the minimum rate at the end of a window, for good', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    // /slow-drip sends about 20 bytes/s: never silent, far below 1,000 bytes/s.
    const error = await refusal(
      http.download(`${server.url}/slow-drip`, destination(), {
        maxBytes: 1024 * 1024,
        timeoutMs: 30_000,
        minRate: { bytesPerSecond: 1000, windowMs: 400 },
      }),
    );
    expect(error.message).toMatch(
      /^too slow: the location sent \d+ bytes in 400 ms, below the minimum rate of 1000 bytes\/s$/,
    );
    expect(error.retryable).toBe(false);
  });

  it('lets a slow download that keeps the minimum rate run on (to its total time limit)', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(
      http.download(`${server.url}/slow-drip`, destination(), {
        maxBytes: 1024 * 1024,
        timeoutMs: 1_500,
        // One byte per 200 ms window is enough; the drip sends about four.
        minRate: { bytesPerSecond: 5, windowMs: 200 },
      }),
    );
    expect(error.message).toMatch(/^timed out: the download took longer than the 1500 ms limit/);
    const fast = await http.download(`${server.url}/file`, destination(), {
      ...LIMITS,
      minRate: { bytesPerSecond: 1024 * 1024, windowMs: 200 },
    });
    expect(fast).toEqual({
      bytes: FILE.length,
      sha1: FILE_SHA1,
      contentType: 'application/octet-stream',
    });
  });

  it('cancels a download when its signal aborts, closing the connection', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const before = server.hits.get('/slow-drip') ?? 0;
    const controller = new AbortController();
    const download = refusal(
      http.download(`${server.url}/slow-drip`, destination(), {
        ...LIMITS,
        signal: controller.signal,
      }),
    );
    await waitFor(() => (server.hits.get('/slow-drip') ?? 0) > before, {
      what: 'the request to reach the server',
    });
    controller.abort();
    const error = await download;
    expect(error.message).toBe('cancelled: the download is no longer wanted');
    expect(error.retryable).toBe(false);
  });

  it('ends a silent connection at the idle timeout', async () => {
    const { http } = client(allowed, ['127.0.0.1'], {}, { idleTimeoutMs: 300 });
    const error = await refusal(http.download(`${server.url}/silent`, destination(), LIMITS));
    expect(error.message).toMatch(/^timed out: no data received for 300 ms \(idle timeout/);
    expect(error.retryable).toBe(true);
    const perCall = await refusal(
      http.download(`${server.url}/silent`, destination(), { ...LIMITS, idleTimeoutMs: 200 }),
    );
    expect(perCall.message).toMatch(/^timed out: no data received for 200 ms/);
  });

  it('bounds resolution and connection by the connect timeout', async () => {
    const { http, net } = client(
      allowed,
      ['127.0.0.1'],
      { 'slow-dns.test': () => new Promise<string[]>(() => undefined) },
      { connectTimeoutMs: 200 },
    );
    const started = Date.now();
    const error = await refusal(
      http.download(`http://slow-dns.test:${port}/file`, destination(), LIMITS),
    );
    expect(error.message).toBe('timed out resolving slow-dns.test (connect timeout 200 ms)');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(net.attempts).toEqual([]);
  });

  it('post: a receiver that never answers times out; one answering endlessly costs only its status', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(http.post(`${server.url}/never-answers`, '{}', {}, 300));
    expect(error.message).toBe('timed out: the request took longer than 300 ms');
    expect(error.retryable).toBe(true);
    const started = Date.now();
    const outcome = await http.post(`${server.url}/receiver-endless-answer`, '{}', {}, 5_000);
    expect(outcome.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('allowed networks work', () => {
  it('downloads and posts to loopback servers when 127.0.0.0/8 is allowed', async () => {
    const { http, net } = client(['127.0.0.0/8', '::1/128'], ['127.0.0.1']);
    const file = destination();
    expect(await http.download(`${server.url}/file`, file, LIMITS)).toEqual({
      bytes: FILE.length,
      sha1: FILE_SHA1,
      contentType: 'application/octet-stream',
    });
    expect(await readFile(file)).toEqual(FILE);
    const outcome = await http.post(
      `${server.url}/receiver`,
      '{"ok":true}',
      { 'content-type': 'application/json' },
      5_000,
    );
    expect(outcome.status).toBe(200);
    expect(server.hits.get('/receiver')).toBeGreaterThanOrEqual(1);
    expect(net.addresses()).toEqual(['127.0.0.1', '127.0.0.1']);
    expect(net.violations).toEqual([]);
  });

  it('with reuseConnections, reuses a checked connection and still checks every new one', async () => {
    const { http, net } = client(
      ['127.0.0.1/32'],
      ['127.0.0.1'],
      { 'files.example.com': ['127.0.0.1'], 'rebound.example.com': ['169.254.169.254'] },
      { reuseConnections: true },
    );
    for (let i = 0; i < 3; i++) {
      await http.download(`http://files.example.com:${port}/file`, destination(), LIMITS);
    }
    const outcome = await http.post(`http://files.example.com:${port}/receiver`, '{}', {}, 5_000);
    expect(outcome.status).toBe(200);
    // One connection, opened and checked once, for three downloads and a POST.
    expect(net.lookups).toEqual(['files.example.com']);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    const error = await refusal(
      http.download(`http://rebound.example.com:${port}/file`, destination(), LIMITS),
    );
    expect(error.retryable).toBe(false);
    expect(net.addresses()).toEqual(['127.0.0.1']);
    expect(net.violations).toEqual([]);
  });

  it('allows a public-looking name that resolves into an allowed network, keeping the name as Host', async () => {
    const { http, net } = client(['127.0.0.1/32'], ['127.0.0.1'], {
      'files.example.com': ['127.0.0.1'],
    });
    const file = destination();
    await http.download(`http://files.example.com:${port}/echo-host`, file, LIMITS);
    expect(await readFile(file, 'utf8')).toBe(`files.example.com:${port}`);
    expect(net.lookups).toEqual(['files.example.com']);
    expect(net.attempts[0]).toMatchObject({
      address: '127.0.0.1',
      hostname: 'files.example.com',
      tls: false,
      port,
    });
  });

  it('allows an IPv4-mapped spelling of an allowed address, connecting to exactly that address', async () => {
    const { http, net } = client(['127.0.0.1/32'], ['::ffff:127.0.0.1'], {
      'mapped-local.test': ['::ffff:127.0.0.1'],
    });
    // Whether this host has IPv6 sockets or not, the policy let it through and the connector
    // was asked for exactly the checked address.
    await http
      .download(`http://mapped-local.test:${port}/file`, destination(), LIMITS)
      .catch(() => undefined);
    expect(net.addresses()).toEqual(['::ffff:127.0.0.1']);
    expect(net.violations).toEqual([]);
  });

  it('connects to an allowed IPv6 literal as written, without brackets', async () => {
    const { http, net } = client(['::1/128'], ['::1']);
    // Nothing listens on [::1] here (or IPv6 is off): what matters is where the connector was sent.
    await http.download(`http://[::1]:${port}/file`, destination(), LIMITS).catch(() => undefined);
    expect(net.attempts).toHaveLength(1);
    expect(net.attempts[0]).toMatchObject({ address: '::1', family: 6, hostname: '::1', port });
    expect(net.lookups).toEqual([]);
    expect(net.violations).toEqual([]);
  });

  it('https: connects to the checked address with the name as SNI', async () => {
    const { http, net } = client(['127.0.0.1/32'], ['127.0.0.1'], {
      'secure.example.test': ['127.0.0.1'],
    });
    // The loopback server speaks plain HTTP, so the TLS handshake fails: a network error, not a refusal.
    const error = await refusal(
      http.download(`https://secure.example.test:${port}/file`, destination(), LIMITS),
    );
    expect(error.retryable).toBe(true);
    expect(net.attempts).toHaveLength(1);
    expect(net.attempts[0]).toMatchObject({
      address: '127.0.0.1',
      hostname: 'secure.example.test',
      tls: true,
      port,
    });
    expect(net.attempts[0]?.options).toMatchObject({
      host: '127.0.0.1',
      servername: 'secure.example.test',
    });
    expect(net.violations).toEqual([]);
  });

  it('tries the next checked address when one does not answer', async () => {
    // 127.0.0.3 is checked and allowed but nothing listens there on this port.
    const { http, net } = client(['127.0.0.0/8'], ['127.0.0.3', '127.0.0.1'], {
      'two.test': ['127.0.0.3', '127.0.0.1'],
    });
    const result = await http.download(`http://two.test:${port}/file`, destination(), LIMITS);
    expect(result.sha1).toBe(FILE_SHA1);
    expect(net.addresses()).toEqual(['127.0.0.3', '127.0.0.1']);
  });
});

describe('what the client sends, and how each failure is named', () => {
  const allowed = ['127.0.0.1/32'];
  const encoded = gzipSync(FILE);
  const seen: Array<{ method?: string; userAgent?: string; type?: string; body: string }> = [];
  let local: TestHttpServer;
  let endlessClosed = 0;
  const answeredOn: number[] = [];

  beforeAll(async () => {
    local = await startHttpServer({
      '/status': (req, res) => {
        res.writeHead(Number(query(req, 'code'))).end('no');
      },
      '/redirect-raw': (req, res) => {
        // Header text is written as latin1: this sends the bytes of the query's UTF-8 as they are.
        const location = Buffer.from(query(req, 'to'), 'utf8').toString('latin1');
        res.writeHead(302, { location }).end();
      },
      // The path as it arrives: percent-encoded UTF-8.
      '/caf%C3%A9': FILE,
      '/declared-only': (_req, res) => {
        res.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
        res.write('0123456789');
        // ...and nothing more: the announced size alone must end the download.
      },
      '/gzipped': (_req, res) => {
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(encoded);
      },
      '/record': async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        seen.push({
          method: req.method,
          userAgent: req.headers['user-agent'],
          type: req.headers['content-type'],
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(204).end();
      },
      '/exact': (_req, res) => {
        res.writeHead(200, { 'content-length': String(FILE.length) }).end(FILE);
      },
      '/short-answer': (req, res) => {
        req.resume();
        answeredOn.push(req.socket.remotePort ?? 0);
        res.writeHead(200, { 'content-length': '2' }).end('ok');
      },
      '/endless-answer': (req, res) => {
        req.resume();
        res.writeHead(200);
        const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024)), 5);
        res.on('close', () => {
          clearInterval(timer);
          endlessClosed++;
        });
      },
      '/burst-then-stall': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(64 * 1024, 0x41));
        // ...then silence, though the connection stays open.
      },
    });
  });
  afterAll(async () => {
    await local.close();
  });

  it('names the status a server answered, retrying only those that mean "later"', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const expected: Array<[number, boolean]> = [
      [404, false],
      [410, false],
      [408, true],
      [429, true],
      [500, true],
      [503, true],
    ];
    for (const [code, retryable] of expected) {
      const error = await refusal(
        http.download(`${local.url}/status?code=${code}`, destination(), LIMITS),
      );
      expect({ code, message: error.message, retryable: error.retryable }).toEqual({
        code,
        message: `the server answered HTTP ${code}`,
        retryable,
      });
    }
    // Each asked once: retrying is the caller's decision, not the client's.
    expect(local.hits.get('/status')).toBe(expected.length);
  });

  it('names a refused connection by its code, to be retried', async () => {
    const closed = await startHttpServer({});
    const closedUrl = closed.url;
    await closed.close();
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(http.download(`${closedUrl}/file`, destination(), LIMITS));
    expect(error.message).toBe('network error (ECONNREFUSED)');
    expect(error.retryable).toBe(true);
  });

  it('refuses a redirect to something that is not a URL, quoting it shortened', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const redirectTo = (location: string) =>
      refusal(
        http.download(
          `${local.url}/redirect-raw?to=${encodeURIComponent(location)}`,
          destination(),
          LIMITS,
        ),
      );
    const short = 'http://[not-a-url';
    expect((await redirectTo(short)).message).toBe(
      `refused: the redirect target "${short}" is not a valid URL`,
    );
    const exactly80 = `http://[${'a'.repeat(72)}`;
    expect((await redirectTo(exactly80)).message).toBe(
      `refused: the redirect target "${exactly80}" is not a valid URL`,
    );
    const longer = `http://[${'b'.repeat(73)}`;
    const error = await redirectTo(longer);
    expect(error.message).toBe(
      `refused: the redirect target "${longer.slice(0, 77)}..." is not a valid URL`,
    );
    expect(error.retryable).toBe(false);
  });

  it('follows a redirect to a UTF-8 path as a browser does', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const result = await http.download(
      `${local.url}/redirect-raw?to=${encodeURIComponent('/caf\u00e9')}`,
      destination(),
      LIMITS,
    );
    expect(result.sha1).toBe(FILE_SHA1);
  });

  it('refuses a declared size over the limit as soon as it is announced, and takes one at the limit', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const started = Date.now();
    const error = await refusal(
      http.download(`${local.url}/declared-only`, destination(), {
        maxBytes: 1024,
        timeoutMs: 10_000,
      }),
    );
    expect(error.message).toBe('refused: content is larger than the 1024-byte download limit');
    expect(Date.now() - started).toBeLessThan(5_000);
    const exact = await http.download(`${local.url}/exact`, destination(), {
      maxBytes: FILE.length,
      timeoutMs: 10_000,
    });
    // A server that declares no Content-Type declares nothing.
    expect(exact).toEqual({ bytes: FILE.length, sha1: FILE_SHA1 });
  });

  it('stores an encoded body as it came, and reports the Content-Encoding it was sent with', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const file = destination();
    expect(await http.download(`${local.url}/gzipped`, file, LIMITS)).toEqual({
      bytes: encoded.length,
      sha1: createHash('sha1').update(encoded).digest('hex'),
      contentEncoding: 'gzip',
    });
    expect(await readFile(file)).toEqual(encoded);
  });

  it('sends its User-Agent, and posts the body and headers it is given', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    await http.download(`${local.url}/record`, destination(), LIMITS);
    const outcome = await http.post(
      `${local.url}/record`,
      '{"event":"scan"}',
      { 'content-type': 'application/json' },
      5_000,
    );
    expect(outcome.status).toBe(204);
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    expect(outcome.latencyMs).toBeLessThan(5_000);
    expect(seen).toEqual([
      { method: 'GET', userAgent: 'arbiter-test', type: undefined, body: '' },
      {
        method: 'POST',
        userAgent: 'arbiter-test',
        type: 'application/json',
        body: '{"event":"scan"}',
      },
    ]);
  });

  it('post: a status is an answer, even an error or a redirect, which is not followed', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    expect((await http.post(`${local.url}/status?code=500`, '{}', {}, 5_000)).status).toBe(500);
    const to = encodeURIComponent('/record');
    const recorded = seen.length;
    expect((await http.post(`${local.url}/redirect-raw?to=${to}`, '{}', {}, 5_000)).status).toBe(
      302,
    );
    expect(seen).toHaveLength(recorded);
  });

  it('post: a receiver silent for longer than the idle timeout times out, saying so', async () => {
    const { http } = client(allowed, ['127.0.0.1'], {}, { idleTimeoutMs: 200 });
    const error = await refusal(http.post(`${server.url}/never-answers`, '{}', {}, 5_000));
    expect(error.message).toMatch(
      /^timed out: no data received for 200 ms \(idle timeout, after (\d+) ms in all\)$/,
    );
    expect(Number(/after (\d+) ms/.exec(error.message)?.[1])).toBeLessThan(5_000);
    expect(error.retryable).toBe(true);
  });

  it('post: reads off a short answer, so later callbacks to the receiver reuse its connection', async () => {
    const { http, net } = client(allowed, ['127.0.0.1'], {}, { reuseConnections: true });
    const posts = 5;
    for (let i = 0; i < posts; i++) {
      expect((await http.post(`${local.url}/short-answer`, '{}', {}, 5_000)).status).toBe(200);
    }
    // A callback sent the moment the previous one returned may find its connection not yet back
    // in the pool; most find it there. A connection dropped unread is never reused.
    expect(new Set(answeredOn).size).toBeLessThan(posts);
    expect(net.attempts.length).toBeLessThan(posts);
  });

  it('post: hangs up on a receiver that answers endlessly', async () => {
    const { http } = client(allowed, ['127.0.0.1'], {}, { reuseConnections: true });
    expect((await http.post(`${local.url}/endless-answer`, '{}', {}, 5_000)).status).toBe(200);
    // The client hangs up rather than read an endless answer to the end.
    await waitFor(() => endlessClosed === 1, {
      timeoutMs: 3_000,
      what: 'the answer to be dropped',
    });
  });

  it('a body that cannot be stored fails the download, to be tried again', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(
      http.download(`${local.url}/exact`, path.join(dir, 'no-such-dir', 'file'), LIMITS),
    );
    expect(error.message).toMatch(/^network error \(ENOENT: no such file or directory/);
    expect(error.retryable).toBe(true);
  });

  it('says how long a download ran when it ends at the idle timeout', async () => {
    const { http } = client(allowed, ['127.0.0.1'], {}, { idleTimeoutMs: 200 });
    const error = await refusal(http.download(`${server.url}/silent`, destination(), LIMITS));
    const elapsed = Number(/after (\d+) ms in all\)$/.exec(error.message)?.[1]);
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('does not start a download whose signal has already aborted', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(
      http.download(`${local.url}/record`, destination(), {
        ...LIMITS,
        signal: AbortSignal.abort(),
      }),
    );
    expect(error.message).toBe('cancelled: the download is no longer wanted');
    expect(error.retryable).toBe(false);
  });

  it('ends a download whose rate falls after a good start, in whole seconds', async () => {
    const { http } = client(allowed, ['127.0.0.1']);
    const error = await refusal(
      http.download(`${local.url}/burst-then-stall`, destination(), {
        maxBytes: 1024 * 1024,
        timeoutMs: 10_000,
        minRate: { bytesPerSecond: 1000, windowMs: 1000 },
      }),
    );
    expect(error.message).toBe(
      'too slow: the location sent 0 bytes in 1 s, below the minimum rate of 1000 bytes/s',
    );
    expect(error.retryable).toBe(false);
  });

  it('reaches only globally routable addresses when no policy is given', () => {
    const http = createOutboundHttp({ userAgent: 'arbiter-test' });
    expect(http.policy.allowedNetworks).toEqual([]);
    expect(() => http.screen('http://127.0.0.1/')).toThrow(/loopback/);
    expect(() => http.screen('http://93.184.216.34/')).not.toThrow();
  });

  it('logs only the origin of a URL', () => {
    expect(safeOrigin('https://bucket.example.com:8443/a/b?X-Amz-Signature=secret')).toBe(
      'https://bucket.example.com:8443',
    );
    expect(safeOrigin('not a url')).toBe('an invalid URL');
  });
});

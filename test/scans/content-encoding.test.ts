import { spawnSync } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  pollScanResult,
  scaniiRequest,
  startEicarHashService,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Content fetched by URL is scanned as sent and as a browser hands it over: its
 * `Content-Encoding` undone (gzip, deflate in both forms, br, zstd, stacked), under the
 * walker's expansion limits. Real HTTP servers on 127.0.0.1 serve the EICAR test file (made at
 * run time) encoded with Debian's gzip and zstd and with node:zlib (libbrotli, zlib).
 */

const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const CLEAN_TEXT = Buffer.from('Dear reader,\nnothing to see here but plain text.\n'.repeat(40));

/** Runs a real compressor on `input` (stdin → stdout). */
function tool(command: string, args: string[], input: Buffer): Buffer {
  const run = spawnSync(command, args, { input, maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`${command} failed: ${String(run.stderr)}`);
  return run.stdout;
}

const gzip = (data: Buffer) => tool('gzip', ['-c', '-n'], data);
const zstd = (data: Buffer) => tool('zstd', ['-c', '-q'], data);
const br = (data: Buffer) => zlib.brotliCompressSync(data);
const deflateZlib = (data: Buffer) => zlib.deflateSync(data);
const deflateRaw = (data: Buffer) => zlib.deflateRawSync(data);

/** How EICAR is served, by route: the header and the bytes sent (codings applied in order). */
const ENCODED_EICAR: Array<[string, string, () => Buffer]> = [
  ['gzip', 'gzip', () => gzip(eicar())],
  ['x-gzip', 'x-gzip', () => gzip(eicar())],
  ['deflate-zlib', 'deflate', () => deflateZlib(eicar())],
  ['deflate-raw', 'deflate', () => deflateRaw(eicar())],
  ['br', 'br', () => br(eicar())],
  ['zstd', 'zstd', () => zstd(eicar())],
  ['gzip-br', 'gzip, br', () => br(gzip(eicar()))],
  ['br-zstd-deflate', 'BR ,zstd, identity,deflate', () => deflateRaw(zstd(br(eicar())))],
  ['identity', 'identity', () => eicar()],
];

/** A gzip body cut short, its deflate data overwritten in the middle. */
function damagedGzip(): Buffer {
  const whole = gzip(Buffer.concat([eicar(), CLEAN_TEXT]));
  const damaged = Buffer.from(whole.subarray(0, whole.length - 12));
  damaged.fill(0xff, 20, 40);
  return damaged;
}

/** A few KiB of brotli that decode to 256 MiB of zeros: far past the 200:1 ratio limit. */
function brotliBomb(): Buffer {
  return zlib.brotliCompressSync(Buffer.alloc(256 * 1024 * 1024), {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 },
  });
}

interface Result {
  findings: string[];
  checksum: string;
  content_length: number;
  engines: Array<{ name: string }>;
  error?: string;
}

describe('content fetched with a Content-Encoding', () => {
  const bodies = new Map<string, Buffer>();
  let content: TestHttpServer;
  let builtin: TestService;
  let builtinTenant: TestTenant;
  let defaults: TestService;
  let defaultsTenant: TestTenant;

  const encodedRoute = (encoding: string, body: Buffer) => {
    return (_req: unknown, res: ServerResponse) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-encoding': encoding,
        'content-length': body.length,
      });
      res.end(body);
    };
  };

  beforeAll(async () => {
    const routes: Parameters<typeof startHttpServer>[0] = {};
    const serve = (name: string, encoding: string, body: Buffer) => {
      bodies.set(name, body);
      routes[`/${name}`] = encodedRoute(encoding, body);
    };
    for (const [name, encoding, make] of ENCODED_EICAR) serve(`eicar-${name}`, encoding, make());
    serve('clean-br', 'br', br(CLEAN_TEXT));
    serve('clean-gzip-br', 'gzip, br', br(gzip(CLEAN_TEXT)));
    serve('damaged-gzip', 'gzip', damagedGzip());
    serve('damaged-br', 'br', br(CLEAN_TEXT).subarray(0, 30));
    serve('unknown', 'x-snappy', CLEAN_TEXT);
    serve('unknown-stacked', 'gzip, compress', gzip(CLEAN_TEXT));
    serve('bomb', 'br', brotliBomb());
    content = await startHttpServer(routes);

    builtin = await startTestService();
    builtinTenant = await builtin.createTenant('encodings');

    defaults = await startEicarHashService();
    defaultsTenant = await defaults.createTenant('encodings');
  }, 120_000);

  afterAll(async () => {
    await content?.close();
    await builtin?.stop();
    await defaults?.stop();
  });

  /** `POST /files` with a `location`: the synchronous fetch route. */
  const scanLocation = async (
    name: string,
    service: TestService = builtin,
    tenant: TestTenant = builtinTenant,
  ): Promise<Result> => {
    const form = new FormData();
    form.append('location', `${content.url}/${name}`);
    const response = await scaniiRequest(service, tenant, '/files', { method: 'POST', body: form });
    expect(response.status, name).toBe(201);
    return (await response.json()) as Result;
  };

  /** The checksum and length are those of the bytes as sent, never of the decoded ones. */
  const expectSentBytes = (result: Result, name: string) => {
    const sent = bodies.get(name)!;
    expect(result.checksum, name).toBe(sha1(sent));
    expect(result.content_length, name).toBe(sent.length);
  };

  it.each(ENCODED_EICAR.map(([name, encoding]) => [name, encoding]))(
    'finds EICAR served as %s (Content-Encoding: %s), built-in engine alone',
    async (name) => {
      const result = await scanLocation(`eicar-${name}`);
      expect(result.engines.map((engine) => engine.name)).toEqual(['builtin']);
      expect(result.findings).toEqual([EICAR_FINDING]);
      expectSentBytes(result, `eicar-${name}`);
    },
  );

  it.each(ENCODED_EICAR.map(([name, encoding]) => [name, encoding]))(
    'finds EICAR served as %s (Content-Encoding: %s), default engines',
    async (name) => {
      const result = await scanLocation(`eicar-${name}`, defaults, defaultsTenant);
      expect(result.engines.map((engine) => engine.name)).toEqual(['builtin', 'clamd']);
      expect(result.findings).toContain(EICAR_FINDING);
      expect(result.findings.filter((f) => f.startsWith('content.unscannable.'))).toEqual([]);
      expectSentBytes(result, `eicar-${name}`);
    },
  );

  it('finds it through the queued fetch too, and the trace names the decoded member', async () => {
    const response = await scaniiRequest(builtin, builtinTenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/eicar-gzip-br` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await pollScanResult<Result>(builtin, builtinTenant, id);
    expect(result.findings).toEqual([EICAR_FINDING]);
    expectSentBytes(result, 'eicar-gzip-br');
    const messages = await waitFor(async () => {
      const trace = await scaniiRequest(builtin, builtinTenant, `/files/${id}/trace`);
      const body = (await trace.json()) as { events: Array<{ message: string }> };
      const all = body.events.map((event) => event.message);
      return all.some((m) => m.startsWith('content processed')) ? all : undefined;
    });
    expect(messages).toContain('content sent with Content-Encoding: gzip, br');
    expect(messages.find((m) => m.startsWith('scanned by builtin'))).toMatch(
      /content\.malicious\.eicar-test-signature in eicar-gzip-br\/\(Content-Encoding: gzip, br\)$/,
    );
  });

  it('finds clean text sent with br (or gzip, br) clean, with no unscannable finding', async () => {
    for (const name of ['clean-br', 'clean-gzip-br']) {
      const builtinResult = await scanLocation(name);
      expect(builtinResult.findings, name).toEqual([]);
      expectSentBytes(builtinResult, name);
      const defaultResult = await scanLocation(name, defaults, defaultsTenant);
      expect(defaultResult.findings, name).toEqual([]);
    }
  });

  it('calls a body that does not decode corrupt, never clean', async () => {
    for (const name of ['damaged-gzip', 'damaged-br']) {
      const result = await scanLocation(name);
      expect(result.findings, name).toEqual(['content.unscannable.corrupt']);
      expectSentBytes(result, name);
    }
  });

  it('calls an encoding it cannot undo unsupported-method, stacked or alone', async () => {
    for (const name of ['unknown', 'unknown-stacked']) {
      const result = await scanLocation(name);
      expect(result.findings, name).toEqual(['content.unscannable.unsupported-method']);
      expectSentBytes(result, name);
    }
  });

  it('stops an encoding bomb at the expansion limits', async () => {
    const result = await scanLocation('bomb');
    expect(result.findings).toEqual(['content.unscannable.limits-exceeded']);
    expectSentBytes(result, 'bomb');
  });
});

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tar } from '../support/archives.js';
import { eicar, fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  scaniiRequest,
  startEicarHashService,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { writePdf } from '../support/pdf.js';
import { storedRar, storedRar5 } from '../support/rar.js';
import { ZIP_SHAPES } from '../support/zip-shapes.js';

/**
 * The shapes that smuggle a payload past a scanner reading a container one way while an extractor
 * reads it another (a zip's two views, a second gzip member, bzip2 or xz stream, zstd frame, a
 * tar behind its end blocks, a RAR behind an image or a PDF), each through the whole service: uploaded, and fetched by URL from a
 * real HTTP server on 127.0.0.1. The payload (the EICAR test file, made at run time) must be found
 * by the built-in engine alone and by the default engines — the built-in engine beside a private
 * clamd whose database holds only EICAR's hash, which on its own finds the payload only where it
 * reads the shape too — and the same shape around clean bytes must be clean, with no unscannable
 * finding.
 */

const EICAR_FINDING = 'content.malicious.eicar-test-signature';

/** Runs a real compressor (stdin → stdout). */
function tool(command: string, args: string[], input: Buffer): Buffer {
  const run = spawnSync(command, args, { input, maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`${command} failed: ${String(run.stderr)}`);
  return run.stdout;
}

/** A JPEG's start and end markers around filler: what an image viewer shows. */
const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  Buffer.from('filler '.repeat(300)),
  Buffer.from([0xff, 0xd9]),
]);
const FIRST = Buffer.from('the first part holds nothing of interest\n'.repeat(20));
const twice = (compress: (data: Buffer) => Buffer) => (payload: Buffer) =>
  Buffer.concat([compress(FIRST), compress(payload)]);

/** Compressed streams read past their first member, stream or frame, and a tar past its end. */
const STREAM_SHAPES: Record<string, (payload: Buffer) => Buffer | Promise<Buffer>> = {
  'gzip: the payload in the second member': twice((d) => tool('gzip', ['-c', '-n'], d)),
  'bzip2: the payload in the second stream': twice((d) => tool('bzip2', ['-c'], d)),
  'xz: the payload in the second stream': twice((d) => tool('xz', ['-c'], d)),
  'zstd: the payload in the second frame': twice((d) => tool('zstd', ['-c', '-q'], d)),
  'bzip2: one stream': (payload) => tool('bzip2', ['-c'], payload),
  'xz: one stream': (payload) => tool('xz', ['-c'], payload),
  'tar: a second tar behind the first one’s end blocks': async (payload) =>
    Buffer.concat([
      await tar([{ name: 'a.txt', data: FIRST }]),
      await tar([{ name: 'b.com', data: payload }]),
    ]),
  'tar: behind an empty tar (its end blocks first)': async (payload) =>
    Buffer.concat([Buffer.alloc(10_240), await tar([{ name: 'b.com', data: payload }])]),
  'zstd: the payload after the last frame': (payload) =>
    Buffer.concat([tool('zstd', ['-c', '-q'], FIRST), payload]),
  'rar: appended to a JPEG': (payload) =>
    Buffer.concat([JPEG, storedRar([{ name: 'b.com', data: payload }])]),
  'rar 5: behind a PDF’s %%EOF': (payload) =>
    Buffer.concat([
      writePdf(['<< /Type /Catalog >>']),
      storedRar5([{ name: 'b.com', data: payload }]),
    ]),
};

const SHAPES: Record<string, (payload: Buffer) => Buffer | Promise<Buffer>> = {
  ...Object.fromEntries(Object.entries(ZIP_SHAPES).map(([name, make]) => [`zip: ${name}`, make])),
  ...STREAM_SHAPES,
};

interface Result {
  findings: string[];
  engines: Array<{ name: string }>;
}

describe('smuggling shapes through the service, uploaded and fetched', () => {
  const routes: Parameters<typeof startHttpServer>[0] = {};
  const bodies = new Map<string, Buffer>();
  let content: TestHttpServer;
  let builtin: TestService;
  let builtinTenant: TestTenant;
  let defaults: TestService;
  let defaultsTenant: TestTenant;

  beforeAll(async () => {
    for (const [index, make] of Object.values(SHAPES).entries()) {
      for (const [kind, payload] of [
        ['infected', eicar()],
        ['clean', randomContent(3000)],
      ] as const) {
        const body = await make(payload);
        bodies.set(`${kind}-${index}`, body);
        routes[`/${kind}-${index}`] = body;
      }
    }
    content = await startHttpServer(routes);

    builtin = await startTestService();
    builtinTenant = await builtin.createTenant('shapes');

    defaults = await startEicarHashService();
    defaultsTenant = await defaults.createTenant('shapes');
  }, 120_000);

  afterAll(async () => {
    await content?.close();
    await builtin?.stop();
    await defaults?.stop();
  });

  const services = () =>
    [
      ['built-in engine alone', builtin, builtinTenant, ['builtin']],
      ['default engines', defaults, defaultsTenant, ['builtin', 'clamd']],
    ] as const;

  /** The synchronous route, with the file itself or with a `location` to fetch it from. */
  const scan = async (
    service: TestService,
    tenant: TestTenant,
    body: string,
    how: 'uploaded' | 'fetched',
  ): Promise<Result> => {
    let form: FormData;
    if (how === 'uploaded') {
      form = fileForm(bodies.get(body)!, {}, 'upload.bin');
    } else {
      form = new FormData();
      form.append('location', `${content.url}/${body}`);
    }
    const response = await scaniiRequest(service, tenant, '/files', { method: 'POST', body: form });
    expect(response.status, body).toBe(201);
    return (await response.json()) as Result;
  };

  for (const [index, shape] of Object.keys(SHAPES).entries()) {
    it(`finds the payload and leaves clean bytes clean: ${shape}`, async () => {
      for (const [label, service, tenant, engines] of services()) {
        for (const how of ['uploaded', 'fetched'] as const) {
          const infected = await scan(service, tenant, `infected-${index}`, how);
          expect(infected.engines.map((engine) => engine.name)).toEqual(engines);
          expect(infected.findings, `${label}, ${how}`).toContain(EICAR_FINDING);
          const clean = await scan(service, tenant, `clean-${index}`, how);
          expect(clean.findings, `${label}, ${how}, clean`).toEqual([]);
        }
      }
    });
  }
});

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Malformed, missing, oversized and hostile input on every file endpoint. The service runs with a
 * 1 KiB upload limit; after every test the spool's incoming folder must be empty: refused input
 * never leaves a file behind.
 */
const MAX_FILE_SIZE = 1024;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };

describe('bad input on the file endpoints', () => {
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;
  let content: TestHttpServer;
  let incomingDir: string;
  /** Answers of the held location, released by the pending-result test. */
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_MAX_FILE_SIZE: '1KB',
      ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
    });
    tenant = await service.createTenant('bad-input');
    other = await service.createTenant('bad-input-other');
    incomingDir = path.join(service.dataDir, 'spool', 'incoming');
    content = await startHttpServer({
      '/clean.bin': randomContent(512),
      '/held': (_req, res) => void held.push(res),
    });
  });
  afterAll(async () => {
    await content?.close();
    await service?.stop();
  });
  afterEach(async () => {
    expect(await readdir(incomingDir)).toEqual([]);
  });

  const api = (p: string, init: RequestInit = {}, authorization = tenant.auth) =>
    fetch(`${service.url}/v2.2${p}`, {
      ...init,
      headers: { authorization, ...(init.headers ?? {}) },
    });
  const post = (p: string, body: RequestInit['body'], headers: Record<string, string> = {}) =>
    api(p, { method: 'POST', body, headers });
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const multipart = (fields: Array<[string, string | Blob, string?]>) => {
    const data = new FormData();
    for (const [name, value, fileName] of fields) {
      if (typeof value === 'string') data.append(name, value);
      else data.append(name, value, fileName ?? 'sample.bin');
    }
    return data;
  };
  const small = () => new Blob([randomContent(64)]);

  async function expectError(response: Response, status: number, message: RegExp): Promise<string> {
    const text = await response.text();
    expect(response.status, text).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-scanii-request-id')).toBeTruthy();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
    expect(body.error).not.toMatch(/internal error/i);
    return body.error as string;
  }

  /** Raw multipart bytes, for bodies no well-behaved client would send. */
  const rawMultipart = (body: string, boundary = 'arbiter-test-boundary') => ({
    body: Buffer.from(body.replace(/\n/g, '\r\n')),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  });

  describe('POST /files', () => {
    it('refuses an empty file', async () => {
      await expectError(
        await post('/files', fileForm(Buffer.alloc(0))),
        400,
        /did not send us any content/,
      );
    });

    it('refuses a request with neither file nor location', async () => {
      await expectError(await post('/files', new FormData()), 400, /did not send us any content/);
      await expectError(
        await api('/files', { method: 'POST' }),
        400,
        /did not send us any content/,
      );
      await expectError(
        await post('/files', multipart([['metadata[a]', 'b']])),
        400,
        /did not send us any content/,
      );
    });

    it('refuses a file and a location together', async () => {
      const body = multipart([
        ['location', `${content.url}/clean.bin`],
        ['file', small()],
      ]);
      await expectError(
        await post('/files', body),
        400,
        /File and Location cannot be passed in at the same time/,
      );
      expect(content.hits.get('/clean.bin') ?? 0).toBe(0);
    });

    it('refuses locations that are not http(s) URLs', async () => {
      for (const location of [
        'ftp://127.0.0.1/file',
        'javascript:alert(1)',
        'file:///etc/passwd',
        'not a url',
        '//127.0.0.1/x',
        'gopher://127.0.0.1:6379/_PING',
      ]) {
        await expectError(
          await post('/files', multipart([['location', location]])),
          400,
          /location must be an http or https URL/,
        );
      }
    });

    it('refuses a location with embedded credentials', async () => {
      const location = `${content.url.replace('http://', 'http://user:pass@')}/clean.bin`;
      await expectError(
        await post('/files', multipart([['location', location]])),
        400,
        /location .*credentials/,
      );
    });

    it('treats an empty optional field as absent, as an HTML form sends it', async () => {
      const response = await post(
        '/files',
        fileForm(randomContent(32), { location: '', callback: '' }),
      );
      expect(response.status).toBe(201);
    });

    it('accepts a file at the size limit and refuses a larger one with 413, leaving nothing behind', async () => {
      const atLimit = randomContent(MAX_FILE_SIZE);
      const ok = await post('/files', fileForm(atLimit));
      expect(ok.status).toBe(201);
      expect(await ok.json()).toMatchObject({
        checksum: sha1(atLimit),
        content_length: MAX_FILE_SIZE,
      });
      for (const size of [MAX_FILE_SIZE + 1, 256 * 1024]) {
        await expectError(
          await post('/files', fileForm(randomContent(size))),
          413,
          /larger than the 1 KiB \(1024-byte\) limit/,
        );
        expect(await readdir(incomingDir)).toEqual([]);
      }
      // Async uploads have the same limit.
      await expectError(
        await post('/files/async', fileForm(randomContent(4096))),
        413,
        /larger than the 1 KiB/,
      );
    });

    it('refuses malformed multipart bodies with 400', async () => {
      const noBoundary = await post('/files', Buffer.from('--x\r\n\r\n'), {
        'content-type': 'multipart/form-data',
      });
      await expectError(noBoundary, 400, /multipart/i);

      const wrongBoundary = rawMultipart(
        '--some-other-boundary\nContent-Disposition: form-data; name="file"; filename="a.bin"\n\nhello\n--some-other-boundary--\n',
      );
      await expectError(
        await post('/files', wrongBoundary.body, wrongBoundary.headers),
        400,
        /multipart|did not send us any content/i,
      );

      const truncated = rawMultipart(
        '--arbiter-test-boundary\nContent-Disposition: form-data; name="file"; filename="a.bin"\nContent-Type: application/octet-stream\n\nhello, this file never ends',
      );
      await expectError(await post('/files', truncated.body, truncated.headers), 400, /multipart/i);

      const truncatedAsync = rawMultipart(
        '--arbiter-test-boundary\nContent-Disposition: form-data; name="file"; filename="a.bin"\n\nhello',
      );
      await expectError(
        await post('/files/async', truncatedAsync.body, truncatedAsync.headers),
        400,
        /multipart/i,
      );

      const garbageHeaders = rawMultipart(
        '--arbiter-test-boundary\nthis is not a header\n\n\n--arbiter-test-boundary--\n',
      );
      const response = await post('/files', garbageHeaders.body, garbageHeaders.headers);
      expect(response.status).toBe(400);
    });

    it('refuses a file under another field name, naming the field', async () => {
      await expectError(await post('/files', multipart([['upload', small()]])), 400, /"upload"/);
      await expectError(
        await post('/files/async', multipart([['files[]', small()]])),
        400,
        /"files\[\]"/,
      );
    });

    it('refuses two files', async () => {
      await expectError(
        await post(
          '/files',
          multipart([
            ['file', small()],
            ['file', small()],
          ]),
        ),
        400,
        /exactly one file/,
      );
      await expectError(
        await post(
          '/files/async',
          multipart([
            ['file', small()],
            ['file', small()],
          ]),
        ),
        400,
        /exactly one file/,
      );
    });

    it('answers 415 to a body that is not multipart', async () => {
      for (const endpoint of ['/files', '/files/async']) {
        await expectError(
          await post(endpoint, JSON.stringify({ location: `${content.url}/clean.bin` }), JSON_TYPE),
          415,
          /multipart\/form-data/,
        );
        await expectError(
          await post(endpoint, form({ location: `${content.url}/clean.bin` }), FORM),
          415,
          /multipart\/form-data/,
        );
        await expectError(
          await post(endpoint, 'hello', { 'content-type': 'text/plain' }),
          415,
          /multipart\/form-data/,
        );
        await expectError(
          await post(endpoint, randomContent(64), { 'content-type': 'application/octet-stream' }),
          415,
          /multipart\/form-data/,
        );
      }
    });

    it('refuses "file" sent as a text field, saying how to send a file', async () => {
      await expectError(
        await post('/files', multipart([['file', 'just some text']])),
        400,
        /"file" must be a file part/,
      );
      await expectError(
        await post('/files/async', multipart([['file', 'just some text']])),
        400,
        /"file" must be a file part/,
      );
    });

    it('never uses the client’s file name as a path', async () => {
      const name = `../../../escape-${Date.now()}`;
      const response = await post('/files', multipart([['file', small(), name]]));
      expect(response.status).toBe(201);
      for (const base of [incomingDir, service.dataDir]) {
        await expect(readdir(path.resolve(base, path.dirname(name)))).resolves.not.toContain(
          path.basename(name),
        );
      }
    });

    it('refuses an unknown field by name, and deletes the file that came with it', async () => {
      await expectError(
        await post('/files', fileForm(randomContent(32), { metdata: 'typo' })),
        400,
        /Unknown field "metdata"/,
      );
      await expectError(
        await post('/files/async', fileForm(randomContent(32), { 'metdata[a]': 'typo' })),
        400,
        /Unknown field "metdata"/,
      );
    });
  });

  describe('metadata', () => {
    /** The same fields, sent to the three endpoints and in every encoding they accept. */
    async function sendEverywhere(fields: Array<[string, string]>): Promise<Response[]> {
      const location = `${content.url}/clean.bin`;
      const withFile = multipart([['file', small()], ...fields]);
      const urlencoded = new URLSearchParams([['location', location], ...fields]).toString();
      const fetchMultipart = multipart([['location', location], ...fields]);
      return [
        await post('/files', withFile),
        await post('/files/async', multipart([['file', small()], ...fields])),
        await post('/files/fetch', urlencoded, FORM),
        await post('/files/fetch', fetchMultipart),
      ];
    }

    it('refuses malformed metadata fields with 400', async () => {
      const cases: Array<[Array<[string, string]>, RegExp]> = [
        [[['metadata[]', 'x']], /metadata/],
        [[['metadata[a][b]', 'x']], /metadata/],
        [[['metadata', 'plain']], /metadata must be sent as metadata\[key\]=value/],
        [
          [
            ['metadata[a]', 'x'],
            ['metadata[a]', 'y'],
          ],
          /metadata/,
        ],
        [[['metadata[k]', 'v'.repeat(4097)]], /metadata values are at most 4096 characters/],
        [[[`metadata[${'k'.repeat(129)}]`, 'v']], /metadata keys are at most 128 characters/],
        // Multipart cannot even carry a control character in a part header.
        [
          [['metadata[bad\u0001key]', 'v']],
          /metadata keys must be printable|malformed multipart body/,
        ],
      ];
      for (const [fields, message] of cases) {
        for (const [i, response] of (await sendEverywhere(fields)).entries()) {
          await expectError(response, 400, message).catch((e: unknown) => {
            throw new Error(`${fields[0]?.[0]} #${i}: ${String(e)}`);
          });
        }
      }
      const json = await post(
        '/files/fetch',
        JSON.stringify({ location: `${content.url}/clean.bin`, metadata: { a: { b: 'c' } } }),
        JSON_TYPE,
      );
      await expectError(json, 400, /metadata/);
      const jsonArray = await post(
        '/files/fetch',
        JSON.stringify({ location: `${content.url}/clean.bin`, metadata: ['x'] }),
        JSON_TYPE,
      );
      await expectError(jsonArray, 400, /metadata must be sent as metadata\[key\]=value/);
      const jsonNumber = await post(
        '/files/fetch',
        JSON.stringify({ location: `${content.url}/clean.bin`, metadata: { a: 1 } }),
        JSON_TYPE,
      );
      await expectError(jsonNumber, 400, /text values/);
    });

    it('explains numeric-only multipart metadata keys, which urlencoded bodies accept', async () => {
      const location = `${content.url}/clean.bin`;
      for (const [name, message] of [
        [
          'metadata[0]',
          /one field per key; in a multipart body a key that is empty or only digits/,
        ],
        ['metadata[9999]', /one field per key/],
        ['metadata[10000]', /"metadata\[10000\]" has a numeric key over 9999/],
        ['metadata[4294967294]', /numeric key over 9999/],
        ['metadata[a][b][c]', /nested too deeply: send metadata as metadata\[key\]=value/],
      ] as const) {
        await expectError(
          await post(
            '/files',
            multipart([
              ['file', small()],
              [name, 'v'],
            ]),
          ),
          400,
          message,
        );
        await expectError(
          await post(
            '/files/fetch',
            multipart([
              ['location', location],
              [name, 'v'],
            ]),
          ),
          400,
          message,
        );
      }
      // A repeated plain field reads the same way in multipart.
      await expectError(
        await post(
          '/files',
          multipart([
            ['file', small()],
            ['metadata', 'a'],
            ['metadata', 'b'],
          ]),
        ),
        400,
        /one field per key/,
      );
      // With another key beside it, or urlencoded, a numeric key is an ordinary key.
      const mixed = await post(
        '/files',
        multipart([
          ['file', small()],
          ['metadata[0]', 'zero'],
          ['metadata[k]', 'v'],
        ]),
      );
      expect(mixed.status).toBe(201);
      expect(((await mixed.json()) as { metadata: unknown }).metadata).toEqual({
        0: 'zero',
        k: 'v',
      });
      const urlencoded = await post(
        '/files/fetch',
        new URLSearchParams([
          ['location', location],
          ['metadata[10000]', 'v'],
        ]).toString(),
        FORM,
      );
      expect(urlencoded.status).toBe(202);
    });

    it('refuses __proto__ and other prototype tricks without polluting anything', async () => {
      const hostile: Array<Array<[string, string]>> = [
        [['metadata[__proto__]', 'x']],
        [['metadata[__proto__][polluted]', 'yes']],
        [['__proto__[polluted]', 'yes']],
        [['constructor[prototype][polluted]', 'yes']],
        [['metadata[constructor][prototype][polluted]', 'yes']],
      ];
      for (const fields of hostile) {
        for (const response of await sendEverywhere(fields))
          await expectError(response, 400, /__proto__|constructor|metadata/);
      }
      const jsonBodies = [
        `{"location":"${content.url}/clean.bin","metadata":{"__proto__":"x"}}`,
        `{"location":"${content.url}/clean.bin","metadata":{"__proto__":{"polluted":"yes"}}}`,
        `{"location":"${content.url}/clean.bin","__proto__":{"polluted":"yes"}}`,
        `{"location":"${content.url}/clean.bin","constructor":{"prototype":{"polluted":"yes"}}}`,
      ];
      for (const body of jsonBodies)
        await expectError(
          await post('/files/fetch', body, JSON_TYPE),
          400,
          /__proto__|constructor/,
        );
      // The service runs in this process: a polluted prototype would show here.
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('x');
    });

    it('keeps keys that merely look like object internals as plain keys', async () => {
      const fields: Array<[string, string]> = [
        ['metadata[constructor]', 'c'],
        ['metadata[toString]', 't'],
        ['metadata[0]', 'zero'],
      ];
      const response = await post('/files', multipart([['file', small()], ...fields]));
      expect(response.status).toBe(201);
      expect(((await response.json()) as { metadata: unknown }).metadata).toEqual({
        constructor: 'c',
        toString: 't',
        0: 'zero',
      });
      const fetched = await post(
        '/files/fetch',
        new URLSearchParams([['location', `${content.url}/clean.bin`], ...fields]).toString(),
        FORM,
      );
      expect(fetched.status).toBe(202);
      const { id } = (await fetched.json()) as { id: string };
      const result = await waitFor(async () => {
        const r = await api(`/files/${id}`);
        return r.status === 200 ? ((await r.json()) as { metadata: unknown }) : undefined;
      });
      expect(result.metadata).toEqual({ constructor: 'c', toString: 't', 0: 'zero' });
    });

    it('accepts 100 metadata entries and refuses 101 with 400', async () => {
      const entries = (n: number) =>
        Array.from({ length: n }, (_, i): [string, string] => [`metadata[k${i}]`, `v${i}`]);
      const ok = await post('/files', multipart([['file', small()], ...entries(100)]));
      expect(ok.status).toBe(201);
      expect(Object.keys(((await ok.json()) as { metadata: object }).metadata)).toHaveLength(100);
      for (const response of await sendEverywhere(entries(101))) {
        await expectError(response, 400, /at most 100 are accepted/);
      }
    });

    it('answers 413 to 10,000 metadata fields, urlencoded and multipart', async () => {
      const many = Array.from({ length: 10_000 }, (_, i): [string, string] => [
        `metadata[k${i}]`,
        'v',
      ]);
      const urlencoded = new URLSearchParams([
        ['location', `${content.url}/clean.bin`],
        ...many,
      ]).toString();
      await expectError(
        await post('/files/fetch', urlencoded, FORM),
        413,
        /too many form fields \(at most 500\)/,
      );
      await expectError(
        await post('/files/async', multipart([['file', small()], ...many])),
        413,
        /too many form fields \(at most 500\)/,
      );
      await expectError(
        await post('/files', multipart([...many, ['file', small()]])),
        413,
        /too many form fields/,
      );
      await expectError(
        await post('/files/fetch', multipart([['location', `${content.url}/clean.bin`], ...many])),
        413,
        /too many form fields/,
      );
    });

    it('refuses an unknown field with 400, naming it', async () => {
      for (const response of await sendEverywhere([['colour', 'blue']]))
        await expectError(response, 400, /Unknown field "colour"/);
      const json = await post(
        '/files/fetch',
        JSON.stringify({ location: `${content.url}/clean.bin`, colour: 'blue' }),
        JSON_TYPE,
      );
      await expectError(json, 400, /Unknown field "colour"/);
    });
  });

  describe('POST /files/async and /files/fetch', () => {
    it('refuses a location on /files/async, pointing to /files/fetch', async () => {
      await expectError(
        await post('/files/async', multipart([['location', `${content.url}/clean.bin`]])),
        400,
        /\/files\/fetch/,
      );
      await expectError(
        await post(
          '/files/async',
          multipart([
            ['location', `${content.url}/clean.bin`],
            ['file', small()],
          ]),
        ),
        400,
        /\/files\/fetch/,
      );
      await expectError(
        await post('/files/async', new FormData()),
        400,
        /did not send us any content/,
      );
      await expectError(
        await post('/files/async', fileForm(Buffer.alloc(0))),
        400,
        /did not send us any content/,
      );
    });

    it('refuses /files/fetch without a location', async () => {
      await expectError(
        await post('/files/fetch', form({ callback: 'http://127.0.0.1/cb' }), FORM),
        400,
        /location is required/,
      );
      await expectError(
        await post('/files/fetch', form({ location: '  ' }), FORM),
        400,
        /location is required/,
      );
      await expectError(await api('/files/fetch', { method: 'POST' }), 400, /location is required/);
      await expectError(await post('/files/fetch', '{}', JSON_TYPE), 400, /location is required/);
    });

    it('refuses non-http locations and a location sent twice or not as text', async () => {
      for (const location of [
        'ftp://127.0.0.1/file',
        'javascript:alert(1)',
        'file:///etc/passwd',
        'not a url',
        'data:text/plain,hello',
      ]) {
        await expectError(
          await post('/files/fetch', form({ location }), FORM),
          400,
          /location must be an http or https URL/,
        );
      }
      const twice = new URLSearchParams([
        ['location', `${content.url}/clean.bin`],
        ['location', `${content.url}/clean.bin`],
      ]).toString();
      await expectError(await post('/files/fetch', twice, FORM), 400, /location must be a single/);
      await expectError(
        await post('/files/fetch', JSON.stringify({ location: 42 }), JSON_TYPE),
        400,
        /location must be a single/,
      );
      await expectError(
        await post(
          '/files/fetch',
          form({ location: `http://127.0.0.1/${'a'.repeat(9000)}` }),
          FORM,
        ),
        400,
        /location is longer than 8192/,
      );
    });

    it('refuses an invalid callback URL', async () => {
      for (const callback of [
        'not a url',
        'ftp://127.0.0.1/cb',
        'javascript:alert(1)',
        'file:///tmp/x',
      ]) {
        const body = form({ location: `${content.url}/clean.bin`, callback });
        await expectError(
          await post('/files/fetch', body, FORM),
          400,
          /callback must be an http or https URL/,
        );
      }
      await expectError(
        await post('/files', fileForm(randomContent(32), { callback: 'nope' })),
        400,
        /callback must be an http or https URL/,
      );
      await expectError(
        await post('/files/async', fileForm(randomContent(32), { callback: 'nope' })),
        400,
        /callback must be an http or https URL/,
      );
    });

    it('answers 413 to a urlencoded or JSON body over 1 MiB', async () => {
      const big = form({
        location: `${content.url}/clean.bin`,
        'metadata[a]': 'x'.repeat(1024 * 1024),
      });
      await expectError(await post('/files/fetch', big, FORM), 413, /larger than the 1 MiB limit/);
      const bigJson = JSON.stringify({
        location: `${content.url}/clean.bin`,
        metadata: { a: 'x'.repeat(1024 * 1024) },
      });
      await expectError(
        await post('/files/fetch', bigJson, JSON_TYPE),
        413,
        /larger than the 1 MiB limit/,
      );
      // A multipart field over the per-field limit is refused too.
      const longField = multipart([
        ['location', `${content.url}/clean.bin`],
        ['metadata[a]', 'x'.repeat(64 * 1024)],
      ]);
      await expectError(await post('/files/fetch', longField), 413, /"metadata\[a\]" is too long/);
    });

    it('refuses deeply nested and oversized JSON metadata with 400', async () => {
      const location = `${content.url}/clean.bin`;
      const arrays = `{"location":"${location}","metadata":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
      await expectError(
        await post('/files/fetch', arrays, JSON_TYPE),
        400,
        /metadata must be sent as metadata\[key\]=value/,
      );
      const objects = `{"location":"${location}","metadata":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
      await expectError(await post('/files/fetch', objects, JSON_TYPE), 400, /metadata/);
      const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
      await expectError(
        await post('/files/fetch', JSON.stringify({ location, metadata: many }), JSON_TYPE),
        400,
        /at most 100 are accepted/,
      );
    });

    it('refuses invalid JSON and bodies of other types', async () => {
      await expectError(
        await post('/files/fetch', '{"location": ', JSON_TYPE),
        400,
        /not valid JSON|could not be parsed/,
      );
      await expectError(
        await post('/files/fetch', '"just a string"', JSON_TYPE),
        400,
        /not valid JSON|could not be parsed|object/,
      );
      await expectError(
        await post('/files/fetch', `location=${content.url}/clean.bin`, {
          'content-type': 'text/plain',
        }),
        415,
        /x-www-form-urlencoded/,
      );
      await expectError(
        await post('/files/fetch', form({ location: `${content.url}/clean.bin` }), {
          'content-type': 'application/x-www-form-urlencoded; charset=utf-16',
        }),
        415,
        /charset/,
      );
    });

    it('refuses a file sent to /files/fetch, pointing to the upload endpoints', async () => {
      const body = multipart([
        ['location', `${content.url}/clean.bin`],
        ['file', small()],
      ]);
      const message = await expectError(
        await post('/files/fetch', body),
        400,
        /\/files\/async|\/files\b/,
      );
      expect(message).not.toMatch(/send the content in the "file" field|exactly one file/);
    });
  });

  describe('GET and DELETE of results and traces', () => {
    const endpoints = (id: string): Array<[string, string]> => [
      ['GET', `/files/${id}`],
      ['DELETE', `/files/${id}`],
      ['GET', `/files/${id}/trace`],
      ['DELETE', `/files/${id}/trace`],
    ];

    it('answers 404 for an unknown id', async () => {
      for (const [method, p] of endpoints('0123456789abcdef0123456789abcdef')) {
        await expectError(await api(p, { method }), 404, /0123456789abcdef0123456789abcdef/);
      }
    });

    it('answers 404, never 500, for ids that are not ids', async () => {
      const ids = [
        'not-hex',
        'ABCDEF0123456789ABCDEF0123456789',
        '..%2F..%2Fetc',
        '..%2F..%2F..%2Fetc%2Fpasswd',
        '%00',
        'a'.repeat(10_000),
        '*',
        '%2A',
      ];
      for (const id of ids) {
        for (const [method, p] of endpoints(id)) {
          const response = await api(p, { method });
          expect(response.status, `${method} ${p.slice(0, 80)}`).toBe(404);
          const body = (await response.json()) as { error: string };
          expect(body.error.length).toBeLessThan(200);
        }
      }
      // Dot segments resolved by the client land outside /v2.2 entirely: still a JSON 404.
      await expectError(await api('/files/../../etc/passwd'), 404, /no such resource/);
    });

    it('answers a malformed percent-encoding with 400 or 404, never 500', async () => {
      for (const p of ['/files/%zz', '/files/%E0%A4%A', '/files/%/trace']) {
        for (const method of ['GET', 'DELETE']) {
          const response = await api(p, { method });
          expect([400, 404], `${method} ${p}`).toContain(response.status);
          expect(response.headers.get('content-type')).toBe('application/json');
          expect(((await response.json()) as { error: string }).error).toBeTruthy();
        }
      }
    });

    it('hides another tenant’s result and trace (404) and leaves them to their owner', async () => {
      const created = await post('/files', fileForm(eicar(), { 'metadata[owner]': 'tenant' }));
      expect(created.status).toBe(201);
      const result = (await created.json()) as { id: string };
      for (const [method, p] of endpoints(result.id)) {
        await expectError(await api(p, { method }, other.auth), 404, new RegExp(result.id));
      }
      const owned = await api(`/files/${result.id}`);
      expect(owned.status).toBe(200);
      expect(await owned.json()).toEqual(result);
      const trace = await api(`/files/${result.id}/trace`);
      expect(trace.status).toBe(200);
      expect(((await trace.json()) as { events: unknown[] }).events.length).toBeGreaterThan(0);
    });

    it('answers 404 while a result is pending, saying it is still being processed', async () => {
      const response = await post(
        '/files/fetch',
        form({ location: `${content.url}/held`, 'metadata[k]': 'v' }),
        FORM,
      );
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      await waitFor(() => held.length > 0, { what: 'the worker to request the held location' });
      await expectError(await api(`/files/${id}`), 404, /still being processed/);
      // Another tenant is not even told that it exists.
      await expectError(await api(`/files/${id}`, {}, other.auth), 404, /could not find/);
      const trace = await api(`/files/${id}/trace`);
      expect(trace.status).toBe(200);
      const body = randomContent(100);
      held.shift()?.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
      const result = await waitFor(
        async () => {
          const r = await api(`/files/${id}`);
          return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : undefined;
        },
        { what: 'the held result' },
      );
      expect(result).toMatchObject({
        id,
        checksum: sha1(body),
        findings: [],
        metadata: { k: 'v' },
      });
    });
  });
});

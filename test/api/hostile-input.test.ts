import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eicar, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Input an adversarial client sends on purpose: names and values in UTF-8 (and the control
 * characters a wrong decoding would let through), numbers in every notation but plain decimal.
 * Multipart bodies are written byte by byte here, so what reaches the server is exactly UTF-8,
 * as curl sends it, whatever a client library would escape.
 */
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const BOUNDARY = 'arbiter-hostile-input';

interface Part {
  name: string;
  value: string | Buffer;
  /** Makes the part a file part, named so in its `Content-Disposition`. */
  filename?: string;
}

/** A multipart body whose header parameters are raw UTF-8, as curl `-F` writes them. */
function multipartBytes(parts: Part[]): { body: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const fileName = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.filename === undefined ? '' : 'Content-Type: application/octet-stream\r\n';
    chunks.push(
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${fileName}\r\n${type}\r\n`,
        'utf8',
      ),
      Buffer.from(part.value),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  };
}

/**
 * A raw connection to `url` that sends `head` (request line and headers), then keeps writing
 * `chunk` every 100 ms, as a client trickling its body would, until the server closes it.
 */
function trickle(url: string, head: string, chunk: string, bodyStart = '') {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (data: string) => (received += data));
  // Writing on after the server closed fails (EPIPE, ECONNRESET): that is the point.
  socket.on('error', () => undefined);
  const closed = new Promise<'closed'>((resolve) => {
    socket.once('end', () => resolve('closed'));
    socket.once('close', () => resolve('closed'));
  });
  socket.write(head.replace(/\n/g, '\r\n') + bodyStart);
  const timer = setInterval(() => {
    if (socket.writable) socket.write(chunk);
  }, 100);
  void closed.then(() => clearInterval(timer));
  return {
    received: () => received,
    /** 'closed' once the server ended the connection, 'open' if it still holds it at the deadline. */
    closedWithin: (ms: number) =>
      Promise.race([
        closed,
        new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), ms).unref()),
      ]),
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

/** The status line and headers (lower-cased names) of the first answer on a raw connection. */
function parseHead(raw: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = raw.split('\r\n\r\n')[0]!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/** Long enough for any loaded machine, far shorter than the minutes a held socket lasts. */
const CLOSE_DEADLINE_MS = 20_000;

describe('hostile input', () => {
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;
  let incomingDir: string;

  beforeAll(async () => {
    service = await startTestService({ ARBITER_MAX_FILE_SIZE: '1KB' });
    tenant = await service.createTenant('hostile-input');
    incomingDir = path.join(service.dataDir, 'spool', 'incoming');
    content = await startHttpServer({ '/clean.bin': randomContent(64) });
  });
  afterAll(async () => {
    await content?.close();
    await service?.stop();
  });
  afterEach(async () => {
    expect(await readdir(incomingDir)).toEqual([]);
  });

  const post = (p: string, body: RequestInit['body'], headers: Record<string, string> = {}) =>
    scaniiRequest(service, tenant, p, { method: 'POST', body, headers });
  const postMultipart = (p: string, parts: Part[]) => {
    const { body, headers } = multipartBytes(parts);
    return post(p, body, headers);
  };
  const smallFile = (): Part => ({ name: 'file', value: randomContent(64), filename: 'a.bin' });
  const location = () => `${content.url}/clean.bin`;

  async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
    const text = await response.text();
    expect(response.status, text).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
  }

  /** The metadata of the stored result, as `GET /files/{id}` returns it. */
  async function storedMetadata(response: Response): Promise<unknown> {
    const text = await response.text();
    expect([201, 202], text).toContain(response.status);
    const { id } = JSON.parse(text) as { id: string };
    const result = await pollScanResult<{ metadata: unknown }>(service, tenant, id);
    return result.metadata;
  }

  describe('metadata in UTF-8', () => {
    const metadata = { ключ: 'значение', 'naïve key 😀': 'émoji ✓\nsecond line\ttab' };
    const metadataParts = (): Part[] =>
      Object.entries(metadata).map(([key, value]) => ({ name: `metadata[${key}]`, value }));

    it('stores non-ASCII keys sent as raw UTF-8 multipart exactly as sent, on every endpoint', async () => {
      const sent = [
        await postMultipart('/files', [smallFile(), ...metadataParts()]),
        await postMultipart('/files/async', [smallFile(), ...metadataParts()]),
        await postMultipart('/files/fetch', [
          { name: 'location', value: location() },
          ...metadataParts(),
        ]),
        // The same keys urlencoded and as JSON, for comparison.
        await post(
          '/files/fetch',
          new URLSearchParams([
            ['location', location()],
            ...metadataParts().map((part): [string, string] => [part.name, String(part.value)]),
          ]).toString(),
          FORM,
        ),
        await post('/files/fetch', JSON.stringify({ location: location(), metadata }), JSON_TYPE),
      ];
      for (const [i, response] of sent.entries())
        expect(await storedMetadata(response), `request #${i}`).toEqual(metadata);
    });

    it('refuses C0 and C1 control characters in keys and values, in every encoding', async () => {
      const hostile: Array<[string, string, RegExp]> = [
        ['a\u0085b', 'v', /metadata keys must be printable/],
        ['a\u009fb', 'v', /metadata keys must be printable/],
        // Busboy already refuses a part header with C0 or DEL in it.
        ['a\u007fb', 'v', /metadata keys must be printable|malformed multipart body/],
        ['k', 'a\u0085b', /metadata values must be text without control characters/],
        ['k', 'a\u0000b', /metadata values must be text without control characters/],
        ['k', 'a\u001bb', /metadata values must be text without control characters/],
      ];
      for (const [key, value, message] of hostile) {
        const what = JSON.stringify({ [key]: value });
        const field: Part = { name: `metadata[${key}]`, value };
        const answers = [
          await postMultipart('/files', [smallFile(), field]),
          await postMultipart('/files/async', [smallFile(), field]),
          await postMultipart('/files/fetch', [{ name: 'location', value: location() }, field]),
          await post(
            '/files/fetch',
            new URLSearchParams([
              ['location', location()],
              [field.name, value],
            ]).toString(),
            FORM,
          ),
          await post(
            '/files/fetch',
            JSON.stringify({ location: location(), metadata: { [key]: value } }),
            JSON_TYPE,
          ),
        ];
        for (const [i, response] of answers.entries()) {
          await expectError(response, 400, message).catch((error: unknown) => {
            throw new Error(`${what} #${i}: ${String(error)}`);
          });
        }
      }
    });

    it('refuses unpaired surrogates in JSON keys and values', async () => {
      for (const [raw, message] of [
        ['{"\\ud800": "v"}', /metadata keys must be printable/],
        ['{"a\\udc00b": "v"}', /metadata keys must be printable/],
        ['{"k": "\\ud800"}', /metadata values must be text/],
        ['{"k": "x\\udfff"}', /metadata values must be text/],
      ] as const) {
        await expectError(
          await post(
            '/files/fetch',
            `{"location": ${JSON.stringify(location())}, "metadata": ${raw}}`,
            JSON_TYPE,
          ),
          400,
          message,
        );
      }
      // A surrogate pair is one character (an emoji), not a problem.
      const pair = await post(
        '/files/fetch',
        `{"location": ${JSON.stringify(location())}, "metadata": {"\\ud83d\\ude00": "\\ud83d\\ude00"}}`,
        JSON_TYPE,
      );
      expect(await storedMetadata(pair)).toEqual({ '😀': '😀' });
    });

    it('names a non-ASCII file in UTF-8 in the verdict API’s detectedInfections', async () => {
      const name = 'вирус-ß.com';
      const { body, headers } = multipartBytes([
        { name: 'documents', value: eicar(), filename: name },
      ]);
      const response = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: tenant.auth, ...headers },
        body,
      });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      const verdict = JSON.parse(text) as {
        result: string;
        detectedInfections: Array<{ file: string }>;
      };
      expect(verdict.result).toBe('Infected');
      expect(verdict.detectedInfections.map((infection) => infection.file)).toEqual([name]);
    });
  });

  describe('whole numbers', () => {
    const mintToken = (body: string | Buffer, headers: Record<string, string>) =>
      post('/auth/tokens', body, headers);
    const lifetimeSeconds = async (response: Response): Promise<number> => {
      const text = await response.text();
      expect(response.status, text).toBe(201);
      const token = JSON.parse(text) as { creation_date: string; expiration_date: string };
      return (Date.parse(token.expiration_date) - Date.parse(token.creation_date)) / 1000;
    };

    it('takes a token timeout as decimal digits in a form or as a JSON integer', async () => {
      expect(await lifetimeSeconds(await mintToken('timeout=60', FORM))).toBe(60);
      expect(await lifetimeSeconds(await mintToken('timeout=0060', FORM))).toBe(60);
      const { body, headers } = multipartBytes([{ name: 'timeout', value: '61' }]);
      expect(await lifetimeSeconds(await mintToken(body, headers))).toBe(61);
      expect(await lifetimeSeconds(await mintToken('{"timeout": 62}', JSON_TYPE))).toBe(62);
      // JSON has one kind of number: 63.0 and 6.3e1 are the integer 63.
      expect(await lifetimeSeconds(await mintToken('{"timeout": 6.3e1}', JSON_TYPE))).toBe(63);
      expect(await lifetimeSeconds(await mintToken('{"timeout": "64"}', JSON_TYPE))).toBe(64);
    });

    it('refuses every other notation of a token timeout with 400', async () => {
      const notWhole = /^timeout must be a whole number of seconds$/;
      const outOfRange = /^timeout must be between 1 and 86400 seconds$/;
      const asForm: Array<[string, RegExp]> = [
        ['0x10', notWhole],
        ['1e3', notWhole],
        [' 5 ', notWhole],
        ['5 ', notWhole],
        ['5.0', notWhole],
        ['+5', notWhole],
        ['1_000', notWhole],
        ['٥', notWhole], // an Arabic-Indic digit five
        ['', notWhole],
        ['-5', outOfRange],
        ['99999999999999999999', outOfRange],
      ];
      for (const [timeout, message] of asForm) {
        const form = new URLSearchParams({ timeout }).toString();
        await expectError(await mintToken(form, FORM), 400, message).catch((error: unknown) => {
          throw new Error(`timeout=${JSON.stringify(timeout)}: ${String(error)}`);
        });
        const { body, headers } = multipartBytes([{ name: 'timeout', value: timeout }]);
        await expectError(await mintToken(body, headers), 400, message).catch((error: unknown) => {
          throw new Error(`multipart timeout=${JSON.stringify(timeout)}: ${String(error)}`);
        });
      }
      const asJson: Array<[string, RegExp]> = [
        ['true', notWhole],
        ['false', notWhole],
        ['[5]', notWhole],
        ['null', notWhole],
        ['{}', notWhole],
        ['5.5', notWhole],
        ['"0x10"', notWhole],
        ['"1e3"', notWhole],
        ['" 5"', notWhole],
        ['9007199254740993', outOfRange],
      ];
      for (const [timeout, message] of asJson) {
        await expectError(
          await mintToken(`{"timeout": ${timeout}}`, JSON_TYPE),
          400,
          message,
        ).catch((error: unknown) => {
          throw new Error(`{"timeout": ${timeout}}: ${String(error)}`);
        });
      }
    });

    it('reads the limit of GET /v1/jobs as decimal digits only', async () => {
      const list = (query: string) =>
        fetch(`${service.url}/v1/jobs${query}`, { headers: { authorization: tenant.auth } });
      expect((await list('?limit=5')).status).toBe(200);
      for (const limit of ['0x10', '1e2', '%2010', '5.0', 'true']) {
        await expectError(
          await list(`?limit=${limit}`),
          400,
          /^limit must be a whole number from 1 to 1000$/,
        );
      }
    });

    it('refuses anything but a JSON integer as grace_seconds and as a tenant limit', async () => {
      const rotate = (body: string) =>
        fetch(`${service.url}/v1/webhooks/signing-secret/rotate`, {
          method: 'POST',
          headers: { authorization: tenant.auth, ...JSON_TYPE },
          body,
        });
      for (const grace of ['"60"', 'true', '[60]', '60.5'])
        await expectError(
          await rotate(`{"grace_seconds": ${grace}}`),
          400,
          /^grace_seconds must be a whole number of seconds$/,
        );
      const setLimits = (body: string) =>
        service.admin(`/tenants/${tenant.id}/limits`, { method: 'PUT', body });
      for (const burst of ['"10"', 'true', '[10]', '1.5'])
        await expectError(
          await setLimits(`{"burst": ${burst}}`),
          400,
          /^burst must be a whole number \(0 = no limit\) or null \(the default\)$/,
        );
      await expectError(
        await setLimits('{"burst": -1}'),
        400,
        /^burst must be from 0 \(no limit\) to 1000000$/,
      );
      const accepted = await setLimits('{"burst": 10}');
      expect(accepted.status).toBe(200);
      expect(((await accepted.json()) as { overrides: { burst: unknown } }).overrides.burst).toBe(
        10,
      );
      expect((await setLimits('{"burst": null}')).status).toBe(200);
    });
  });

  describe('answers sent before the body arrived', () => {
    const chunked = (requestLine: string, headers: string[]) =>
      `${requestLine}\nHost: arbiter\n${headers.map((h) => `${h}\n`).join('')}Transfer-Encoding: chunked\n\n`;
    const CHUNK = '1\r\nx\r\n';

    const earlyAnswers: Array<{ what: string; head: () => string; status: number }> = [
      {
        what: 'no credentials, chunked upload',
        head: () =>
          chunked('POST /v2.2/files HTTP/1.1', [
            `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
          ]),
        status: 401,
      },
      {
        what: 'wrong credentials, chunked upload',
        head: () =>
          chunked('POST /v2.2/files HTTP/1.1', [
            `Authorization: Basic ${Buffer.from(`${tenant.key}:wrong`).toString('base64')}`,
            `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
          ]),
        status: 401,
      },
      {
        what: 'no credentials, verdict API upload',
        head: () =>
          chunked('POST /api/Scan HTTP/1.1', [
            `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
          ]),
        status: 401,
      },
      {
        what: 'a body type the endpoint does not take',
        head: () =>
          chunked('POST /v2.2/files HTTP/1.1', [
            `Authorization: ${tenant.auth}`,
            'Content-Type: text/plain',
          ]),
        status: 415,
      },
      {
        what: 'a Content-Length over the body limit',
        head: () =>
          [
            'POST /v2.2/files/fetch HTTP/1.1',
            'Host: arbiter',
            `Authorization: ${tenant.auth}`,
            'Content-Type: application/json',
            `Content-Length: ${100 * 1024 * 1024}`,
            '',
            '{"location": ',
          ].join('\n'),
        status: 413,
      },
      {
        what: 'an upload declared far over the file size limit',
        head: () =>
          [
            'POST /v2.2/files HTTP/1.1',
            'Host: arbiter',
            `Authorization: ${tenant.auth}`,
            `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
            `Content-Length: ${100 * 1024 * 1024}`,
            '',
            `--${BOUNDARY}`,
          ].join('\n'),
        status: 413,
      },
      {
        what: 'a verdict API token request declared over its limit, without credentials',
        head: () =>
          [
            'POST /api/Token HTTP/1.1',
            'Host: arbiter',
            'Content-Type: application/json',
            `Content-Length: ${1024 * 1024}`,
            '',
            '{"username": ',
          ].join('\n'),
        status: 413,
      },
    ];

    for (const { what, head, status } of earlyAnswers) {
      it(`closes the connection after a ${status} to a client that keeps sending (${what})`, async () => {
        const client = trickle(service.url, head(), status === 413 ? 'x' : CHUNK);
        try {
          await waitFor(() => client.received().includes('\r\n\r\n'), {
            what: `the ${status} answer`,
          });
          const answer = parseHead(client.received());
          expect(answer.status, client.received()).toBe(status);
          expect(answer.headers.connection).toBe('close');
          expect(await client.closedWithin(CLOSE_DEADLINE_MS)).toBe('closed');
        } finally {
          client.stop();
        }
      });
    }

    it('keeps the connection of an early answer whose request had fully arrived', async () => {
      const socket = net.connect(Number(new URL(service.url).port), '127.0.0.1');
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (data: string) => (received += data));
      try {
        const body = '{"location": "http://127.0.0.1/"}';
        socket.write(
          [
            'POST /v2.2/files/fetch HTTP/1.1',
            'Host: arbiter',
            'Content-Type: application/json',
            `Content-Length: ${body.length}`,
            '',
            body,
          ].join('\r\n'),
        );
        await waitFor(() => /\r\n\r\n\{"error":[^}]*\}/.test(received), { what: 'the 401' });
        expect(parseHead(received).status).toBe(401);
        expect(parseHead(received).headers.connection).toBe('keep-alive');
        received = '';
        socket.write(
          `GET /v2.2/ping HTTP/1.1\r\nHost: arbiter\r\nAuthorization: ${tenant.auth}\r\n\r\n`,
        );
        await waitFor(() => received.includes('\r\n\r\n'), { what: 'the second answer' });
        expect(parseHead(received).status).toBe(200);
      } finally {
        socket.destroy();
      }
    });
  });
});

describe('a trickled body on an authenticated route', () => {
  let service: TestService;
  let tenant: TestTenant;
  const logLines: string[] = [];

  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_REQUEST_TIMEOUT_MS: '2000', ARBITER_HEADERS_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' },
      {
        roles: { api: true, workers: false },
        logDestination: { write: (line: string) => void logLines.push(line) },
      },
    );
    tenant = await service.createTenant('slow-client');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('is cut off at ARBITER_REQUEST_TIMEOUT_MS, leaving nothing in the spool', async () => {
    const head = [
      'POST /v2.2/files HTTP/1.1',
      'Host: arbiter',
      `Authorization: ${tenant.auth}`,
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
      'Transfer-Encoding: chunked',
      '',
      '',
    ].join('\n');
    const start = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n`;
    const client = trickle(
      service.url,
      head,
      '1\r\nx\r\n',
      `${start.length.toString(16)}\r\n${start}\r\n`,
    );
    try {
      expect(await client.closedWithin(CLOSE_DEADLINE_MS)).toBe('closed');
      // Nothing was answered before the deadline: Node's own 408.
      expect(parseHead(client.received()).status, client.received()).toBe(408);
    } finally {
      client.stop();
    }
    const incomingDir = path.join(service.dataDir, 'spool', 'incoming');
    await waitFor(async () => (await readdir(incomingDir)).length === 0, {
      what: 'the partial upload to be removed',
    });
    // A client that went away is not an error of the service.
    await waitFor(() => logLines.some((line) => line.includes('the client went away')), {
      what: 'the log line of the abandoned request',
    });
    const errors = logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});

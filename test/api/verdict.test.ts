import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { encryptedZip, undecodableZip, zip } from '../support/archives.js';
import { eicar, randomContent, sha1 } from '../support/content.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { basic, startTestService, type TestService, type TestTenant } from '../support/service.js';

interface Verdict {
  dateScanned: string;
  detectedInfections: Array<{ file: string; infection: string }>;
  errorMessage: string | null;
  result: string;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const EICAR_SIGNATURE = 'Eicar-Test-Signature';
const MAX_FILE_SIZE = 64 * 1024;

describe('verdict API (/api)', () => {
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;
  let harness: S3Harness;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({
      ARBITER_MAX_FILE_SIZE: String(MAX_FILE_SIZE),
      ARBITER_SECRET_KEY: Buffer.alloc(32, 9).toString('base64'),
    });
    tenant = await service.createTenant('verdict');
    other = await service.createTenant('verdict-other');
  });
  afterAll(async () => {
    await service?.stop();
    await harness?.stop();
  });

  const requestToken = (body: string, contentType = 'application/json', route = '/api/Token') =>
    fetch(`${service.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });

  async function accessToken(who: TestTenant = tenant): Promise<string> {
    const response = await requestToken(
      JSON.stringify({ username: who.key, password: who.secret }),
    );
    expect(response.status).toBe(200);
    return ((await response.json()) as { accessToken: string }).accessToken;
  }

  const scan = (form: FormData, authorization: string) =>
    fetch(`${service.url}/api/Scan`, { method: 'POST', headers: { authorization }, body: form });

  function form(
    files: Array<{ field?: string; name: string; content: Buffer }>,
    fields: Record<string, string> = {},
  ): FormData {
    const body = new FormData();
    for (const file of files)
      body.append(file.field ?? 'documents', new Blob([file.content]), file.name);
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    return body;
  }

  async function verdictOf(response: Response): Promise<Verdict> {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Verdict;
    expect(Object.keys(body).sort()).toEqual([
      'dateScanned',
      'detectedInfections',
      'errorMessage',
      'referenceId',
      'result',
      'trueFileType',
    ]);
    expect(body.dateScanned).toMatch(ISO);
    return body;
  }

  async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
  }

  describe('POST /api/Token', () => {
    it('trades a key and secret for an hour-long Bearer token', async () => {
      const response = await requestToken(
        JSON.stringify({ username: tenant.key, password: tenant.secret }),
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['accessToken', 'expiresIn', 'tokenType']);
      expect(body.accessToken).toMatch(/^[0-9a-f]{32}$/);
      expect(body.tokenType).toBe('Bearer');
      expect(body.expiresIn).toBe(3600);
      // The access token is an auth token of the key: visible and revocable through /v2.2.
      const described = await fetch(`${service.url}/v2.2/auth/tokens/${String(body.accessToken)}`, {
        headers: { authorization: tenant.auth },
      });
      const token = (await described.json()) as { creation_date: string; expiration_date: string };
      expect(Date.parse(token.expiration_date) - Date.parse(token.creation_date)).toBe(3600_000);
    });

    it('takes the JSON document sent as a JSON string, and the lower-case path', async () => {
      const twice = JSON.stringify(
        JSON.stringify({ username: tenant.key, password: tenant.secret }),
      );
      const response = await requestToken(twice, 'application/json', '/api/token');
      expect(response.status).toBe(200);
      expect(((await response.json()) as { tokenType: string }).tokenType).toBe('Bearer');
    });

    it('answers 401 for bad credentials, 400 for missing ones, 415 for other bodies', async () => {
      await expectError(
        await requestToken(JSON.stringify({ username: tenant.key, password: 'wrong' })),
        401,
        /authenticate/,
      );
      await expectError(
        await requestToken(JSON.stringify({ username: 'nobody', password: 'x' })),
        401,
        /authenticate/,
      );
      await expectError(
        await requestToken(JSON.stringify({ username: tenant.key })),
        400,
        /password/,
      );
      await expectError(await requestToken('{"username":'), 400, /parsed/);
      await expectError(await requestToken(JSON.stringify('not json inside')), 400, /JSON object/);
      await expectError(await requestToken('username=x', 'text/plain'), 415, /application\/json/);
    });

    it('answers 403 for a disabled key, and its tokens stop working', async () => {
      const created = await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' });
      const key = (await created.json()) as { key: string; secret: string };
      const response = await requestToken(
        JSON.stringify({ username: key.key, password: key.secret }),
      );
      const { accessToken: token } = (await response.json()) as { accessToken: string };
      await service.admin(`/keys/${key.key}`, { method: 'DELETE' });
      await expectError(
        await requestToken(JSON.stringify({ username: key.key, password: key.secret })),
        403,
        /disabled/,
      );
      await expectError(
        await scan(form([{ name: 'a.txt', content: Buffer.from('hello') }]), `Bearer ${token}`),
        403,
        /disabled/,
      );
    });
  });

  describe('POST /api/Scan', () => {
    it('answers Clean for a clean file, and stores it as an ordinary, traceable scan', async () => {
      const token = await accessToken();
      const content = randomContent(1024);
      const response = await scan(
        form([{ name: 'my_file', content }], { composite: 'NONE' }),
        `Bearer ${token}`,
      );
      const verdict = await verdictOf(response);
      expect(verdict).toMatchObject({
        detectedInfections: [],
        errorMessage: null,
        result: 'Clean',
      });

      const [id] = (response.headers.get('x-arbiter-scan-ids') ?? '').split(',');
      const stored = await fetch(`${service.url}/v2.2/files/${id}`, {
        headers: { authorization: tenant.auth },
      });
      expect(stored.status).toBe(200);
      expect(await stored.json()).toMatchObject({
        id,
        checksum: sha1(content),
        content_length: 1024,
        findings: [],
      });
      const trace = await fetch(`${service.url}/v2.2/files/${id}/trace`, {
        headers: { authorization: tenant.auth },
      });
      const messages = ((await trace.json()) as { events: Array<{ message: string }> }).events.map(
        (e) => e.message,
      );
      expect(messages[0]).toMatch(/verdict API/);
      expect(messages.some((m) => m.startsWith('scanned by builtin'))).toBe(true);
      // Another tenant cannot see it.
      const foreign = await fetch(`${service.url}/v2.2/files/${id}`, {
        headers: { authorization: other.auth },
      });
      expect(foreign.status).toBe(404);
    });

    it('answers Infected with the file and the signature, whatever the field name', async () => {
      const token = await accessToken();
      const verdict = await verdictOf(
        await scan(
          form([{ field: 'anything', name: 'eicar.com', content: eicar() }], { composite: 'NONE' }),
          `Bearer ${token}`,
        ),
      );
      expect(verdict).toMatchObject({
        detectedInfections: [{ file: 'eicar.com', infection: EICAR_SIGNATURE }],
        errorMessage: null,
        result: 'Infected',
      });
    });

    it('names an infected member by its path through nested archives', async () => {
      const inner = await zip([
        { name: 'readme.txt', data: Buffer.from('nothing to see') },
        { name: 'eicar.com', data: eicar() },
      ]);
      const outer = await zip([
        { name: 'inner.zip', data: inner },
        { name: 'docs/eicar.txt', data: eicar() },
      ]);
      const verdict = await verdictOf(
        await scan(form([{ name: 'upload.zip', content: outer }]), tenant.auth),
      );
      expect(verdict.result).toBe('Infected');
      expect(verdict.detectedInfections).toEqual(
        expect.arrayContaining([
          { file: 'upload.zip/inner.zip/eicar.com', infection: EICAR_SIGNATURE },
          { file: 'upload.zip/docs/eicar.txt', infection: EICAR_SIGNATURE },
        ]),
      );
      expect(verdict.detectedInfections).toHaveLength(2);
    });

    it('scans several files in one request: one verdict for all, each infected one listed', async () => {
      const response = await scan(
        form([
          { field: 'a', name: 'clean.txt', content: Buffer.from('clean') },
          { field: 'b', name: 'résumé.com', content: eicar() },
          { field: 'b', name: 'clean2.bin', content: randomContent(100) },
        ]),
        tenant.auth,
      );
      const verdict = await verdictOf(response);
      expect(verdict.result).toBe('Infected');
      expect(verdict.detectedInfections).toEqual([
        { file: 'résumé.com', infection: EICAR_SIGNATURE },
      ]);
      const ids = (response.headers.get('x-arbiter-scan-ids') ?? '').split(',');
      expect(ids).toHaveLength(3);
      const results = await Promise.all(
        ids.map(
          async (id) =>
            (await (
              await fetch(`${service.url}/v2.2/files/${id}`, {
                headers: { authorization: tenant.auth },
              })
            ).json()) as { findings: string[] },
        ),
      );
      expect(results.map((r) => r.findings)).toEqual([[], [EICAR_FINDING], []]);
    });

    it('answers Unscannable for content that could not be fully scanned', async () => {
      const locked = encryptedZip([{ name: 'secret.txt', data: Buffer.from('hidden') }]);
      const verdict = await verdictOf(
        await scan(form([{ name: 'locked.zip', content: locked }]), tenant.auth),
      );
      expect(verdict).toMatchObject({
        detectedInfections: [],
        errorMessage: null,
        result: 'Unscannable',
      });
    });

    it('answers Unscannable, not Clean, for a compression method Arbiter cannot decode', async () => {
      const wavpack = undecodableZip('notes.wav', Buffer.from('not decoded\n'));
      const verdict = await verdictOf(
        await scan(form([{ name: 'notes.zip', content: wavpack }]), tenant.auth),
      );
      expect(verdict).toMatchObject({ detectedInfections: [], result: 'Unscannable' });
    });

    it('refuses forged, revoked and expired tokens with 401', async () => {
      const body = () => form([{ name: 'a.txt', content: Buffer.from('hello') }]);
      const forged = await scan(body(), `Bearer ${'0'.repeat(32)}`);
      expect(forged.headers.get('www-authenticate')).toMatch(/^Bearer/);
      await expectError(forged, 401, /authenticate/);
      await expectError(await scan(body(), 'Bearer '), 401, /authenticate/);
      await expectError(await scan(body(), 'Bearer not-a-token-at-all'), 401, /authenticate/);

      const revoked = await accessToken();
      await fetch(`${service.url}/v2.2/auth/tokens/${revoked}`, {
        method: 'DELETE',
        headers: { authorization: tenant.auth },
      });
      await expectError(await scan(body(), `Bearer ${revoked}`), 401, /authenticate/);

      const short = await service.service.runtime.tokens.create(
        tenant.id,
        tenant.key,
        1,
        'verdict',
      );
      expect((await scan(body(), `Bearer ${short.id}`)).status).toBe(200);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, Date.parse(short.expirationDate) - Date.now() + 20)),
      );
      await expectError(await scan(body(), `Bearer ${short.id}`), 401, /authenticate/);

      await expectError(await scan(body(), basic(tenant.key, 'wrong')), 401, /authenticate/);
      await expectError(
        await fetch(`${service.url}/api/Scan`, { method: 'POST', body: body() }),
        401,
        /authenticate/,
      );
    });

    it('refuses bodies without files, empty files, too many files and oversized files', async () => {
      await expectError(await scan(form([], { composite: 'NONE' }), tenant.auth), 400, /file part/);
      await expectError(
        await scan(form([{ name: 'empty.txt', content: Buffer.alloc(0) }]), tenant.auth),
        400,
        /empty/,
      );
      const many = Array.from({ length: 33 }, (_, i) => ({
        name: `f${i}.txt`,
        content: Buffer.from(`file ${i}`),
      }));
      await expectError(await scan(form(many), tenant.auth), 413, /at most 32 files/);
      await expectError(
        await scan(
          form([{ name: 'big.bin', content: randomContent(MAX_FILE_SIZE + 1) }]),
          tenant.auth,
        ),
        413,
        /64 KiB/,
      );
      const json = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: '{}',
      });
      await expectError(json, 415, /multipart/);
      // Nothing refused stays behind in the spool.
      expect(await readdir(path.join(service.config.spoolDir, 'incoming'))).toEqual([]);
    });
  });

  describe('POST /api/Scan/Existing', () => {
    it('answers 404 for a bucket the tenant has not registered, 400 for a bad body', async () => {
      const token = await accessToken();
      const existing = (body: unknown) =>
        fetch(`${service.url}/api/Scan/Existing`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await existing({ bucket: 'nope', key: 'a.txt' })).status).toBe(404);
      await expectError(await existing({ bucket: 'nope' }), 400, /key/);
      await expectError(await existing({ bucket: 'nope', key: 'a', extra: 1 }), 400, /extra/);
    });

    it('scans an object of a registered bucket: the verdict names it by its key', async () => {
      await harness.createBucket('existing-verdict');
      await harness.putObject('existing-verdict', 'DemoFiles/eicar.com', eicar());
      await harness.putObject('existing-verdict', 'DemoFiles/clean.txt', 'all good');
      const registered = await registerBucket(service, tenant.auth, harness, 'existing-verdict');
      expect([200, 201]).toContain(registered.status);
      const token = await accessToken();
      const existing = (key: string, who = `Bearer ${token}`) =>
        fetch(`${service.url}/api/Scan/Existing`, {
          method: 'POST',
          headers: { authorization: who, 'content-type': 'application/json' },
          body: JSON.stringify({ bucket: 'existing-verdict', key }),
        });
      const infected = await existing('DemoFiles/eicar.com');
      expect(await verdictOf(infected)).toMatchObject({
        detectedInfections: [{ file: 'DemoFiles/eicar.com', infection: EICAR_FINDING }],
        errorMessage: null,
        result: 'Infected',
      });
      expect(infected.headers.get('x-arbiter-scan-ids')).toMatch(/^[0-9a-f]{32}$/);
      expect(await verdictOf(await existing('DemoFiles/clean.txt'))).toMatchObject({
        result: 'Clean',
        detectedInfections: [],
      });
      // Another tenant's bucket is not found.
      expect((await existing('DemoFiles/eicar.com', other.auth)).status).toBe(404);
    });
  });
});

describe('verdict API: engine failures', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService({
      // Nothing listens on port 1: every clamd scan fails.
      ARBITER_ENGINES: 'builtin,clamd',
      CLAMD_ADDRESS: 'tcp://127.0.0.1:1',
      CLAMD_TIMEOUT_MS: '2000',
    });
    tenant = await service.createTenant('verdict-errors');
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('answers Error with a message when an engine fails (never Clean)', async () => {
    const body = new FormData();
    body.append('file', new Blob([Buffer.from('clean text')]), 'clean.txt');
    const response = await fetch(`${service.url}/api/Scan`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body,
    });
    expect(response.status).toBe(200);
    const verdict = (await response.json()) as Verdict;
    expect(verdict.result).toBe('Error');
    expect(verdict.errorMessage).toMatch(/clamd/);
    expect(verdict.detectedInfections).toEqual([]);
  });
});

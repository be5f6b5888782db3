import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ScaniiAuthError, ScaniiClient, ScaniiError } from '@scanii/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { eicar, randomContent, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import { triggerPng } from '../support/images.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Compatibility with the official Scanii Node SDK, `@scanii/core` (exact-pinned devDependency),
 * unmodified, pointed at Arbiter the way a customer would point it at scanii-cli: the `endpoint`
 * option with a bare base URL, and a tenant's key and secret (or an auth token id).
 * Every call below goes through the SDK's own request building and response parsing.
 * The SDK declares `engines: node >=22` but only needs global fetch/FormData/Blob,
 * `Readable.toWeb` and `Response#blob`, all present in Node 20: this suite runs it on Node 20.
 */

const EICAR_FINDING = 'content.malicious.eicar-test-signature';
const UNKNOWN_ID = '0123456789abcdef0123456789abcdef';
/** The documented test contents of each detection category (docs/migration-from-scanii.md). */
const MALWARE_TEST = LOCAL_TEST_FILE;
const LANGUAGE_NSFW_0_TEST = Buffer.from('C681D880-8EB3-4D8F-B2E6-FE25EB415C47');
const LANGUAGE_NSFW_TEST = Buffer.from('E78F3BC5-9633-4FF8-9311-148ACC4880DF');
const ALL_CATEGORIES = ['malware', 'unsafe_image', 'unsafe_language'];

/** What the SDK throws, caught so its type and fields can be asserted. */
async function rejection(promise: Promise<unknown>): Promise<ScaniiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ScaniiError) return error;
    throw error;
  }
  throw new Error('expected the SDK call to throw a ScaniiError');
}

describe('the official Scanii Node SDK (@scanii/core) against Arbiter', () => {
  let service: TestService;
  let tenant: TestTenant;
  let client: ScaniiClient;
  let content: TestHttpServer;
  let receiver: CallbackReceiver;
  let workDir: string;
  const clean = randomContent(32 * 1024);

  beforeAll(async () => {
    service = await startTestService();
    tenant = await service.createTenant('scanii-sdk');
    client = new ScaniiClient({
      key: tenant.key,
      secret: tenant.secret,
      endpoint: service.url,
      userAgent: 'arbiter-compat',
    });
    content = await startHttpServer({ '/eicar.txt': eicar(), '/clean.bin': clean });
    receiver = await startCallbackReceiver();
    workDir = await mkdtemp(path.join(tmpdir(), 'arbiter-sdk-'));
  });
  afterAll(async () => {
    await content?.close();
    await receiver?.close();
    await service?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** Polls `retrieve` as the SDK's own integration tests do: a 404 means "not ready yet". */
  const retrieveWhenReady = (id: string, sdk: ScaniiClient = client) =>
    waitFor(
      async () => {
        try {
          return await sdk.retrieve(id);
        } catch (error) {
          if (error instanceof ScaniiError && error.statusCode === 404) return undefined;
          throw error;
        }
      },
      { what: `result ${id} via the SDK` },
    );

  const expectServiceHeaders = (result: {
    requestId: string | undefined;
    hostId: string | undefined;
  }) => {
    expect(result.requestId).toBeTruthy();
    expect(result.hostId).toBeTruthy();
  };

  it('pings with the key and secret', async () => {
    expect(await client.ping()).toBe(true);
  });

  it('reports wrong credentials as ScaniiAuthError with the status and request id', async () => {
    const wrong = new ScaniiClient({
      key: tenant.key,
      secret: `${tenant.secret}x`,
      endpoint: service.url,
    });
    const error = await rejection(wrong.ping());
    expect(error).toBeInstanceOf(ScaniiAuthError);
    expect(error.statusCode).toBe(401);
    expect(error.message).toBe('Apologies but we could not authenticate this request.');
    expect(error.requestId).toBeTruthy();
    expect(error.hostId).toBeTruthy();
  });

  it('processes a clean upload synchronously', async () => {
    const result = await client.process(clean, { order: '42', source: 'sdk' });
    expect(result.statusCode).toBe(201);
    expect(result.id).toMatch(/^[0-9a-f]{32}$/);
    expect(result.findings).toEqual([]);
    expect(result.checksum).toBe(sha1(clean));
    expect(result.contentLength).toBe(clean.length);
    expect(result.contentType).toBe('application/octet-stream');
    expect(result.metadata).toEqual({ order: '42', source: 'sdk' });
    expect(result.creationDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(result.error).toBeUndefined();
    expect(result.resourceLocation).toBe(`${service.url}/v2.2/files/${result.id}`);
    expectServiceHeaders(result);
    // The stored result reads back identically through retrieve.
    const again = await client.retrieve(result.id);
    expect(again.statusCode).toBe(200);
    expect({
      ...again,
      requestId: undefined,
      hostId: undefined,
      statusCode: 0,
      rawResponse: '',
      resourceLocation: undefined,
    }).toEqual({
      ...result,
      requestId: undefined,
      hostId: undefined,
      statusCode: 0,
      rawResponse: '',
      resourceLocation: undefined,
    });
  });

  it('processes EICAR synchronously: the EICAR finding, its SHA-1, text/plain and the metadata', async () => {
    const sample = eicar();
    const result = await client.process(sample, { upload: 'u-42' });
    expect(result.findings).toEqual([EICAR_FINDING]);
    expect(result.checksum).toBe(sha1(sample));
    expect(result.contentType).toBe('text/plain');
    expect(result.contentLength).toBe(sample.length);
    expect(result.metadata).toEqual({ upload: 'u-42' });
  });

  it('processes a Blob and a file on disk (processFile streams it from node:fs)', async () => {
    const fromBlob = await client.process(new Blob([eicar()]));
    expect(fromBlob.findings).toEqual([EICAR_FINDING]);
    const filePath = path.join(workDir, 'document.bin');
    await writeFile(filePath, clean);
    const fromFile = await client.processFile(filePath, { from: 'disk' });
    expect(fromFile).toMatchObject({
      findings: [],
      checksum: sha1(clean),
      metadata: { from: 'disk' },
    });
  });

  it('processes a ReadableStream, and text as text/plain', async () => {
    const text = Buffer.from('hello from a ReadableStream\n');
    const stream = new Blob([text]).stream();
    const result = await client.process(stream);
    expect(result).toMatchObject({
      findings: [],
      checksum: sha1(text),
      contentType: 'text/plain',
      contentLength: text.length,
    });
  });

  it('calls back after a synchronous process that was given a callback', async () => {
    const before = receiver.deliveries.length;
    const result = await client.process(clean, { sync: 'yes' }, `${receiver.url}/callback`);
    const deliveries = await receiver.waitForDeliveries(before + 1);
    expect(deliveries.find((d) => d.json.id === result.id)?.json).toEqual(
      JSON.parse(result.rawResponse),
    );
  });

  it('processes a location synchronously with processFromUrl (v2.2 POST /files location)', async () => {
    const result = await client.processFromUrl(`${content.url}/eicar.txt`, {
      metadata: { via: 'url' },
    });
    expect(result.statusCode).toBe(201);
    expect(result).toMatchObject({
      findings: [EICAR_FINDING],
      checksum: sha1(eicar()),
      metadata: { via: 'url' },
    });
  });

  it('refuses empty content with a ScaniiError 400 carrying the server message', async () => {
    const error = await rejection(client.process(Buffer.alloc(0)));
    expect(error).not.toBeInstanceOf(ScaniiAuthError);
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/^Regrettably, you did not send us any content to process/);
  });

  it('processes asynchronously, then retrieves the result once it is ready, with its callback', async () => {
    const before = receiver.deliveries.length;
    const pending = await client.processAsync(eicar(), { k: 'v' }, `${receiver.url}/callback`);
    expect(pending.statusCode).toBe(202);
    expect(pending.id).toMatch(/^[0-9a-f]{32}$/);
    expect(pending.resourceLocation).toBe(`${service.url}/v2.2/files/${pending.id}`);
    expectServiceHeaders(pending);
    const result = await retrieveWhenReady(pending.id);
    expect(result).toMatchObject({
      id: pending.id,
      findings: [EICAR_FINDING],
      checksum: sha1(eicar()),
      contentType: 'text/plain',
      metadata: { k: 'v' },
      statusCode: 200,
    });
    const deliveries = await receiver.waitForDeliveries(before + 1);
    expect(deliveries.find((d) => d.json.id === pending.id)?.json).toEqual(
      JSON.parse(result.rawResponse),
    );
  });

  it('processes a file on disk asynchronously with processAsyncFile', async () => {
    const filePath = path.join(workDir, 'async.bin');
    await writeFile(filePath, clean);
    const pending = await client.processAsyncFile(filePath, { from: 'disk' });
    expect(pending.statusCode).toBe(202);
    expect(await retrieveWhenReady(pending.id)).toMatchObject({
      findings: [],
      checksum: sha1(clean),
      metadata: { from: 'disk' },
    });
  });

  it('fetches a location with a callback: 202, the callback body, then retrieve', async () => {
    const before = receiver.deliveries.length;
    const pending = await client.fetch(
      `${content.url}/eicar.txt`,
      { bucket: 'b', key: 'k/1.txt' },
      `${receiver.url}/callback`,
    );
    expect(pending.statusCode).toBe(202);
    expect(pending.id).toMatch(/^[0-9a-f]{32}$/);
    expect(pending.resourceLocation).toBe(`${service.url}/v2.2/files/${pending.id}`);
    const deliveries = await receiver.waitForDeliveries(before + 1);
    const delivery = deliveries.find((d) => d.json.id === pending.id);
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.json).toMatchObject({
      id: pending.id,
      findings: [EICAR_FINDING],
      checksum: sha1(eicar()),
      content_length: eicar().length,
      content_type: 'text/plain',
      metadata: { bucket: 'b', key: 'k/1.txt' },
    });
    expect(delivery?.json.creation_date).toMatch(/Z$/);
    const result = await retrieveWhenReady(pending.id);
    expect(result).toMatchObject({
      id: pending.id,
      findings: [EICAR_FINDING],
      metadata: { bucket: 'b', key: 'k/1.txt' },
    });
    expect(JSON.parse(result.rawResponse)).toEqual(delivery?.json);
  });

  it('reports a location that cannot be downloaded as a result carrying error', async () => {
    const pending = await client.fetch(`${content.url}/missing`);
    const result = await retrieveWhenReady(pending.id);
    expect(result.error).toMatch(/HTTP 404/);
    expect(result.checksum).toBeUndefined();
    expect(result.findings).toEqual([]);
  });

  it('reports an unknown id as a ScaniiError 404 (not an auth error), and an unknown trace as undefined', async () => {
    const error = await rejection(client.retrieve(UNKNOWN_ID));
    expect(error).not.toBeInstanceOf(ScaniiAuthError);
    expect(error.statusCode).toBe(404);
    expect(error.message).toContain(UNKNOWN_ID);
    expect(error.requestId).toBeTruthy();
    // An id of the wrong shape is just another unknown id.
    expect((await rejection(client.retrieve('not-an-id'))).statusCode).toBe(404);
    expect(await client.retrieveTrace(UNKNOWN_ID)).toBeUndefined();
  });

  it('retrieves the trace of a processed file', async () => {
    const result = await client.process(clean);
    const trace = await client.retrieveTrace(result.id);
    expect(trace).toBeDefined();
    expect(trace?.statusCode).toBe(200);
    expect(trace?.id).toBe(result.id);
    const messages = trace?.events.map((e) => e.message) ?? [];
    expect(messages[0]).toBe('content received for processing');
    expect(messages.some((m) => m?.startsWith('content processed successfully'))).toBe(true);
    for (const event of trace?.events ?? [])
      expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('deletes a result and its trace independently, 404 on a repeat', async () => {
    const result = await client.process(clean);
    expect(await client.delete(result.id)).toBe(true);
    expect((await rejection(client.retrieve(result.id))).statusCode).toBe(404);
    expect((await rejection(client.delete(result.id))).statusCode).toBe(404);
    // The trace outlives the result until it is deleted itself.
    expect((await client.retrieveTrace(result.id))?.id).toBe(result.id);
    expect(await client.deleteTrace(result.id)).toBe(true);
    expect(await client.retrieveTrace(result.id)).toBeUndefined();
    expect((await rejection(client.deleteTrace(result.id))).statusCode).toBe(404);
  });

  it('runs the auth token lifecycle: create, retrieve, use, delete, then the token is refused', async () => {
    const token = await client.createAuthToken(600);
    expect(token.statusCode).toBe(201);
    expect(token.id).toMatch(/^[0-9a-f]{32}$/);
    expect(token.creationDate).toMatch(/Z$/);
    expect(token.expirationDate).toMatch(/Z$/);
    const lifetime = Date.parse(token.expirationDate ?? '') - Date.parse(token.creationDate ?? '');
    expect(lifetime).toBe(600_000);
    expectServiceHeaders(token);

    const retrieved = await client.retrieveAuthToken(token.id);
    expect(retrieved.statusCode).toBe(200);
    expect(retrieved.id).toBe(token.id);
    expect(retrieved.creationDate).toBe(token.creationDate);
    expect(retrieved.expirationDate).toBe(token.expirationDate);

    // The token as credentials: Basic base64("<token id>:"), exactly as the SDK builds it.
    const withToken = new ScaniiClient({ token: token.id, endpoint: service.url });
    expect(await withToken.ping()).toBe(true);
    const scanned = await withToken.process(eicar(), { via: 'token' });
    expect(scanned).toMatchObject({
      findings: [EICAR_FINDING],
      checksum: sha1(eicar()),
      contentType: 'text/plain',
      metadata: { via: 'token' },
    });
    // The result belongs to the token's tenant: the key that minted it reads it too.
    expect((await client.retrieve(scanned.id)).findings).toEqual([EICAR_FINDING]);
    const pending = await withToken.processAsync(clean);
    expect((await retrieveWhenReady(pending.id, withToken)).checksum).toBe(sha1(clean));
    // A token cannot mint tokens.
    const minting = await rejection(withToken.createAuthToken());
    expect(minting).toBeInstanceOf(ScaniiAuthError);
    expect(minting.statusCode).toBe(403);

    expect(await client.deleteAuthToken(token.id)).toBe(true);
    expect((await rejection(client.retrieveAuthToken(token.id))).statusCode).toBe(404);
    expect((await rejection(client.deleteAuthToken(token.id))).statusCode).toBe(404);
    const refused = await rejection(withToken.process(clean));
    expect(refused).toBeInstanceOf(ScaniiAuthError);
    expect(refused.statusCode).toBe(401);
    expect((await rejection(withToken.ping())).statusCode).toBe(401);
  });

  it('refuses to retrieve another tenant’s result or token (404, as for an unknown id)', async () => {
    const other = await service.createTenant('other');
    const otherClient = new ScaniiClient({
      key: other.key,
      secret: other.secret,
      endpoint: service.url,
    });
    const mine = await client.process(clean);
    expect((await rejection(otherClient.retrieve(mine.id))).statusCode).toBe(404);
    const token = await client.createAuthToken();
    expect((await rejection(otherClient.retrieveAuthToken(token.id))).statusCode).toBe(404);
    await client.deleteAuthToken(token.id);
  });

  it('accepts an endpoint with a trailing slash, as the SDK strips it', async () => {
    const slashed = new ScaniiClient({
      key: tenant.key,
      secret: tenant.secret,
      endpoint: `${service.url}/`,
    });
    expect(await slashed.ping()).toBe(true);
  });

  describe('with every detection category on', () => {
    let everything: TestTenant;
    let allClient: ScaniiClient;

    beforeAll(async () => {
      everything = await service.createTenant('scanii-sdk-categories');
      const settings = await service.admin(`/tenants/${everything.id}/settings`, {
        method: 'PUT',
        body: JSON.stringify({ detection_categories: ALL_CATEGORIES }),
      });
      expect(settings.status).toBe(200);
      allClient = new ScaniiClient({
        key: everything.key,
        secret: everything.secret,
        endpoint: service.url,
        userAgent: 'arbiter-compat',
      });
    });

    it('processes each documented test content into exactly its finding', async () => {
      const image = await triggerPng();
      const cases: Array<[string, Buffer, string[], string]> = [
        ['malware', MALWARE_TEST, ['content.malicious.local-test-file'], 'text/plain'],
        ['language 0', LANGUAGE_NSFW_0_TEST, ['content.en.language.nsfw.0'], 'text/plain'],
        ['language test', LANGUAGE_NSFW_TEST, ['content.en.language.nsfw.test'], 'text/plain'],
        ['image', image, ['content.image.nsfw.nudity'], 'image/png'],
      ];
      for (const [what, sample, findings, contentType] of cases) {
        const result = await allClient.process(sample, { case: what });
        expect(result.statusCode, what).toBe(201);
        expect(result.findings, what).toEqual(findings);
        expect(result.checksum, what).toBe(sha1(sample));
        expect(result.contentLength, what).toBe(sample.length);
        expect(result.contentType, what).toBe(contentType);
        expect(result.metadata, what).toEqual({ case: what });
        expect(result.error, what).toBeUndefined();
        expect((await allClient.retrieve(result.id)).findings, what).toEqual(findings);
      }
      // The tenant on the defaults gets only the malware content's finding.
      for (const sample of [LANGUAGE_NSFW_0_TEST, LANGUAGE_NSFW_TEST, image])
        expect((await client.process(sample)).findings).toEqual([]);
      expect((await client.process(MALWARE_TEST)).findings).toEqual([
        'content.malicious.local-test-file',
      ]);
    });

    /**
     * @scanii/core 1.5.0 has no call for `/account.json` (each of its methods is one request, and
     * none is this one), so the account is read with the SDK's credentials as the SDK sends
     * them: Basic key:secret, JSON accepted.
     */
    it("gives /account.json Scanii's account fields, with each key's categories", async () => {
      const added = await service.admin(`/tenants/${everything.id}/keys`, { method: 'POST' });
      expect(added.status).toBe(201);
      const second = (await added.json()) as { key: string };
      const own = await service.admin(`/keys/${second.key}/settings`, {
        method: 'PUT',
        body: '{"detection_categories":["unsafe_image"]}',
      });
      expect(own.status).toBe(200);
      const response = await fetch(`${service.url}/v2.2/account.json`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${everything.key}:${everything.secret}`).toString('base64')}`,
          accept: 'application/json',
          'user-agent': 'arbiter-compat',
        },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      const account = (await response.json()) as Record<string, unknown> & {
        keys: Record<string, Record<string, unknown>>;
      };
      expect(account.name).toBe('scanii-sdk-categories');
      expect(account.balance).toBe(2_147_483_647);
      expect(account.starting_balance).toBe(2_147_483_647);
      expect(account.subscription).toBe('self-hosted');
      expect(account.billing_email).toBe('');
      expect(Object.keys(account.keys).sort()).toEqual([everything.key, second.key].sort());
      expect(account.keys[everything.key]?.detection_categories_enabled).toEqual(ALL_CATEGORIES);
      expect(account.keys[second.key]?.detection_categories_enabled).toEqual(['unsafe_image']);
      for (const key of Object.values(account.keys)) {
        expect(key.active).toBe(true);
        expect(key.tags).toEqual([]);
      }
      // The tenant on the defaults: malware alone.
      const defaults = await fetch(`${service.url}/v2.2/account.json`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${tenant.key}:${tenant.secret}`).toString('base64')}`,
        },
      });
      const { keys } = (await defaults.json()) as {
        keys: Record<string, { detection_categories_enabled: string[] }>;
      };
      expect(keys[tenant.key]?.detection_categories_enabled).toEqual(['malware']);
    });
  });
});

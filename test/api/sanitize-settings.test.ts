import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  jpegLayout,
  metadataMarkers,
  photoWithGpsAndTrailer,
} from '../support/sanitized-copies.js';
import {
  basic,
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * Sanitizing switched on by the operator (docs/sanitizing.md, "Turning it on"): a tenant's
 * `sanitize` setting, a key's own (null: its tenant's), and the request's `sanitize` winning over
 * both. Through the whole service (api + workers, real Redis): what a client that never sends the
 * parameter gets, on every way content arrives.
 */

interface Result {
  id: string;
  checksum: string;
  findings: string[];
  sanitized?:
    | { available: true; removed: string[]; content_type: string; checksum: string; size: number }
    | { available: false; reason: string };
}

interface KeySettingsView {
  sanitize: boolean | null;
  effective_sanitize: boolean;
}

/** A client with credentials: a tenant's first key, or another key of it, or a token. */
interface Client {
  auth: string;
}

describe('sanitizing switched on per tenant and per key', () => {
  let service: TestService;
  let content: TestHttpServer;
  let photo: Buffer;

  beforeAll(async () => {
    photo = await photoWithGpsAndTrailer();
    content = await startHttpServer({ '/photo.jpg': photo });
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.stop();
    await content?.close();
  });

  const putSettings = (tenantId: string, body: string) =>
    service.admin(`/tenants/${tenantId}/settings`, { method: 'PUT', body });
  const settingsOf = async (tenantId: string) =>
    (await (await service.admin(`/tenants/${tenantId}/settings`)).json()) as Record<
      string,
      unknown
    >;
  const putKeySettings = (key: string, body: string) =>
    service.admin(`/keys/${key}/settings`, { method: 'PUT', body });
  const keySettingsOf = async (key: string) =>
    (await (await service.admin(`/keys/${key}/settings`)).json()) as KeySettingsView;

  async function addKey(tenant: TestTenant): Promise<Client & { key: string }> {
    const response = await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' });
    expect(response.status).toBe(201);
    const added = (await response.json()) as { key: string; secret: string };
    return { auth: basic(added.key, added.secret), key: added.key };
  }

  /** `POST /files` of the photo, with the fields given (none: what a Scanii client sends). */
  async function scanSync(who: Client, fields: Record<string, string> = {}): Promise<Result> {
    const response = await scaniiRequest(service, who, '/files', {
      method: 'POST',
      body: fileForm(photo, fields, 'photo.jpg'),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as Result;
  }

  /** `POST /files/async` of the photo, without `sanitize`; the result once stored. */
  async function scanAsync(who: Client): Promise<Result> {
    const response = await scaniiRequest(service, who, '/files/async', {
      method: 'POST',
      body: fileForm(photo, {}, 'photo.jpg'),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    return pollScanResult<Result>(service, who, id);
  }

  /** `POST /files/fetch` of the photo, without `sanitize`; the result once stored. */
  async function scanFetch(who: Client): Promise<Result> {
    const response = await scaniiRequest(service, who, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/photo.jpg` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    return pollScanResult<Result>(service, who, id);
  }

  /** `POST /api/Scan` (the verdict API, which has no parameter for it): verdict and result. */
  async function scanVerdict(who: Client): Promise<{ verdict: string; result: Result }> {
    const form = new FormData();
    form.append('file', new Blob([photo]), 'photo.jpg');
    const response = await fetch(`${service.url}/api/Scan`, {
      method: 'POST',
      headers: { authorization: who.auth },
      body: form,
    });
    expect(response.status).toBe(200);
    const { result: verdict } = (await response.json()) as { result: string };
    const [id = ''] = (response.headers.get('x-arbiter-scan-ids') ?? '').split(',');
    return { verdict, result: await pollScanResult<Result>(service, who, id) };
  }

  /** The result has a copy, and the copy downloads without the photo's metadata. */
  async function expectCopy(who: Client, result: Result): Promise<void> {
    expect(result.findings).toEqual([]);
    expect(result.sanitized).toMatchObject({
      available: true,
      content_type: 'image/jpeg',
      removed: ['metadata', 'trailing-data'],
    });
    const response = await scaniiRequest(service, who, `/files/${result.id}/sanitized`);
    expect(response.status).toBe(200);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(sha1(bytes)).toBe(result.sanitized?.available && result.sanitized.checksum);
    expect(metadataMarkers(await jpegLayout(bytes))).toEqual([]);
  }

  /** The result asked for no copy, and its download says so. */
  async function expectNoCopy(who: Client, result: Result): Promise<void> {
    expect(result.findings).toEqual([]);
    expect(result).not.toHaveProperty('sanitized');
    const response = await scaniiRequest(service, who, `/files/${result.id}/sanitized`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe(
      `No sanitized copy of ${result.id} was asked for: submit the content with sanitize=true.`,
    );
  }

  it('is off by default, and shown as such', async () => {
    const tenant = await service.createTenant('default-off');
    expect(await settingsOf(tenant.id)).toMatchObject({ sanitize: false });
    expect(await keySettingsOf(tenant.key)).toMatchObject({
      sanitize: null,
      effective_sanitize: false,
    });
    await expectNoCopy(tenant, await scanSync(tenant));
  });

  it('gives every upload and fetch of a tenant switched on a copy, unless the request says false', async () => {
    const tenant = await service.createTenant('tenant-on');
    const changed = await putSettings(tenant.id, '{"sanitize":true}');
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({
      sanitize: true,
      detection_categories: ['malware'],
    });
    expect(await settingsOf(tenant.id)).toMatchObject({ sanitize: true });
    expect(await keySettingsOf(tenant.key)).toEqual(
      expect.objectContaining({ sanitize: null, effective_sanitize: true }),
    );
    const account = await scaniiRequest(service, tenant, '/account.json');
    expect(((await account.json()) as { settings: unknown }).settings).toMatchObject({
      sanitize: true,
    });

    await expectCopy(tenant, await scanSync(tenant));
    await expectCopy(tenant, await scanAsync(tenant));
    await expectCopy(tenant, await scanFetch(tenant));
    const { verdict, result } = await scanVerdict(tenant);
    expect(verdict).toBe('Clean');
    await expectCopy(tenant, result);

    // The request's own answer wins, both ways.
    await expectNoCopy(tenant, await scanSync(tenant, { sanitize: 'false' }));
    await expectCopy(tenant, await scanSync(tenant, { sanitize: 'true' }));

    // Switched off again: uploads get no copy.
    expect((await putSettings(tenant.id, '{"sanitize":false}')).status).toBe(200);
    await expectNoCopy(tenant, await scanSync(tenant));
  });

  it("lets a key turn it off while its tenant's is on, for the key and its tokens only", async () => {
    const tenant = await service.createTenant('key-off');
    const other = await addKey(tenant);
    expect((await putSettings(tenant.id, '{"sanitize":true}')).status).toBe(200);
    const set = await putKeySettings(tenant.key, '{"sanitize":false}');
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({
      detection_categories: null,
      effective_detection_categories: ['malware'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: false,
      effective_sanitize: false,
    });
    expect(await keySettingsOf(other.key)).toMatchObject({
      sanitize: null,
      effective_sanitize: true,
    });

    await expectNoCopy(tenant, await scanSync(tenant));
    await expectNoCopy(tenant, await scanAsync(tenant));
    await expectNoCopy(tenant, (await scanVerdict(tenant)).result);
    const minted = await scaniiRequest(service, tenant, '/auth/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"timeout":60}',
    });
    expect(minted.status).toBe(201);
    const token = { auth: basic(((await minted.json()) as { id: string }).id, '') };
    await expectNoCopy(tenant, await scanSync(token));
    // The request's own answer still wins; the tenant's other key follows the tenant.
    await expectCopy(tenant, await scanSync(tenant, { sanitize: 'true' }));
    await expectCopy(other, await scanSync(other));

    // null: the key follows its tenant again.
    const reset = await putKeySettings(tenant.key, '{"sanitize":null}');
    expect(await reset.json()).toMatchObject({ sanitize: null, effective_sanitize: true });
    await expectCopy(tenant, await scanSync(tenant));
  });

  it("lets a key turn it on while its tenant's is off", async () => {
    const tenant = await service.createTenant('key-on');
    const other = await addKey(tenant);
    const set = await putKeySettings(tenant.key, '{"sanitize":true}');
    expect(await set.json()).toMatchObject({ sanitize: true, effective_sanitize: true });
    expect(await settingsOf(tenant.id)).toMatchObject({ sanitize: false });

    await expectCopy(tenant, await scanSync(tenant));
    await expectCopy(tenant, await scanFetch(tenant));
    await expectNoCopy(tenant, await scanSync(tenant, { sanitize: 'false' }));
    await expectNoCopy(other, await scanSync(other));

    // Other settings of the key are left as they were by a change of one.
    expect((await putKeySettings(tenant.key, '{"detection_categories":["malware"]}')).status).toBe(
      200,
    );
    expect(await keySettingsOf(tenant.key)).toMatchObject({
      sanitize: true,
      effective_sanitize: true,
    });
  });

  it('refuses bad values with a clear 400 and changes nothing', async () => {
    const tenant = await service.createTenant('bad-sanitize');
    const tenantCases = ['"yes"', '"true"', '1', '0', 'null', '[]'];
    for (const value of tenantCases) {
      const response = await putSettings(tenant.id, `{"sanitize":${value}}`);
      expect({ value, status: response.status }).toEqual({ value, status: 400 });
      expect(((await response.json()) as { error: string }).error, value).toMatch(
        /sanitize must be true or false/,
      );
    }
    const keyCases = ['"yes"', '"false"', '1', '{}'];
    for (const value of keyCases) {
      const response = await putKeySettings(tenant.key, `{"sanitize":${value}}`);
      expect({ value, status: response.status }).toEqual({ value, status: 400 });
      expect(((await response.json()) as { error: string }).error, value).toMatch(
        /sanitize must be true, false or null/,
      );
    }
    const typo = await putKeySettings(tenant.key, '{"sanitise":true}');
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: string }).error).toMatch(
      /accepted fields are detection_categories, allowed_content_types and sanitize/,
    );
    const unknownKey = await putKeySettings('no-such-key', '{"sanitize":true}');
    expect(unknownKey.status).toBe(404);

    expect(await settingsOf(tenant.id)).toMatchObject({ sanitize: false });
    expect(await keySettingsOf(tenant.key)).toMatchObject({
      sanitize: null,
      effective_sanitize: false,
    });
    await expectNoCopy(tenant, await scanSync(tenant));
  });
});

describe('sanitizing decided when a scan is submitted', () => {
  let api: TestService;
  let worker: TestService | undefined;

  beforeAll(async () => {
    api = await startTestService({}, { roles: { api: true, workers: false } });
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
  });

  it('keeps the answer of submit time for the worker, whatever the setting says by then', async () => {
    const photo = await photoWithGpsAndTrailer();
    const tenant = await api.createTenant('decided-at-submit');
    const admin = (body: string) =>
      api.admin(`/tenants/${tenant.id}/settings`, { method: 'PUT', body });
    expect((await admin('{"sanitize":true}')).status).toBe(200);
    const response = await scaniiRequest(api, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(photo, {}, 'photo.jpg'),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    // Switched off before any worker runs: the scan was accepted with a copy asked for.
    expect((await admin('{"sanitize":false}')).status).toBe(200);

    worker = await startTestService(api.env, {
      redis: api.redis,
      roles: { api: false, workers: true },
    });
    const result = await pollScanResult<Result>(api, tenant, id);
    expect(result.sanitized).toMatchObject({ available: true, content_type: 'image/jpeg' });
    const copy = await scaniiRequest(api, tenant, `/files/${id}/sanitized`);
    expect(copy.status).toBe(200);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { zip } from '../support/archives.js';
import { fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  scanUpload,
  traceMessages,
  basic,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { SENSITIVE_TYPES } from '../../core/sensitive-types.js';

/** The classification settings of a tenant that set none (GET and /account.json). */
const DEFAULT_CLASSIFICATION_VIEW = { types: [...SENSITIVE_TYPES], min_matches: 1 };

interface Result {
  id: string;
  findings: string[];
  error?: string;
}

interface KeySettingsView {
  detection_categories: string[] | null;
  effective_detection_categories: string[];
}

const MALWARE_TEST_FINDING = 'content.malicious.local-test-file';
const MALWARE_ONLY = 'detection categories: malware';

/**
 * Detection categories as a tenant and its operator see them (docs/api.md): the tenant's
 * settings, a key's own categories (which win, and which its auth tokens follow), what
 * `/account.json` says, and the trace line naming what each scan looked for on every API path.
 * What each category then finds, on every path, is in test/scans/detection-categories-paths.test.ts.
 */
describe('detection categories', () => {
  let service: TestService;
  let content: TestHttpServer;

  beforeAll(async () => {
    service = await startTestService();
    content = await startHttpServer({ '/test-file.txt': LOCAL_TEST_FILE });
  });
  afterAll(async () => {
    await service?.stop();
    await content?.close();
  });

  const settingsOf = async (tenantId: string) =>
    (await service.admin(`/tenants/${tenantId}/settings`)).json();
  const putSettings = (tenantId: string, body: string) =>
    service.admin(`/tenants/${tenantId}/settings`, { method: 'PUT', body });
  const putKeySettings = (key: string, body: string) =>
    service.admin(`/keys/${encodeURIComponent(key)}/settings`, { method: 'PUT', body });
  const keySettingsOf = async (key: string) =>
    (await (await service.admin(`/keys/${key}/settings`)).json()) as KeySettingsView;

  const scanSync = (auth: string, data: Buffer, name = 'sample.txt') =>
    scanUpload<Result>(service, { auth }, data, name);
  const traceOf = (auth: string, id: string) => traceMessages(service, { auth }, id);
  const accountOf = async (auth: string) =>
    (await (
      await fetch(`${service.url}/v2.2/account.json`, { headers: { authorization: auth } })
    ).json()) as Record<string, unknown> & {
      keys: Record<string, { detection_categories_enabled: string[] }>;
    };

  it('defaults to malware alone, and takes categories (deduplicated, in order) and a threshold', async () => {
    const tenant = await service.createTenant('categories');
    expect(await settingsOf(tenant.id)).toEqual({
      report_unscannable: true,
      detection_categories: ['malware'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
    const changed = await putSettings(
      tenant.id,
      '{"detection_categories":["unsafe_language","malware","unsafe_language"]}',
    );
    expect(changed.status).toBe(200);
    expect(await changed.json()).toEqual({
      report_unscannable: true,
      detection_categories: ['malware', 'unsafe_language'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
    // Fields left out keep their value; the bounds are allowed.
    expect(await (await putSettings(tenant.id, '{"image_threshold":0}')).json()).toEqual({
      report_unscannable: true,
      detection_categories: ['malware', 'unsafe_language'],
      image_threshold: 0,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
    const all = await putSettings(
      tenant.id,
      '{"detection_categories":["unsafe_image","unsafe_language","malware"],"image_threshold":1,"report_unscannable":false}',
    );
    expect(await all.json()).toEqual({
      report_unscannable: false,
      detection_categories: ['malware', 'unsafe_image', 'unsafe_language'],
      image_threshold: 1,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
    expect((await accountOf(tenant.auth)).keys[tenant.key]?.detection_categories_enabled).toEqual([
      'malware',
      'unsafe_image',
      'unsafe_language',
    ]);
  });

  it('refuses malformed, unknown, empty and hostile settings with a clear 400, changing nothing', async () => {
    const tenant = await service.createTenant('bad-categories');
    const known =
      'known categories are malware, unsafe_image, unsafe_language, sensitive_data, file_type';
    const cases: Array<[string, RegExp]> = [
      ['{"detection_categories":[]}', /detection_categories must name at least one category/],
      [
        '{"detection_categories":["malware","nudity"]}',
        new RegExp(`unknown category "nudity"; ${known}`),
      ],
      ['{"detection_categories":["MALWARE"]}', /unknown category "MALWARE"/],
      ['{"detection_categories":[" malware"]}', /unknown category " malware"/],
      ['{"detection_categories":["__proto__"]}', /unknown category "__proto__"/],
      [
        '{"detection_categories":"malware"}',
        /detection_categories must be a list of category names/,
      ],
      ['{"detection_categories":{"0":"malware"}}', /detection_categories must be a list/],
      ['{"detection_categories":[1]}', /detection_categories must be a list of category names/],
      ['{"detection_categories":[["malware"]]}', /detection_categories must be a list/],
      ['{"detection_categories":null}', /detection_categories must be a list/],
      [
        JSON.stringify({ detection_categories: Array<string>(17).fill('malware') }),
        /detection_categories has more than 16 entries/,
      ],
      ['{"image_threshold":1.5}', /image_threshold must be a number from 0 to 1/],
      ['{"image_threshold":-0.01}', /image_threshold must be a number from 0 to 1/],
      ['{"image_threshold":"0.5"}', /image_threshold must be a number from 0 to 1/],
      ['{"image_threshold":true}', /image_threshold must be a number from 0 to 1/],
      ['{"image_threshold":null}', /image_threshold must be a number from 0 to 1/],
      ['{"image_threshold":1e400}', /image_threshold must be a number from 0 to 1/],
      ['{"imageThreshold":0.5}', /Unknown field "imageThreshold"/],
      ['{"detection_categories":["malware"]', /.+/],
    ];
    for (const [body, message] of cases) {
      const response = await putSettings(tenant.id, body);
      expect(response.status, body).toBe(400);
      expect(((await response.json()) as { error: string }).error, body).toMatch(message);
    }
    // A hostile name is quoted cut short, and its control characters stay escaped JSON.
    const hostile = `\u0000<script>${'x'.repeat(5000)}`;
    const refused = await putSettings(
      tenant.id,
      JSON.stringify({ detection_categories: ['malware', hostile] }),
    );
    expect(refused.status).toBe(400);
    const text = await refused.text();
    expect(text.length).toBeLessThan(400);
    expect((JSON.parse(text) as { error: string }).error).toBe(
      `detection_categories: unknown category "${hostile.slice(0, 64)}"; known categories are malware, unsafe_image, unsafe_language, sensitive_data, file_type`,
    );
    expect(await settingsOf(tenant.id)).toEqual({
      report_unscannable: true,
      detection_categories: ['malware'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
  });

  it("lets one key have its own categories, which win over the tenant's, and its tokens follow", async () => {
    const tenant = await service.createTenant('per-key');
    const added = (await (
      await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const other = { auth: basic(added.key, added.secret), key: added.key };
    expect(await keySettingsOf(tenant.key)).toEqual({
      detection_categories: null,
      effective_detection_categories: ['malware'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: null,
      effective_sanitize: false,
    });

    // The tenant asks for more than malware; the first key keeps to malware.
    const set = await putKeySettings(tenant.key, '{"detection_categories":["malware","malware"]}');
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({
      detection_categories: ['malware'],
      effective_detection_categories: ['malware'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: null,
      effective_sanitize: false,
    });
    expect(
      (await putSettings(tenant.id, '{"detection_categories":["malware","unsafe_image"]}')).status,
    ).toBe(200);
    expect(await keySettingsOf(tenant.key)).toEqual({
      detection_categories: ['malware'],
      effective_detection_categories: ['malware'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: null,
      effective_sanitize: false,
    });
    expect(await keySettingsOf(other.key)).toEqual({
      detection_categories: null,
      effective_detection_categories: ['malware', 'unsafe_image'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: null,
      effective_sanitize: false,
    });
    const account = await accountOf(tenant.auth);
    expect(account.keys[tenant.key]?.detection_categories_enabled).toEqual(['malware']);
    expect(account.keys[other.key]?.detection_categories_enabled).toEqual([
      'malware',
      'unsafe_image',
    ]);

    // Scans with the key, and with a token it minted, look for malware only.
    const byKey = await scanSync(tenant.auth, LOCAL_TEST_FILE);
    expect(byKey.findings).toEqual([MALWARE_TEST_FINDING]);
    expect(await traceOf(tenant.auth, byKey.id)).toContain(MALWARE_ONLY);
    const minted = await fetch(`${service.url}/v2.2/auth/tokens`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: '{"timeout":60}',
    });
    expect(minted.status).toBe(201);
    const token = basic(((await minted.json()) as { id: string }).id, '');
    const byToken = await scanSync(token, randomContent(512));
    expect(byToken.findings).toEqual([]);
    expect(await traceOf(tenant.auth, byToken.id)).toContain(MALWARE_ONLY);

    // null: the key follows its tenant again.
    const reset = await putKeySettings(tenant.key, '{"detection_categories":null}');
    expect(await reset.json()).toEqual({
      detection_categories: null,
      effective_detection_categories: ['malware', 'unsafe_image'],
      allowed_content_types: null,
      effective_allowed_content_types: null,
      sanitize: null,
      effective_sanitize: false,
    });
    expect((await accountOf(tenant.auth)).keys[tenant.key]?.detection_categories_enabled).toEqual([
      'malware',
      'unsafe_image',
    ]);
    expect((await putSettings(tenant.id, '{"detection_categories":["malware"]}')).status).toBe(200);
  });

  it('refuses bad key settings, unknown keys and callers without the admin token', async () => {
    const tenant = await service.createTenant('key-settings-errors');
    const cases: Array<[string, RegExp]> = [
      ['{}', /give at least one of detection_categories, allowed_content_types and sanitize/],
      ['{"detection_categories":[]}', /must name at least one category/],
      ['{"detection_categories":["malware","gore"]}', /unknown category "gore"/],
      [
        '{"detection_categories":["malware"],"image_threshold":0.5}',
        /Unknown field "image_threshold"/,
      ],
      ['[null]', /.+/],
    ];
    for (const [body, message] of cases) {
      const response = await putKeySettings(tenant.key, body);
      expect(response.status, body).toBe(400);
      expect(((await response.json()) as { error: string }).error, body).toMatch(message);
    }
    expect(await keySettingsOf(tenant.key)).toMatchObject({ detection_categories: null });

    for (const key of ['no-such-key', 'x'.repeat(300), tenant.id]) {
      expect((await service.admin(`/keys/${key}/settings`)).status, key).toBe(404);
      expect((await putKeySettings(key, '{"detection_categories":["malware"]}')).status, key).toBe(
        404,
      );
    }
    const asTenant = await fetch(`${service.url}/admin/keys/${tenant.key}/settings`, {
      method: 'PUT',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: '{"detection_categories":["malware"]}',
    });
    expect(asTenant.status).toBe(401);
    expect((await fetch(`${service.url}/admin/keys/${tenant.key}/settings`)).status).toBe(401);
  });

  it('says in the trace what each scan looked for, on sync, async, fetch and the verdict API', async () => {
    const tenant: TestTenant = await service.createTenant('trace-paths');

    const sync = await scanSync(tenant.auth, LOCAL_TEST_FILE);
    expect(sync.findings).toEqual([MALWARE_TEST_FINDING]);
    expect(await traceOf(tenant.auth, sync.id)).toContain(MALWARE_ONLY);

    const zipped = await zip([{ name: 'docs/test-file.txt', data: LOCAL_TEST_FILE }]);
    const inZip = await scanSync(tenant.auth, zipped, 'bundle.zip');
    expect(inZip.findings).toEqual([MALWARE_TEST_FINDING]);
    expect(await traceOf(tenant.auth, inZip.id)).toContain(MALWARE_ONLY);

    const accepted = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: fileForm(LOCAL_TEST_FILE, {}, 'later.txt'),
    });
    expect(accepted.status).toBe(202);
    const asyncId = ((await accepted.json()) as { id: string }).id;
    expect((await pollScanResult<Result>(service, tenant, asyncId)).findings).toEqual([
      MALWARE_TEST_FINDING,
    ]);
    expect(await traceOf(tenant.auth, asyncId)).toContain(MALWARE_ONLY);

    const fetched = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}/test-file.txt` }),
    });
    expect(fetched.status).toBe(202);
    const fetchId = ((await fetched.json()) as { id: string }).id;
    expect((await pollScanResult<Result>(service, tenant, fetchId)).findings).toEqual([
      MALWARE_TEST_FINDING,
    ]);
    expect(await traceOf(tenant.auth, fetchId)).toContain(MALWARE_ONLY);

    const form = new FormData();
    form.append('file', new Blob([LOCAL_TEST_FILE]), 'verdict.txt');
    const verdict = await fetch(`${service.url}/api/Scan`, {
      method: 'POST',
      headers: { authorization: tenant.auth },
      body: form,
    });
    expect(verdict.status).toBe(200);
    expect(await verdict.json()).toMatchObject({ result: 'Infected' });
    const [verdictId = ''] = (verdict.headers.get('x-arbiter-scan-ids') ?? '').split(',');
    expect(await traceOf(tenant.auth, verdictId)).toContain(MALWARE_ONLY);
  });

  it("gives /account.json Scanii's balance fields, with values that say scanning is not metered", async () => {
    const tenant = await service.createTenant('balance');
    const account = await accountOf(tenant.auth);
    expect(account).toMatchObject({
      balance: 2_147_483_647,
      starting_balance: 2_147_483_647,
      billing_email: '',
      subscription: 'self-hosted',
    });
    expect(account.keys[tenant.key]?.detection_categories_enabled).toEqual(['malware']);
  });

  it('lists in /account.json the tenant settings and what runs for each category', async () => {
    const tenant = await service.createTenant('analyzers');
    await putSettings(tenant.id, '{"detection_categories":["malware","unsafe_image"]}');
    const account = await accountOf(tenant.auth);
    expect(account.settings).toEqual({
      report_unscannable: true,
      detection_categories: ['malware', 'unsafe_image'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
    const analyzers = account.analyzers as Array<{ name: string; category: string | null }>;
    expect(analyzers.map(({ name, category }) => [name, category])).toEqual([
      ['language-rules', 'unsafe_language'],
      ['nsfwjs', 'unsafe_image'],
      ['sensitive-data', 'sensitive_data'],
      ['true-type', 'file_type'],
      ['tenant-rules', null],
    ]);
  });
});

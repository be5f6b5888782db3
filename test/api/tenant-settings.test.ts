import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { encryptedZip, zip } from '../support/archives.js';
import { eicar, fileForm, randomContent } from '../support/content.js';
import {
  scanUpload,
  traceMessages,
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
  suppressed_findings?: string[];
}

/**
 * The tenant opt-out from unscannable findings (docs/api.md, "The result"): by default content that could not
 * be fully scanned is reported as `content.unscannable.*` and never read as clean; a tenant the
 * operator opted out is judged by its other findings alone, and sees what was left out.
 */
describe('tenant settings: opting out of unscannable findings', () => {
  let service: TestService;
  let reporting: TestTenant;
  let optedOut: TestTenant;
  let encrypted: Buffer;

  beforeAll(async () => {
    service = await startTestService();
    reporting = await service.createTenant('reports-unscannable');
    optedOut = await service.createTenant('ignores-unscannable');
    encrypted = encryptedZip([{ name: 'secret.txt', data: randomContent(2000) }]);
  });
  afterAll(async () => {
    await service?.stop();
  });

  const admin = (path: string, init?: RequestInit) => service.admin(path, init);
  const putSettings = (tenantId: string, body: string) =>
    admin(`/tenants/${tenantId}/settings`, { method: 'PUT', body });

  const scanSync = (who: TestTenant, content: Buffer, name = 'upload.zip') =>
    scanUpload<Result>(service, who, content, name);
  const traceOf = (who: TestTenant, id: string) => traceMessages(service, who, id);

  it('reports unscannable content by default, and shows the setting to the tenant', async () => {
    const settings = await admin(`/tenants/${reporting.id}/settings`);
    expect(settings.status).toBe(200);
    expect(await settings.json()).toEqual({
      report_unscannable: true,
      detection_categories: ['malware'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });

    const result = await scanSync(reporting, encrypted);
    expect(result.findings).toEqual(['content.unscannable.encrypted']);
    expect(result).not.toHaveProperty('suppressed_findings');

    const account = await fetch(`${service.url}/v2.2/account.json`, {
      headers: { authorization: reporting.auth },
    });
    expect(((await account.json()) as { settings: unknown }).settings).toEqual({
      report_unscannable: true,
      detection_categories: ['malware'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
  });

  it('leaves unscannable findings out for an opted-out tenant, and says so', async () => {
    const changed = await putSettings(optedOut.id, JSON.stringify({ report_unscannable: false }));
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({ report_unscannable: false });

    // Sync, async and the result as stored all agree.
    const result = await scanSync(optedOut, encrypted);
    expect(result.findings).toEqual([]);
    expect(result.suppressed_findings).toEqual(['content.unscannable.encrypted']);
    const accepted = await fetch(`${service.url}/v2.2/files/async`, {
      method: 'POST',
      headers: { authorization: optedOut.auth },
      body: fileForm(encrypted, {}, 'later.zip'),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const polled = await pollScanResult<Result>(service, optedOut, id);
    expect(polled.findings).toEqual([]);
    expect(polled.suppressed_findings).toEqual(['content.unscannable.encrypted']);
    expect(await traceOf(optedOut, id)).toContain(
      'not reported, as the tenant opted out of unscannable findings: content.unscannable.encrypted',
    );

    // The other tenant is untouched.
    expect((await scanSync(reporting, encrypted)).findings).toEqual([
      'content.unscannable.encrypted',
    ]);
  });

  it('still reports malware next to an encrypted member for an opted-out tenant', async () => {
    const mixed = await zip([
      { name: 'eicar.com', data: eicar() },
      { name: 'locked.zip', data: encrypted },
    ]);
    const result = await scanSync(optedOut, mixed, 'mixed.zip');
    expect(result.findings).toEqual([EICAR_FINDING]);
    expect(result.suppressed_findings).toEqual(['content.unscannable.encrypted']);
  });

  it('gives the verdict API Clean for an opted-out tenant and Unscannable otherwise', async () => {
    const verdictFor = async (who: TestTenant) => {
      const form = new FormData();
      form.append('file', new Blob([encrypted]), 'archive.zip');
      const response = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: who.auth },
        body: form,
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { result: string }).result;
    };
    expect(await verdictFor(optedOut)).toBe('Clean');
    expect(await verdictFor(reporting)).toBe('Unscannable');
  });

  it('opts back in, and keeps the setting when a change leaves it out', async () => {
    const tenant = await service.createTenant('changes-its-mind');
    expect((await putSettings(tenant.id, '{"report_unscannable":false}')).status).toBe(200);
    const unchanged = await putSettings(tenant.id, '{}');
    expect(await unchanged.json()).toMatchObject({ report_unscannable: false });
    expect((await scanSync(tenant, encrypted)).findings).toEqual([]);
    expect((await putSettings(tenant.id, '{"report_unscannable":true}')).status).toBe(200);
    // Each process caches settings for up to a second; the admin change clears this one's.
    expect((await scanSync(tenant, encrypted)).findings).toEqual(['content.unscannable.encrypted']);
  });

  it('refuses bad settings with a clear 400 and changes nothing', async () => {
    const tenant = await service.createTenant('bad-settings');
    const cases: Array<[string, RegExp]> = [
      ['{"report_unscannable":"no"}', /report_unscannable must be true or false/],
      ['{"report_unscannable":0}', /report_unscannable must be true or false/],
      ['{"report_unscannable":null}', /report_unscannable must be true or false/],
      [
        '{"reportUnscannable":false}',
        /accepted fields are report_unscannable, detection_categories, image_threshold, classification, allowed_content_types and sanitize/,
      ],
      [
        '{"__proto__":{"report_unscannable":false}}',
        /accepted fields are report_unscannable, detection_categories, image_threshold, classification, allowed_content_types and sanitize/,
      ],
      ['[false]', /.+/],
      ['{"report_unscannable":', /.+/],
    ];
    for (const [body, message] of cases) {
      const response = await putSettings(tenant.id, body);
      expect(response.status, body).toBe(400);
      expect(JSON.stringify(await response.json()), body).toMatch(message);
    }
    const notJson = await admin(`/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'report_unscannable=false',
    });
    expect(notJson.status).toBe(415);
    const tooBig = await putSettings(tenant.id, JSON.stringify({ pad: 'x'.repeat(40_000) }));
    expect(tooBig.status).toBe(413);
    expect(await (await admin(`/tenants/${tenant.id}/settings`)).json()).toEqual({
      report_unscannable: true,
      detection_categories: ['malware'],
      image_threshold: 0.7,
      classification: DEFAULT_CLASSIFICATION_VIEW,
      allowed_content_types: null,
      sanitize: false,
    });
  });

  it('needs the admin token and an existing tenant', async () => {
    const anonymous = await fetch(`${service.url}/admin/tenants/${optedOut.id}/settings`);
    expect(anonymous.status).toBe(401);
    const asTenant = await fetch(`${service.url}/admin/tenants/${optedOut.id}/settings`, {
      method: 'PUT',
      headers: { authorization: optedOut.auth, 'content-type': 'application/json' },
      body: '{"report_unscannable":true}',
    });
    expect(asTenant.status).toBe(401);
    expect((await admin('/tenants/0123456789abcdef0123456789abcdef/settings')).status).toBe(404);
    expect((await admin('/tenants/..%2Fkeys/settings')).status).toBe(404);
    expect((await putSettings('x'.repeat(300), '{}')).status).toBe(404);
    // Still opted out: nothing above changed it.
    expect(await (await admin(`/tenants/${optedOut.id}/settings`)).json()).toMatchObject({
      report_unscannable: false,
    });
  });
});

import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import {
  signInAsOperator,
  signInAsTenant,
  startConsoleService,
  type ConsoleService,
} from '../support/console.js';
import { fileForm, randomContent } from '../support/content.js';
import { scaniiRequest, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

/**
 * The operator views in Chromium, against the real service run as an API alone (no workers in
 * it, so queued scans stay queued until a separate worker process starts): tenants (create,
 * disable a key, rate limit, settings), queue depth rising, a worker process appearing and going
 * stale once killed, the built-in engine's signature counts, a recorded error shown as text; and
 * a tenant session neither sees these views nor gets answers from /admin.
 */

const HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';

describe('console operator views (Chromium)', () => {
  let consoleService: ConsoleService;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    consoleService = await startConsoleService(
      {
        // A killed worker turns stale after 1.5 s and leaves the list after 3 s.
        ARBITER_WORKER_HEARTBEAT_MS: '1000',
        // The built-in engine with a few signatures of each kind, for the engines view.
        ARBITER_SIGNATURES_DIR: path.resolve('test/fixtures/signatures'),
      },
      { roles: { api: true, workers: false } },
    );
    service = consoleService.service;
    tenant = await service.createTenant('operator-test-tenant');
  }, 120_000);
  afterAll(async () => {
    await killAllArbiterProcesses();
    await consoleService?.close();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function operatorPage(width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsOperator(page, service.url);
    return page;
  }

  const nav = (page: Page) => page.getByRole('navigation', { name: 'Console' });

  it('hides the operator views from a tenant session, whose /admin requests are refused', async () => {
    const page = await consoleService.openPage();
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Scans' }).waitFor();
    for (const name of ['Tenants', 'Queues', 'Workers', 'Engines', 'Recent errors'])
      expect(await nav(page).getByRole('link', { name }).count()).toBe(0);
    await page.goto(`${service.url}/console/tenants`);
    await page.getByText('There is no such page in the console.').waitFor();
    // The API itself refuses the session, whatever a page script tries.
    const statuses = await page.evaluate(async () => {
      const session = (await (await fetch('/console/api/session')).json()) as {
        csrf_token: string;
      };
      const headers = { 'X-CSRF-Token': session.csrf_token, 'content-type': 'application/json' };
      return [
        (await fetch('/admin/tenants')).status,
        (await fetch('/admin/queues')).status,
        (await fetch('/admin/errors')).status,
        (await fetch('/admin/tenants', { method: 'POST', headers, body: '{"name":"x"}' })).status,
      ];
    });
    for (const status of statuses) expect([401, 403]).toContain(status);
    await page.context().close();
  });

  it('creates a tenant, shows its secret once, disables a key, sets limits and settings', async () => {
    const page = await operatorPage();
    await nav(page).getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.getByLabel('New tenant’s name').fill('Acme <b>bold</b>');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    const panel = page.getByRole('region', { name: 'New credentials' });
    await panel.waitFor();
    const values = await panel.locator('code').allTextContents();
    const [tenantId, key, secret] = values;
    expect(tenantId).toMatch(/\S/);
    expect(secret).toMatch(/\S/);
    // The credentials shown work against the API.
    const created = { auth: `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}` };
    expect((await scaniiRequest(service, created, '/ping')).status).toBe(200);
    expect(await panel.getByRole('heading').textContent()).toBe('Tenant Acme <b>bold</b> created');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await panel.getByRole('button', { name: 'Copy Secret' }).click();
    await panel.getByText('Copied.').waitFor();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(secret);
    await screenshot(page, 'operator-tenant-created');
    await panel.getByRole('button', { name: 'Done' }).click();
    expect(await page.getByText(secret!).count()).toBe(0);

    // A second key, then disable the first: the first gets 403, the second still works.
    const card = page.getByRole('article', { name: 'Tenant Acme <b>bold</b>' });
    await card.getByRole('button', { name: 'Add a key' }).click();
    await panel.waitFor();
    const [secondKey, secondSecret] = await panel.locator('code').allTextContents();
    await panel.getByRole('button', { name: 'Done' }).click();
    await card.getByRole('button', { name: `Disable ${key!}` }).click();
    await card.getByRole('button', { name: `Yes, disable ${key!}` }).click();
    await waitFor(async () => (await card.getByText('disabled').count()) === 1, {
      what: 'the key shown disabled',
    });
    expect((await scaniiRequest(service, created, '/ping')).status).toBe(403);
    const second = {
      auth: `Basic ${Buffer.from(`${secondKey}:${secondSecret}`).toString('base64')}`,
    };
    expect((await scaniiRequest(service, second, '/ping')).status).toBe(200);
    await screenshot(page, 'operator-tenants');

    // Limits and settings of that tenant.
    await card.getByRole('link', { name: 'Limits and settings' }).click();
    await page.getByRole('heading', { name: 'Tenant Acme <b>bold</b>' }).waitFor();
    const limits = page.getByRole('form', { name: 'Rate limit and quota' });
    await limits.waitFor();
    await limits.getByLabel('Requests per second').fill('7');
    await limits.getByLabel('Burst').fill('14');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await page.getByText('Limits saved.').waitFor();
    const stored = (await (await service.admin(`/tenants/${tenantId!}/limits`)).json()) as {
      requestsPerSecond: number;
      overrides: Record<string, number | null>;
    };
    expect(stored.overrides).toEqual({ requestsPerSecond: 7, burst: 14, bytesPerDay: null });
    expect(stored.requestsPerSecond).toBe(7);
    // A value the API refuses is not sent: the form says why.
    await limits.getByLabel('Burst').fill('lots');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await limits.getByRole('alert').waitFor();

    const settings = page.getByRole('form', { name: 'Scanning settings' });
    await settings.getByLabel(/Report content that could not be fully scanned/).uncheck();
    await settings.getByLabel('Unsafe images').check();
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    expect(await (await service.admin(`/tenants/${tenantId!}/settings`)).json()).toMatchObject({
      report_unscannable: false,
      detection_categories: ['malware', 'unsafe_image'],
    });
    await screenshot(page, 'operator-tenant-limits');
    await page.context().close();
  });

  it('shows the scan queue’s depth rise live while no worker runs', async () => {
    const page = await operatorPage();
    await nav(page).getByRole('link', { name: 'Queues' }).click();
    const table = page.getByRole('table', { name: 'Queues now' });
    await table.waitFor();
    const waitingOfScan = async () =>
      Number(await table.locator('tr', { hasText: /^scan/ }).locator('td').nth(1).textContent());
    const before = await waitingOfScan();
    await page.getByText('Live: updated every 2 s.').waitFor();
    for (let i = 0; i < 5; i += 1) {
      const accepted = await scaniiRequest(service, tenant, '/files/async', {
        method: 'POST',
        body: fileForm(randomContent(300 + i)),
      });
      expect(accepted.status).toBe(202);
    }
    // No reload: the rise arrives through the `queues` events.
    await waitFor(async () => (await waitingOfScan()) === before + 5, {
      what: 'five more scans waiting',
    });
    expect(await page.locator('.chart canvas').count()).toBeGreaterThan(0);
    await screenshot(page, 'operator-queues');
    await page.context().close();
  });

  it('lists a worker process by its heartbeat, then shows it stale or gone once killed', async () => {
    const page = await operatorPage();
    await nav(page).getByRole('link', { name: 'Workers' }).click();
    await page.getByRole('heading', { name: 'Workers' }).waitFor();
    const worker = await startWorkerProcess(service.env);
    const row = page.locator('tbody tr', { hasText: String(worker.pid) });
    await row.waitFor({ timeout: 15_000 });
    await waitFor(async () => (await row.textContent())?.includes('alive'), {
      what: 'the worker alive',
    });
    await screenshot(page, 'operator-workers');
    await worker.kill();
    await waitFor(
      async () => (await row.count()) === 0 || ((await row.textContent()) ?? '').includes('stale'),
      { what: 'the killed worker stale or gone', timeoutMs: 20_000 },
    );
    // Gone for good after three intervals.
    await waitFor(async () => (await row.count()) === 0, {
      what: 'the killed worker gone',
      timeoutMs: 20_000,
    });
    await page.context().close();
  });

  it('shows the built-in engine’s signature counts, and reloads them after confirmation', async () => {
    const report = (await (await service.admin('/signatures')).json()) as {
      engines: Array<{ name: string; signatures?: number; types?: Array<{ type: string }> }>;
    };
    const builtin = report.engines.find((engine) => engine.name === 'builtin');
    expect(builtin?.signatures).toBeGreaterThan(0);
    const page = await operatorPage();
    await nav(page).getByRole('link', { name: 'Engines' }).click();
    const engine = page.getByRole('table', { name: 'Engine builtin' });
    await engine.waitFor();
    const signatures = engine.locator('tr', {
      has: page.getByRole('rowheader', { name: 'Signatures', exact: true }),
    });
    expect(await signatures.locator('td').textContent()).toBe(String(builtin!.signatures));
    const types = page.getByRole('table', { name: 'Signatures of builtin by type' });
    expect(await types.locator('tbody tr').count()).toBe(builtin!.types?.length);
    await page.getByRole('button', { name: 'Reload signatures' }).click();
    await page.getByRole('button', { name: 'Yes, reload signatures' }).click();
    await page.getByText('Signatures reloaded.').waitFor();
    await screenshot(page, 'operator-engines');
    await page.context().close();
  });

  it('shows a recorded error with hostile text as text, filtered by kind', async () => {
    service.service.runtime.errors.record({
      kind: 'callback',
      tenantId: tenant.id,
      scanId: 'scan-with-hostile-error',
      message: `callback given up: ${HOSTILE}`,
    });
    service.service.runtime.errors.record({ kind: 'http', message: 'GET /boom answered 500' });
    await waitFor(
      async () =>
        ((await (await service.admin('/errors')).json()) as { errors: unknown[] }).errors.length >=
        2,
      { what: 'both errors recorded' },
    );
    const page = await operatorPage();
    await nav(page).getByRole('link', { name: 'Recent errors' }).click();
    const table = page.getByRole('table', { name: 'Recent errors, newest first' });
    await table.waitFor();
    const rows = table.locator('tbody tr');
    // Newest first.
    expect(await rows.first().textContent()).toContain('GET /boom answered 500');
    expect(await rows.nth(1).textContent()).toContain(`callback given up: ${HOSTILE}`);
    expect(await table.locator('script, img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBe(undefined);
    await page.getByLabel('Kind').selectOption('callback');
    await waitFor(async () => (await rows.count()) === 1, { what: 'only the callback error' });
    expect(await rows.first().textContent()).toContain('scan-with-hostile-error');
    await screenshot(page, 'operator-errors');
    await page.getByLabel('Kind').selectOption('retro');
    await page.getByText('No error of this kind.').waitFor();
    await page.context().close();
  });

  it('fits the tenants and queues views at phone width', async () => {
    const page = await operatorPage(375);
    for (const [link, heading] of [
      ['Tenants', 'Tenants'],
      ['Queues', 'Queues'],
    ] as const) {
      await nav(page).getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
    }
    await screenshot(page, 'operator-queues-phone');
    await page.context().close();
  });
});

import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import { signInAsTenant, startConsoleService, type ConsoleService } from '../support/console.js';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import {
  pollScanResult,
  scanUpload,
  scaniiRequest,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { EICAR } from '../../scanning/eicar.js';

/**
 * The scans pages in Chromium, against the real service: the list (filter, search), one scan
 * (result, metadata, timeline, callback attempts, Redeliver, Delete), tenant isolation, hostile
 * metadata rendered as text, and CSRF on a request a page script forges.
 */

const HOSTILE = '<img src=x onerror="window.__xss=1">';

describe('console scans pages (Chromium)', () => {
  let consoleService: ConsoleService;
  let service: TestService;
  let receiver: CallbackReceiver;
  let tenantA: TestTenant;
  let tenantB: TestTenant;

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    consoleService = await startConsoleService({
      // A refused callback waits a minute for its retry: the redelivery comes first.
      ARBITER_CALLBACK_RETRY_BASE_MS: '60000',
    });
    service = consoleService.service;
    tenantA = await service.createTenant('tenant-a');
    tenantB = await service.createTenant('tenant-b');
  }, 120_000);
  afterAll(async () => {
    await consoleService?.close();
    await receiver?.close();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function signedIn(tenant: TestTenant, width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Scans', exact: true }).click();
    await page.getByRole('heading', { name: 'Scans', exact: true }).waitFor();
    return page;
  }

  it('lists the tenant’s scans newest first, filters by outcome and searches', async () => {
    const clean = await scanUpload<{ id: string }>(service, tenantA, randomContent(700), 'c.bin');
    const infected = await scanUpload<{ id: string }>(service, tenantA, EICAR, 'eicar.com');
    const tagged = await scaniiRequest(service, tenantA, '/files', {
      method: 'POST',
      body: fileForm(randomContent(900), { 'metadata[order]': 'PO-7781' }),
    });
    expect(tagged.status).toBe(201);
    const taggedId = ((await tagged.json()) as { id: string }).id;

    const page = await signedIn(tenantA);
    const rows = page.locator('tbody tr');
    await waitFor(async () => (await rows.count()) >= 3, { what: 'three scans listed' });
    const ids = await page.locator('tbody tr td:first-child').allTextContents();
    expect(ids.slice(0, 3)).toEqual([taggedId, infected.id, clean.id]);
    await screenshot(page, 'scans-list');

    await page.getByLabel('Outcome').selectOption('findings');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor(
      async () =>
        JSON.stringify(await page.locator('tbody tr td:first-child').allTextContents()) ===
        JSON.stringify([infected.id]),
      { what: 'only the infected scan' },
    );

    await page.getByLabel('Outcome').selectOption('');
    await page.getByLabel('Search').fill('po-7781');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor(
      async () =>
        JSON.stringify(await page.locator('tbody tr td:first-child').allTextContents()) ===
        JSON.stringify([taggedId]),
      { what: 'only the scan with that metadata' },
    );
    await page.getByLabel('Search').fill('no-such-thing-anywhere');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No scan matches.').waitFor();
    await page.context().close();
  });

  it('loads more scans by cursor', async () => {
    const many = await service.createTenant('many-scans');
    // One page is 50 scans: 53 make a second page of 3.
    for (let batch = 0; batch < 53; batch += 10)
      await Promise.all(
        Array.from({ length: Math.min(10, 53 - batch) }, (_, i) =>
          scanUpload(service, many, randomContent(64 + batch + i), `f${batch + i}.bin`),
        ),
      );
    const page = await signedIn(many);
    const rows = page.locator('tbody tr');
    await page.getByText('50 scans shown.').waitFor();
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByText('53 scans shown.').waitFor();
    expect(await rows.count()).toBe(53);
    const ids = await page.locator('tbody tr td:first-child').allTextContents();
    expect(new Set(ids).size).toBe(53);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
    await page.context().close();
  });

  it('shows a scan’s result, timeline and callback attempts; redelivers; deletes', async () => {
    // The receiver refuses the first delivery and accepts the redelivery.
    receiver.respondWith = (attempt) => (attempt === 1 ? 500 : 200);
    const upload = randomContent(1500);
    const accepted = await scaniiRequest(service, tenantA, '/files/async', {
      method: 'POST',
      body: fileForm(upload, { callback: `${receiver.url}/callback`, 'metadata[team]': 'blue' }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    await pollScanResult(service, tenantA, id);
    await waitFor(() => receiver.deliveries.length >= 1, { what: 'the first delivery' });

    const page = await signedIn(tenantA);
    await page.goto(`${service.url}/console/scans/${id}`);
    await page.getByRole('heading', { name: `Scan ${id}` }).waitFor();
    const result = page.getByRole('table', { name: 'Result' });
    await result.waitFor();
    expect(await result.textContent()).toContain(sha1(upload));
    expect(await page.getByRole('table', { name: 'Metadata' }).textContent()).toContain('blue');
    const attempts = page.getByRole('table', { name: 'Callback attempts' });
    await waitFor(async () => /HTTP 500/.test((await attempts.textContent()) ?? ''), {
      what: 'the failed attempt',
    });
    // The trace is read apart from the result and the attempts: it may be listed a moment later.
    await waitFor(async () => (await page.locator('ol.timeline li').count()) > 2, {
      what: 'the trace as a timeline',
    });
    await screenshot(page, 'scan-callback-failed');

    await page.getByRole('button', { name: 'Redeliver' }).click();
    await page.getByRole('button', { name: 'Yes, redeliver' }).click();
    await page.getByText(/Callback redelivery (queued|rescheduled|in-progress)/).waitFor();
    await waitFor(() => receiver.deliveries.length >= 2, { what: 'the redelivery' });
    await waitFor(
      async () => {
        await page.getByRole('button', { name: 'Redeliver' }).click();
        await page.getByRole('button', { name: 'Cancel' }).click();
        await page.reload();
        return /HTTP 200/.test(
          (await page.getByRole('table', { name: 'Callback attempts' }).textContent()) ?? '',
        );
      },
      { what: 'the redelivery listed as delivered', intervalMs: 200 },
    );
    await screenshot(page, 'scan-redelivered');

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('heading', { name: 'Scans' }).waitFor();
    const gone = await scaniiRequest(service, tenantA, `/files/${id}`);
    expect(gone.status).toBe(404);
    await page.context().close();
  });

  it('shows hostile metadata as text, never running it', async () => {
    const response = await scaniiRequest(service, tenantA, '/files', {
      method: 'POST',
      body: fileForm(randomContent(300), { 'metadata[note]': HOSTILE }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const page = await signedIn(tenantA);
    await page.getByText(HOSTILE, { exact: false }).first().waitFor();
    await page.goto(`${service.url}/console/scans/${id}`);
    const metadata = page.getByRole('table', { name: 'Metadata' });
    await metadata.waitFor();
    expect(await metadata.textContent()).toContain(HOSTILE);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBe(undefined);
    await screenshot(page, 'scan-hostile-metadata');
    await page.context().close();
  });

  it('does not open another tenant’s scan by URL', async () => {
    const { id } = await scanUpload<{ id: string }>(service, tenantA, randomContent(400), 'a.bin');
    const page = await signedIn(tenantB);
    await page.goto(`${service.url}/console/scans/${id}`);
    await page.getByText('Scan not found').waitFor();
    expect(await page.getByRole('table', { name: 'Result' }).count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('a.bin');
    await screenshot(page, 'scan-other-tenant');
    await page.context().close();
  });

  it('refuses a forged change without the CSRF token, and accepts it with the token', async () => {
    const { id } = await scanUpload<{ id: string }>(service, tenantA, randomContent(400), 'f.bin');
    const page = await signedIn(tenantA);
    // A script on the page (or a forged request the browser sends with the cookie) without the
    // token: refused, the scan stays.
    const forged = await page.evaluate(
      async (path) => (await fetch(path, { method: 'DELETE' })).status,
      `/v2.2/files/${id}`,
    );
    expect(forged).toBe(403);
    expect((await scaniiRequest(service, tenantA, `/files/${id}`)).status).toBe(200);
    const withToken = await page.evaluate(async (path) => {
      const session = (await (await fetch('/console/api/session')).json()) as {
        csrf_token: string;
      };
      return (
        await fetch(path, { method: 'DELETE', headers: { 'X-CSRF-Token': session.csrf_token } })
      ).status;
    }, `/v2.2/files/${id}`);
    expect(withToken).toBe(204);
    expect((await scaniiRequest(service, tenantA, `/files/${id}`)).status).toBe(404);
    await page.context().close();
  });

  it('works at phone width', async () => {
    await scanUpload(service, tenantA, EICAR, 'eicar.com');
    const page = await signedIn(tenantA, 375);
    await waitFor(async () => (await page.locator('tbody tr').count()) > 0, {
      what: 'scans listed',
    });
    // The page (the browser's globals are not in this file's types: a string is evaluated).
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'scans-phone');
    await page.context().close();
  });
});

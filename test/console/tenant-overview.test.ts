import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import { signInAsTenant, startConsoleService, type ConsoleService } from '../support/console.js';
import { eicar, fileForm, randomContent } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import {
  pollScanResult,
  scanUpload,
  scaniiRequest,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The tenant's overview in Chromium, against the real service: it is where a tenant lands, its
 * numbers (beside the charts) follow the scans as they complete without a reload, the window
 * switches between a day and a week, and it fits a phone's width.
 */

describe('console tenant overview (Chromium)', () => {
  let consoleService: ConsoleService;
  let service: TestService;
  let receiver: CallbackReceiver;
  let tenant: TestTenant;

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    consoleService = await startConsoleService({
      // A refused callback is not retried while the test looks.
      ARBITER_CALLBACK_RETRY_BASE_MS: '60000',
    });
    service = consoleService.service;
    tenant = await service.createTenant('overview');
  }, 120_000);
  afterAll(async () => {
    await consoleService?.close();
    await receiver?.close();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function signedIn(width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    return page;
  }

  /** The number a totals entry shows (`Scans` → `3`). */
  const total = (page: Page, label: string) =>
    page
      .getByRole('definition')
      .filter({ has: page.locator(`xpath=preceding-sibling::dt[text()="${label}"]`) })
      .textContent();

  it('lands on the overview, whose numbers follow the scans live', async () => {
    const page = await signedIn();
    expect(new URL(page.url()).pathname).toBe('/console/overview');
    await page.getByText('No scans in this window yet.').waitFor();
    await page.getByText('Live: updates as scans complete.').waitFor();
    expect(await total(page, 'Scans')).toBe('0');

    // A scan whose callback the receiver refuses, recorded before the next scans: their events
    // then reload numbers that count it. Then two clean scans and EICAR.
    receiver.respondWith = () => 500;
    const accepted = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(randomContent(700), { callback: `${receiver.url}/callback` }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    await pollScanResult(service, tenant, id);
    await waitFor(
      async () => {
        const response = await fetch(`${service.url}/v1/scans/${id}/callbacks`, {
          headers: { authorization: tenant.auth },
        });
        return ((await response.json()) as { callbacks: unknown[] }).callbacks.length > 0;
      },
      { what: 'the failed attempt recorded' },
    );
    await scanUpload(service, tenant, randomContent(500), 'a.bin');
    await scanUpload(service, tenant, randomContent(600), 'b.bin');
    await scanUpload(service, tenant, eicar(), 'eicar.com');

    // No reload: the scan events reload the numbers.
    await waitFor(async () => (await total(page, 'Scans')) === '4', { what: '4 scans counted' });
    expect(await total(page, 'Callback success')).toBe('0% (0 of 1)');
    expect(await total(page, 'With findings')).toBe('1');
    await page.getByText('Malware: 1.').waitFor();
    const categories = page.getByRole('table', { name: 'Findings by category over the window' });
    expect(await categories.locator('tr', { hasText: 'Malware' }).textContent()).toBe('Malware1');
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(4);
    await page.getByText('Scans per hour, hour by hour', { exact: true }).click();
    const hourly = page.getByRole('table', { name: /^Scans per hour, hour by hour/ });
    expect(await hourly.locator('tbody tr').count()).toBe(1);
    await screenshot(page, 'overview');

    // The week holds the same scans, its hour-by-hour tables the same active hour.
    const stats = page.waitForResponse((response) =>
      response.url().includes('/v1/stats?hours=168'),
    );
    await page.getByLabel('Window', { exact: true }).selectOption('168');
    expect((await stats).status()).toBe(200);
    await waitFor(async () => (await total(page, 'Scans')) === '4', { what: 'the week' });
    expect(await hourly.locator('tbody tr').count()).toBe(1);
    await page.context().close();
  });

  it('fits a phone’s width', async () => {
    const page = await signedIn(375);
    await waitFor(async () => Number(await total(page, 'Scans')) > 0, { what: 'numbers' });
    await waitFor(async () => (await page.locator('.chart canvas').count()) >= 4, {
      what: 'charts drawn',
    });
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'overview-phone');
    await page.context().close();
  });
});

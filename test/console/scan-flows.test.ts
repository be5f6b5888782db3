import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import { signInAsTenant, startConsoleService, type ConsoleService } from '../support/console.js';
import { eicar, fileForm, randomContent } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  pollScanResult,
  scanUpload,
  scaniiRequest,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Scanning from the console and following a scan, in Chromium against the real service: a file
 * dropped on the scans page (a real drop event carrying a DataTransfer built in the page) or
 * chosen with the picker, its finding on screen; an upload over the size limit shows the API's
 * message; new scans appear on top live, or behind an "N new" button while the reader points at
 * the list; a fetch whose callback fails is redelivered from its page and the attempts table
 * shows both attempts.
 */

const EICAR_FINDING = 'content.malicious.eicar-test-signature';
/** Small, so the over-the-limit upload stays small too. */
const MAX_FILE_SIZE = 64 * 1024;

describe('console scan flows (Chromium)', () => {
  let consoleService: ConsoleService;
  let service: TestService;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let tenant: TestTenant;
  const fetched = randomContent(2048);

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    content = await startHttpServer({ '/report.bin': fetched });
    consoleService = await startConsoleService({
      ARBITER_MAX_FILE_SIZE: String(MAX_FILE_SIZE),
      // A refused callback waits a minute for its retry: the redelivery comes first.
      ARBITER_CALLBACK_RETRY_BASE_MS: '60000',
    });
    service = consoleService.service;
    tenant = await service.createTenant('scan-flows');
  }, 120_000);
  afterAll(async () => {
    await consoleService?.close();
    await receiver?.close();
    await content?.close();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function scansPage(width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Scans', exact: true }).click();
    await page.getByRole('heading', { name: 'Scans', exact: true }).waitFor();
    return page;
  }

  const firstListedId = async (page: Page) =>
    page.locator('tbody tr td:first-child').first().textContent();

  it('scans EICAR dropped on the drop zone and shows the finding', async () => {
    const page = await scansPage();
    // Built at run time in the page, never stored on disk: a real drop event with a real file.
    const text = eicar().toString('latin1');
    const dataTransfer = await page.evaluateHandle(
      `(() => { const transfer = new DataTransfer();
        transfer.items.add(new File([${JSON.stringify(text)}], 'eicar.com'));
        return transfer; })()`,
    );
    await page.dispatchEvent('[data-testid="drop-zone"]', 'dragenter', { dataTransfer });
    await page.dispatchEvent('[data-testid="drop-zone"]', 'dragover', { dataTransfer });
    await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer });
    await page.getByText('Selected: eicar.com (68 B)').waitFor();
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await page.getByText(`Findings: ${EICAR_FINDING}`).waitFor();
    const link = page.getByRole('link', { name: /Open the scan/ });
    const id = ((await link.textContent()) ?? '').replace('Open the scan', '').trim();
    expect(id).toMatch(/\S/);
    // The list shows it on top as soon as the live stream tells.
    await waitFor(async () => (await firstListedId(page)) === id, { what: 'the scan on top' });
    await screenshot(page, 'scan-dropped-eicar');

    await link.click();
    await page.getByRole('heading', { name: `Scan ${id}` }).waitFor();
    expect(await page.getByRole('table', { name: 'Result' }).textContent()).toContain(
      EICAR_FINDING,
    );
    await page.context().close();
  });

  it('scans a file chosen with the picker, with metadata, and refuses one over the limit', async () => {
    const page = await scansPage();
    await page.getByLabel('File to scan').setInputFiles({
      name: 'clean.txt',
      mimeType: 'text/plain',
      buffer: randomContent(1000),
    });
    await page.getByText('Metadata and callback (optional)').click();
    await page.getByRole('button', { name: 'Add metadata' }).click();
    await page.getByLabel('Key 1').fill('order');
    await page.getByLabel('Value 1').fill('PO-4411');
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await page.getByText('No findings.').waitFor();
    await page.getByRole('link', { name: /Open the scan/ }).click();
    const metadata = page.getByRole('table', { name: 'Metadata' });
    await metadata.waitFor();
    expect(await metadata.textContent()).toContain('PO-4411');

    await page.getByRole('link', { name: '← Scans' }).click();
    await page.getByLabel('File to scan').setInputFiles({
      name: 'big.bin',
      mimeType: 'application/octet-stream',
      buffer: randomContent(MAX_FILE_SIZE + 4096),
    });
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    // The API's own message, whatever it says.
    const refused = await scaniiRequest(service, tenant, '/files', {
      method: 'POST',
      body: fileForm(randomContent(MAX_FILE_SIZE + 4096)),
    });
    expect(refused.status).toBe(413);
    const { error } = (await refused.json()) as { error: string };
    await page.getByRole('alert').filter({ hasText: error }).waitFor();
    await screenshot(page, 'scan-upload-too-large');
    await page.context().close();
  });

  it('puts new scans on top live, or behind an “N new” button while the reader points at the list', async () => {
    await scanUpload(service, tenant, randomContent(300), 'first.bin');
    const page = await scansPage();
    await waitFor(async () => (await page.locator('tbody tr').count()) > 0, { what: 'a list' });

    // Pointing at the list: nothing moves under the cursor; a button says what is waiting.
    await page.locator('tbody tr').first().hover();
    const before = await firstListedId(page);
    const a = await scanUpload<{ id: string }>(service, tenant, randomContent(301), 'a.bin');
    const b = await scanUpload<{ id: string }>(service, tenant, randomContent(302), 'b.bin');
    const waiting = page.getByRole('button', { name: '2 new scans: show them' });
    await waiting.waitFor();
    expect(await firstListedId(page)).toBe(before);
    await screenshot(page, 'scans-new-waiting');
    await waiting.click();
    await waitFor(async () => (await firstListedId(page)) === b.id, { what: 'b on top' });
    const ids = await page.locator('tbody tr td:first-child').allTextContents();
    expect(ids.slice(0, 3)).toEqual([b.id, a.id, before]);
    // The button is gone: focus went to the newest scan's link.
    await waitFor(
      async () =>
        (await page.evaluate<string | undefined>('document.activeElement?.textContent')) === b.id,
      { what: 'focus on the newest scan' },
    );

    // Pointer and focus away from the list: the next scan goes on top by itself.
    await page.getByRole('heading', { name: 'Scans', exact: true }).hover();
    await page.getByLabel('Search').focus();
    const c = await scanUpload<{ id: string }>(service, tenant, randomContent(303), 'c.bin');
    await waitFor(async () => (await firstListedId(page)) === c.id, { what: 'c on top' });
    expect(await page.getByRole('button', { name: /new scan/ }).count()).toBe(0);
    await page.context().close();
  });

  it('shows a fetch’s failed callback, redelivers it, and lists both attempts', async () => {
    // The receiver answers 500 to the first delivery and accepts the redelivery.
    receiver.respondWith = (attempt) => (attempt === 1 ? 500 : 200);
    const accepted = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        location: `${content.url}/report.bin`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    await pollScanResult(service, tenant, id);
    await receiver.waitForDeliveries(1);

    const page = await scansPage();
    await page.goto(`${service.url}/console/scans/${id}`);
    await page.getByRole('heading', { name: `Scan ${id}` }).waitFor();
    const attempts = page.getByRole('table', { name: 'Callback attempts' });
    // The attempt is recorded right after the receiver answers: the page may open before it.
    await waitFor(
      async () => {
        if ((await attempts.count()) === 0) {
          await page.getByRole('button', { name: 'Refresh attempts' }).click();
          return false;
        }
        return /HTTP 500/.test((await attempts.textContent()) ?? '');
      },
      { what: 'the failed attempt', intervalMs: 250 },
    );
    // The trace is read apart from the result and the attempts: it may be listed a moment later.
    await waitFor(async () => (await page.locator('ol.timeline li').count()) > 2, {
      what: 'the trace as a timeline',
    });
    await screenshot(page, 'scan-fetch-callback-failed');

    await page.getByRole('button', { name: 'Redeliver' }).click();
    await page.getByRole('button', { name: 'Yes, redeliver' }).click();
    // No reload: the page reads the attempts again until the redelivery's is listed.
    await page.getByText('its attempt is listed below').waitFor();
    await waitFor(async () => /HTTP 200 delivered/.test((await attempts.textContent()) ?? ''), {
      what: 'the delivered attempt',
    });
    const rows = await attempts.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^1.*HTTP 500/);
    // The failed delivery's retry was still waiting: the redelivery brought it forward, so it is
    // that delivery's attempt 2 (a delivery already over would be "1 (redelivery 1)").
    expect(rows[1]).toMatch(/^(2|1 \(redelivery 1\)).*HTTP 200 delivered/);
    expect(receiver.deliveries).toHaveLength(2);
    await screenshot(page, 'scan-fetch-redelivered');

    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'scan-phone');

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('heading', { name: 'Scans', exact: true }).waitFor();
    expect((await scaniiRequest(service, tenant, `/files/${id}`)).status).toBe(404);
    await page.context().close();
  });
});

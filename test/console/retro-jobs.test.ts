import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import { signInAsTenant, startConsoleService, type ConsoleService } from '../support/console.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A retro job run from the console on s3rver: started from the form, its progress bar moved by
 * the live stream's `job` events (the page never reloads nor polls) until it reaches the end.
 */

const BUCKET = 'console-archive';
const OBJECTS = 300;

describe('console retro jobs (Chromium)', () => {
  let consoleService: ConsoleService;
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    harness = await startS3Harness();
    consoleService = await startConsoleService({
      ARBITER_SECRET_KEY: Buffer.alloc(32, 5).toString('base64'),
      // Many small pages: the job's counters move many times before it ends.
      ARBITER_RETRO_PAGE_SIZE: '10',
    });
    service = consoleService.service;
    tenant = await service.createTenant('retro-console');
    await harness.createBucket(BUCKET);
    for (let batch = 0; batch < OBJECTS; batch += 25)
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          harness.putObject(BUCKET, `docs/${batch + i}.txt`, `document ${batch + i}`),
        ),
      );
    await registerBucket(service, tenant.auth, harness, BUCKET);
  }, 180_000);
  afterAll(async () => {
    await consoleService?.close();
    await harness?.stop();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function signedIn(width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Scans' }).waitFor();
    return page;
  }

  it('starts a job from the form and watches its progress bar reach the end', async () => {
    const page = await signedIn();
    await page.getByRole('link', { name: 'Retro jobs' }).click();
    await page.getByRole('heading', { name: 'Retro jobs', level: 1 }).waitFor();
    await page.getByText('No retro job yet.').waitFor();
    await page.getByText('connected').waitFor();
    // Every progress figure the page shows, as it shows it (a reload would wipe the record).
    // (A script text: the test's own TypeScript has no DOM types.)
    await page.evaluate(`(() => {
      const seen = [];
      window.__progress = seen;
      new MutationObserver(() => {
        for (const element of document.querySelectorAll('.progress-percent'))
          if (seen[seen.length - 1] !== element.textContent) seen.push(element.textContent ?? '');
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    const jobRequests: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/v1/jobs') jobRequests.push(request.method());
    });

    await page.getByLabel(BUCKET).check();
    await page.getByLabel('Prefix (optional)').fill('docs/');
    await page.getByRole('button', { name: 'Start job' }).click();
    await page.getByText(/Job [0-9a-f]+ started\./).waitFor();

    const card = page.locator('article[data-job]');
    await card.waitFor();
    const progress = card.getByRole('progressbar');
    await waitFor(
      async () =>
        (await card.locator('.badge').textContent()) === 'completed' &&
        (await card.locator('.progress-percent').textContent()) === '100 %',
      { what: 'the job to complete at 100 %', timeoutMs: 90_000 },
    );
    expect(await progress.getAttribute('value')).toBe(String(OBJECTS));
    expect(await progress.getAttribute('max')).toBe(String(OBJECTS));
    const counters = await card.locator('dl.counters').innerText();
    expect(counters).toMatch(new RegExp(`Listed\\s+${OBJECTS}`));
    expect(counters).toMatch(new RegExp(`Matched\\s+${OBJECTS}`));
    expect(counters).toMatch(new RegExp(`Scanned\\s+${OBJECTS}`));
    expect(counters).toMatch(/Findings\s+0/);
    expect(counters).toMatch(/ETA\s+—/);
    await screenshot(page, 'retro-job-completed');

    const seen = await page.evaluate<string[]>('window.__progress');
    // The bar moved through figures on its way (pushed by the stream), on the same page.
    expect(seen[seen.length - 1]).toBe('100 %');
    expect(new Set(seen).size).toBeGreaterThan(1);
    // No polling loop: the list is read when the page opens, after the start, and when the
    // stream reports the job's end (and on a reconnect) — a handful, not one per second.
    expect(jobRequests.filter((method) => method === 'GET').length).toBeLessThanOrEqual(6);
    await page.context().close();
  }, 120_000);

  it('refuses a bad window with the API’s message, and cancels a job on confirmation', async () => {
    const page = await signedIn(375);
    await page.goto(`${service.url}/console/jobs`);
    await page.getByLabel(BUCKET).check();
    await page.getByLabel('Modified from (optional)').fill('2030-01-02');
    await page.getByLabel('Modified to (optional)').fill('2030-01-01');
    await page.getByRole('button', { name: 'Start job' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /after to/ })
      .waitFor();

    // A job over the whole bucket runs a while: Cancel asks first, then stops it.
    await page.getByLabel('Modified from (optional)').fill('');
    await page.getByLabel('Modified to (optional)').fill('');
    await page.getByRole('button', { name: 'Start job' }).click();
    await page.getByText(/Job [0-9a-f]+ started\./).waitFor();
    const id = (await page.getByText(/Job [0-9a-f]+ started\./).textContent())!.split(' ')[1]!;
    const card = page.locator(`article[data-job="${id}"]`);
    await card.waitFor();
    const cancel = card.getByRole('button', { name: 'Cancel job' });
    if (await cancel.isVisible()) {
      await cancel.click();
      await card.getByText('Stop listing and submitting').waitFor();
      await card.getByRole('button', { name: 'Yes, cancel job' }).click();
      // Cancelled, or it ended on its own just before (the API's 409 is shown then).
      await waitFor(
        async () =>
          ['cancelled', 'completed'].includes((await card.locator('.badge').textContent()) ?? ''),
        { what: 'the job to be cancelled or over' },
      );
    }
    await screenshot(page, 'retro-jobs-phone');
    await page.context().close();
  }, 60_000);
});

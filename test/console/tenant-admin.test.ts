import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/browser.js';
import { signInAsTenant, startConsoleService, type ConsoleService } from '../support/console.js';
import { eicar } from '../support/content.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { basic, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The tenant's administration pages in Chromium, against the real service: buckets with their
 * counts after scans, schedules with the next runs of a cron as it is typed, auth tokens created
 * and revoked, the signing secret rotated, settings and a YARA rule refused by the compiler.
 */

describe('console tenant administration (Chromium)', () => {
  let consoleService: ConsoleService;
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    harness = await startS3Harness();
    consoleService = await startConsoleService({
      ARBITER_SECRET_KEY: Buffer.alloc(32, 6).toString('base64'),
      ARBITER_SCHEDULE_MIN_INTERVAL: '3600',
    });
    service = consoleService.service;
    tenant = await service.createTenant('admin-console');
    await harness.createBucket('uploads');
    await registerBucket(service, tenant.auth, harness, 'uploads', {
      callback: 'https://hooks.example.com/<b>bold</b>',
    });
  }, 120_000);
  afterAll(async () => {
    await consoleService?.close();
    await harness?.stop();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  async function signedIn(path: string, width?: number): Promise<Page> {
    const page = await consoleService.openPage({ width });
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Scans' }).waitFor();
    await page.goto(`${service.url}/console${path}`);
    return page;
  }

  it('shows each bucket’s counts by outcome, updated live after scans', async () => {
    const page = await signedIn('/buckets');
    const card = page.locator('article[data-bucket="uploads"]');
    await card.getByText('no queue: events are POSTed').waitFor();
    await page.getByText('(connected)').waitFor();
    const counts = card.getByRole('list', { name: 'Object scans by outcome' });
    expect(await counts.innerText()).toMatch(/0\s+clean/);

    await harness.putObject('uploads', 'a.txt', 'fine');
    await harness.putObject('uploads', 'b.txt', 'also fine');
    await harness.putObject('uploads', 'eicar.com', eicar());
    const posted = await v1Client(service, tenant.auth)('/events/s3', {
      method: 'POST',
      body: JSON.stringify({
        Records: ['a.txt', 'b.txt', 'eicar.com'].map((key) => ({
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'uploads' }, object: { key } },
        })),
      }),
    });
    expect(posted.status).toBe(202);
    await waitFor(
      async () => {
        const text = await counts.innerText();
        return /2\s+clean/.test(text) && /1\s+infected/.test(text);
      },
      { what: 'the counts to show the scans', timeoutMs: 30_000 },
    );
    expect(await card.innerText()).not.toMatch(/Last event\s+—/);
    await card.getByText('Settings (read-only)').click();
    // Tenant-supplied text stays text.
    await card.getByText('https://hooks.example.com/<b>bold</b>').waitFor();
    expect(await card.locator('b').count()).toBe(0);
    await screenshot(page, 'buckets');
    await page.context().close();
  }, 60_000);

  it('shows the next runs of a cron as it is typed, and the API’s message for a bad one', async () => {
    const page = await signedIn('/schedules');
    await page.getByText('No schedule yet.').waitFor();
    const cron = page.getByLabel('Cron expression');
    const preview = page.locator('#schedule-preview');
    await page.getByLabel('Time zone').fill('Europe/Paris');
    await cron.pressSequentially('30 2 * * *');
    await preview.getByText('Next runs (Europe/Paris):').waitFor();
    expect(await preview.locator('ol.next-runs li').count()).toBe(5);
    expect(await preview.locator('ol.next-runs li').first().textContent()).toMatch(/02:30:00/);
    await screenshot(page, 'schedule-preview');

    await cron.fill('*/5 * * * *');
    await preview.getByText(/must be at least 1 hour apart/).waitFor();
    await cron.fill('61 * * * *');
    await preview.getByText(/is not a valid cron expression/).waitFor();
    await screenshot(page, 'schedule-preview-refused');

    await cron.fill('0 4 * * 1');
    await preview.getByText('Next runs (Europe/Paris):').waitFor();
    await page.getByLabel('uploads').check();
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await page.getByText(/Schedule [0-9a-f]+ created\./).waitFor();
    const row = page.getByRole('row').filter({ hasText: '0 4 * * 1' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText('No schedule yet.').waitFor();
    await page.context().close();
  });

  it('creates an auth token shown once with a copy button, lists it and revokes it', async () => {
    const page = await signedIn('/keys');
    await page.getByRole('table', { name: 'API keys' }).getByText(tenant.key).waitFor();
    await page.getByText('No token is valid now.').waitFor();
    await page.getByLabel('Valid for (seconds)').fill('600');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.locator('.secret-once').filter({ hasText: 'New auth token' });
    const id = (await shown.locator('.secret-value').textContent())!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    await expect
      .poll(
        async () =>
          (await fetch(`${service.url}/v2.2/ping`, { headers: { authorization: basic(id, '') } }))
            .status,
      )
      .toBe(200);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await shown.getByRole('button', { name: 'Copy' }).click();
    await shown.getByText('Copied.').waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(id);

    const row = page
      .getByRole('table', { name: 'Auth tokens' })
      .getByRole('row')
      .filter({ hasText: id });
    await row.waitFor();
    await screenshot(page, 'keys-token-created');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByText('No token is valid now.').waitFor();
    expect(await shown.count()).toBe(0);
    const ping = await fetch(`${service.url}/v2.2/ping`, {
      headers: { authorization: basic(id, '') },
    });
    expect(ping.status).toBe(401);
    await page.context().close();
  });

  it('rotates the signing secret after confirmation and shows the new one once', async () => {
    const page = await signedIn('/keys');
    await page.getByRole('button', { name: 'Rotate the signing secret' }).click();
    await page.getByText('Make a new signing secret?').waitFor();
    await page.getByRole('button', { name: 'Yes, rotate the signing secret' }).click();
    const shown = page.locator('.secret-once').filter({ hasText: 'New signing secret' });
    const secret = (await shown.locator('.secret-value').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(tenant.signing_secret);
    await shown.getByText(/Callbacks carry signatures by both secrets until/).waitFor();
    await screenshot(page, 'signing-secret-rotated');
    // Shown once: a new visit does not show it again.
    await page.reload();
    await page.getByRole('heading', { name: 'Keys and tokens' }).waitFor();
    expect(await page.getByText(secret).count()).toBe(0);
    await page.context().close();
  });

  it('shows the settings read-only and the compiler’s errors for a bad rule', async () => {
    const page = await signedIn('/settings', 375);
    const settings = page.getByRole('table', { name: 'Scanning settings' });
    await settings.getByText('Detection categories').waitFor();
    expect(await page.getByText('Set by the operator').count()).toBe(1);
    await page.getByText('No rule file yet.').waitFor();
    await page.getByRole('button', { name: 'New rule file' }).click();
    await page.getByLabel('File name').fill('broken.yar');
    await page.getByLabel('Source').fill('rule broken {\n  condition:\n    nonsense +\n}\n');
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('list', { name: 'Compiler errors' })
      .getByText(/line \d+/)
      .waitFor();
    await screenshot(page, 'settings-rule-refused');

    await page
      .getByLabel('Source')
      .fill('rule marker {\n  strings:\n    $a = "MARKER-4411"\n  condition:\n    $a\n}\n');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved: 1 rule/).waitFor();
    await page.getByRole('table', { name: 'Rule files' }).getByText('broken.yar').waitFor();
    await page.context().close();
  });
});

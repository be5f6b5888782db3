import { readFile, rm } from 'node:fs/promises';
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
import { sha1 } from '../support/content.js';
import { photoWithGpsAndTrailer } from '../support/sanitized-copies.js';
import { csvDocument, KNOWN_COUNTS, rawValues } from '../support/sensitive-documents.js';
import { scaniiRequest, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * What the console shows of a scan's content, in Chromium against the real service: the
 * sensitive data a CSV holds (types, counts, redacted samples, never a value), a script named and
 * declared as a PDF with its true type and the mismatch standing out, a photo uploaded with
 * "Sanitize" whose copy is described and downloaded with the session (the bytes the API serves),
 * the reason a copy was not made, and the API's message when a copy is gone; then the operator's
 * editors of the sensitive data types and threshold and of the allowed content types, saving and
 * showing the API's refusals.
 */

interface Result {
  id: string;
  findings: string[];
  content_type: string;
  classification?: {
    result: string;
    matches: Record<string, number>;
    samples: Record<string, string[]>;
  };
  sanitized?:
    | { available: true; removed: string[]; content_type: string; checksum: string; size: number }
    | { available: false; reason: string };
}

const SCRIPT = Buffer.from('#!/bin/sh\necho "this is no report"\n');

describe('console scan content: sensitive data, true type, sanitized copies (Chromium)', () => {
  let consoleService: ConsoleService;
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    consoleService = await startConsoleService();
    service = consoleService.service;
    tenant = await service.createTenant('scan-content');
    const settings = await service.admin(`/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({ detection_categories: ['malware', 'sensitive_data', 'file_type'] }),
    });
    expect(settings.status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await consoleService?.close();
  });
  afterEach(() => consoleService.expectNoPageErrors());

  /** A sync scan through the API, the file part declared as `type`, with `fields`. */
  async function scanAs(
    content: Buffer,
    name: string,
    type: string,
    fields: Record<string, string> = {},
  ): Promise<Result> {
    const form = new FormData();
    for (const [field, value] of Object.entries(fields)) form.append(field, value);
    form.append('file', new Blob([content], { type }), name);
    const response = await scaniiRequest(service, tenant, '/files', { method: 'POST', body: form });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as Result;
  }

  async function scanPage(id: string): Promise<Page> {
    const page = await consoleService.openPage();
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    await page.goto(`${service.url}/console/scans/${id}`);
    await page.getByRole('heading', { name: `Scan ${id}` }).waitFor();
    return page;
  }

  it('shows the sensitive data of a CSV, without a value, and why it got no sanitized copy', async () => {
    const result = await scanAs(csvDocument(), 'customers.csv', 'text/csv', { sanitize: 'true' });
    expect(result.classification?.result).toBe('sensitive');
    expect(result.sanitized).toEqual({ available: false, reason: 'the content has findings' });
    const page = await scanPage(result.id);

    await page.getByRole('heading', { name: 'Sensitive data' }).waitFor();
    const table = page.getByRole('table', { name: 'Sensitive data found' });
    const rows = await table.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(Object.keys(KNOWN_COUNTS).length);
    for (const [type, count] of Object.entries(KNOWN_COUNTS)) {
      const row = table.locator('tbody tr', { has: page.getByText(type, { exact: true }) });
      const cells = await row.locator('td').allTextContents();
      expect(cells[2], type).toBe(String(count));
      expect(cells[3], type).toBe(result.classification?.samples[type]?.join(', '));
    }
    expect(await page.locator('main').getByText('sensitive', { exact: true }).count()).toBe(1);
    // Counts and redacted samples only: no value the CSV holds is on the page.
    const text = await page.locator('main').innerText();
    for (const value of rawValues()) expect(text).not.toContain(value);

    await page.getByRole('heading', { name: 'Sanitized copy' }).waitFor();
    await page.getByText('No copy was made: the content has findings.').waitFor();
    expect(await page.getByRole('button', { name: 'Download the sanitized copy' }).count()).toBe(0);
    await screenshot(page, 'scan-sensitive-data');
    await page.context().close();
  });

  it('shows a script named and declared as a PDF by its true type, the mismatch standing out', async () => {
    const result = await scanAs(SCRIPT, 'report.pdf', 'application/pdf');
    expect(result.findings).toContain('content.type.mismatch');
    const page = await scanPage(result.id);
    const typeRow = page
      .getByRole('table', { name: 'Result' })
      .locator('tr', { has: page.getByRole('rowheader', { name: 'Type', exact: true }) });
    await typeRow.waitFor();
    expect(await typeRow.locator('td').innerText()).toBe(
      `${result.content_type} by its bytes · declared application/pdf · extension .pdf content.type.mismatch`,
    );
    expect(await typeRow.locator('.badge-bad').textContent()).toBe('content.type.mismatch');
    await page.context().close();
  });

  it('uploads with Sanitize, describes the copy and downloads its bytes with the session', async () => {
    const photo = await photoWithGpsAndTrailer();
    const page = await consoleService.openPage();
    await signInAsTenant(page, service.url, tenant);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Scans', exact: true }).click();
    await page.getByLabel('File to scan').setInputFiles({
      name: 'holiday photo.jpg',
      mimeType: 'image/jpeg',
      buffer: photo,
    });
    await page.getByLabel(/^Sanitize/).check();
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await page.getByText('A sanitized copy was made: download it from the scan’s page.').waitFor();
    await page.getByRole('link', { name: /Open the scan/ }).click();
    const copyTable = page.getByRole('table', { name: 'Sanitized copy' });
    await copyTable.waitFor();
    const id = (await page.getByRole('heading', { level: 1 }).innerText()).replace('Scan ', '');
    const result = (await (await scaniiRequest(service, tenant, `/files/${id}`)).json()) as Result;
    if (!result.sanitized?.available) throw new Error(`no copy: ${JSON.stringify(result)}`);
    const copy = result.sanitized;
    expect(copy.removed).toEqual(['metadata', 'trailing-data']);
    expect(await copyTable.locator('td').allTextContents()).toEqual([
      'metadata, trailing-data',
      'image/jpeg',
      expect.stringMatching(new RegExp(`\\(${copy.size} bytes\\)$`)),
      copy.checksum,
    ]);
    // The photo has no text: classified, and nothing found.
    await page.getByText('No type of sensitive value reached').waitFor();
    await screenshot(page, 'scan-sanitized-copy');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the sanitized copy' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('holiday_photo.jpg');
    const saved = await readFile(await download.path());
    const served = await scaniiRequest(service, tenant, `/files/${id}/sanitized`);
    expect(served.status).toBe(200);
    expect(saved.equals(Buffer.from(await served.arrayBuffer()))).toBe(true);
    expect({ size: saved.length, checksum: sha1(saved) }).toEqual({
      size: copy.size,
      checksum: copy.checksum,
    });
    expect(saved.equals(photo)).toBe(false);

    // The copy gone from the store (as the sweeper would take it): the API's message is shown.
    await rm(path.join(service.config.spoolDir, 'sanitized', tenant.id, id));
    const gone = await scaniiRequest(service, tenant, `/files/${id}/sanitized`);
    expect(gone.status).toBe(404);
    const { error } = (await gone.json()) as { error: string };
    await page.getByRole('button', { name: 'Download the sanitized copy' }).click();
    await page.getByRole('alert').filter({ hasText: error }).waitFor();
    await page.context().close();
  });

  it('shows the reason a copy was not made for content no sanitizer reads', async () => {
    const result = await scanAs(Buffer.from('just some notes\n'), 'notes.txt', 'text/plain', {
      sanitize: 'true',
    });
    if (result.sanitized?.available !== false) throw new Error(JSON.stringify(result));
    const page = await scanPage(result.id);
    await page.getByText(`No copy was made: ${result.sanitized.reason}.`).waitFor();
    await page.getByText('No type of sensitive value reached').waitFor();
    await page.context().close();
  });

  it('edits the sensitive data types, threshold and allowed content types, showing the API’s refusals', async () => {
    const other = await service.createTenant('content-settings');
    const stored = async () =>
      (await (await service.admin(`/tenants/${other.id}/settings`)).json()) as {
        classification: { types: string[]; min_matches: number };
        allowed_content_types: string[] | null;
        sanitize: boolean;
      };
    const page = await consoleService.openPage();
    await signInAsOperator(page, service.url);
    await page.goto(`${service.url}/console/tenants/${other.id}`);
    const form = page.getByRole('form', { name: 'Scanning settings' });
    await form.waitFor();
    const allowed = form.getByLabel(/Allowed content types/);
    expect(await allowed.inputValue()).toBe('');
    await form.getByText('In force: any type.').waitFor();

    const kept = ['credit_card', 'email'];
    for (const type of (await stored()).classification.types)
      if (!kept.includes(type)) await form.locator(`#sensitive-${type}`).uncheck();
    await form.getByLabel(/Reported from this many values/).fill('2');
    await allowed.fill('image/*\nApplication/PDF');
    expect(await form.getByLabel(/Make a sanitized copy/).isChecked()).toBe(false);
    await form.getByLabel(/Make a sanitized copy/).check();
    await form.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    expect(await stored()).toMatchObject({
      classification: { types: kept, min_matches: 2 },
      allowed_content_types: ['image/*', 'application/pdf'],
      sanitize: true,
    });
    // What is in force, as the API put it (lower case).
    await form.getByText('In force: image/*, application/pdf.').waitFor();

    // A range the API refuses: its own message, and nothing changed.
    await allowed.fill('image/*\n*/png');
    const refused = await service.admin(`/tenants/${other.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({ allowed_content_types: ['image/*', '*/png'] }),
    });
    expect(refused.status).toBe(400);
    const { error } = (await refused.json()) as { error: string };
    await form.getByRole('button', { name: 'Save settings' }).click();
    await form.getByRole('alert').filter({ hasText: error }).waitFor();
    expect((await stored()).allowed_content_types).toEqual(['image/*', 'application/pdf']);
    await screenshot(page, 'operator-tenant-content-settings');

    // No type at all is refused by the form itself; then an empty list allows any type again.
    for (const type of kept) await form.locator(`#sensitive-${type}`).uncheck();
    await form.getByRole('button', { name: 'Save settings' }).click();
    await form.getByRole('alert').filter({ hasText: 'at least one type' }).waitFor();
    await form.locator('#sensitive-iban').check();
    await allowed.fill('');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await waitFor(async () => (await stored()).allowed_content_types === null, {
      what: 'the allowed types dropped',
    });
    expect((await stored()).classification).toEqual({ types: ['iban'], min_matches: 2 });
    await form.getByText('In force: any type.').waitFor();
    await page.context().close();

    // The tenant sees them, read-only.
    await service.admin(`/tenants/${other.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({ allowed_content_types: ['text/csv'] }),
    });
    const tenantPage = await consoleService.openPage();
    await signInAsTenant(tenantPage, service.url, other);
    await tenantPage.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    await tenantPage.goto(`${service.url}/console/settings`);
    const readOnly = tenantPage.getByRole('table', { name: 'Scanning settings' });
    await readOnly.waitFor();
    const shown = await readOnly.innerText();
    expect(shown).toContain('IBANs');
    expect(shown).toContain('Reported from 2 values of a type');
    expect(shown).toContain('text/csv');
    expect(shown).toContain('Made of every upload and download without findings');
    await tenantPage.context().close();
  });
});

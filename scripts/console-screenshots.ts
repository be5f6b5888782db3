import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { startService, type RunningService } from '../cli/serve.js';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { EICAR } from '../scanning/eicar.js';
import { buildConsole, freshPage, launchChromium } from '../test/support/browser.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { photoWithGpsAndTrailer } from '../test/support/sanitized-copies.js';
import { csvDocument } from '../test/support/sensitive-documents.js';
import { waitFor } from '../test/support/wait.js';

/**
 * `npx tsx scripts/console-screenshots.ts`: the screenshots of docs/console.md ("Screenshots"),
 * taken in Chromium at desktop width against a real service with sample data, then resized with
 * sharp (1000 px wide, palette PNG) into docs/images/console/. Run it after a visible change to the
 * console; it builds the console from the sources first.
 */

const OUT = path.resolve('docs', 'images', 'console');
const ADMIN_TOKEN = 'screenshots-admin-token-0123456789';
const WIDTH = 1280;
const ASYNC = '/v2.2/files/async';

async function save(page: Page, name: string): Promise<void> {
  const shot = await page.screenshot({ fullPage: false });
  const file = path.join(OUT, `${name}.png`);
  const info = await sharp(shot)
    .resize({ width: 1000 })
    .png({ palette: true, quality: 90, compressionLevel: 9 })
    .toFile(file);
  process.stderr.write(`${path.relative(process.cwd(), file)}: ${info.size} bytes\n`);
}

async function upload(
  url: string,
  auth: string,
  content: Buffer,
  name: string,
  metadata: Record<string, string>,
  path_ = '/v2.2/files',
  fields: { type?: string; sanitize?: boolean } = {},
): Promise<string> {
  const form = new FormData();
  for (const [key, value] of Object.entries(metadata)) form.append(`metadata[${key}]`, value);
  if (fields.sanitize) form.append('sanitize', 'true');
  form.append('file', new Blob([new Uint8Array(content)], { type: fields.type }), name);
  const response = await fetch(`${url}${path_}`, {
    method: 'POST',
    headers: { authorization: auth },
    body: form,
  });
  if (response.status !== 201 && response.status !== 202)
    throw new Error(`upload answered ${response.status}`);
  return ((await response.json()) as { id: string }).id;
}

async function main(): Promise<void> {
  const redis = await startTestRedis();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-screenshots-'));
  const consoleBuild = await buildConsole();
  const browser = await launchChromium();
  const env = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: dataDir,
    ARBITER_ADMIN_TOKEN: ADMIN_TOKEN,
    ARBITER_CONSOLE_DIR: consoleBuild.dir,
    ARBITER_ENGINES: 'builtin',
    LOG_LEVEL: 'silent',
  };
  const start = (workers: boolean) =>
    startService(loadConfig(env), createLogger('silent'), { api: true, workers });
  let service: RunningService | undefined;
  try {
    // 1. A tenant with a few scans, with the workers on: sign-in, the list, one scan.
    service = await start(true);
    const url = service.url ?? '';
    const { tenant, credentials } = await service.runtime.tenants.createTenant('Acme uploads');
    const auth = `Basic ${Buffer.from(`${credentials.key}:${credentials.secret}`).toString('base64')}`;
    const files: Array<[string, Buffer, Record<string, string>]> = [
      ['invoice-2291.pdf', Buffer.from('%PDF-1.4 invoice 2291'), { order: 'PO-2291' }],
      ['avatar.png', Buffer.from('\x89PNG avatar'), { user: 'u-1182' }],
      ['eicar.com', EICAR, { order: 'PO-2292', team: 'support' }],
      ['report-q3.docx', Buffer.from('PK report q3'), { team: 'finance' }],
      ['photo-0042.jpg', Buffer.from('\xff\xd8\xff photo'), { user: 'u-2045' }],
    ];
    const ids: string[] = [];
    for (const [name, content, metadata] of files)
      ids.push(await upload(url, auth, content, name, metadata));

    const { page } = await freshPage(browser, { width: WIDTH, height: 720 });
    await page.goto(`${url}/console/`);
    await page.getByLabel('API key').waitFor();
    await save(page, 'sign-in');
    await page.getByLabel('API key').fill(credentials.key);
    await page.getByLabel('Secret').fill(credentials.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByText(`${files.length} scans`).first().waitFor();
    await save(page, 'overview');
    await page.goto(`${url}/console/scans`);
    await waitFor(async () => (await page.locator('tbody tr').count()) === files.length, {
      what: 'the scans listed',
    });
    await save(page, 'scans');
    await page.goto(`${url}/console/scans/${ids[2]!}`);
    await page.getByRole('table', { name: 'Result' }).waitFor();
    await save(page, 'scan');

    // Sensitive data and the true type on, two files sent with sanitize=true: a CSV of customer
    // records (its classification, and no copy since it has findings) and a photo (its copy).
    const settings = await fetch(`${url}/admin/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ detection_categories: ['malware', 'sensitive_data', 'file_type'] }),
    });
    if (settings.status !== 200) throw new Error(`settings answered ${settings.status}`);
    const sanitize = { sanitize: true };
    const csv = await upload(url, auth, csvDocument(), 'customers.csv', {}, undefined, {
      ...sanitize,
      type: 'text/csv',
    });
    const photo = await upload(
      url,
      auth,
      await photoWithGpsAndTrailer(),
      'photo.jpg',
      {},
      undefined,
      {
        ...sanitize,
        type: 'image/jpeg',
      },
    );
    await page.setViewportSize({ width: WIDTH, height: 1200 });
    await page.goto(`${url}/console/scans/${csv}`);
    await page.getByRole('table', { name: 'Sensitive data found' }).waitFor();
    await save(page, 'scan-sensitive-data');
    await page.setViewportSize({ width: WIDTH, height: 960 });
    await page.goto(`${url}/console/scans/${photo}`);
    await page.getByRole('button', { name: 'Download the sanitized copy' }).waitFor();
    await save(page, 'scan-sanitized');
    await page.context().close();
    await service.stop();

    // 2. The API alone (no workers): the operator's queues fill up as scans arrive.
    service = await start(false);
    const apiUrl = service.url ?? '';
    const operator = await freshPage(browser, { width: WIDTH, height: 900 });
    await operator.page.goto(`${apiUrl}/console/`);
    await operator.page.getByRole('tab', { name: 'Operator' }).click();
    await operator.page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await operator.page.getByRole('button', { name: 'Sign in' }).click();
    await operator.page.getByRole('heading', { name: 'Operator console' }).waitFor();
    await operator.page.goto(`${apiUrl}/console/queues`);
    await operator.page.getByText('Live: updated every 2 s.').waitFor();
    // Bursts of scans, each once the previous one shows (a `queues` event every 2 s), so that
    // the charts draw a rise over several samples.
    const waiting = operator.page
      .getByRole('table', { name: 'Queues now' })
      .locator('tr', { hasText: /^scan/ })
      .locator('td')
      .nth(1);
    let queued = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 3 + round * 2; i++) {
        await upload(apiUrl, auth, Buffer.from(`queued ${round}-${i}`), 'f.bin', {}, ASYNC);
        queued += 1;
      }
      await waitFor(async () => Number(await waiting.textContent()) === queued, {
        what: `${queued} scans waiting`,
      });
    }
    await save(operator.page, 'operator-queues');
    await operator.context.close();
  } finally {
    await service?.stop();
    await browser.close();
    await consoleBuild.remove();
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});

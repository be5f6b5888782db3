import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { loadConfig } from '../core/config.js';
import { newId } from '../core/ids.js';
import { RedisKeys } from '../core/keys.js';
import { createRedis } from '../core/redis.js';
import { TenantStore } from '../core/tenants.js';
import type { ScanRequest, ScanResult } from '../scans/results.js';
import { ScanStore } from '../scans/store.js';
import { freshPage, launchChromium } from '../test/support/browser.js';
import { startTestRedis } from '../test/support/redis-server.js';
import type { BenchSection } from './report.js';
import { envInt, fmt, log, mapPool, onCleanup, percentile, startTarget } from './support.js';

/**
 * Benchmark (issue 15 item 7): what the browser console costs to download, and how long its scans
 * page takes to show with a full index.
 *
 * 1. The JavaScript and CSS of the console as `npm run build` writes them (dist/console, built
 *    here from the sources), raw and gzip-compressed, split by what they are made of (a second build
 *    into a temporary folder puts uPlot, Preact and openapi-fetch in chunks of their own), beside
 *    the Swagger UI page the same service serves at /docs: the other browser page an operator
 *    already downloads from Arbiter.
 * 2. Time from navigation to the first page of rows on `/console/scans` in Chromium, for a tenant
 *    with 10,000 results in its index, beside `GET /v1/scans` (the call the page makes) timed
 *    alone from Node in the same run.
 */

export interface ConsoleBenchSettings {
  results: number;
  pageLoads: number;
  apiCalls: number;
}

export function consoleBenchSettings(): ConsoleBenchSettings {
  return {
    results: envInt('BENCH_CONSOLE_RESULTS', 10_000),
    pageLoads: envInt('BENCH_CONSOLE_PAGE_LOADS', 30),
    apiCalls: envInt('BENCH_CONSOLE_API_CALLS', 100),
  };
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(root, 'dist', 'console');
const VITE_CONFIG = path.join(root, 'console', 'vite.config.ts');

interface Asset {
  name: string;
  raw: number;
  gzip: number;
}

/** The console's page size as the browser downloads it (what the page itself asks for). */
interface Sizes {
  js: Asset[];
  css: Asset[];
  html: Asset;
  /** The same sources split by origin (second build). */
  parts: Asset[];
  swagger: Asset[];
}

const gzipSize = (content: Buffer) => gzipSync(content, { level: 9 }).length;

async function asset(file: string, name = path.basename(file)): Promise<Asset> {
  const content = await readFile(file);
  return { name, raw: content.length, gzip: gzipSize(content) };
}

async function assetsOf(dir: string, extension: string): Promise<Asset[]> {
  const files = (await readdir(path.join(dir, 'assets'))).filter((f) => f.endsWith(extension));
  return Promise.all(files.sort().map((file) => asset(path.join(dir, 'assets', file))));
}

/** Which part of the bundle a module belongs to, for the split build. */
function partOf(moduleId: string): string | null {
  if (/node_modules[\\/]uplot[\\/]/.test(moduleId)) return 'uplot';
  if (/node_modules[\\/]preact[\\/]/.test(moduleId)) return 'preact';
  if (/node_modules[\\/]openapi-fetch[\\/]/.test(moduleId)) return 'openapi-fetch';
  return null;
}

async function measureSizes(): Promise<Sizes> {
  // Built by this run from the sources, as `npm run build` does: a dist/ left by an older build
  // would measure an older console.
  log('console: building dist/console');
  await build({ configFile: VITE_CONFIG, logLevel: 'warn' });
  const split = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-console-'));
  try {
    await build({
      configFile: VITE_CONFIG,
      logLevel: 'warn',
      build: {
        outDir: split,
        emptyOutDir: true,
        rolldownOptions: {
          output: {
            codeSplitting: {
              groups: [{ name: (id: string) => partOf(id), debugName: 'by package' }],
            },
          },
        },
      },
    });
    const parts = [...(await assetsOf(split, '.js')), ...(await assetsOf(split, '.css'))];
    const swaggerDir = path.dirname(
      createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
    );
    return {
      js: await assetsOf(DIST, '.js'),
      css: await assetsOf(DIST, '.css'),
      html: await asset(path.join(DIST, 'index.html')),
      parts: parts.map((part) => ({ ...part, name: part.name.replace(/-[\w-]{8}\./, '.') })),
      swagger: await Promise.all([
        asset(path.join(swaggerDir, 'swagger-ui-bundle.js')),
        asset(path.join(swaggerDir, 'swagger-ui.css')),
      ]),
    };
  } finally {
    await rm(split, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const FINDING = 'content.malicious.eicar-test-signature';

/** A result like the ones a busy tenant has: metadata, an engine, every 25th infected. */
function sampleResult(id: string, index: number, at: Date): ScanResult {
  return {
    id,
    checksum: createHash('sha1').update(id).digest('hex'),
    content_length: 4_096 + (index % 97) * 1_024,
    findings: index % 25 === 0 ? [FINDING] : [],
    creation_date: at.toISOString(),
    content_type: index % 3 === 0 ? 'application/pdf' : 'image/png',
    metadata: { order: `PO-${100_000 + index}`, team: index % 2 === 0 ? 'billing' : 'support' },
    engines: [{ name: 'builtin', version: 'arbiter-builtin/0.3.0 db:797f2646db6b' }],
  };
}

/** Where a page load's time went (ms since navigation, the page's clock). */
interface Milestones {
  /** The page's script has run (DOMContentLoaded ended). */
  scriptRan: number;
  /** `GET /console/api/session` answered. */
  sessionAnswered: number;
  /** `GET /v1/scans` sent, then answered. */
  scansSent: number;
  scansAnswered: number;
}

interface Timings {
  milestones: Milestones[];
  pageMs: number[];
  firstPageMs: number;
  api25Ms: number[];
  api50Ms: number[];
  rowsShown: number;
  fillSeconds: number;
  loadAtStart: number;
}

/** Waits for the first row of the scans table; the page's own clock (ms since navigation). */
async function rowsShownAt(page: Page): Promise<number> {
  // A function, not a string: the page's CSP refuses eval, which a string predicate needs.
  const handle = await page.waitForFunction(
    () => {
      const { document } = globalThis as unknown as {
        document: { querySelector(selector: string): unknown };
      };
      return document.querySelector('tbody tr') ? performance.now() : false;
    },
    undefined,
    { polling: 'raf', timeout: 30_000 },
  );
  return (await handle.jsonValue()) as number;
}

async function milestonesOf(page: Page): Promise<Milestones> {
  // No inner named functions: tsx would wrap them in a helper the page does not have.
  return page.evaluate(() => {
    // The browser's timing entries (typed here by the fields read: this file has Node's types;
    // Node's know no 'navigation' entries, the browser, where this runs, has one).
    const entries = performance.getEntriesByType('resource') as unknown as Array<{
      name: string;
      startTime: number;
      responseEnd: number;
    }>;
    const session = entries.find((entry) => entry.name.includes('/console/api/session'));
    const scans = entries.find((entry) => entry.name.includes('/v1/scans'));
    const navigation = performance.getEntriesByType('navigation' as 'resource')[0] as unknown as
      { domContentLoadedEventEnd: number } | undefined;
    return {
      scriptRan: navigation?.domContentLoadedEventEnd ?? Number.NaN,
      sessionAnswered: session?.responseEnd ?? Number.NaN,
      scansSent: scans?.startTime ?? Number.NaN,
      scansAnswered: scans?.responseEnd ?? Number.NaN,
    };
  });
}

async function measurePage(settings: ConsoleBenchSettings): Promise<Timings> {
  const redis = await startTestRedis();
  const unregisterRedis = onCleanup(() => redis.kill());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-console-data-'));
  const env = {
    PORT: '0',
    ARBITER_LISTEN_HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    ARBITER_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ARBITER_CONSOLE_DIR: DIST,
  };
  const config = loadConfig(env);
  const client = createRedis(redis.url, 'command', () => undefined);
  const keys = new RedisKeys(config.redisPrefix);
  const target = await startTarget({ mode: 'api', env });
  const browser = await launchChromium();
  try {
    // The fast path: the store's own `complete` (the Lua script a worker runs) with real result
    // records, rather than 10,000 uploads through the API, which would time the workers instead.
    const { tenant, credentials } = await new TenantStore(client, keys).createTenant('console');
    const scans = new ScanStore(
      client,
      keys,
      config.resultTtlSeconds,
      config.rescan.resultIndexMax,
    );
    const fillStarted = performance.now();
    const start = Date.now() - settings.results * 1_000;
    const ids = Array.from({ length: settings.results }, () => newId());
    for (let from = 0; from < ids.length; from += 500) {
      const batch = ids.slice(from, from + 500);
      await scans.createPendingMany(
        batch.map((id, i) => {
          const request: ScanRequest = {
            id,
            tenantId: tenant.id,
            source: 'upload',
            metadata: {},
            creationDate: new Date(start + (from + i) * 1_000).toISOString(),
          };
          return { request, trace: 'accepted' };
        }),
      );
      await mapPool(batch, 32, (id, i) =>
        scans.complete(tenant.id, sampleResult(id, from + i, new Date(start + (from + i) * 1_000))),
      );
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    log(`console: ${settings.results} results stored in ${fillSeconds.toFixed(1)} s`);

    const auth = `Basic ${Buffer.from(`${credentials.key}:${credentials.secret}`).toString('base64')}`;
    const apiCall = async (limit: number): Promise<number> => {
      const started = performance.now();
      const response = await fetch(`${target.ready.url}/v1/scans?limit=${limit}`, {
        headers: { authorization: auth },
      });
      const body = (await response.json()) as { scans?: unknown[] };
      const elapsed = performance.now() - started;
      if (response.status !== 200 || body.scans?.length !== limit)
        throw new Error(`GET /v1/scans?limit=${limit} answered ${response.status}`);
      return elapsed;
    };

    const { page } = await freshPage(browser);
    await page.goto(`${target.ready.url}/console/`);
    await page.getByLabel('API key').fill(credentials.key);
    await page.getByLabel('Secret').fill(credentials.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Scans' }).waitFor();
    await page.goto('about:blank');

    // The first load fetches the assets; the others find them in the cache (immutable names).
    const load = async () => {
      await page.goto(`${target.ready.url}/console/scans`, { waitUntil: 'commit' });
      return rowsShownAt(page);
    };
    const loadAtStart = loadavg()[0] ?? 0;
    const firstPageMs = await load();
    const pageMs: number[] = [];
    const milestones: Milestones[] = [];
    for (let i = 0; i < settings.pageLoads; i++) {
      await page.goto('about:blank');
      pageMs.push(await load());
      milestones.push(await milestonesOf(page));
    }
    const rowsShown = await page.locator('tbody tr').count();
    const newest = await page.locator('tbody tr td:first-child').first().textContent();
    // Results are completed 32 at a time, so the newest is one of the last batch.
    if (!ids.slice(-500).includes(newest ?? ''))
      throw new Error(`the newest scan shown, ${newest}, is not one of the last stored`);
    if (rowsShown !== 50) throw new Error(`${rowsShown} rows shown, not 50`);

    // Warm the connection and the route, then alternate the two sizes.
    for (let i = 0; i < 10; i++) await apiCall(25);
    const api25Ms: number[] = [];
    const api50Ms: number[] = [];
    for (let i = 0; i < settings.apiCalls; i++) {
      api25Ms.push(await apiCall(25));
      api50Ms.push(await apiCall(50));
    }
    return {
      loadAtStart,
      milestones,
      pageMs,
      firstPageMs,
      api25Ms,
      api50Ms,
      rowsShown,
      fillSeconds,
    };
  } finally {
    await browser.close();
    await target.stop();
    client.disconnect();
    await redis.stop();
    unregisterRedis();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function runConsole(settings = consoleBenchSettings()): Promise<BenchSection> {
  const sizes = await measureSizes();
  log(
    `console: JS ${fmt.int(sum(sizes.js, 'gzip'))} B gzip, CSS ${fmt.int(sum(sizes.css, 'gzip'))} B gzip`,
  );
  const timings = await measurePage(settings);
  log(
    `console: scans page median ${fmt.ms(percentile(timings.pageMs, 50))}, ` +
      `GET /v1/scans?limit=25 median ${fmt.ms(percentile(timings.api25Ms, 50), 2)}`,
  );
  return section(sizes, timings, settings);
}

const MILESTONES: Array<[keyof Milestones, string]> = [
  ['scriptRan', '… of which: the page’s script has run (DOMContentLoaded)'],
  ['sessionAnswered', '… `GET /console/api/session` answered'],
  ['scansSent', '… `GET /v1/scans?limit=50` sent'],
  ['scansAnswered', '… `GET /v1/scans?limit=50` answered'],
];

function milestoneRows(milestones: Milestones[]): string[][] {
  return MILESTONES.map(([field, label]) => {
    const values = milestones.map((m) => m[field]).filter((v) => Number.isFinite(v));
    return [
      label,
      fmt.ms(percentile(values, 50)),
      fmt.ms(percentile(values, 90)),
      fmt.ms(Math.max(...values)),
      String(values.length),
    ];
  });
}

const sum = (assets: Asset[], field: 'raw' | 'gzip') => assets.reduce((t, a) => t + a[field], 0);
const kib = (bytes: number) => `${fmt.num(bytes / 1024, 1)} KiB`;

function section(sizes: Sizes, t: Timings, settings: ConsoleBenchSettings): BenchSection {
  const jsGzip = sum(sizes.js, 'gzip');
  const cssGzip = sum(sizes.css, 'gzip');
  const consoleGzip = jsGzip + cssGzip + sizes.html.gzip;
  const swaggerGzip = sum(sizes.swagger, 'gzip');
  const uplot = sizes.parts.filter((p) => p.name.startsWith('uplot'));
  const uplotGzip = sum(uplot, 'gzip');
  const page = {
    p50: percentile(t.pageMs, 50),
    p90: percentile(t.pageMs, 90),
    max: Math.max(...t.pageMs),
  };
  const api25 = percentile(t.api25Ms, 50);
  const median = (field: keyof Milestones) =>
    percentile(
      t.milestones.map((m) => m[field]).filter((v) => Number.isFinite(v)),
      50,
    );
  const api50 = percentile(t.api50Ms, 50);
  const sizeRows = (label: string, assets: Asset[]) =>
    assets.map((a) => [label, `\`${a.name}\``, kib(a.raw), kib(a.gzip)]);
  return {
    title: 'Console: download size and time to show the scans page',
    measured:
      `The browser console's JavaScript and CSS as \`npm run build\` writes them to dist/console (built by this run from the sources), raw and gzip-compressed (level 9), and what they are made of (the same sources built again with uPlot, Preact and openapi-fetch in chunks of their own). ` +
      `Then the time to show the scans page: a tenant with ${fmt.int(settings.results)} results in its index, Chromium (Debian's, headless) signed in as that tenant, ` +
      `from the start of the navigation to \`/console/scans\` to the first row of the table in the page (read in the page: \`performance.now()\` on the first animation frame with a row), ` +
      `${settings.pageLoads} loads after a first one, each from about:blank, with the assets in the browser's cache; the page asks \`GET /console/api/session\` and then \`GET /v1/scans?limit=50\`, and renders 50 rows.`,
    baseline:
      'For the size: the Swagger UI page the same service serves at `/docs` (swagger-ui-dist, `swagger-ui-bundle.js` and `swagger-ui.css`), the other browser page an operator downloads from Arbiter, and the console without uPlot (its chunk in the split build), since the charts are the one large dependency. ' +
      `For the time: \`GET /v1/scans\` called alone from Node (fetch, keep-alive, the tenant's Basic credentials) with \`limit=25\` and \`limit=50\` (the page's own request), ${settings.apiCalls} calls each, alternated, in the same run against the same index: what the page adds to the API call it waits for.`,
    tables: [
      {
        caption: 'Download size (what the browser fetches for any console page)',
        columns: ['What', 'File', 'Raw', 'gzip'],
        rows: [
          ...sizeRows('console JavaScript', sizes.js),
          ...sizeRows('console CSS', sizes.css),
          ['console page', '`index.html`', kib(sizes.html.raw), kib(sizes.html.gzip)],
          [
            '**console, total**',
            '',
            `**${kib(sum(sizes.js, 'raw') + sum(sizes.css, 'raw') + sizes.html.raw)}**`,
            `**${kib(consoleGzip)}**`,
          ],
          ...sizeRows('baseline: Swagger UI at /docs', sizes.swagger),
          [
            '**baseline: Swagger UI, total**',
            '',
            `**${kib(sum(sizes.swagger, 'raw'))}**`,
            `**${kib(swaggerGzip)}**`,
          ],
        ],
      },
      {
        caption: 'What the console is made of (split build; chunks compressed one by one)',
        columns: ['Part', 'Raw', 'gzip'],
        rows: sizes.parts.map((p) => [`\`${p.name}\``, kib(p.raw), kib(p.gzip)]),
      },
      {
        caption: `Time to show the scans page, ${fmt.int(settings.results)} results in the index`,
        columns: ['What', 'median', 'p90', 'max', 'runs'],
        rows: [
          [
            'navigation → first row shown (`/console/scans`, assets cached)',
            fmt.ms(page.p50),
            fmt.ms(page.p90),
            fmt.ms(page.max),
            String(t.pageMs.length),
          ],
          ...milestoneRows(t.milestones),
          ['the same, first load (assets fetched)', fmt.ms(t.firstPageMs), '—', '—', '1'],
          [
            'baseline: `GET /v1/scans?limit=25` alone',
            fmt.ms(api25, 2),
            fmt.ms(percentile(t.api25Ms, 90), 2),
            fmt.ms(Math.max(...t.api25Ms), 2),
            String(t.api25Ms.length),
          ],
          [
            'baseline: `GET /v1/scans?limit=50` alone (the page’s request)',
            fmt.ms(api50, 2),
            fmt.ms(percentile(t.api50Ms, 90), 2),
            fmt.ms(Math.max(...t.api50Ms), 2),
            String(t.api50Ms.length),
          ],
        ],
      },
    ],
    reading: [
      `The console downloads ${kib(consoleGzip)} gzip-compressed (${kib(jsGzip)} of JavaScript, ${kib(cssGzip)} of CSS), ${fmt.num(swaggerGzip / consoleGzip, 1)} times less than the ${kib(swaggerGzip)} of the Swagger UI page the service already serves; uPlot, for the charts, is ${kib(uplotGzip)} of it, so the console without its charts would be about ${kib(consoleGzip - uplotGzip)}.`,
      `With ${fmt.int(settings.results)} results in the index, the scans page showed its first rows ${fmt.ms(page.p50)} after the navigation began at the median (p90 ${fmt.ms(page.p90)}), against ${fmt.ms(api50, 2)} for the API call it waits for, timed alone (${fmt.ms(api25, 2)} with limit=25). In the page, at the median, the script had run at ${fmt.ms(median('scriptRan'))}, the session was known at ${fmt.ms(median('sessionAnswered'))}, and \`GET /v1/scans\` went out at ${fmt.ms(median('scansSent'))} and was answered at ${fmt.ms(median('scansAnswered'))}; the rows were on screen ${fmt.ms(page.p50 - median('scansAnswered'))} after that answer (render and the next frame). So most of the page's time is its loading and its two requests one after the other; the scans request took ${fmt.ms(median('scansAnswered') - median('scansSent'))} of it in the page, sent to answered (with the session cookie, in a browser sharing the machine), against ${fmt.ms(api50, 2)} from Node. The first load, which fetched the assets too, took ${fmt.ms(t.firstPageMs)}.`,
    ],
    notes: [
      `Results stored through the store's \`complete\` (the same Lua script a worker runs: result record, result index, outcome index, hourly counters) with real result records (SHA-1, size, type, two metadata entries, an engine; one in 25 infected), ${fmt.int(settings.results)} of them in ${fmt.num(t.fillSeconds, 1)} s; uploads through the API would have timed the workers, not the page.`,
      `Arbiter runs as one child process with the api role only, \`LOG_LEVEL=silent\`, default settings; Chromium in the benchmark process's machine, the same loopback. ${t.rowsShown} rows were shown; the first was one of the last 500 stored (checked).`,
      'gzip sizes are what a compressing proxy would send: Arbiter itself sends the files as they are (with `Cache-Control: immutable` for the hashed assets, so a browser fetches them once).',
      `The machine was shared: its 1-minute load average was ${fmt.num(t.loadAtStart, 1)} on ${cpus().length} cores when the page loads began, so other processes competed with Chromium, the service and Redis for the CPU; the spread between the median and p90 comes from that.`,
      `Settings: BENCH_CONSOLE_RESULTS=${settings.results}, BENCH_CONSOLE_PAGE_LOADS=${settings.pageLoads}, BENCH_CONSOLE_API_CALLS=${settings.apiCalls}.`,
    ],
  };
}

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';

/**
 * The browser tests' Chromium: Debian's own (`scripts/setup` installs the `chromium` package;
 * nothing is downloaded). The flags keep it off the network: without them it calls Google's
 * services at start, which a closed network refuses (and which tests must never reach).
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** A fresh context (no cookies) per test, failing the test on a page error it did not expect. */
export async function freshPage(
  browser: Browser,
  options: { width?: number; height?: number } = {},
): Promise<{ context: BrowserContext; page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
  });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // The CSP refusing something is a bug in the console's build: report it.
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text()))
      pageErrors.push(message.text());
  });
  return { context, page, pageErrors };
}

/** Where screenshots go (test-artifacts/ is gitignored; CI keeps it as an artifact). */
export const ARTIFACTS_DIR = path.resolve('test-artifacts', 'console');

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * The console built from the sources into a temporary folder, exactly as `npm run build` builds
 * it (the same Vite config), so the tests never depend on a stale dist/. Pass `dir` as
 * ARBITER_CONSOLE_DIR; `remove` when done.
 */
export async function buildConsole(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-console-'));
  await build({
    configFile: path.resolve('console', 'vite.config.ts'),
    build: { outDir: dir, emptyOutDir: true },
    logLevel: 'warn',
  });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

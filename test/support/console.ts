import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { buildConsole, freshPage, launchChromium } from './browser.js';
import { ADMIN_TOKEN, startTestService, type TestService } from './service.js';

/**
 * What every console browser test sets up: the console built from the sources, Chromium, fresh
 * pages whose errors (a thrown exception, a CSP refusal) fail the test that opened them.
 */
export interface ConsoleBrowser {
  browser: Browser;
  /** The built console's folder: ARBITER_CONSOLE_DIR for a service. */
  consoleDir: string;
  /** A fresh context and page (1280 × 800 unless `width` says otherwise). */
  openPage(options?: { width?: number }): Promise<Page>;
  /** For afterEach: the pages opened since the last call threw nothing. */
  expectNoPageErrors(): void;
  close(): Promise<void>;
}

export async function startConsoleBrowser(): Promise<ConsoleBrowser> {
  const build = await buildConsole();
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (error) {
    await build.remove();
    throw error;
  }
  const pageErrors: string[][] = [];
  return {
    browser,
    consoleDir: build.dir,
    async openPage(options = {}) {
      const opened = await freshPage(
        browser,
        options.width ? { width: options.width, height: 800 } : {},
      );
      pageErrors.push(opened.pageErrors);
      return opened.page;
    },
    expectNoPageErrors() {
      for (const errors of pageErrors.splice(0)) expect(errors).toEqual([]);
    },
    async close() {
      await browser.close();
      await build.remove();
    },
  };
}

/** The console's browser side and the real service serving it (`env` adds configuration). */
export interface ConsoleService extends ConsoleBrowser {
  service: TestService;
}

export async function startConsoleService(
  env: Record<string, string> = {},
  options: Parameters<typeof startTestService>[1] = {},
): Promise<ConsoleService> {
  const consoleBrowser = await startConsoleBrowser();
  let service: TestService;
  try {
    service = await startTestService(
      { ARBITER_CONSOLE_DIR: consoleBrowser.consoleDir, ...env },
      options,
    );
  } catch (error) {
    await consoleBrowser.close();
    throw error;
  }
  return {
    ...consoleBrowser,
    service,
    async close() {
      await consoleBrowser.close();
      await service.stop();
    },
  };
}

/** Fills the tenant sign-in form the page shows and submits it. */
export async function submitTenantSignIn(
  page: Page,
  credentials: { key: string; secret: string },
): Promise<void> {
  await page.getByLabel('API key').fill(credentials.key);
  await page.getByLabel('Secret').fill(credentials.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens the console at `url` and signs in with a tenant's key (the caller waits for its view). */
export async function signInAsTenant(
  page: Page,
  url: string,
  credentials: { key: string; secret: string },
): Promise<void> {
  await page.goto(`${url}/console/`);
  await submitTenantSignIn(page, credentials);
}

/** Opens the console at `url` and signs in as the operator, up to the operator's home. */
export async function signInAsOperator(page: Page, url: string, token = ADMIN_TOKEN) {
  await page.goto(`${url}/console/`);
  await page.getByRole('tab', { name: 'Operator' }).click();
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Operator console' }).waitFor();
}

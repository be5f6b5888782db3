import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId } from '../../core/console-sessions.js';
import { screenshot } from '../support/browser.js';
import {
  startConsoleBrowser,
  submitTenantSignIn,
  type ConsoleBrowser,
} from '../support/console.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Signing in to the console in Chromium, against the real service: tenants and the operator,
 * refusals and the sign-in limit, signing out, and a session that expires while idle.
 */

let consoleBrowser: ConsoleBrowser;

beforeAll(async () => {
  consoleBrowser = await startConsoleBrowser();
}, 120_000);
afterAll(async () => {
  await consoleBrowser?.close();
});
// No page may throw, or hit the Content-Security-Policy, in any test.
afterEach(() => consoleBrowser.expectNoPageErrors());

async function openConsole(service: TestService): Promise<Page> {
  const page = await consoleBrowser.openPage();
  await page.goto(`${service.url}/console/`);
  return page;
}

const signInAsTenant = (page: Page, key: string, secret: string) =>
  submitTenantSignIn(page, { key, secret });

const sessionCookie = async (page: Page) =>
  (await page.context().cookies()).find((cookie) => cookie.name === 'arbiter_console');

describe('console sign-in (Chromium)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({
      ARBITER_CONSOLE_DIR: consoleBrowser.consoleDir,
      // The operator test fails once first; the rate-limit test then uses the rest.
      ARBITER_CONSOLE_SIGNIN_ATTEMPTS: '4',
    });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('signs a tenant in to the overview', async () => {
    const tenant = await service.createTenant('browser-tenant');
    const page = await openConsole(service);
    await page.getByRole('heading', { name: 'Arbiter console' }).waitFor();
    await page.getByRole('tab', { name: 'Tenant', selected: true }).waitFor();
    await screenshot(page, 'sign-in');
    await signInAsTenant(page, tenant.key, tenant.secret);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/overview');
    await page.getByText('No scans in this window yet.').waitFor();
    const cookie = await sessionCookie(page);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    await screenshot(page, 'scans-empty');
    await page.context().close();
  });

  it('signs out back to the sign-in page, and the old cookie no longer works', async () => {
    const tenant = await service.createTenant('browser-sign-out');
    const page = await openConsole(service);
    await signInAsTenant(page, tenant.key, tenant.secret);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    const cookie = await sessionCookie(page);
    expect(cookie).toBeDefined();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
    await page.getByLabel('API key').waitFor();
    expect(await sessionCookie(page)).toBeUndefined();
    // The old cookie, replayed from outside the browser, is refused.
    const replayed = await fetch(`${service.url}/v1/scans`, {
      headers: { cookie: `arbiter_console=${cookie!.value}` },
    });
    expect(replayed.status).toBe(401);
    await page.context().close();
  });

  it('refuses the operator with a wrong token, and signs in with the right one', async () => {
    const page = await openConsole(service);
    await page.getByRole('tab', { name: 'Operator' }).click();
    await page.getByLabel('Admin token').fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/not accepted/);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Operator console' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await screenshot(page, 'operator-home');
    await page.context().close();
  });

  // Last: every page here signs in from 127.0.0.1, which this test leaves rate-limited.
  it('shows an error for a wrong secret, then the rate-limit message after too many', async () => {
    const tenant = await service.createTenant('browser-wrong-secret');
    const page = await openConsole(service);
    await signInAsTenant(page, tenant.key, 'not-the-secret');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/not accepted/);
    await screenshot(page, 'sign-in-refused');
    // 127.0.0.1 has failed twice now (the operator test, the attempt above); two more use up
    // the four allowed, and the next is refused before its secret is even checked.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const answered = page.waitForResponse(
        (response) =>
          response.url().endsWith('/console/api/session') && response.request().method() === 'POST',
      );
      await page.getByRole('button', { name: 'Sign in' }).click();
      expect((await answered).status()).toBe(attempt < 2 ? 401 : 429);
    }
    await waitFor(async () => /Too many failed sign-in/.test((await alert.textContent()) ?? ''), {
      what: 'the rate-limit message',
    });
    // The right secret waits too while the key is limited.
    await signInAsTenant(page, tenant.key, tenant.secret);
    await waitFor(async () => /Too many failed sign-in/.test((await alert.textContent()) ?? ''), {
      what: 'the rate-limit message again',
    });
    expect(await sessionCookie(page)).toBeUndefined();
    await screenshot(page, 'sign-in-rate-limited');
    await page.context().close();
  });
});

describe('console session expiry (Chromium)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_CONSOLE_DIR: consoleBrowser.consoleDir, ARBITER_CONSOLE_SESSION_IDLE: '2' },
      { roles: { api: true, workers: false } },
    );
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('goes back to sign-in when the session has expired', async () => {
    const tenant = await service.createTenant('browser-expiry');
    const page = await openConsole(service);
    await signInAsTenant(page, tenant.key, tenant.secret);
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    const cookie = await sessionCookie(page);
    const key = service.keys.consoleSession(hashSessionId(cookie!.value));
    const redis = service.service.runtime.redis;
    await waitFor(async () => (await redis.exists(key)) === 0, {
      what: 'the idle session to expire',
    });
    // The next request the console makes (opening the scans) finds the session gone.
    await page.getByRole('navigation').getByRole('link', { name: 'Scans', exact: true }).click();
    await page.getByText('Your session has ended: sign in again.').waitFor();
    await page.getByLabel('API key').waitFor();
    await screenshot(page, 'session-expired');
    await page.context().close();
  });
});

import { Router } from 'express';
import { notFound } from '../../core/errors.js';
import type { KeySettingsStore } from '../../core/key-settings.js';
import { describeClassification } from '../../core/sensitive-types.js';
import { DEFAULT_TENANT_SETTINGS, type TenantSettingsStore } from '../../core/tenant-settings.js';
import type { TenantStore } from '../../core/tenants.js';
import type { EngineSet } from '../../scanning/engines.js';
import { principalOf } from '../auth.js';
import { sendJson } from '../http.js';

/** The engines every scan runs, and what they do not detect (see cli/runtime.ts). */
export interface ScanningSummary {
  engines: Pick<EngineSet, 'engines' | 'analysis'>;
  warnings: string[];
}

export interface AccountRouterDeps {
  tenants: TenantStore;
  /** The tenant's scanning preferences, shown as `settings`. */
  settings?: TenantSettingsStore;
  /** Keys' own detection categories, shown as each key's `detection_categories_enabled`. */
  keySettings?: KeySettingsStore;
  scanning?: ScanningSummary;
}

/**
 * Scanii's prepaid balance, for the clients that read it (the v2.1 PHP client fails without it,
 * the Java SDK's test wants it above zero). Scanning here is not metered, so the balance is a
 * constant that never goes down: the largest value every client's integer type holds.
 */
export const UNMETERED_BALANCE = 2_147_483_647;
/** What `subscription` says: no plan, no billing. */
export const SELF_HOSTED_SUBSCRIPTION = 'self-hosted';

/** `GET /ping` and `GET /account.json`. */
export function accountRouter({
  tenants,
  settings,
  keySettings,
  scanning,
}: AccountRouterDeps): Router {
  const router = Router();

  router.get('/ping', (_req, res) => {
    sendJson(res, 200, { message: 'pong', key: principalOf(res).id });
  });

  router.get('/account.json', async (_req, res) => {
    const tenantId = principalOf(res).tenantId;
    const tenant = await tenants.getTenant(tenantId);
    if (!tenant) throw notFound('The account no longer exists.');
    const keys = await tenants.listKeys(tenantId);
    const preferences = await settings?.get(tenantId);
    const tenantCategories =
      preferences?.detectionCategories ?? DEFAULT_TENANT_SETTINGS.detectionCategories;
    const keyCategories = await Promise.all(
      keys.map(async (k) => (await keySettings?.get(k.key))?.detectionCategories ?? null),
    );
    sendJson(res, 200, {
      name: tenant.name,
      balance: UNMETERED_BALANCE,
      starting_balance: UNMETERED_BALANCE,
      // No billing: empty rather than null, which strict clients' string fields refuse.
      billing_email: '',
      subscription: SELF_HOSTED_SUBSCRIPTION,
      creation_date: tenant.creationDate,
      modification_date: tenant.modificationDate,
      users: {},
      keys: Object.fromEntries(
        keys.map((k, index) => [
          k.key,
          {
            active: k.active,
            creation_date: k.creationDate,
            last_seen_date: k.lastSeenDate,
            // What scans submitted with the key look for: its own categories, else the tenant's.
            detection_categories_enabled: keyCategories[index] ?? tenantCategories,
            tags: [],
          },
        ]),
      ),
      // An addition to Scanii's shape (clients ignore unknown fields): set by the operator.
      ...(preferences
        ? {
            settings: {
              report_unscannable: preferences.reportUnscannable,
              detection_categories: preferences.detectionCategories,
              image_threshold: preferences.imageThreshold,
              classification: describeClassification(preferences.classification),
              allowed_content_types: preferences.allowedContentTypes,
              sanitize: preferences.sanitize,
            },
          }
        : {}),
      // Also additions: the engines this service scans with, and what they miss.
      ...(scanning
        ? {
            engines: scanning.engines.engines.map((engine) => {
              const { name, version } = engine.describe?.() ?? { name: engine.name, version: '' };
              return { name, version };
            }),
            analyzers: (scanning.engines.analysis?.analyzers ?? []).map((analyzer) => ({
              ...analyzer.describe(),
              category: analyzer.category ?? null,
            })),
            warnings: scanning.warnings,
          }
        : {}),
    });
  });
  return router;
}

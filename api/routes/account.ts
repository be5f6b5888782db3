import { Router } from 'express';
import { notFound } from '../../core/errors.js';
import type { TenantSettingsStore } from '../../core/tenant-settings.js';
import type { TenantStore } from '../../core/tenants.js';
import type { EngineSet } from '../../scanning/engines.js';
import { principalOf } from '../auth.js';
import { sendJson } from '../http.js';

/** The engines every scan runs, and what they do not detect (see cli/runtime.ts). */
export interface ScanningSummary {
  engines: Pick<EngineSet, 'engines'>;
  warnings: string[];
}

export interface AccountRouterDeps {
  tenants: TenantStore;
  /** The tenant's scanning preferences, shown as `settings`. */
  settings?: TenantSettingsStore;
  scanning?: ScanningSummary;
}

/** `GET /ping` and `GET /account.json`. */
export function accountRouter({ tenants, settings, scanning }: AccountRouterDeps): Router {
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
    sendJson(res, 200, {
      name: tenant.name,
      creation_date: tenant.creationDate,
      modification_date: tenant.modificationDate,
      users: {},
      keys: Object.fromEntries(
        keys.map((k) => [
          k.key,
          {
            active: k.active,
            creation_date: k.creationDate,
            last_seen_date: k.lastSeenDate,
            detection_categories_enabled: ['malware'],
            tags: [],
          },
        ]),
      ),
      // An addition to Scanii's shape (clients ignore unknown fields): set by the operator.
      ...(preferences ? { settings: { report_unscannable: preferences.reportUnscannable } } : {}),
      // Also additions: the engines this service scans with, and what they miss.
      ...(scanning
        ? {
            engines: scanning.engines.engines.map((engine) => {
              const { name, version } = engine.describe?.() ?? { name: engine.name, version: '' };
              return { name, version };
            }),
            warnings: scanning.warnings,
          }
        : {}),
    });
  });
  return router;
}

import express, { Router } from 'express';
import { conflict, notFound, unavailable } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import type { TenantLimiter } from '../../core/limits.js';
import type { KeySettings, KeySettingsStore } from '../../core/key-settings.js';
import { DEFAULT_CLASSIFICATION, describeClassification } from '../../core/sensitive-types.js';
import type { TenantDeletion } from '../../core/tenant-deletion.js';
import type { TenantSettings, TenantSettingsStore } from '../../core/tenant-settings.js';
import type { TenantStore } from '../../core/tenants.js';
import type { EngineSet } from '../../scanning/engines.js';
import type { ConsoleSessionStore } from '../../core/console-sessions.js';
import { authenticateAdmin } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import {
  CreateTenantSchema,
  DeleteTenantQuerySchema,
  KeySettingsSchema,
  TenantLimitsSchema,
  TenantSettingsSchema,
} from '../schemas.js';

export interface AdminRouterDeps {
  tenants: TenantStore;
  /** `ARBITER_ADMIN_TOKEN`; without it every admin request is refused. */
  adminToken: string | undefined;
  /** Operators' browser console sessions, accepted beside the admin token (api/auth.ts). */
  consoleSessions?: ConsoleSessionStore;
  /** Described by `GET /admin/signatures`, reloaded by `POST /admin/signatures/reload`. */
  engines?: EngineSet;
  /** Per-tenant rate limits and quotas, under `/admin/tenants/{id}/limits`. */
  limiter?: TenantLimiter;
  /** Per-tenant scanning preferences, under `/admin/tenants/{id}/settings`. */
  settings?: TenantSettingsStore;
  /** Per-key overrides of the tenant's settings, under `/admin/keys/{key}/settings`. */
  keySettings?: KeySettingsStore;
  /** `DELETE /admin/tenants/{id}`. */
  tenantDeletion?: TenantDeletion;
}

/** The operator's API: tenants and their keys, and the signature databases (report, reload). */
export function adminRouter({
  tenants,
  adminToken,
  engines,
  limiter,
  settings,
  keySettings,
  tenantDeletion,
  consoleSessions,
}: AdminRouterDeps): Router {
  const router = Router();
  router.use(
    authenticateAdmin(
      adminToken,
      consoleSessions ? { sessions: consoleSessions, tenants } : undefined,
    ),
  );
  const json = [requireParsedBody('application/json'), express.json({ limit: '16kb' })];

  router.post('/tenants', ...json, async (req, res) => {
    const { name } = CreateTenantSchema.parse(req.body ?? {});
    const created = await tenants.createTenant(name);
    sendJson(res, 201, {
      id: created.tenant.id,
      name: created.tenant.name,
      key: created.credentials.key,
      secret: created.credentials.secret,
      signing_secret: created.signingSecret,
    });
  });

  router.get('/tenants', async (_req, res) => {
    const list = await tenants.listTenants();
    const body = await Promise.all(
      list.map(async (tenant) => ({
        id: tenant.id,
        name: tenant.name,
        creation_date: tenant.creationDate,
        keys: (await tenants.listKeys(tenant.id)).map((k) => ({
          key: k.key,
          active: k.active,
          creation_date: k.creationDate,
          last_seen_date: k.lastSeenDate,
        })),
      })),
    );
    sendJson(res, 200, body);
  });

  router.post('/tenants/:id/keys', async (req, res) => {
    const tenantId = String(req.params.id);
    // Ids are checked for shape first: `<id>:keys` would otherwise name the tenant's key set.
    if (!isId(tenantId) || !(await tenants.tenantExists(tenantId)))
      throw notFound('There is no tenant with that id.');
    const credentials = await tenants.addKey(tenantId);
    sendJson(res, 201, { key: credentials.key, secret: credentials.secret });
  });

  // A tenant's rate limit and daily byte quota: its own values where set, else the defaults.
  router.get('/tenants/:id/limits', async (req, res) => {
    const tenantId = await existingTenant(tenants, String(req.params.id));
    sendJson(res, 200, await describeLimits(requireLimiter(limiter), tenantId));
  });

  router.put('/tenants/:id/limits', ...json, async (req, res) => {
    const tenantId = await existingTenant(tenants, String(req.params.id));
    const overrides = TenantLimitsSchema.parse(req.body ?? {});
    await requireLimiter(limiter).settings.setOverrides(tenantId, overrides);
    sendJson(res, 200, await describeLimits(requireLimiter(limiter), tenantId));
  });

  // What a tenant's verdicts say about content that could not be fully scanned.
  router.get('/tenants/:id/settings', async (req, res) => {
    const tenantId = await existingTenant(tenants, String(req.params.id));
    sendJson(res, 200, describeSettings(await requireSettings(settings).get(tenantId)));
  });

  router.put('/tenants/:id/settings', ...json, async (req, res) => {
    const tenantId = await existingTenant(tenants, String(req.params.id));
    const changes = TenantSettingsSchema.parse(req.body ?? {});
    const updated = await requireSettings(settings).update(tenantId, {
      ...(changes.report_unscannable !== undefined
        ? { reportUnscannable: changes.report_unscannable }
        : {}),
      ...(changes.detection_categories !== undefined
        ? { detectionCategories: changes.detection_categories }
        : {}),
      ...(changes.image_threshold !== undefined ? { imageThreshold: changes.image_threshold } : {}),
      ...(changes.classification !== undefined
        ? {
            classification: {
              types: changes.classification.types ?? DEFAULT_CLASSIFICATION.types,
              minMatches: changes.classification.min_matches ?? DEFAULT_CLASSIFICATION.minMatches,
            },
          }
        : {}),
      ...(changes.allowed_content_types !== undefined
        ? { allowedContentTypes: changes.allowed_content_types }
        : {}),
      ...(changes.sanitize !== undefined ? { sanitize: changes.sanitize } : {}),
    });
    sendJson(res, 200, describeSettings(updated));
  });

  // Removes the tenant and everything stored under its id (core/tenant-deletion.ts). A tenant
  // with scans still pending is refused unless `force=true`: those scans then end unscanned.
  router.delete('/tenants/:id', async (req, res) => {
    const tenantId = String(req.params.id);
    if (!tenantDeletion) throw notFound('Tenant deletion is not available on this server.');
    if (!isId(tenantId)) throw notFound('There is no tenant with that id.');
    const query = req.query.force;
    const { force } = DeleteTenantQuerySchema.parse({
      force: Array.isArray(query) ? query[0] : query,
    });
    const outcome = await tenantDeletion.delete(tenantId, { force: force === 'true' });
    if (outcome.status === 'unknown') throw notFound('There is no tenant with that id.');
    if (outcome.status === 'pending-scans')
      throw conflict(
        `The tenant has ${outcome.count} scan(s) still pending; wait for them to finish, or delete with ?force=true (they then end without a result).`,
      );
    res.status(204).end();
  });

  // A key's own detection categories, allowed types and sanitizing (null: it follows its tenant's).
  router.get('/keys/:key/settings', async (req, res) => {
    const found = await requireKeySettings(keySettings).get(String(req.params.key));
    if (!found) throw notFound('There is no such key.');
    sendJson(res, 200, await describeKeySettings(requireSettings(settings), found));
  });

  router.put('/keys/:key/settings', ...json, async (req, res) => {
    const changes = KeySettingsSchema.parse(req.body ?? {});
    const store = requireKeySettings(keySettings);
    const key = String(req.params.key);
    let updated = await store.get(key);
    if (updated && changes.detection_categories !== undefined)
      updated = await store.setCategories(key, changes.detection_categories);
    if (updated && changes.allowed_content_types !== undefined)
      updated = await store.setAllowedContentTypes(key, changes.allowed_content_types);
    if (updated && changes.sanitize !== undefined)
      updated = await store.setSanitize(key, changes.sanitize);
    if (!updated) throw notFound('There is no such key.');
    sendJson(res, 200, await describeKeySettings(requireSettings(settings), updated));
  });

  router.delete('/keys/:key', async (req, res) => {
    if (!(await tenants.disableKey(String(req.params.key))))
      throw notFound('There is no such key.');
    res.status(204).end();
  });

  // What each engine loaded: per type and container for the built-in engine, the version for clamd.
  router.get('/signatures', (_req, res) => {
    if (!engines) throw notFound('There are no scan engines in this process.');
    sendJson(res, 200, {
      engines: engines.engines.map((engine) => {
        const report = engine.loadReport?.();
        return {
          ...(engine.describe?.() ?? { name: engine.name }),
          ...(report ? { types: report.types, containers: report.containers } : {}),
        };
      }),
    });
  });

  // Re-reads every engine's signatures; scans in flight finish with the database they started
  // with. Lines that cannot be parsed are skipped and counted in `problems`.
  router.post('/signatures/reload', async (_req, res) => {
    if (!engines) throw notFound('There are no scan engines in this process.');
    try {
      await engines.reload();
    } catch (error) {
      throw unavailable(
        `Reloading the signatures failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    sendJson(res, 200, {
      engines: engines.engines.map((engine) => engine.describe?.() ?? { name: engine.name }),
    });
  });
  return router;
}

async function existingTenant(tenants: TenantStore, tenantId: string): Promise<string> {
  // Ids are checked for shape first, so that no other key can be named through them.
  if (!isId(tenantId) || !(await tenants.tenantExists(tenantId)))
    throw notFound('There is no tenant with that id.');
  return tenantId;
}

function requireLimiter(limiter: TenantLimiter | undefined): TenantLimiter {
  if (!limiter) throw notFound('Rate limits are not available on this server.');
  return limiter;
}

function requireSettings(settings: TenantSettingsStore | undefined): TenantSettingsStore {
  if (!settings) throw notFound('Tenant settings are not available on this server.');
  return settings;
}

function requireKeySettings(keySettings: KeySettingsStore | undefined): KeySettingsStore {
  if (!keySettings) throw notFound('Key settings are not available on this server.');
  return keySettings;
}

function describeSettings(settings: TenantSettings) {
  return {
    report_unscannable: settings.reportUnscannable,
    detection_categories: settings.detectionCategories,
    image_threshold: settings.imageThreshold,
    classification: describeClassification(settings.classification),
    allowed_content_types: settings.allowedContentTypes,
    sanitize: settings.sanitize,
  };
}

/** The key's own settings (null: it follows its tenant's) and those its scans get. */
async function describeKeySettings(settings: TenantSettingsStore, key: KeySettings) {
  const tenant = await settings.get(key.tenantId);
  return {
    detection_categories: key.detectionCategories,
    effective_detection_categories: key.detectionCategories ?? tenant.detectionCategories,
    allowed_content_types: key.allowedContentTypes,
    effective_allowed_content_types: key.allowedContentTypes ?? tenant.allowedContentTypes,
    sanitize: key.sanitize,
    effective_sanitize: key.sanitize ?? tenant.sanitize,
  };
}

/** In force (0 = no limit), the tenant's own settings (null = the default), and today's bytes. */
async function describeLimits(limiter: TenantLimiter, tenantId: string) {
  const overrides = await limiter.settings.getOverrides(tenantId);
  return {
    ...limiter.settings.resolve(overrides),
    overrides,
    defaults: limiter.settings.defaults,
    bytesUsedToday: await limiter.bytesUsed(tenantId),
  };
}

import express, { Router } from 'express';
import { notFound } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import type { TenantStore } from '../../core/tenants.js';
import { authenticateAdmin } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import { CreateTenantSchema } from '../schemas.js';

/** The operator's API: tenants and their keys. */
export function adminRouter(tenants: TenantStore, adminToken: string | undefined): Router {
  const router = Router();
  router.use(authenticateAdmin(adminToken));
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
    if (!isId(tenantId) || !(await tenants.tenantExists(tenantId))) throw notFound('There is no tenant with that id.');
    const credentials = await tenants.addKey(tenantId);
    sendJson(res, 201, { key: credentials.key, secret: credentials.secret });
  });

  router.delete('/keys/:key', async (req, res) => {
    if (!(await tenants.disableKey(String(req.params.key)))) throw notFound('There is no such key.');
    res.status(204).end();
  });
  return router;
}

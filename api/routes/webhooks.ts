import express, { Router } from 'express';
import { notFound } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import type { TenantStore } from '../../core/tenants.js';
import type { Redeliveries } from '../../webhooks/redelivery.js';
import { principalOf } from '../auth.js';
import { requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import { RotateSigningSecretSchema } from '../schemas.js';

export interface WebhooksRouterDeps {
  tenants: TenantStore;
  redeliveries: Redeliveries;
  /** Default grace period of a rotated-out signing secret, in seconds. */
  signingSecretGraceSeconds: number;
}

/** Tenant extension API (`/v1`): webhook signing-secret rotation and callback redelivery. */
export function webhooksRouter(deps: WebhooksRouterDeps): Router {
  const router = Router();
  const json = [requireParsedBody('application/json'), express.json({ limit: '16kb' })];

  // A new secret signs every delivery from now on; the previous one signs them too (a second
  // `v1,` entry) until `previous_valid_until`, so receivers can switch without losing any.
  router.post('/webhooks/signing-secret/rotate', ...json, async (req, res) => {
    const body = RotateSigningSecretSchema.parse(req.body ?? {});
    const grace = body.grace_seconds ?? deps.signingSecretGraceSeconds;
    const rotated = await deps.tenants.rotateSigningSecret(principalOf(res).tenantId, grace);
    if (!rotated) throw notFound('The account no longer exists.');
    sendJson(res, 201, {
      signing_secret: rotated.signingSecret,
      previous_valid_until: rotated.previousValidUntil.toISOString(),
    });
  });

  router.post('/files/:id/redeliver', async (req, res) => {
    const id = String(req.params.id);
    if (!isId(id)) throw notFound(`Sadly, we could not find a file by that id ${id.slice(0, 64)}.`);
    const outcome = await deps.redeliveries.redeliver(principalOf(res).tenantId, id);
    sendJson(res, 202, { id, status: outcome.status });
  });
  return router;
}

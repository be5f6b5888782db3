import { Router } from 'express';
import { forbidden, notFound } from '../../core/errors.js';
import { isId } from '../../core/ids.js';
import type { AuthToken, TokenStore } from '../../core/tokens.js';
import { principalOf, type Principal } from '../auth.js';
import { formParsers, requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';
import { CreateTokenSchema } from '../schemas.js';

const tokenJson = (token: AuthToken) => ({
  id: token.id,
  creation_date: token.creationDate,
  expiration_date: token.expirationDate,
});

export interface TokensRouterDeps {
  tokens: TokenStore;
}

/** `GET /v1/tokens`: the tenant's valid tokens (the console lists them; API keys only). */
export function tokenListRouter({ tokens }: TokensRouterDeps): Router {
  const router = Router();
  router.get('/tokens', async (_req, res) => {
    const list = await tokens.list(principalOf(res).tenantId);
    sendJson(res, 200, {
      tokens: list.map((token) => ({ ...tokenJson(token), scope: token.scope })),
    });
  });
  return router;
}

/** Scanii auth tokens: temporary credentials for browsers, minted only with a real API key. */
export function tokensRouter({ tokens }: TokensRouterDeps): Router {
  const router = Router();
  const forms = [
    requireParsedBody(
      'application/x-www-form-urlencoded',
      'application/json',
      'multipart/form-data',
    ),
    ...formParsers(),
  ];

  router.post('/auth/tokens', ...forms, async (req, res) => {
    const principal = principalOf(res);
    const { timeout } = CreateTokenSchema.parse(req.body ?? {});
    const token = await tokens.create(principal.tenantId, principal.id, timeout, 'browser');
    sendJson(res, 201, tokenJson(token));
  });

  router.get('/auth/tokens/:id', async (req, res) => {
    const id = String(req.params.id);
    requireSelfOrKey(principalOf(res), id);
    const token = isId(id) ? await tokens.get(principalOf(res).tenantId, id) : undefined;
    if (!token) throw notFound('could not find token');
    sendJson(res, 200, tokenJson(token));
  });

  router.delete('/auth/tokens/:id', async (req, res) => {
    const id = String(req.params.id);
    requireSelfOrKey(principalOf(res), id);
    if (!isId(id) || !(await tokens.delete(principalOf(res).tenantId, id)))
      throw notFound('could not find token');
    res.status(204).end();
  });
  return router;
}

/**
 * A token lives in a browser: it may read or revoke itself (a sign-out), but not the tenant's
 * other tokens — those belong to other users of the same application.
 */
function requireSelfOrKey(principal: Principal, tokenId: string): void {
  if (principal.kind === 'token' && principal.id !== tokenId)
    throw forbidden('An auth token can only read or delete itself; use an API key.');
}

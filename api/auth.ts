import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import basicAuth from 'basic-auth';
import { DomainError, forbidden, unauthenticated } from '../core/errors.js';
import type { TenantStore } from '../core/tenants.js';
import type { TokenStore } from '../core/tokens.js';

/** Who is calling: resolved once per request, then passed explicitly to every store call. */
export interface Principal {
  tenantId: string;
  /** The API key, or the auth token id, the caller presented (what `/ping` echoes). */
  id: string;
  kind: 'key' | 'token';
}

export function principalOf(res: Response): Principal {
  return res.locals.auth as Principal;
}

/**
 * HTTP Basic: API key as user and secret as password, or an auth token id as user with an empty
 * password (Scanii's temporary credentials). A disabled key, and every token it minted, is 403.
 */
export function authenticate(tenants: TenantStore, tokens: TokenStore) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const credentials = basicAuth(req);
    if (!credentials || credentials.name === '' || credentials.name.length > 128)
      throw unauthenticated();
    res.locals.auth =
      credentials.pass === ''
        ? await authenticateToken(tenants, tokens, credentials.name)
        : await authenticateKey(tenants, credentials.name, credentials.pass);
    next();
  };
}

/**
 * The verdict API (`/api`): `Authorization: Bearer <access token>` (from `POST /api/Token`), or
 * the same Basic credentials as the Scanii API. An expired, revoked or made-up token is a 401.
 */
export function authenticateBearerOrBasic(tenants: TenantStore, tokens: TokenStore) {
  const basic = authenticate(tenants, tokens);
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!bearer) {
      await basic(req, res, next);
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="Arbiter"');
    const tokenId = bearer[1] ?? '';
    if (tokenId.length > 128) throw unauthenticated();
    res.locals.auth = await authenticateToken(tenants, tokens, tokenId);
    next();
  };
}

/** Checks an API key and its secret (also for `POST /api/Token`, which takes them in its body). */
export async function authenticateKey(
  tenants: TenantStore,
  key: string,
  secret: string,
): Promise<Principal> {
  const check = await tenants.checkKey(key, secret);
  if (check.outcome === 'unknown') throw unauthenticated();
  if (check.outcome === 'disabled') throw forbidden('This API key has been disabled.');
  return { tenantId: check.record.tenantId, id: key, kind: 'key' };
}

async function authenticateToken(
  tenants: TenantStore,
  tokens: TokenStore,
  tokenId: string,
): Promise<Principal> {
  const token = await tokens.findById(tokenId);
  if (!token) throw unauthenticated();
  const key = await tenants.getKey(token.key);
  if (!key?.active) throw forbidden('The API key that created this token has been disabled.');
  return { tenantId: token.tenantId, id: token.id, kind: 'token' };
}

/** Administrative resources (minting tokens, account details) need a real key, not a token. */
export function requireApiKey(_req: Request, res: Response, next: NextFunction): void {
  if (principalOf(res).kind !== 'key')
    throw forbidden('Auth tokens cannot be used for this resource; use an API key.');
  next();
}

/** The operator's admin API: `Authorization: Bearer $ARBITER_ADMIN_TOKEN`. */
export function authenticateAdmin(adminToken: string | undefined) {
  const expected = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected)
      throw new DomainError(
        'forbidden',
        'The admin API is disabled: set ARBITER_ADMIN_TOKEN to enable it.',
      );
    const header = req.get('authorization') ?? '';
    const presented = /^Bearer (.+)$/i.exec(header)?.[1];
    // Hash both sides so the comparison takes the same time whatever the presented length.
    if (presented && timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
      next();
      return;
    }
    // The challenge here is Bearer, not the Basic one the error handler gives the Scanii API.
    res.setHeader('WWW-Authenticate', 'Bearer realm="Arbiter admin"');
    throw new DomainError(
      'unauthenticated',
      presented
        ? 'The admin token is not valid.'
        : 'Send the admin token as "Authorization: Bearer <token>".',
    );
  };
}

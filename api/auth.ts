import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import basicAuth from 'basic-auth';
import type { ConsoleSessionStore } from '../core/console-sessions.js';
import { DomainError, forbidden, unauthenticated } from '../core/errors.js';
import type { TenantStore } from '../core/tenants.js';
import type { TokenScope, TokenStore } from '../core/tokens.js';
import {
  checkCsrf,
  consoleCookieOf,
  identityHolds,
  liveConsoleSession,
  sessionEnded,
} from './console-auth.js';

/** Who is calling: resolved once per request, then passed explicitly to every store call. */
export interface Principal {
  tenantId: string;
  /** The API key, or the auth token id, the caller presented (what `/ping` echoes). */
  id: string;
  kind: 'key' | 'token';
  /**
   * The API key behind the request: the one presented, or the one that minted the token. Scans
   * submitted with it follow its detection categories (scans/scan-plans.ts).
   */
  keyId: string;
  /** For a token: what it was minted for (see `TOKEN_ALLOWED`). */
  scope?: TokenScope;
}

/** The routers that authenticate callers; each has its own list of what a token may call. */
export type Surface = 'scanii' | 'tenant' | 'verdict';

interface TokenRoute {
  methods: readonly string[];
  /** Matched against the path inside the router, as express matches it (any case, optional `/`). */
  path: RegExp;
  scopes: readonly TokenScope[];
}

const BOTH: readonly TokenScope[] = ['browser', 'verdict'];

/**
 * Everything an auth token may call; anything not listed here needs an API key (deny by
 * default, so a new route is closed to tokens until it is added here on purpose). A token scans
 * what its holder uploads or has fetched, and reads those results: it cannot mint tokens, read
 * the account, delete results, register buckets, queue bucket scans, redeliver callbacks or
 * rotate secrets. Only the verdict API's own access tokens may scan a registered bucket's object.
 */
const TOKEN_ALLOWED: Record<Surface, readonly TokenRoute[]> = {
  scanii: [
    { methods: ['GET', 'HEAD'], path: /^\/ping\/?$/i, scopes: BOTH },
    { methods: ['POST'], path: /^\/files(\/async|\/fetch)?\/?$/i, scopes: BOTH },
    { methods: ['GET', 'HEAD'], path: /^\/files\/[^/]+(\/trace|\/sanitized)?\/?$/i, scopes: BOTH },
    // Itself only (a sign-out): tokens/:id refuses any other id (api/routes/tokens.ts).
    { methods: ['GET', 'HEAD', 'DELETE'], path: /^\/auth\/tokens\/[^/]+\/?$/i, scopes: BOTH },
  ],
  tenant: [],
  verdict: [
    { methods: ['POST'], path: /^\/Scan\/?$/i, scopes: BOTH },
    { methods: ['POST'], path: /^\/Scan\/Existing\/?$/i, scopes: ['verdict'] },
  ],
};

/** Throws 403 unless the principal is an API key or a token whose scope allows this request. */
export function checkTokenScope(principal: Principal, surface: Surface, req: Request): void {
  if (principal.kind === 'key') return;
  const scope = principal.scope ?? 'browser';
  const allowed = TOKEN_ALLOWED[surface].some(
    (route) =>
      route.methods.includes(req.method) &&
      route.path.test(req.path) &&
      route.scopes.includes(scope),
  );
  if (!allowed) throw forbidden(tokenRefusal(surface, scope));
}

function tokenRefusal(surface: Surface, scope: TokenScope): string {
  const what =
    scope === 'browser'
      ? 'Auth tokens may only scan content (POST /files, /files/async, /files/fetch) and read results (GET /files/{id}, its trace and its sanitized copy)'
      : 'Verdict API access tokens may only scan content and read results';
  const where =
    surface === 'verdict'
      ? 'scanning bucket objects needs a verdict API access token (POST /api/Token) or an API key'
      : 'use an API key for this resource';
  return `${what}: ${where}.`;
}

export function principalOf(res: Response): Principal {
  return res.locals.auth as Principal;
}

/**
 * HTTP Basic: API key as user and secret as password, or an auth token id as user with an empty
 * password (Scanii's temporary credentials). A disabled key, and every token it minted, is 403.
 */
export function authenticate(
  tenants: TenantStore,
  tokens: TokenStore,
  surface: Surface,
  sessions?: ConsoleSessionStore,
) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (sessions && consoleCookieOf(req) !== undefined) {
      res.locals.auth = await consoleTenantPrincipal(req, res, { tenants, sessions });
      next();
      return;
    }
    const credentials = basicAuth(req);
    if (!credentials || credentials.name === '' || credentials.name.length > 128)
      throw unauthenticated();
    const principal =
      credentials.pass === ''
        ? await authenticateToken(tenants, tokens, credentials.name)
        : await authenticateKey(tenants, credentials.name, credentials.pass);
    checkTokenScope(principal, surface, req);
    res.locals.auth = principal;
    next();
  };
}

/**
 * A browser console request (a session cookie, no `Authorization`): the API key the session
 * signed in with, checked again now (a disabled key ends the session), after the CSRF check.
 * An operator session is no tenant: 401, as with no credentials.
 */
async function consoleTenantPrincipal(
  req: Request,
  res: Response,
  deps: { tenants: TenantStore; sessions: ConsoleSessionStore },
): Promise<Principal> {
  const live = await liveConsoleSession(req, deps.sessions);
  const identity = live?.session.identity;
  if (!live || identity?.kind !== 'tenant') throw sessionEnded(res);
  if (!(await identityHolds(live.session, { tenants: deps.tenants, adminToken: undefined }))) {
    await deps.sessions.delete(live.id);
    throw sessionEnded(res);
  }
  checkCsrf(req, live.session);
  return { tenantId: identity.tenantId, id: identity.keyId, kind: 'key', keyId: identity.keyId };
}

/**
 * The verdict API (`/api`): `Authorization: Bearer <access token>` (from `POST /api/Token`), or
 * the same Basic credentials as the Scanii API. An expired, revoked or made-up token is a 401.
 */
export function authenticateBearerOrBasic(tenants: TenantStore, tokens: TokenStore) {
  const basic = authenticate(tenants, tokens, 'verdict');
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!bearer) {
      await basic(req, res, next);
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="Arbiter"');
    const tokenId = bearer[1] ?? '';
    if (tokenId.length > 128) throw unauthenticated();
    const principal = await authenticateToken(tenants, tokens, tokenId);
    checkTokenScope(principal, 'verdict', req);
    res.locals.auth = principal;
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
  return { tenantId: check.record.tenantId, id: key, kind: 'key', keyId: key };
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
  return {
    tenantId: token.tenantId,
    id: token.id,
    kind: 'token',
    scope: token.scope,
    keyId: token.key,
  };
}

/**
 * The operator's admin API: `Authorization: Bearer $ARBITER_ADMIN_TOKEN`, or (without an
 * `Authorization` header) an operator's console session made with that same token.
 */
export function authenticateAdmin(
  adminToken: string | undefined,
  console?: { sessions: ConsoleSessionStore; tenants: TenantStore },
) {
  const expected = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!expected)
      throw new DomainError(
        'forbidden',
        'The admin API is disabled: set ARBITER_ADMIN_TOKEN to enable it.',
      );
    if (console && consoleCookieOf(req) !== undefined) {
      const live = await liveConsoleSession(req, console.sessions);
      if (
        !live ||
        live.session.identity.kind !== 'operator' ||
        !(await identityHolds(live.session, { tenants: console.tenants, adminToken }))
      )
        throw sessionEnded(res);
      checkCsrf(req, live.session);
      next();
      return;
    }
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

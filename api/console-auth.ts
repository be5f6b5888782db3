import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { ConsoleSession, ConsoleSessionStore } from '../core/console-sessions.js';
import { hashAdminToken } from '../core/console-sessions.js';
import { DomainError, forbidden } from '../core/errors.js';
import type { TenantStore } from '../core/tenants.js';

/**
 * The browser console's session cookie, as the API's authentication middlewares (api/auth.ts)
 * accept it: only when a request has no `Authorization` header, and every unsafe request made
 * with it must carry the session's CSRF token. So a console user can do exactly what its API key
 * (or the admin token) may, and a page of another site cannot make its browser do anything.
 */

export const CONSOLE_COOKIE = 'arbiter_console';
export const CSRF_HEADER = 'X-CSRF-Token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session cookie's value, when the request relies on it (no `Authorization` header). */
export function consoleCookieOf(req: Request): string | undefined {
  if (req.get('authorization') !== undefined) return undefined;
  const cookies = (req as { cookies?: Record<string, unknown> }).cookies ?? {};
  const value = cookies[CONSOLE_COOKIE];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A 401 for a console request whose session is gone. Its challenge is not Basic, so the browser
 * shows no password dialog: the console sends its user back to the sign-in page instead.
 */
export function sessionEnded(res: Response): DomainError {
  res.setHeader('WWW-Authenticate', 'Session realm="Arbiter console"');
  return new DomainError('unauthenticated', 'The console session has ended: sign in again.');
}

/** Throws 403 for an unsafe request without the session's CSRF token. */
export function checkCsrf(req: Request, session: ConsoleSession): void {
  if (SAFE_METHODS.has(req.method)) return;
  const presented = Buffer.from(req.get(CSRF_HEADER) ?? '');
  const expected = Buffer.from(session.csrfToken);
  if (presented.length === expected.length && timingSafeEqual(presented, expected)) return;
  throw forbidden(`This request needs the console session's ${CSRF_HEADER} header.`);
}

/**
 * Whether the session's identity still holds: a tenant session's API key still exists, belongs to
 * its tenant and is enabled; an operator session was made with the admin token now configured.
 */
export async function identityHolds(
  session: ConsoleSession,
  deps: { tenants: TenantStore; adminToken: string | undefined },
): Promise<boolean> {
  const identity = session.identity;
  if (identity.kind === 'operator')
    return (
      deps.adminToken !== undefined && identity.adminTokenHash === hashAdminToken(deps.adminToken)
    );
  const key = await deps.tenants.getKey(identity.keyId);
  return key !== undefined && key.active && key.tenantId === identity.tenantId;
}

/** The live session a console request carries, or undefined (no cookie, expired, unknown). */
export async function liveConsoleSession(
  req: Request,
  sessions: ConsoleSessionStore,
): Promise<{ id: string; session: ConsoleSession } | undefined> {
  const id = consoleCookieOf(req);
  if (id === undefined) return undefined;
  const session = await sessions.use(id);
  return session ? { id, session } : undefined;
}

import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { ConsoleSigninLimiter } from '../../core/console-signin-limiter.js';
import {
  hashAdminToken,
  type ConsoleIdentity,
  type ConsoleSession,
  type ConsoleSessionStore,
} from '../../core/console-sessions.js';
import { DomainError } from '../../core/errors.js';
import type { TenantStore } from '../../core/tenants.js';
import { requireParsedBody } from '../body-parsers.js';
import {
  CONSOLE_COOKIE,
  checkCsrf,
  consoleCookieOf,
  identityHolds,
  liveConsoleSession,
  sessionEnded,
} from '../console-auth.js';
import { sendJson } from '../http.js';

export interface ConsoleRouterDeps {
  tenants: TenantStore;
  sessions: ConsoleSessionStore;
  signins: ConsoleSigninLimiter;
  adminToken: string | undefined;
  /** ARBITER_PUBLIC_URL: an https one makes the cookie Secure even behind an unmarked proxy. */
  publicUrl: string | undefined;
}

/** `POST /console/api/session` body: exported for the OpenAPI document (api/operations.ts). */
export const SignInSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('tenant'),
      key: z.string().min(1, 'key must not be empty').max(128, 'key is too long'),
      secret: z.string().min(1, 'secret must not be empty').max(256, 'secret is too long'),
    }),
    z.strictObject({
      kind: z.literal('operator'),
      token: z.string().min(1, 'token must not be empty').max(512, 'token is too long'),
    }),
  ],
  { error: 'kind must be "tenant" (with key and secret) or "operator" (with token)' },
);

/** What the session routes answer: exported for the OpenAPI document (api/operations.ts). */
export const ConsoleSessionSchema = z
  .object({
    kind: z.enum(['tenant', 'operator']),
    tenant_id: z.string().optional().describe('The tenant signed in (tenant sessions).'),
    key: z.string().optional().describe('The API key signed in with (tenant sessions).'),
    csrf_token: z
      .string()
      .describe('Send it as `X-CSRF-Token` with every request that changes something.'),
    expires_at: z.string().describe('The absolute expiry (ISO 8601); idle sessions end sooner.'),
  })
  .meta({ id: 'ConsoleSession' });

/** The same message whatever was wrong, so a failure never tells whether a key exists. */
const TENANT_REFUSAL = 'Those credentials were not accepted: check the key and secret.';
const OPERATOR_REFUSAL = 'That admin token was not accepted.';

/**
 * The browser console's sessions, under `/console/api`:
 *
 * - `POST /session` signs in (`{kind:"tenant", key, secret}` or `{kind:"operator", token}`),
 *   sets the `arbiter_console` cookie and answers the session (with its CSRF token). A refusal
 *   is 401 with one message whatever was wrong; too many refusals from one address, or naming
 *   one key, are 429 with `Retry-After`.
 * - `GET /session`: who the cookie signs in, and the CSRF token; 401 when it has ended.
 * - `DELETE /session`: signs out (needs the CSRF token), clears the cookie; 204.
 */
export function consoleRouter(deps: ConsoleRouterDeps): Router {
  const router = Router();
  router.use((_req, res, next) => {
    // Answers about a session must never be kept by a browser or a proxy.
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.post(
    '/session',
    requireParsedBody('application/json'),
    express.json({ limit: '4kb' }),
    async (req, res) => {
      const input = SignInSchema.parse(req.body ?? {});
      const address = req.ip ?? 'unknown';
      const limitedKey = input.kind === 'tenant' ? input.key : '(operator)';
      const wait = await deps.signins.retryAfterSeconds(address, limitedKey);
      if (wait > 0) throw tooManyAttempts(wait);
      const identity = await signIn(deps, input);
      if (!identity) {
        await deps.signins.recordFailure(address, limitedKey);
        res.setHeader('WWW-Authenticate', 'Session realm="Arbiter console"');
        throw new DomainError(
          'unauthenticated',
          input.kind === 'tenant' ? TENANT_REFUSAL : OPERATOR_REFUSAL,
        );
      }
      const { id, session } = await deps.sessions.create(identity);
      setSessionCookie(req, res, id, session, deps.publicUrl);
      sendJson(res, 201, describeSession(session));
    },
  );

  router.get('/session', async (req, res) => {
    const live = await liveConsoleSession(req, deps.sessions);
    if (!live || !(await identityHolds(live.session, deps))) throw sessionEnded(res);
    sendJson(res, 200, describeSession(live.session));
  });

  router.delete('/session', async (req, res) => {
    const live = await liveConsoleSession(req, deps.sessions);
    if (live) {
      checkCsrf(req, live.session);
      await deps.sessions.delete(live.id);
    } else if (consoleCookieOf(req) === undefined) {
      throw sessionEnded(res);
    }
    res.clearCookie(CONSOLE_COOKIE, cookieOptions(req, deps.publicUrl));
    res.status(204).end();
  });

  return router;
}

async function signIn(
  deps: ConsoleRouterDeps,
  input: z.output<typeof SignInSchema>,
): Promise<ConsoleIdentity | undefined> {
  if (input.kind === 'tenant') {
    const check = await deps.tenants.checkKey(input.key, input.secret);
    return check.outcome === 'ok'
      ? { kind: 'tenant', tenantId: check.record.tenantId, keyId: input.key }
      : undefined;
  }
  if (deps.adminToken === undefined || !sameSecret(input.token, deps.adminToken)) return undefined;
  return { kind: 'operator', adminTokenHash: hashAdminToken(deps.adminToken) };
}

/** Compares digests, so the time taken does not depend on how much of the token was right. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

const tooManyAttempts = (seconds: number) =>
  new DomainError(
    'rate_limited',
    `Too many failed sign-in attempts: try again in ${seconds} s.`,
    seconds,
  );

/** What the console learns of its session (never the session id, which only the cookie has). */
function describeSession(session: ConsoleSession) {
  const identity = session.identity;
  return {
    kind: identity.kind,
    ...(identity.kind === 'tenant' ? { tenant_id: identity.tenantId, key: identity.keyId } : {}),
    csrf_token: session.csrfToken,
    expires_at: new Date(session.expiresAtMs).toISOString(),
  };
}

function cookieOptions(req: Request, publicUrl: string | undefined) {
  return {
    httpOnly: true,
    sameSite: 'strict' as const,
    path: '/',
    // req.secure follows X-Forwarded-Proto only with ARBITER_TRUST_PROXY (express `trust proxy`).
    secure: req.secure || (publicUrl?.startsWith('https://') ?? false),
  };
}

function setSessionCookie(
  req: Request,
  res: Response,
  id: string,
  session: ConsoleSession,
  publicUrl: string | undefined,
): void {
  res.cookie(CONSOLE_COOKIE, id, {
    ...cookieOptions(req, publicUrl),
    maxAge: Math.max(0, session.expiresAtMs - Date.now()),
  });
}

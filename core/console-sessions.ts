import { createHash, randomBytes } from 'node:crypto';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * Browser console sessions. The cookie carries 32 random bytes (base64url); Redis holds only
 * their SHA-256, so a copy of the database does not sign anyone in. A session's key expires at
 * its idle expiry, pushed back on every use but never past the absolute expiry set at sign-in.
 */

/** Who a session is: a tenant's API key (re-checked on every request), or the operator. */
export type ConsoleIdentity =
  | { kind: 'tenant'; tenantId: string; keyId: string }
  /** `adminTokenHash`: the admin token at sign-in; a changed token ends the session. */
  | { kind: 'operator'; adminTokenHash: string };

export interface ConsoleSession {
  identity: ConsoleIdentity;
  /** What every unsafe request made with the session must send as `X-CSRF-Token`. */
  csrfToken: string;
  createdAtMs: number;
  /** The absolute expiry (ms since the epoch). */
  expiresAtMs: number;
}

export interface SessionLifetimes {
  idleSeconds: number;
  maxSeconds: number;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export const hashSessionId = (id: string): string => createHash('sha256').update(id).digest('hex');

/** SHA-256 of the admin token, kept in operator sessions to notice a changed token. */
export const hashAdminToken = (token: string): string =>
  createHash('sha256').update(`admin-token:${token}`).digest('hex');

export class ConsoleSessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly lifetimes: SessionLifetimes,
  ) {}

  /** A new session; returns the id for the cookie (never stored) and the session. */
  async create(
    identity: ConsoleIdentity,
    now = Date.now(),
  ): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      identity,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAtMs: now,
      expiresAtMs: now + this.lifetimes.maxSeconds * 1000,
    };
    await this.redis.set(
      this.keys.consoleSession(hashSessionId(id)),
      JSON.stringify(session),
      'PX',
      this.ttlMs(session, now),
    );
    return { id, session };
  }

  /**
   * The live session of a cookie value, its idle expiry pushed back; undefined when the value is
   * malformed, unknown, idle too long or past its absolute expiry.
   */
  async use(id: string, now = Date.now()): Promise<ConsoleSession | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const key = this.keys.consoleSession(hashSessionId(id));
    const stored = await this.redis.get(key);
    if (!stored) return undefined;
    const session = JSON.parse(stored) as ConsoleSession;
    if (now >= session.expiresAtMs) {
      await this.redis.del(key);
      return undefined;
    }
    await this.redis.pexpire(key, this.ttlMs(session, now));
    return session;
  }

  async delete(id: string): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    await this.redis.del(this.keys.consoleSession(hashSessionId(id)));
  }

  private ttlMs(session: ConsoleSession, now: number): number {
    return Math.max(1, Math.min(this.lifetimes.idleSeconds * 1000, session.expiresAtMs - now));
  }
}

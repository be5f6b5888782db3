import { newId } from './ids.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * What a token was minted for. `browser`: a Scanii auth token (`POST /v2.2/auth/tokens`), handed
 * to a browser to scan what its holder uploads or fetches. `verdict`: an access token of the
 * verdict API (`POST /api/Token`), which may also scan objects of the tenant's registered
 * buckets (`POST /api/Scan/Existing`). What each scope may call is decided in api/auth.ts.
 */
export type TokenScope = 'browser' | 'verdict';

export interface AuthToken {
  id: string;
  tenantId: string;
  /** The API key that minted the token: a disabled key takes its tokens down with it. */
  key: string;
  creationDate: string;
  expirationDate: string;
  scope: TokenScope;
}

export const TOKEN_TIMEOUT = { default: 300, min: 1, max: 86_400 } as const;

/**
 * Temporary credentials (Scanii auth tokens). Redis expires them at their expiration date, and
 * reads check the date again so a token is never honoured past it, even by a millisecond.
 */
export class TokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async create(
    tenantId: string,
    key: string,
    timeoutSeconds: number,
    scope: TokenScope,
  ): Promise<AuthToken> {
    const created = new Date();
    const token: AuthToken = {
      id: newId(),
      tenantId,
      key,
      creationDate: created.toISOString(),
      expirationDate: new Date(created.getTime() + timeoutSeconds * 1000).toISOString(),
      scope,
    };
    const expireAt = Date.parse(token.expirationDate);
    // The token (the tenant's slot) before its owner record (global; a Cluster cannot hold both
    // in one MULTI): a token is found by id only through its owner record, so a crash in between
    // leaves a token nobody can present, expiring on its own; and every owner record has its
    // token, through which tenant deletion finds it.
    await this.redis
      .multi()
      .hset(this.keys.token(tenantId, token.id), {
        tenant_id: tenantId,
        key,
        creation_date: token.creationDate,
        expiration_date: token.expirationDate,
        scope,
      })
      .pexpireat(this.keys.token(tenantId, token.id), expireAt)
      // The tenant's index (`GET /v1/tokens`), scored by expiry: trimmed as it is read.
      .zadd(this.keys.tenantTokens(tenantId), expireAt, token.id)
      .zremrangebyscore(this.keys.tenantTokens(tenantId), '-inf', Date.now())
      .exec();
    await this.redis.set(this.keys.tokenOwner(token.id), tenantId, 'PXAT', expireAt);
    return token;
  }

  /** Looks a token up by id alone: that is all a client presents when it authenticates. */
  async findById(tokenId: string): Promise<AuthToken | undefined> {
    const tenantId = await this.redis.get(this.keys.tokenOwner(tokenId));
    return tenantId ? this.get(tenantId, tokenId) : undefined;
  }

  async get(tenantId: string, tokenId: string): Promise<AuthToken | undefined> {
    const raw = await this.redis.hgetall(this.keys.token(tenantId, tokenId));
    if (!raw.tenant_id || !raw.expiration_date) return undefined;
    if (Date.parse(raw.expiration_date) <= Date.now()) return undefined;
    return {
      id: tokenId,
      tenantId: raw.tenant_id,
      key: raw.key ?? '',
      creationDate: raw.creation_date ?? '',
      expirationDate: raw.expiration_date,
      // Tokens stored before scopes existed get the narrow one: no record grants more than it says.
      scope: raw.scope === 'verdict' ? 'verdict' : 'browser',
    };
  }

  /** The tenant's tokens still valid, soonest to expire first (at most `limit`). */
  async list(tenantId: string, limit = 1000): Promise<AuthToken[]> {
    const index = this.keys.tenantTokens(tenantId);
    const now = Date.now();
    await this.redis.zremrangebyscore(index, '-inf', now);
    const ids = await this.redis.zrangebyscore(index, now + 1, '+inf', 'LIMIT', 0, limit);
    const tokens = await Promise.all(ids.map((id) => this.get(tenantId, id)));
    return tokens.filter((token): token is AuthToken => token !== undefined);
  }

  async delete(tenantId: string, tokenId: string): Promise<boolean> {
    await this.redis.zrem(this.keys.tenantTokens(tenantId), tokenId);
    const removed = await this.redis.del(this.keys.token(tenantId, tokenId));
    if (removed === 1) await this.redis.del(this.keys.tokenOwner(tokenId));
    return removed === 1;
  }
}

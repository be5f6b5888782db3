import { newId } from './ids.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

export interface AuthToken {
  id: string;
  tenantId: string;
  /** The API key that minted the token: a disabled key takes its tokens down with it. */
  key: string;
  creationDate: string;
  expirationDate: string;
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

  async create(tenantId: string, key: string, timeoutSeconds: number): Promise<AuthToken> {
    const created = new Date();
    const token: AuthToken = {
      id: newId(),
      tenantId,
      key,
      creationDate: created.toISOString(),
      expirationDate: new Date(created.getTime() + timeoutSeconds * 1000).toISOString(),
    };
    const expireAt = Date.parse(token.expirationDate);
    await this.redis
      .multi()
      .hset(this.keys.token(tenantId, token.id), {
        tenant_id: tenantId,
        key,
        creation_date: token.creationDate,
        expiration_date: token.expirationDate,
      })
      .pexpireat(this.keys.token(tenantId, token.id), expireAt)
      .set(this.keys.tokenOwner(token.id), tenantId, 'PXAT', expireAt)
      .exec();
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
    };
  }

  async delete(tenantId: string, tokenId: string): Promise<boolean> {
    const removed = await this.redis.del(this.keys.token(tenantId, tokenId));
    if (removed === 1) await this.redis.del(this.keys.tokenOwner(tokenId));
    return removed === 1;
  }
}

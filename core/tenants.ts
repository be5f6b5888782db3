import { createHash, timingSafeEqual } from 'node:crypto';
import { newApiKey, newApiSecret, newId, newSigningSecret } from './ids.js';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

export interface Tenant {
  id: string;
  name: string;
  creationDate: string;
  modificationDate: string;
}

export interface ApiKeyRecord {
  key: string;
  tenantId: string;
  active: boolean;
  creationDate: string;
  lastSeenDate: string | null;
}

/** What a caller sees exactly once: the secret is not stored, only its hash. */
export interface IssuedCredentials {
  key: string;
  secret: string;
}

export type KeyCheck =
  | { outcome: 'ok'; record: ApiKeyRecord }
  | { outcome: 'unknown' }
  | { outcome: 'disabled'; record: ApiKeyRecord };

/**
 * API secrets are 192-bit random strings, so a plain SHA-256 is enough to make a leaked database
 * useless, and keeps authentication to one hash per request (a password KDF would cost ~50 ms).
 */
const hashSecret = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** `last_seen_date` is written at most this often per key, to keep auth off the write path. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

export class TenantStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async createTenant(
    name: string,
  ): Promise<{ tenant: Tenant; credentials: IssuedCredentials; signingSecret: string }> {
    const now = new Date().toISOString();
    const tenant: Tenant = { id: newId(), name, creationDate: now, modificationDate: now };
    const signingSecret = newSigningSecret();
    // The set (global) and the record (the tenant's slot) cannot share a MULTI on a Cluster. The
    // set first: a crash in between leaves an id without a record, which nothing lists or
    // accepts, and the caller was never given it; the other order could leave a tenant the
    // pending reaper, which walks the set, never visits.
    await this.redis.sadd(this.keys.tenants(), tenant.id);
    await this.redis.hset(this.keys.tenant(tenant.id), {
      id: tenant.id,
      name,
      creation_date: now,
      modification_date: now,
      signing_secret: signingSecret,
    });
    const credentials = await this.addKey(tenant.id);
    return { tenant, credentials, signingSecret };
  }

  async getTenant(tenantId: string): Promise<Tenant | undefined> {
    const raw = await this.redis.hgetall(this.keys.tenant(tenantId));
    if (!raw.id) return undefined;
    return {
      id: raw.id,
      name: raw.name ?? '',
      creationDate: raw.creation_date ?? '',
      modificationDate: raw.modification_date ?? '',
    };
  }

  async listTenants(): Promise<Tenant[]> {
    const ids = await this.redis.smembers(this.keys.tenants());
    const tenants = await Promise.all(ids.map((id) => this.getTenant(id)));
    return tenants
      .filter((t): t is Tenant => t !== undefined)
      .sort((a, b) => a.creationDate.localeCompare(b.creationDate));
  }

  /**
   * Every tenant id, a page at a time (SSCAN: the set is never read whole in one reply). An id
   * added or removed during the walk may be left out; one present throughout is given once at
   * least.
   */
  async *eachTenantIdPage(): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.sscan(this.keys.tenants(), cursor, 'COUNT', 500);
      if (ids.length > 0) yield ids;
      cursor = next;
    } while (cursor !== '0');
  }

  /** The secret used to sign this tenant's webhooks. */
  async getSigningSecret(tenantId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.tenant(tenantId), 'signing_secret')) ?? undefined;
  }

  /**
   * Every secret that signs this tenant's webhooks right now: the current one first, then, during
   * a rotation's grace period, the previous one. Empty when the tenant does not exist.
   */
  async getSigningSecrets(tenantId: string, now = Date.now()): Promise<string[]> {
    const [current, previous, validUntil] = await this.redis.hmget(
      this.keys.tenant(tenantId),
      'signing_secret',
      'previous_signing_secret',
      'previous_signing_secret_valid_until',
    );
    if (!current) return [];
    return previous && Number(validUntil) > now ? [current, previous] : [current];
  }

  /**
   * Replaces the signing secret; the one it replaces keeps signing (beside the new one) for
   * `graceSeconds`. A secret older than that is dropped at once. Undefined for an unknown tenant.
   */
  async rotateSigningSecret(
    tenantId: string,
    graceSeconds: number,
    now = Date.now(),
  ): Promise<{ signingSecret: string; previousValidUntil: Date } | undefined> {
    const signingSecret = newSigningSecret();
    const validUntil = now + graceSeconds * 1000;
    const rotated = await this.redis.tenantRotateSigningSecret(
      1,
      this.keys.tenant(tenantId),
      signingSecret,
      String(validUntil),
      String(graceSeconds),
      new Date(now).toISOString(),
    );
    return rotated === 1 ? { signingSecret, previousValidUntil: new Date(validUntil) } : undefined;
  }

  /** Issues a new key/secret pair; callers check that the tenant exists. */
  async addKey(tenantId: string): Promise<IssuedCredentials> {
    const credentials = { key: newApiKey(), secret: newApiSecret() };
    const now = new Date().toISOString();
    // The tenant's list first (its slot), the key's record (global) second: a crash in between
    // leaves a listed key without a record, which is not shown and cannot authenticate; the
    // other order could leave a working key the tenant cannot see, disable or delete.
    await this.redis
      .multi()
      .sadd(this.keys.tenantKeys(tenantId), credentials.key)
      .hset(this.keys.tenant(tenantId), 'modification_date', now)
      .exec();
    await this.redis.hset(this.keys.apiKey(credentials.key), {
      tenant_id: tenantId,
      secret_hash: hashSecret(credentials.secret).toString('hex'),
      active: '1',
      creation_date: now,
    });
    return credentials;
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.tenant(tenantId))) === 1;
  }

  /** Disables a key; returns false when the key does not exist. */
  async disableKey(key: string): Promise<boolean> {
    const updated = await this.redis.apiKeyDisable(1, this.keys.apiKey(key));
    return updated === 1;
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    const keys = await this.redis.smembers(this.keys.tenantKeys(tenantId));
    const records = await Promise.all(keys.map((key) => this.getKey(key)));
    return records.filter((r): r is ApiKeyRecord => r !== undefined && r.tenantId === tenantId);
  }

  /** Checks a key and secret in constant time with respect to the secret. */
  async checkKey(key: string, secret: string): Promise<KeyCheck> {
    const raw = await this.redis.hgetall(this.keys.apiKey(key));
    const presented = hashSecret(secret);
    const stored = Buffer.from(raw.secret_hash ?? '', 'hex');
    const matches = stored.length === presented.length && timingSafeEqual(presented, stored);
    if (!raw.tenant_id || !matches) return { outcome: 'unknown' };
    const record = toKeyRecord(key, raw);
    if (!record.active) return { outcome: 'disabled', record };
    await this.touchKey(record);
    return { outcome: 'ok', record };
  }

  async getKey(key: string): Promise<ApiKeyRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.apiKey(key));
    return raw.tenant_id ? toKeyRecord(key, raw) : undefined;
  }

  private async touchKey(record: ApiKeyRecord): Promise<void> {
    const last = record.lastSeenDate ? Date.parse(record.lastSeenDate) : 0;
    if (Date.now() - last < LAST_SEEN_RESOLUTION_MS) return;
    await this.redis.hset(this.keys.apiKey(record.key), 'last_seen_date', new Date().toISOString());
  }
}

function toKeyRecord(key: string, raw: Record<string, string>): ApiKeyRecord {
  return {
    key,
    tenantId: raw.tenant_id ?? '',
    active: raw.active === '1',
    creationDate: raw.creation_date ?? '',
    lastSeenDate: raw.last_seen_date ?? null,
  };
}

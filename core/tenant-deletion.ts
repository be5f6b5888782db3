import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';
import type { SanitizedStore } from './sanitized-store.js';

/** A server whose keyspace is walked with SCAN (SCAN reads one server's keys only). */
export type KeyspaceNode = Pick<Redis, 'scan'>;

export interface TenantDeletionDeps {
  redis: Redis;
  keys: RedisKeys;
  /**
   * The servers holding Arbiter's keys, to SCAN: every primary of a Redis Cluster. Left out, the
   * one server `redis` talks to.
   */
  keyspaceNodes?: () => KeyspaceNode[];
  /** Removes a retro schedule with its BullMQ job scheduler (s3/retro/schedules.ts). */
  schedules: { delete(tenantId: string, scheduleId: string): Promise<boolean> };
  /** This process's caches of per-tenant data, told to forget a deleted tenant. */
  caches?: Array<{ forget(tenantId: string): void }>;
  /** Where the tenant's sanitized copies are kept (the spool, or the upload store's bucket). */
  sanitized?: Pick<SanitizedStore, 'removeTenant'>;
}

export type TenantDeletionOutcome =
  | { status: 'deleted' }
  | { status: 'unknown' }
  /** Scans of the tenant are still pending and `force` was not given: nothing was deleted. */
  | { status: 'pending-scans'; count: number };

/** Keys per SCAN step and per UNLINK. */
const BATCH = 500;

/**
 * Deletes a tenant and everything stored under its id (`DELETE /admin/tenants/{id}`): a rare
 * operator action, so it may walk the keyspace. The layout (core/keys.ts) puts the tenant id in
 * every per-tenant key, as a segment of its own: every key matching `{p}:*:{tid}` or
 * `{p}:*:{tid}:*` goes, whichever module wrote it (results, traces, tokens, limits, settings,
 * buckets, retro jobs and schedules, rescans, tenant rules, quotas). Global indexes that list the
 * tenant lose its entries, the API keys (with their overrides) and the tokens' owner records are
 * removed by name, and its schedules' BullMQ job schedulers are removed. BullMQ's own keys
 * (`{p}:q:…`) are never swept: a queued job of the tenant finds no scan record and ends without
 * scanning (worker/scan-processor.ts), and the spool sweeper removes the uploads nobody owns.
 * The tenant's sanitized copies are removed from their store (a copy a worker keeps meanwhile
 * finds no record and goes with the next sweep, worker/chores/sanitized-sweeper.ts).
 *
 * Access goes first (keys, then tokens), the tenant record last, so a deletion interrupted
 * half-way can be asked for again: the tenant still exists until everything else is gone.
 *
 * On a Redis Cluster no command here holds keys of two slots: the global keys (API keys, token
 * owners, the tenants set, bucket-queues) are removed one command each, and the swept keys all
 * carry the tenant's hash tag. The keyspace is scanned on every primary (`keyspaceNodes`).
 */
export class TenantDeletion {
  constructor(private readonly deps: TenantDeletionDeps) {}

  /** How many of the tenant's scans are pending (queued, or running right now). */
  async pendingScans(tenantId: string): Promise<number> {
    return this.deps.redis.zcard(this.deps.keys.pendingScans(tenantId));
  }

  async delete(
    tenantId: string,
    options: { force?: boolean } = {},
  ): Promise<TenantDeletionOutcome> {
    const { redis, keys } = this.deps;
    if ((await redis.exists(keys.tenant(tenantId))) === 0) {
      // A deletion stopped between its last two steps left the id in the set: finished now.
      await redis.srem(keys.tenants(), tenantId);
      return { status: 'unknown' };
    }
    if (!options.force) {
      const count = await this.pendingScans(tenantId);
      if (count > 0) return { status: 'pending-scans', count };
    }
    await this.removeKeys(tenantId);
    await this.removeTokenOwners(tenantId);
    await this.removeSchedules(tenantId);
    await this.removeIndexEntries(tenantId);
    await this.sweep(tenantId);
    // Outside Redis: a store that cannot be reached fails the deletion, which can be asked for
    // again (the tenant record is still there).
    await this.deps.sanitized?.removeTenant(tenantId);
    // Two keys of two slots on a Cluster, so two steps: the record first, which makes the tenant
    // unknown everywhere (a stray id left in the set by a crash between the two is never listed,
    // and a deletion asked for again removes it).
    await redis.del(keys.tenant(tenantId));
    await redis.srem(keys.tenants(), tenantId);
    for (const cache of this.deps.caches ?? []) cache.forget(tenantId);
    return { status: 'deleted' };
  }

  /** The API key records (and the overrides kept in them): the keys stop authenticating. */
  private async removeKeys(tenantId: string): Promise<void> {
    const { redis, keys } = this.deps;
    const apiKeys = await redis.smembers(keys.tenantKeys(tenantId));
    for (let i = 0; i < apiKeys.length; i += BATCH) {
      const batch = apiKeys.slice(i, i + BATCH);
      // Only records that still name this tenant (a key's record is never shared, but be exact).
      const owners = await Promise.all(
        batch.map((key) => redis.hget(keys.apiKey(key), 'tenant_id')),
      );
      const mine = batch.filter((_, index) => owners[index] === tenantId);
      await Promise.all(mine.map((key) => redis.unlink(keys.apiKey(key))));
    }
  }

  /** `{p}:token-owner:{id}` holds no tenant id in its name: found through the tenant's tokens. */
  private async removeTokenOwners(tenantId: string): Promise<void> {
    const { redis, keys } = this.deps;
    const prefix = keys.token(tenantId, '');
    await this.eachKey(`${globEscape(prefix)}*`, async (found) => {
      const ids = found.map((key) => key.slice(prefix.length)).filter((id) => id !== '');
      await Promise.all(ids.map((id) => redis.unlink(keys.tokenOwner(id))));
    });
  }

  private async removeSchedules(tenantId: string): Promise<void> {
    const ids = await this.deps.redis.zrange(this.deps.keys.tenantSchedules(tenantId), '0', '-1');
    for (const id of ids) await this.deps.schedules.delete(tenantId, id);
  }

  /**
   * Entries naming the tenant in the global index of buckets with a queue (its pending scans are
   * indexed under its own key, swept with the rest; an entry still in the legacy global index
   * finds no record and is dropped by the pending reaper).
   */
  private async removeIndexEntries(tenantId: string): Promise<void> {
    const { redis, keys } = this.deps;
    const id = globEscape(tenantId);
    await this.eachMember('sscan', keys.bucketQueues(), `${id}/*`, async (members) => {
      await redis.srem(keys.bucketQueues(), ...members);
    });
  }

  /** Every key with the tenant id as a segment after the prefix, BullMQ's excepted. */
  private async sweep(tenantId: string): Promise<void> {
    const { redis, keys } = this.deps;
    const root = keys.tenants().slice(0, -':tenants'.length);
    const queues = `${keys.queueRoot()}:`;
    // Escaped too: ids are ours (hex), but a pattern must never widen to other tenants' keys.
    // With hash tags the segment is `{tid}`: braces are plain characters in a MATCH pattern.
    const id = globEscape(keys.tenantSegment(tenantId));
    for (const pattern of [`${globEscape(root)}:*:${id}`, `${globEscape(root)}:*:${id}:*`]) {
      await this.eachKey(pattern, async (found) => {
        const doomed = found.filter(
          (key) => !key.startsWith(queues) && key !== keys.tenant(tenantId),
        );
        // One tenant's keys: with hash tags (on a Cluster) they share its slot, one UNLINK holds them.
        if (doomed.length > 0) await redis.unlink(...doomed);
      });
    }
  }

  private async eachKey(pattern: string, handle: (keys: string[]) => Promise<void>): Promise<void> {
    const nodes = this.deps.keyspaceNodes?.() ?? [this.deps.redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', BATCH);
        if (found.length > 0) await handle(found);
        cursor = next;
      } while (cursor !== '0');
    }
  }

  /** SSCAN / ZSCAN over one key's members matching `pattern` (ZSCAN's scores left out). */
  private async eachMember(
    command: 'sscan' | 'zscan',
    key: string,
    pattern: string,
    handle: (members: string[]) => Promise<void> | void,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, reply] = await this.deps.redis[command](
        key,
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        BATCH,
      );
      const members = command === 'zscan' ? reply.filter((_, index) => index % 2 === 0) : reply;
      if (members.length > 0) await handle(members);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** A literal for a SCAN MATCH pattern (the prefix is the operator's and may hold `*`, `?`, `[`). */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

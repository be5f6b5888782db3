import type { Config } from '../core/config.js';
import { startEmbeddedRedis } from '../core/embedded-redis.js';
import { isId } from '../core/ids.js';
import { RedisKeys } from '../core/keys.js';
import { createRedis, redisReady, redisTarget } from '../core/redis.js';
import { TenantStore } from '../core/tenants.js';
import { redisConfigured, runningEmbeddedRedis } from './runtime.js';

const USAGE = `Usage: arbiter tenants create <name>
       arbiter tenants list
       arbiter tenants add-key <tenant id>
       arbiter tenants disable-key <key>`;

/** What was asked on the command line, checked before Redis is reached. */
type TenantsAction =
  | { action: 'create'; name: string }
  | { action: 'list' }
  | { action: 'add-key'; tenantId: string }
  | { action: 'disable-key'; key: string };

function parseAction(args: string[]): TenantsAction | undefined {
  const [action, ...rest] = args;
  const argument = rest.join(' ').trim();
  if (action === 'list' && !argument) return { action };
  if (action === 'create' && argument) return { action, name: argument };
  if (action === 'add-key' && rest.length === 1 && argument) return { action, tenantId: argument };
  if (action === 'disable-key' && rest.length === 1 && argument) return { action, key: argument };
  return undefined;
}

/**
 * `arbiter tenants …`: the admin API's tenant and key routes from a shell (`POST /admin/tenants`,
 * `GET /admin/tenants`, `POST /admin/tenants/{id}/keys`, `DELETE /admin/keys/{key}`), printing
 * the same JSON. Exit status 0 when done, 1 when the tenant or key does not exist, 2 on bad usage.
 */
export async function runTenantsCommand(config: Config, args: string[]): Promise<number> {
  const asked = parseAction(args);
  if (!asked) {
    console.error(USAGE);
    return 2;
  }
  // Talk to the configured Redis, or to a running `serve`'s private one, or start it briefly.
  const running = redisConfigured(config) ? undefined : await runningEmbeddedRedis(config);
  const embedded =
    redisConfigured(config) || running
      ? undefined
      : await startEmbeddedRedis({ dataDir: config.dataDir });
  const target = redisTarget(config.redis, running ?? embedded?.url);
  const redis = createRedis(target, 'command', () => undefined);
  try {
    await redisReady(redis);
    const keys = new RedisKeys(config.redisPrefix, { hashTags: target.mode === 'cluster' });
    return await runAction(new TenantStore(redis, keys), asked);
  } finally {
    redis.disconnect();
    await embedded?.stop();
  }
}

async function runAction(tenants: TenantStore, asked: TenantsAction): Promise<number> {
  switch (asked.action) {
    case 'create': {
      const created = await tenants.createTenant(asked.name);
      printJson({
        id: created.tenant.id,
        name: created.tenant.name,
        key: created.credentials.key,
        secret: created.credentials.secret,
        signing_secret: created.signingSecret,
      });
      return 0;
    }
    case 'list': {
      const list = await tenants.listTenants();
      printJson(
        await Promise.all(list.map(async (t) => ({ ...t, keys: await tenants.listKeys(t.id) }))),
      );
      return 0;
    }
    case 'add-key': {
      // Ids are checked for shape first, as the admin API does: `<id>:keys` names a key set.
      if (!isId(asked.tenantId) || !(await tenants.tenantExists(asked.tenantId))) {
        console.error(`There is no tenant with the id "${asked.tenantId}".`);
        return 1;
      }
      const credentials = await tenants.addKey(asked.tenantId);
      printJson({ key: credentials.key, secret: credentials.secret });
      return 0;
    }
    case 'disable-key': {
      if (await tenants.disableKey(asked.key)) return 0;
      console.error(`There is no key "${asked.key}".`);
      return 1;
    }
  }
}

const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));

import type { Config } from '../core/config.js';
import { startEmbeddedRedis } from '../core/embedded-redis.js';
import { RedisKeys } from '../core/keys.js';
import { createRedis, redisReady, redisTarget } from '../core/redis.js';
import { TenantStore } from '../core/tenants.js';
import { redisConfigured, runningEmbeddedRedis } from './runtime.js';

/** `arbiter tenants create <name>` / `arbiter tenants list`: the admin API from a shell. */
export async function runTenantsCommand(config: Config, args: string[]): Promise<number> {
  const [action, ...names] = args;
  const name = names.join(' ').trim();
  if (action !== 'list' && !(action === 'create' && name)) {
    console.error('Usage: arbiter tenants create <name> | arbiter tenants list');
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
    const tenants = new TenantStore(redis, keys);
    if (action === 'create') {
      const created = await tenants.createTenant(name);
      console.log(
        JSON.stringify(
          {
            id: created.tenant.id,
            name: created.tenant.name,
            key: created.credentials.key,
            secret: created.credentials.secret,
            signing_secret: created.signingSecret,
          },
          null,
          2,
        ),
      );
    } else {
      const list = await tenants.listTenants();
      const withKeys = await Promise.all(
        list.map(async (t) => ({ ...t, keys: await tenants.listKeys(t.id) })),
      );
      console.log(JSON.stringify(withKeys, null, 2));
    }
    return 0;
  } finally {
    redis.disconnect();
    await embedded?.stop();
  }
}

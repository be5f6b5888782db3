import { readFile, readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../core/keys.js';
import { luaScriptFiles } from '../../core/lua-scripts.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { TenantStore } from '../../core/tenants.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';

const root = new URL('../../', import.meta.url);

/** The `.lua` files in the folders the build compiles, relative to the repository root. */
async function luaFilesInSources(): Promise<string[]> {
  const build = JSON.parse(await readFile(new URL('tsconfig.build.json', root), 'utf8')) as {
    include: string[];
  };
  const found: string[] = [];
  for (const folder of build.include) {
    const entries = await readdir(new URL(`${folder}/`, root), { recursive: true });
    for (const entry of entries) if (entry.endsWith('.lua')) found.push(`${folder}/${entry}`);
  }
  return found.sort();
}

/** Lua scripts live in .lua files (core/lua-scripts.ts), defined on each client createRedis makes. */
describe('Lua scripts', () => {
  let server: TestRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('runs every .lua file of the sources, and only those (the build copies this list)', async () => {
    expect([...luaScriptFiles()].sort()).toEqual(await luaFilesInSources());
  });

  it('still runs a script after Redis forgot it (SCRIPT FLUSH: NOSCRIPT, then sent again)', async () => {
    const tenants = new TenantStore(redis, new RedisKeys('lua'));
    const { tenant } = await tenants.createTenant('lua');
    const first = await tenants.rotateSigningSecret(tenant.id, 60);
    await redis.script('FLUSH');
    const second = await tenants.rotateSigningSecret(tenant.id, 60);
    expect(first?.signingSecret).toBeDefined();
    expect(second?.signingSecret).toBeDefined();
    expect(second?.signingSecret).not.toBe(first?.signingSecret);
    expect(await tenants.rotateSigningSecret('0'.repeat(32), 60)).toBeUndefined();
  });
});

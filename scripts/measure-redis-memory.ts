import { Redis } from 'ioredis';
import { randomContent } from '../test/support/content.js';
import { startCallbackReceiver, startHttpServer } from '../test/support/http-servers.js';
import { startTestRedis } from '../test/support/redis-server.js';
import { startTestService } from '../test/support/service.js';
import { waitFor } from '../test/support/wait.js';

/**
 * Redis memory per stored result, for docs/deployment.md: runs the service on a private
 * redis-server (127.0.0.1 only, unix socket), makes N results of each kind, and
 * reports `MEMORY USAGE` of each kind of key and the growth of `used_memory` per result.
 *
 *   npx tsx scripts/measure-redis-memory.ts [N]          (N = 500 by default)
 */

const COUNT = Number(process.argv[2] ?? 500);

const redisServer = await startTestRedis();
const service = await startTestService({}, { redis: redisServer });
const receiver = await startCallbackReceiver();
const content = await startHttpServer({ '/file.bin': randomContent(64 * 1024) });
const redis = new Redis({ path: redisServer.socket });
const prefix = service.config.redisPrefix;

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const memory = async (key: string) =>
  Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);

try {
  const tenant = await service.createTenant('measure');
  const auth = { authorization: tenant.auth };
  const kinds: Record<string, string[]> = { fetch: [], sync: [] };

  // Warm up (connections, scripts, first keys) before counting.
  for (let i = 0; i < 20; i += 1) {
    const form = new FormData();
    form.append('file', new Blob([randomContent(1024)]), 'warm.bin');
    await fetch(`${service.url}/v2.2/files`, { method: 'POST', headers: auth, body: form });
  }
  const before = await usedMemory();

  for (let i = 0; i < COUNT; i += 1) {
    // A fetch with a callback and two metadata entries: the CMS flow (result, trace of 6
    // events, the scan job and the callback job kept as completed for an hour).
    const accepted = await fetch(`${service.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        location: `${content.url}/file.bin`,
        callback: `${receiver.url}/callback`,
        metadata: { order: String(100000 + i), user: 'user@example.com' },
      }),
    });
    kinds.fetch!.push(((await accepted.json()) as { id: string }).id);
    // A synchronous upload without callback or metadata: result and trace only.
    const form = new FormData();
    form.append('file', new Blob([randomContent(1024)]), `upload-${i}.bin`);
    const sync = await fetch(`${service.url}/v2.2/files`, {
      method: 'POST',
      headers: auth,
      body: form,
    });
    kinds.sync!.push(((await sync.json()) as { id: string }).id);
  }
  await receiver.waitForDeliveries(COUNT, 120_000);
  await waitFor(async () => (await redis.zcard(`${prefix}:q:callback:completed`)) >= COUNT, {
    timeoutMs: 60_000,
    what: 'every callback job to complete',
  });
  const after = await usedMemory();

  const report: Record<string, number> = {};
  for (const [kind, ids] of Object.entries(kinds)) {
    report[`${kind}: scan hash`] = median(
      await Promise.all(ids.map((id) => memory(`${prefix}:scan:${tenant.id}:${id}`))),
    );
    report[`${kind}: trace list`] = median(
      await Promise.all(ids.map((id) => memory(`${prefix}:trace:${tenant.id}:${id}`))),
    );
  }
  report['fetch: scan job hash (completed, kept ≤ 1 h)'] = median(
    await Promise.all(kinds.fetch!.map((id) => memory(`${prefix}:q:scan:${id}`))),
  );
  report['fetch: callback job hash (completed, kept ≤ 1 h)'] = median(
    await Promise.all(kinds.fetch!.map((id) => memory(`${prefix}:q:callback:cb-${id}`))),
  );
  report['used_memory growth per fetch + sync pair'] = Math.round((after - before) / COUNT);
  report['scan queue events stream'] = await memory(`${prefix}:q:scan:events`);
  report['callback queue events stream'] = await memory(`${prefix}:q:callback:events`);
  report['scan queue events stream, entries'] = await redis.xlen(`${prefix}:q:scan:events`);

  // Once the completed jobs have aged out (an hour) only results and traces stay: drop the
  // queue keys to see that steady state.
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:q:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await waitFor(
    async () =>
      Number(/lazyfree_pending_objects:(\d+)/.exec(await redis.info('memory'))?.[1]) === 0,
    {
      what: 'lazy frees',
    },
  );
  report['used_memory growth per pair, results and traces only'] = Math.round(
    ((await usedMemory()) - before) / COUNT,
  );

  console.log(
    `Results of each kind: ${COUNT}; sizes in bytes; redis-server ${/redis_version:(\S+)/.exec(await redis.info('server'))?.[1]}`,
  );
  for (const [what, value] of Object.entries(report)) console.log(`${what.padEnd(54)} ${value}`);
} finally {
  redis.disconnect();
  await content.close();
  await receiver.close();
  await service.stop();
  await redisServer.stop();
}

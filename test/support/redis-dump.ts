import type { Redis } from 'ioredis';

/**
 * Every key of a Redis server with its value (strings, hashes, lists, sets, sorted sets with
 * their scores, streams), as one text: what a test searches for something that must never be
 * stored, such as a whole card number or a secret key.
 */
export async function dumpRedis(redis: Redis): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key, await valueText(redis, key));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

async function valueText(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  if (type === 'string') return (await redis.getBuffer(key))?.toString('latin1') ?? '';
  if (type === 'hash') return JSON.stringify(await redis.hgetall(key));
  if (type === 'list') return JSON.stringify(await redis.lrange(key, 0, -1));
  if (type === 'set') return JSON.stringify(await redis.smembers(key));
  if (type === 'zset') return JSON.stringify(await redis.zrange(key, '0', '-1', 'WITHSCORES'));
  if (type === 'stream') return JSON.stringify(await redis.xrange(key, '-', '+'));
  return `(${type})`;
}

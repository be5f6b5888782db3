import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../api/error-handler.js';
import { ErrorLog, sanitize } from '../../core/error-log.js';
import { RedisKeys } from '../../core/keys.js';
import { createLogger } from '../../core/logger.js';
import { createRedis, type Redis } from '../../core/redis.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

/**
 * The operators' recent errors (core/error-log.ts): what an entry keeps of a message, the cap,
 * and a 500 answer of the API recorded by the error handler.
 */
describe('error log', () => {
  let server: TestRedis;
  let redis: Redis;
  let log: ErrorLog;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'command', () => undefined);
    log = new ErrorLog(redis, new RedisKeys('errlog'));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('cuts URLs to their origin, since a query may be a credential', () => {
    expect(
      sanitize('could not download https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc (403)'),
    ).toBe('could not download https://bucket.s3.amazonaws.com/… (403)');
  });

  it('removes control characters and bounds the length', () => {
    expect(sanitize('a\nb\u0000c')).toBe('a b c');
    const long = sanitize('x'.repeat(10_000));
    expect(long).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
  });

  it('keeps the newest 500, newest first', async () => {
    for (let n = 0; n < 510; n++) log.record({ kind: 'engine', message: `failure ${n}` });
    await waitFor(async () => (await log.recent(1))[0]?.message === 'failure 509', {
      what: 'the last entry',
    });
    expect(await redis.llen('errlog:errors')).toBe(500);
    expect((await log.recent(3)).map((entry) => entry.message)).toEqual([
      'failure 509',
      'failure 508',
      'failure 507',
    ]);
  });

  it('records a 500 answer of the API, without its details reaching the client', async () => {
    const app = express();
    app.get('/boom', () => {
      throw new Error('database said no at http://internal:8080/secret?token=x');
    });
    app.use(errorHandler(createLogger('silent'), { maxFileSize: 1 }, log));
    const http = app.listen(0, '127.0.0.1');
    await once(http, 'listening');
    try {
      const { port } = http.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/boom`);
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain('database');
      const [entry] = await waitFor(
        async () => {
          const recent = await log.recent(1);
          return recent[0]?.kind === 'http' ? recent : undefined;
        },
        { what: 'the 500 among the errors' },
      );
      expect(entry?.message).toMatch(
        /^GET \/boom answered 500: database said no at http:\/\/internal:8080\/…$/,
      );
    } finally {
      http.close();
    }
  });
});

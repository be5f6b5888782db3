import { Redis as IORedis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedis,
  queueConnectionOptions,
  redisTarget,
  type ConnectionRole,
  type RedisTarget,
} from '../../core/redis.js';
import { startTestSentinels, type TestSentinels } from '../support/redis-sentinel.js';
import { waitFor } from '../support/wait.js';

/**
 * Every connection a process makes on a Sentinel-managed Redis (its command and worker clients,
 * and the ones BullMQ makes from the queue options) comes back after a failover. Forty of them
 * follow one SIGKILLed primary: with ioredis's `+switch-master` subscription on, about one in
 * thirty ended for good when the message arrived mid-reconnect (status `end`), which left a
 * process with a dead queue or command connection and no error to restart on.
 */
describe('Sentinel clients across a failover', () => {
  let sentinels: TestSentinels;
  let target: RedisTarget;
  const clients: Array<{ role: string; client: IORedis }> = [];

  beforeAll(async () => {
    sentinels = await startTestSentinels();
    const nodes = sentinels.sentinels.split(',').map((address) => {
      const [host, port] = address.split(':');
      return { host: host!, port: Number(port) };
    });
    target = redisTarget({
      sentinel: { nodes, name: sentinels.name, tls: false },
      tls: false,
      tlsFiles: {},
    });
  }, 60_000);
  afterAll(async () => {
    for (const { client } of clients) if (client.status !== 'end') client.disconnect();
    await sentinels?.stop();
  });

  it('all reconnect to the promoted replica, none ends', async () => {
    const ignore = () => undefined;
    for (let i = 0; i < 10; i += 1)
      for (const role of ['command', 'worker'] as ConnectionRole[]) {
        clients.push({ role: `${role} client`, client: createRedis(target, role, ignore) });
        // Options, not a client, off a Cluster: BullMQ makes its connections from them like this.
        const queueClient = new IORedis(queueConnectionOptions(target, role) as RedisOptions);
        queueClient.on('error', ignore);
        clients.push({ role: `${role} queue connection`, client: queueClient });
      }
    await Promise.all(clients.map(({ client }) => client.ping()));

    const oldPrimary = await sentinels.killPrimary();
    await waitFor(async () => (await sentinels.primaryPort()) !== oldPrimary, {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: 'the Sentinels to promote the replica',
    });

    const lost = () =>
      clients.filter(({ client }) => client.status === 'end').map(({ role }) => role);
    await waitFor(
      async () => {
        if (lost().length > 0) return true; // nothing more to wait for: asserted below
        const ports = await Promise.all(
          clients.map(async ({ client }) => {
            await client.ping();
            return client.stream.remotePort;
          }),
        );
        return ports.every((port) => port !== oldPrimary);
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'every client to reach the new primary' },
    );
    expect(lost()).toEqual([]);
    const newPrimary = await sentinels.primaryPort();
    for (const { client } of clients) expect(client.stream.remotePort).toBe(newPrimary);
  }, 180_000);
});

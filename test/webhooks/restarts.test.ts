import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import {
  freePort,
  headerRecord,
  startRecordingReceiver,
  tenantApi,
  type RecordingServer,
} from './support.js';

const ENV = {
  ARBITER_CALLBACK_RETRY_BASE_MS: '200',
  ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
  ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8',
};

/**
 * A delivery whose receiver is down survives the worker that was retrying it going away, and Redis
 * being killed and restarted (AOF on); once the receiver is up it is delivered exactly once.
 */
describe('deliveries across restarts', () => {
  let redis: TestRedis | undefined;
  const services: TestService[] = [];
  let receiver: RecordingServer | undefined;

  afterEach(async () => {
    await receiver?.close();
    for (const service of services.splice(0)) await service.stop();
    await redis?.stop();
  });

  async function pendingDelivery(service: TestService, port: number) {
    const tenant = await service.createTenant('restarts');
    const api = tenantApi(service, tenant);
    const id = await api.submit(`http://127.0.0.1:${port}/callback`);
    await waitFor(
      async () =>
        (await api.trace(id)).filter((m) => /^callback attempt \d+ to .*: failed \(/.test(m))
          .length >= 2,
      {
        what: 'two refused callback attempts',
      },
    );
    return { tenant, id };
  }

  async function expectDeliveredOnce(service: TestService, id: string, secret: string) {
    await waitFor(
      async () =>
        (await service.service.runtime.queues.callback.getJobState(`cb-${id}`)) === 'completed',
      {
        what: 'the delivery (the retry job, the first attempt having failed) to complete',
      },
    );
    expect(receiver?.deliveries).toHaveLength(1);
    const delivery = receiver?.deliveries[0];
    expect(delivery?.json.id).toBe(id);
    expect(() =>
      new Webhook(secret).verify(delivery?.body ?? '', headerRecord(delivery?.headers ?? {})),
    ).not.toThrow();
  }

  it('is delivered once by a new worker after the one retrying it stopped', async () => {
    redis = await startTestRedis({ appendonly: true });
    const port = await freePort();
    const first = await startTestService(ENV, { redis });
    services.push(first);
    const { tenant, id } = await pendingDelivery(first, port);

    await first.stop();
    services.splice(services.indexOf(first), 1);
    const second = await startTestService(ENV, { redis });
    services.push(second);
    receiver = await startRecordingReceiver({ port });
    await expectDeliveredOnce(second, id, tenant.signing_secret);
  });

  it('is delivered once after Redis was killed and restarted from its AOF', async () => {
    redis = await startTestRedis({ appendonly: true });
    const port = await freePort();
    const service = await startTestService(ENV, { redis });
    services.push(service);
    const { tenant, id } = await pendingDelivery(service, port);

    await redis.kill();
    await redis.start();
    receiver = await startRecordingReceiver({ port });
    await expectDeliveredOnce(service, id, tenant.signing_secret);
    const attempts = (await tenantApi(service, tenant).trace(id)).filter((m) =>
      m.startsWith('callback attempt'),
    );
    expect(attempts.at(-1)).toMatch(/: HTTP 200 in \d+ ms$/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

describe('health and readiness', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('is alive and ready with Redis and the engine up, and not ready while Redis is down', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok', engines: 'ok' } });

    await service.redis.kill();
    const down = await waitFor(
      async () => {
        const response = await fetch(`${service.url}/readyz`);
        return response.status === 503
          ? ((await response.json()) as { checks: Record<string, string> })
          : undefined;
      },
      { what: 'readyz to fail' },
    );
    expect(down.checks.redis).toMatch(/^unreachable/);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    await service.redis.start();
    await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 200, {
      what: 'readyz to recover',
    });
  });
});

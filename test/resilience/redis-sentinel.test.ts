import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { pacedLoad, tally, timedAnswer, waitForEveryAcceptedScan } from '../support/load.js';
import { startTestSentinels, type TestSentinels } from '../support/redis-sentinel.js';
import {
  expectSyncAndAsyncScans,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * The service (API and workers) on a Sentinel-managed Redis (REDIS_SENTINELS): it finds the
 * primary through the Sentinels, and when the primary is SIGKILLed while uploads arrive, the
 * Sentinels promote the replica and the service follows it with no restart and no operator:
 * every upload answered 202 gets its result and its callback, the ones made during the switch
 * are refused with a 503 (never a hang or a 500).
 */
describe('Redis behind Sentinels', () => {
  let sentinels: TestSentinels;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;
  const serviceLogs: string[] = [];

  beforeAll(async () => {
    sentinels = await startTestSentinels();
    service = await startTestService(
      {
        REDIS_URL: '', // unset: the Sentinels say where Redis is
        REDIS_SENTINELS: sentinels.sentinels,
        REDIS_SENTINEL_NAME: sentinels.name,
        ARBITER_SCAN_RETRY_BASE_MS: '200',
        ARBITER_CALLBACK_RETRY_BASE_MS: '200',
        ARBITER_CALLBACK_RETRY_MAX_MS: '1000',
        ARBITER_JOB_LOCK_MS: '5000',
        ARBITER_STALLED_INTERVAL_MS: '1000',
        // Kept in memory and printed should the failover test fail (see `diagnose`).
        LOG_LEVEL: 'warn',
      },
      { logDestination: { write: (line: string) => void serviceLogs.push(line) } },
    );
    tenant = await service.createTenant('sentinel');
    receiver = await startCallbackReceiver();
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await sentinels?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    scaniiRequest(service, tenant, path, init, 15_000);

  it('scans synchronously and asynchronously on the primary the Sentinels name', async () => {
    expect(service.service.runtime.redisTarget.mode).toBe('sentinel');
    await expectSyncAndAsyncScans(service, tenant, receiver);
  });

  it('follows a failover: accepted uploads all finish, the switch is answered 503', async () => {
    const payload = randomContent(1024);
    let killedAt = Infinity;
    let killed: Promise<number> | undefined;
    // The load goes on until 120 uploads were accepted after the kill, or 150 s have passed:
    // however long the Sentinels take to switch. On a machine busy with other tests they can be
    // starved of CPU long enough to enter TILT mode, in which they take no action for 30 s.
    let acceptedAfterKill = 0;
    const loadStarted = Date.now();
    // When the Sentinels first name another primary (watched during the load).
    let switchedAt: number | undefined;
    const watchSwitch = setInterval(() => {
      if (killedAt === Infinity || switchedAt !== undefined) return;
      void sentinels.primaryPort().then(
        async (port) => {
          if (port !== (await killed)) switchedAt ??= Date.now();
        },
        () => undefined,
      );
    }, 100);
    const results = await pacedLoad(
      {
        count: 3_000,
        perTick: 1,
        tickMs: 40,
        maxInFlight: 16,
        beforeEach: (i) => {
          if (i !== 40) return;
          killedAt = Date.now();
          killed = sentinels.killPrimary();
        },
        until: () => acceptedAfterKill >= 120 || Date.now() - loadStarted > 150_000,
      },
      async () => {
        const answer = await timedAnswer(() =>
          api('/files/async', {
            method: 'POST',
            body: fileForm(payload, { callback: `${receiver.url}/callback` }),
          }),
        );
        if (answer.status === 202 && answer.startedAt >= killedAt) acceptedAfterKill += 1;
        return answer;
      },
    );
    clearInterval(watchSwitch);
    const oldPrimary = await killed;
    expect(await sentinels.primaryPort()).not.toBe(oldPrimary);

    // Nothing hung (every request was answered within its 15 s) and nothing else than
    // "accepted" or "retry shortly" was answered.
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const answers = results.flatMap((r) => (r.ok ? [r.value] : []));
    expect(Object.keys(tally(answers.map((a) => a.status))).sort()).toEqual(['202', '503']);
    const refusals = answers.filter((a) => a.status === 503);
    for (const refused of refusals) {
      expect(refused.body.error).toMatch(/retry/i);
      // Refused promptly: the client is told to retry instead of waiting out the switch.
      expect(refused.endedAt - refused.startedAt).toBeLessThan(5_000);
    }
    const afterKill = answers.filter((a) => a.startedAt >= killedAt);
    const firstAccepted = afterKill.find((a) => a.status === 202);
    if (!firstAccepted) {
      // What a failure needs to be understood: when the Sentinels switched, what the service
      // answered and logged, and where its connection points.
      const stream = service.service.runtime.redis as unknown as {
        status: string;
        stream?: { remotePort?: number };
      };
      console.log(
        JSON.stringify({
          killedPort: oldPrimary,
          primaryNow: await sentinels.primaryPort(),
          switchedAfterMs: (switchedAt ?? NaN) - killedAt,
          answersAfterKill: afterKill.length,
          lastRefusal: afterKill.at(-1)?.body,
          commandConnection: { status: stream.status, port: stream.stream?.remotePort },
          logs: serviceLogs.slice(-40),
        }),
      );
    }
    expect(firstAccepted).toBeDefined();
    // Measured: the primary killed → the first upload accepted again (printed for the docs).
    console.log(
      `failover: the Sentinels named the new primary ${(switchedAt ?? NaN) - killedAt} ms after the kill; ` +
        `first upload accepted ${firstAccepted!.endedAt - killedAt} ms after the kill; ` +
        `${refusals.length} refused (503, slowest ${Math.max(...refusals.map((a) => a.endedAt - a.startedAt))} ms)`,
    );

    const accepted = answers.filter((a) => a.status === 202).map((a) => a.body.id ?? '');
    expect(accepted.length).toBeGreaterThan(100);
    await waitForEveryAcceptedScan(accepted, { read: api, checksum: sha1(payload), receiver });
  }, 300_000);
});

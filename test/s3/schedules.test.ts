import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetroJobView, ScheduleView } from '../../s3/retro/schema.js';
import { checkCron, checkInterval } from '../../s3/retro/schedules.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Retro schedules: BullMQ job schedulers on the retro queue whose firings start retro jobs. A
 * cron with seconds (`* * * * * *`) fires every second, so a test sees real firings quickly.
 */

const SECRET_KEY = Buffer.alloc(32, 3).toString('base64');
const BUCKET = 'retro-scheduled';

describe('retro schedules', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    harness = await startS3Harness();
    // Firing every second is what lets these tests see real firings; the default minimum
    // interval (15 minutes) is tested below.
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_SCHEDULE_MIN_INTERVAL: '1',
    });
    tenant = await service.createTenant('scheduler');
    other = await service.createTenant('someone-else');
    await harness.createBucket(BUCKET);
    expect((await registerBucket(service, tenant.auth, harness, BUCKET)).status).toBe(201);
    for (let i = 0; i < 10; i++) await harness.putObject(BUCKET, `s/${i}.txt`, `object ${i}`);
  });
  afterAll(async () => {
    await service?.stop();
    await harness?.stop();
  });

  const v1 = (path: string, init: RequestInit & { auth?: string } = {}) =>
    v1Client(service, tenant.auth)(path, init);

  const createSchedule = async (body: unknown, auth = tenant.auth) => {
    const response = await v1('/schedules', { method: 'POST', auth, body: JSON.stringify(body) });
    return {
      status: response.status,
      json: (await response.json()) as ScheduleView & { error?: string },
    };
  };

  const jobsOf = async (scheduleId: string) => {
    const { jobs } = (await (await v1('/jobs')).json()) as { jobs: RetroJobView[] };
    return jobs.filter((job) => job.schedule_id === scheduleId);
  };

  it('refuses bad cron expressions, time zones, buckets and windows with a 400', async () => {
    const buckets = [{ name: BUCKET }];
    const cases: Array<[unknown, RegExp]> = [
      [{ buckets }, /cron is required/],
      [{ cron: '', buckets }, /cron is required/],
      [{ cron: 'every day', buckets }, /cron "every day" is not a valid cron expression/],
      [{ cron: '61 * * * *', buckets }, /not a valid cron expression.*61/],
      [{ cron: '* * * * * * *', buckets }, /not a valid cron expression/],
      [{ cron: '0 0 31 2 *', buckets }, /not a valid cron expression/],
      [{ cron: '0 3 * * *', buckets, timezone: 'Mars/Olympus' }, /timezone "Mars\/Olympus"/],
      [
        { cron: '0 3 * * *', buckets, window: 'yesterday' },
        /window must be "all" or "since-last-run"/,
      ],
      [{ cron: '0 3 * * *' }, /buckets is required/],
      [{ cron: '0 3 * * *', buckets: [{ name: 'nope-not-mine' }] }, /no registered bucket/],
      [{ cron: '0 3 * * *', buckets, every: 5 }, /Unknown field "every"/],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await createSchedule(body);
      expect({ body, status }).toEqual({ body, status: 400 });
      expect(json.error).toMatch(message);
    }
    // Another tenant cannot schedule a crawl of this tenant's bucket.
    const theirs = await createSchedule({ cron: '0 3 * * *', buckets }, other.auth);
    expect(theirs.status).toBe(400);
    expect(await (await v1('/schedules')).json()).toEqual({ schedules: [] });
  });

  it('computes the next run in the schedule’s time zone', () => {
    const now = new Date('2026-01-15T12:00:00Z');
    expect(checkCron('0 3 * * *', 'UTC', now).toISOString()).toBe('2026-01-16T03:00:00.000Z');
    expect(checkCron('0 3 * * *', 'Europe/Paris', now).toISOString()).toBe(
      '2026-01-16T02:00:00.000Z',
    );
    expect(checkCron('*/15 * * * * *', 'UTC', now).toISOString()).toBe('2026-01-15T12:00:15.000Z');
  });

  it('checks the gap between many upcoming runs, not only the next two', () => {
    const now = new Date('2026-01-15T12:00:00Z');
    const fifteenMinutes = 900;
    for (const cron of ['*/15 * * * *', '0 * * * *', '0 3 * * *', '@daily', '0 0 * * 1']) {
      expect(() => checkInterval(cron, 'UTC', fifteenMinutes, now), cron).not.toThrow();
    }
    expect(() => checkInterval('* * * * * *', 'UTC', fifteenMinutes, now)).toThrow(
      /would run 1 second apart .*at least 15 minutes apart \(ARBITER_SCHEDULE_MIN_INTERVAL\)/,
    );
    expect(() => checkInterval('*/5 * * * *', 'UTC', fifteenMinutes, now)).toThrow(
      /would run 5 minutes apart/,
    );
    // From 00:30: 00:59, 23:00, 23:59, then 00:00 the next day. The first gaps are 22 hours and
    // 59 minutes; the 1-minute gap is only between the third and fourth runs.
    expect(() =>
      checkInterval('0,59 0,23 * * *', 'UTC', 1800, new Date('2026-01-15T00:30:00Z')),
    ).toThrow(/would run 1 minute apart \(2026-01-15T23:59:00.000Z and 2026-01-16T00:00:00.000Z\)/);
    expect(() => checkInterval('0 0,12 * * *', 'Europe/Paris', 43_200, now)).not.toThrow();
  });

  it(
    'fires: each run is a retro job, since-last-run windows follow on',
    { timeout: 60_000 },
    async () => {
      const daily = await createSchedule({
        cron: '30 2 * * 1-5',
        timezone: 'America/New_York',
        buckets: [{ name: BUCKET, prefix: 's/' }],
      });
      expect(daily.status).toBe(201);
      expect(daily.json).toMatchObject({
        cron: '30 2 * * 1-5',
        timezone: 'America/New_York',
        window: 'all',
        buckets: [{ name: BUCKET, prefix: 's/' }],
        last_run: null,
      });
      expect(Date.parse(daily.json.next_run ?? '')).toBeGreaterThan(Date.now());

      const created = await createSchedule({
        cron: '* * * * * *',
        buckets: [{ name: BUCKET }],
        window: 'since-last-run',
      });
      expect(created.status).toBe(201);
      const schedule = created.json;
      expect(schedule.id).toMatch(/^[0-9a-f]{32}$/);
      expect(schedule.timezone).toBe('UTC');
      expect(schedule.next_run).not.toBeNull();

      // Another tenant sees none of it and cannot delete it.
      const theirs = (await (await v1('/schedules', { auth: other.auth })).json()) as {
        schedules: unknown[];
      };
      expect(theirs.schedules).toEqual([]);
      expect((await v1(`/schedules/${schedule.id}`, { auth: other.auth })).status).toBe(404);
      expect(
        (await v1(`/schedules/${schedule.id}`, { method: 'DELETE', auth: other.auth })).status,
      ).toBe(404);

      // Two firings: two jobs, the second's window starting where the first's ended.
      const jobs = await waitFor(
        async () => {
          const found = await jobsOf(schedule.id);
          return found.length >= 2 ? found : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, what: 'two runs of the schedule in /v1/jobs' },
      );
      const byWindow = [...jobs].sort((a, b) => a.to.localeCompare(b.to));
      const [firstRun, secondRun] = byWindow as [RetroJobView, RetroJobView];
      expect(firstRun.from).toBe('2006-03-14T00:00:00.000Z');
      expect(secondRun.from).toBe(firstRun.to);
      expect(Date.parse(secondRun.to) - Date.parse(firstRun.to)).toBeGreaterThanOrEqual(1000);

      const deleted = await v1(`/schedules/${schedule.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect((await v1(`/schedules/${schedule.id}`)).status).toBe(404);
      expect((await v1(`/schedules/${schedule.id}`, { method: 'DELETE' })).status).toBe(404);
      const remaining = (await (await v1('/schedules')).json()) as { schedules: ScheduleView[] };
      expect(remaining.schedules.map((s) => s.id)).toEqual([daily.json.id]);
      // BullMQ's scheduler is gone with it: nothing will fire again.
      expect(
        await service.service.runtime.queues.retro.getJobScheduler(schedule.id),
      ).toBeUndefined();

      // The first run saw the 10 objects (all older than the firing) and scanned them.
      const firstDone = await waitFor(
        async () => {
          const job = (await (await v1(`/jobs/${firstRun.id}`)).json()) as RetroJobView;
          return job.state === 'completed' ? job : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'the first run to complete' },
      );
      expect(firstDone.counters).toMatchObject({ listed: 10, matched: 10, scanned: 10, clean: 10 });
      expect(firstDone.schedule_id).toBe(schedule.id);
      // Runs stay visible after their schedule is deleted.
      expect((await jobsOf(schedule.id)).length).toBeGreaterThanOrEqual(2);

      // The other schedule still lists its last run as never.
      const kept = (await (await v1(`/schedules/${daily.json.id}`)).json()) as ScheduleView;
      expect(kept.last_run).toBeNull();
      expect((await v1(`/schedules/${daily.json.id}`, { method: 'DELETE' })).status).toBe(204);
    },
  );
});

/**
 * Without the test override: the default minimum interval, and a firing that comes while the
 * schedule's previous run is still going. This service runs no workers, so a run it starts stays
 * `crawling` until it is cancelled, and each firing is handed to the service exactly as the
 * retro worker hands it a `schedule` job (`retro.fireSchedule`).
 */
describe('retro schedules: spacing and overlap', () => {
  let service: TestService;
  let tenant: TestTenant;

  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_SECRET_KEY: SECRET_KEY },
      { roles: { api: true, workers: false } },
    );
    tenant = await service.createTenant('overlap');
    // Registering contacts nothing: the endpoint is only used by a crawl, and none runs here.
    const registered = await v1Client(service, tenant.auth)(`/buckets/${BUCKET}`, {
      method: 'PUT',
      body: JSON.stringify({
        endpoint: 'https://s3.storage.example.com',
        credentials: { type: 'static', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' },
      }),
    });
    expect(registered.status).toBe(201);
  });
  afterAll(async () => {
    await service?.stop();
  });

  const v1 = (path: string, init: RequestInit = {}) => v1Client(service, tenant.auth)(path, init);

  it('refuses a cron that would run more often than every 15 minutes, naming the minimum', async () => {
    const buckets = [{ name: BUCKET }];
    for (const cron of ['* * * * * *', '*/30 * * * * *', '* * * * *', '*/10 * * * *']) {
      const response = await v1('/schedules', {
        method: 'POST',
        body: JSON.stringify({ cron, buckets }),
      });
      const body = (await response.json()) as { error: string };
      expect({ cron, status: response.status }).toEqual({ cron, status: 400 });
      expect(body.error).toMatch(
        /runs of a schedule must be at least 15 minutes apart \(ARBITER_SCHEDULE_MIN_INTERVAL\)/,
      );
    }
    for (const cron of ['*/15 * * * *', '0 3 * * *']) {
      const response = await v1('/schedules', {
        method: 'POST',
        body: JSON.stringify({ cron, buckets }),
      });
      expect({ cron, status: response.status }).toEqual({ cron, status: 201 });
      const { id } = (await response.json()) as ScheduleView;
      expect((await v1(`/schedules/${id}`, { method: 'DELETE' })).status).toBe(204);
    }
  });

  it('skips a firing while the previous run is still going, and records why', async () => {
    const created = await v1('/schedules', {
      method: 'POST',
      body: JSON.stringify({
        cron: '0 3 * * *',
        buckets: [{ name: BUCKET }],
        window: 'since-last-run',
      }),
    });
    expect(created.status).toBe(201);
    const schedule = (await created.json()) as ScheduleView;
    expect(schedule.last_skipped_run).toBeNull();
    const { retro } = service.service.runtime;
    const runsOf = async () => {
      const { jobs } = (await (await v1('/jobs')).json()) as { jobs: RetroJobView[] };
      return jobs.filter((job) => job.schedule_id === schedule.id);
    };

    const first = Date.parse('2026-03-01T03:00:00Z');
    await retro.fireSchedule(tenant.id, schedule.id, first);
    const [firstRun] = await runsOf();
    expect(firstRun?.state).toBe('crawling');
    // The same firing retried is the same run, not an overlap.
    await retro.fireSchedule(tenant.id, schedule.id, first);
    expect(await runsOf()).toHaveLength(1);

    // The next firing comes while the first run is still crawling: no second crawl.
    const second = Date.parse('2026-03-02T03:00:00Z');
    await retro.fireSchedule(tenant.id, schedule.id, second);
    expect((await runsOf()).map((job) => job.id)).toEqual([firstRun!.id]);
    const skipped = (await (await v1(`/schedules/${schedule.id}`)).json()) as ScheduleView;
    expect(skipped.last_job_id).toBe(firstRun!.id);
    expect(skipped.last_run).toBe(new Date(first).toISOString());
    expect(skipped.last_skipped_run).toEqual({
      at: new Date(second).toISOString(),
      running_job_id: firstRun!.id,
      reason: `skipped: retro job ${firstRun!.id} of this schedule was still crawling (a schedule never runs twice at once)`,
    });

    // Once the run has ended, the next firing runs, and its window starts where the last run's
    // ended: the skipped day is not lost.
    expect((await v1(`/jobs/${firstRun!.id}/cancel`, { method: 'POST' })).status).toBe(200);
    const third = Date.parse('2026-03-03T03:00:00Z');
    await retro.fireSchedule(tenant.id, schedule.id, third);
    const runs = await runsOf();
    expect(runs).toHaveLength(2);
    const thirdRun = runs.find((job) => job.id !== firstRun!.id)!;
    expect(thirdRun.from).toBe(new Date(first).toISOString());
    expect(thirdRun.to).toBe(new Date(third).toISOString());
    expect((await v1(`/schedules/${schedule.id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

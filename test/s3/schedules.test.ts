import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetroJobView, ScheduleView } from '../../s3/retro/schema.js';
import { checkCron } from '../../s3/retro/schedules.js';
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
    service = await startTestService({ ARBITER_SECRET_KEY: SECRET_KEY });
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

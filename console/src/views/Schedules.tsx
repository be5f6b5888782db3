import { useEffect, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { BucketPicker, chosenBuckets } from '../components/BucketPicker';
import { CreateForm } from '../components/CreateForm';
import { ConfirmButton } from '../components/ConfirmButton';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate, formText } from '../components/format';
import { Table, type Column } from '../components/Table';
import { useConsole } from '../session';

type Schedule = components['schemas']['Schedule'];

/** Pause after the last keystroke before the preview is asked for. */
const PREVIEW_DELAY_MS = 300;

/**
 * Retro schedules: the list (with each next run), Delete, and a form whose cron shows its next
 * runs as it is typed — the API's own preview, so what it accepts is what the schedule accepts.
 */
export function SchedulesView() {
  const { api } = useConsole();
  const schedules = useApi(() => api.GET('/v1/schedules'), []);
  const columns: Column<Schedule>[] = [
    { header: 'Cron', cell: (schedule) => <code>{schedule.cron}</code> },
    { header: 'Time zone', cell: (schedule) => schedule.timezone, wide: true },
    {
      header: 'Buckets',
      cell: (schedule) =>
        schedule.buckets.map((b) => `${b.name}${b.prefix ? `/${b.prefix}` : ''}`).join(', '),
    },
    { header: 'Window', cell: (schedule) => schedule.window, wide: true },
    { header: 'Next run', cell: (schedule) => formatDate(schedule.next_run) },
    { header: 'Last run', cell: (schedule) => formatDate(schedule.last_run), wide: true },
    {
      header: 'Actions',
      cell: (schedule) => (
        <ConfirmButton
          label="Delete"
          question={`Delete the schedule ${schedule.cron}? Jobs it started are kept.`}
          danger
          run={async () => {
            const { error, response } = await api.DELETE('/v1/schedules/{id}', {
              params: { path: { id: schedule.id } },
            });
            if (response.ok) schedules.reload();
            return response.ok ? undefined : errorMessage(error, response.status);
          }}
        />
      ),
    },
  ];
  const list = schedules.data?.schedules ?? [];
  return (
    <section>
      <h1>Schedules</h1>
      <CreateScheduleForm onCreated={() => schedules.reload()} />
      <h2>Schedules</h2>
      <ErrorBanner message={schedules.error} />
      {list.length > 0 ? (
        <Table caption="Retro schedules" columns={columns} rows={list} rowKey={(s) => s.id} />
      ) : schedules.data ? (
        <EmptyState title="No schedule yet." />
      ) : null}
    </section>
  );
}

type Preview =
  | { state: 'empty' }
  | { state: 'checking' }
  | { state: 'ok'; runs: string[]; timezone: string }
  | { state: 'refused'; message: string };

/** The next runs of what is typed, asked for after a pause; a newer input aborts the older ask. */
function useCronPreview(cron: string, timezone: string): Preview {
  const { api } = useConsole();
  const [preview, setPreview] = useState<Preview>({ state: 'empty' });
  useEffect(() => {
    if (cron.trim() === '') {
      setPreview({ state: 'empty' });
      return undefined;
    }
    setPreview({ state: 'checking' });
    const abort = new AbortController();
    const timer = window.setTimeout(() => {
      const query = { cron, ...(timezone.trim() ? { timezone: timezone.trim() } : {}) };
      api.GET('/v1/schedules/preview', { params: { query }, signal: abort.signal }).then(
        ({ data, error, response }) => {
          if (abort.signal.aborted) return;
          setPreview(
            data
              ? { state: 'ok', runs: data.next_runs, timezone: data.timezone }
              : { state: 'refused', message: errorMessage(error, response.status) },
          );
        },
        (failure: unknown) => {
          if (!abort.signal.aborted)
            setPreview({
              state: 'refused',
              message: `The API could not be reached: ${String(failure)}`,
            });
        },
      );
    }, PREVIEW_DELAY_MS);
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
  }, [cron, timezone]);
  return preview;
}

function CreateScheduleForm({ onCreated }: { onCreated: () => void }) {
  const { api } = useConsole();
  const [cron, setCron] = useState('');
  const [timezone, setTimezone] = useState('UTC');
  const preview = useCronPreview(cron, timezone);
  const request = (form: FormData) =>
    api.POST('/v1/schedules', {
      body: {
        cron,
        ...(timezone.trim() ? { timezone: timezone.trim() } : {}),
        window: formText(form, 'window') === 'since-last-run' ? 'since-last-run' : 'all',
        buckets: chosenBuckets(form).map((name) => ({ name })),
      },
    });

  return (
    <CreateForm
      headingId="new-schedule"
      heading="New schedule"
      request={request}
      onCreated={onCreated}
      createdText={(id) => <>Schedule {id} created.</>}
      button="Create schedule"
      busyButton="Creating…"
    >
      <div class="field-row">
        <div class="field">
          <label for="schedule-cron">Cron expression</label>
          <input
            id="schedule-cron"
            name="cron"
            value={cron}
            maxLength={200}
            placeholder="0 3 * * *"
            aria-describedby="schedule-preview"
            autocomplete="off"
            spellcheck={false}
            onInput={(event) => setCron(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="schedule-timezone">Time zone</label>
          <input
            id="schedule-timezone"
            name="timezone"
            value={timezone}
            maxLength={64}
            placeholder="Europe/Paris"
            autocomplete="off"
            onInput={(event) => setTimezone(event.currentTarget.value)}
          />
        </div>
      </div>
      <div id="schedule-preview" class="preview" aria-live="polite">
        {preview.state === 'empty' ? (
          <p class="status-line">
            Type a cron (minute hour day month weekday) to see its next runs.
          </p>
        ) : preview.state === 'checking' ? (
          <p class="status-line">Checking…</p>
        ) : preview.state === 'refused' ? (
          <p class="inline-error preview-error">{preview.message}</p>
        ) : (
          <>
            <p class="status-line">Next runs ({preview.timezone}):</p>
            <ol class="next-runs">
              {preview.runs.map((run) => (
                <li key={run}>
                  <time dateTime={run}>{formatInZone(run, preview.timezone)}</time>
                </li>
              ))}
            </ol>
          </>
        )}
      </div>
      <BucketPicker legend="Buckets to scan" />
      <label for="schedule-window">Objects each run scans</label>
      <select id="schedule-window" name="window" defaultValue="all">
        <option value="all">All objects</option>
        <option value="since-last-run">Only those modified since the last run</option>
      </select>
    </CreateForm>
  );
}

/** A run in the schedule's own time zone (what the cron is written in). */
function formatInZone(iso: string, timeZone: string): string {
  try {
    return new Date(iso).toLocaleString(undefined, {
      timeZone,
      hour12: false,
      timeZoneName: 'short',
    });
  } catch {
    return formatDate(iso);
  }
}

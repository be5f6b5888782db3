import { useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { useEvents, type JobEvent } from '../api/events';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { Badge, type Tone } from '../components/Badge';
import { BucketPicker, chosenBuckets } from '../components/BucketPicker';
import { ConfirmButton } from '../components/ConfirmButton';
import { CreateForm } from '../components/CreateForm';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate, formText } from '../components/format';
import { useConsole } from '../session';

type Job = components['schemas']['RetroJob'];
type JobState = Job['state'];

const STATE_TONES: Record<JobState, Tone> = {
  crawling: 'neutral',
  scanning: 'neutral',
  completed: 'good',
  failed: 'bad',
  cancelled: 'warn',
};
const OPEN: readonly JobState[] = ['crawling', 'scanning'];

/** How far back the scan rate behind the ETA looks: recent progress, not the job's average. */
const RATE_WINDOW_MS = 30_000;

interface Sample {
  at: number;
  scanned: number;
}

/**
 * Retro jobs: each with a progress bar (scanned of matched), its counters and an ETA from the
 * recent scan rate, updated live by the stream's `job` events; Cancel; and a form to start one.
 */
export function JobsView() {
  const { api } = useConsole();
  const jobs = useApi(() => api.GET('/v1/jobs', { params: { query: { limit: 100 } } }), []);
  const [live, setLive] = useState<Record<string, JobEvent>>({});
  const samples = useRef(new Map<string, Sample[]>());

  const stream = useEvents('/v1/events', {
    onOpen: () => jobs.reload(),
    job: (event) => {
      const history = [
        ...(samples.current.get(event.id) ?? []),
        { at: Date.now(), scanned: event.scanned },
      ];
      samples.current.set(
        event.id,
        history.filter((sample) => sample.at >= Date.now() - RATE_WINDOW_MS),
      );
      setLive((previous) => ({ ...previous, [event.id]: event }));
      const known = jobs.data?.jobs.find((job) => job.id === event.id);
      // A job started elsewhere (a schedule, another client), or one that just ended: read the
      // list again for what the event does not carry (its buckets, errors, end time).
      if (!known || (!OPEN.includes(event.state) && known.state !== event.state)) jobs.reload();
    },
  });

  const list = jobs.data?.jobs ?? [];
  return (
    <section>
      <h1>Retro jobs</h1>
      <p class="status-line">
        Progress updates live ({stream === 'open' ? 'connected' : 'connecting…'}).
      </p>
      <StartJobForm onStarted={() => jobs.reload()} />
      <h2>Jobs</h2>
      <ErrorBanner message={jobs.error} />
      {jobs.data && list.length === 0 ? <EmptyState title="No retro job yet." /> : null}
      {list.map((job) => (
        <JobCard
          key={job.id}
          job={job}
          event={live[job.id]}
          samples={samples.current.get(job.id) ?? []}
          onChanged={() => jobs.reload()}
        />
      ))}
    </section>
  );
}

function JobCard({
  job,
  event,
  samples,
  onChanged,
}: {
  job: Job;
  event: JobEvent | undefined;
  samples: Sample[];
  onChanged: () => void;
}) {
  const { api } = useConsole();
  // The newest of the list and the stream (an event may predate a reload).
  const fresh = event && event.scanned >= job.counters.scanned ? event : undefined;
  const state = fresh?.state ?? job.state;
  const listed = fresh?.listed ?? job.counters.listed;
  const matched = fresh?.matched ?? job.counters.matched;
  const scanned = fresh?.scanned ?? job.counters.scanned;
  const findings = fresh?.findings ?? job.counters.infected + job.counters.unscannable;
  const percent =
    matched > 0 ? Math.floor((scanned / matched) * 100) : state === 'completed' ? 100 : 0;
  const crawlDone = state === 'completed' || (fresh !== undefined && fresh.eta_seconds !== null);
  const eta = OPEN.includes(state)
    ? etaText(matched, scanned, crawlDone, samples, fresh?.eta_seconds ?? null)
    : '—';
  const headingId = `job-${job.id}`;
  return (
    <article class="card" aria-labelledby={headingId} data-job={job.id}>
      <h2 id={headingId} class="card-title">
        <code>{job.id}</code> <Badge tone={STATE_TONES[state]}>{state}</Badge>
      </h2>
      <p>
        {job.buckets
          .map((bucket) => `${bucket.name}${bucket.prefix ? `/${bucket.prefix}` : ''}`)
          .join(', ')}{' '}
        · objects modified {formatDate(job.from)} – {formatDate(job.to)}
      </p>
      <div class="progress-row">
        <progress
          max={Math.max(matched, 1)}
          value={matched > 0 ? scanned : state === 'completed' ? 1 : 0}
          aria-label={`Progress of job ${job.id}`}
        />
        <span class="progress-percent">{percent} %</span>
      </div>
      <dl class="counters">
        <div>
          <dt>Listed</dt>
          <dd>{listed}</dd>
        </div>
        <div>
          <dt>Matched</dt>
          <dd>{matched}</dd>
        </div>
        <div>
          <dt>Scanned</dt>
          <dd>{scanned}</dd>
        </div>
        <div>
          <dt>Findings</dt>
          <dd>{findings}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{job.counters.errors}</dd>
        </div>
        <div>
          <dt>ETA</dt>
          <dd>{eta}</dd>
        </div>
      </dl>
      {job.error ? <p class="inline-note">{job.error}</p> : null}
      {OPEN.includes(state) ? (
        <ConfirmButton
          label="Cancel job"
          question="Stop listing and submitting this job’s objects?"
          danger
          run={async () => {
            const { error, response } = await api.POST('/v1/jobs/{id}/cancel', {
              params: { path: { id: job.id } },
            });
            onChanged();
            return response.ok ? undefined : errorMessage(error, response.status);
          }}
        />
      ) : null}
    </article>
  );
}

/**
 * Objects left over the recent scan rate. Unknown ("—") while the listing goes on (the total is
 * not known) or before two samples of progress; the server's own estimate (the job's average
 * rate) when the stream has not shown recent progress yet.
 */
function etaText(
  matched: number,
  scanned: number,
  crawlDone: boolean,
  samples: Sample[],
  serverEta: number | null,
): string {
  if (!crawlDone) return '—';
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first && last && last.at - first.at >= 1_000 && last.scanned > first.scanned) {
    const perMs = (last.scanned - first.scanned) / (last.at - first.at);
    return duration((matched - scanned) / perMs / 1000);
  }
  return serverEta === null ? '—' : duration(serverEta);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

function StartJobForm({ onStarted }: { onStarted: () => void }) {
  const { api } = useConsole();
  const request = (form: FormData) => {
    const prefix = formText(form, 'prefix').trim();
    const from = formText(form, 'from');
    const to = formText(form, 'to');
    return api.POST('/v1/jobs', {
      body: {
        buckets: chosenBuckets(form).map((name) => (prefix ? { name, prefix } : { name })),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
      },
    });
  };
  return (
    <CreateForm
      headingId="start-job"
      heading="Start a retro job"
      request={request}
      onCreated={onStarted}
      createdText={(id) => <>Job {id} started.</>}
      button="Start job"
      busyButton="Starting…"
    >
      <p class="status-line">
        Scans the objects already in the buckets, modified between the dates.
      </p>
      <BucketPicker legend="Buckets to scan" />
      <label for="job-prefix">Prefix (optional)</label>
      <input id="job-prefix" name="prefix" maxLength={1024} placeholder="uploads/" />
      <div class="field-row">
        <div class="field">
          <label for="job-from">Modified from (optional)</label>
          <input id="job-from" name="from" type="date" />
        </div>
        <div class="field">
          <label for="job-to">Modified to (optional)</label>
          <input id="job-to" name="to" type="date" />
        </div>
      </div>
    </CreateForm>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { useEvents } from '../api/events';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { Badge } from '../components/Badge';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate } from '../components/format';
import { DefinitionTable } from '../components/Table';
import { useConsole } from '../session';

type Bucket = components['schemas']['Bucket'];
type BucketStatus = components['schemas']['BucketStatus'];

/** How long scan events are gathered before the counts are read again (one read per burst). */
const RELOAD_AFTER_MS = 1_000;

/**
 * The tenant's registered buckets: each with its state (is its SQS queue polled, its last event,
 * its object scans by outcome) and its settings, read-only (they change through the API). The
 * counts are read again when the live stream reports scans.
 */
export function BucketsView() {
  const { api } = useConsole();
  const buckets = useApi(() => api.GET('/v1/buckets'), []);
  const [statuses, setStatuses] = useState<Record<string, BucketStatus | string>>({});
  const [generation, setGeneration] = useState(0);
  const pending = useRef<number | undefined>(undefined);

  const names = buckets.data?.buckets.map((bucket) => bucket.name) ?? [];
  useEffect(() => {
    let active = true;
    for (const name of names) {
      api.GET('/v1/buckets/{name}/status', { params: { path: { name } } }).then(
        ({ data, error, response }) => {
          if (active)
            setStatuses((previous) => ({
              ...previous,
              [name]: data ?? errorMessage(error, response.status),
            }));
        },
        (failure: unknown) => {
          if (active)
            setStatuses((previous) => ({
              ...previous,
              [name]: `The API could not be reached: ${String(failure)}`,
            }));
        },
      );
    }
    return () => {
      active = false;
    };
  }, [names.join('\n'), generation]);
  useEffect(() => () => window.clearTimeout(pending.current), []);

  const live = useEvents('/v1/events', {
    onOpen: () => setGeneration((n) => n + 1),
    scan: () => {
      if (pending.current !== undefined) return;
      pending.current = window.setTimeout(() => {
        pending.current = undefined;
        setGeneration((n) => n + 1);
      }, RELOAD_AFTER_MS);
    },
  });

  return (
    <section>
      <h1>Buckets</h1>
      <p class="status-line">
        Counts update live ({live === 'open' ? 'connected' : 'connecting…'}). Buckets are registered
        and changed through the API (<code>PUT /v1/buckets/&#123;name&#125;</code>).
      </p>
      <ErrorBanner message={buckets.error} />
      {buckets.data && buckets.data.buckets.length === 0 ? (
        <EmptyState title="No bucket is registered.">
          <p>Register one with PUT /v1/buckets/&#123;name&#125; (see the API documentation).</p>
        </EmptyState>
      ) : null}
      {buckets.loading && !buckets.data ? <p class="status-line">Loading…</p> : null}
      {buckets.data?.buckets.map((bucket) => (
        <BucketCard key={bucket.name} bucket={bucket} status={statuses[bucket.name]} />
      ))}
    </section>
  );
}

function BucketCard({
  bucket,
  status,
}: {
  bucket: Bucket;
  status: BucketStatus | string | undefined;
}) {
  const headingId = `bucket-${bucket.name}`;
  return (
    <article class="card" aria-labelledby={headingId} data-bucket={bucket.name}>
      <h2 id={headingId}>{bucket.name}</h2>
      {typeof status === 'string' ? <ErrorBanner message={status} /> : null}
      {status === undefined ? <p class="status-line">Loading its state…</p> : null}
      {status && typeof status !== 'string' ? <BucketState status={status} /> : null}
      <details>
        <summary>Settings (read-only)</summary>
        <DefinitionTable caption={`Settings of ${bucket.name}`} entries={settingsOf(bucket)} />
      </details>
    </article>
  );
}

function BucketState({ status }: { status: BucketStatus }) {
  const { polling, counts } = status;
  return (
    <>
      <p class="badges">
        {polling === null ? (
          <Badge tone="neutral">no queue: events are POSTed</Badge>
        ) : polling.active ? (
          <Badge tone="good">queue polled</Badge>
        ) : (
          <Badge tone="bad">queue not polled</Badge>
        )}
      </p>
      <DefinitionTable
        caption="Bucket state"
        entries={[
          ...(polling
            ? ([
                ['Last poll', formatDate(polling.last_poll_at)],
                [
                  'Last poll error',
                  polling.last_error
                    ? `${polling.last_error} (${formatDate(polling.last_error_at)})`
                    : '—',
                ],
              ] as Array<[string, string]>)
            : []),
          ['Last event', formatDate(status.last_event_at)],
        ]}
      />
      <ul class="counts" aria-label="Object scans by outcome">
        <li>
          <span class="count-value">{counts.clean}</span> clean
        </li>
        <li>
          <span class="count-value">{counts.infected}</span> infected
        </li>
        <li>
          <span class="count-value">{counts.unscannable}</span> unscannable
        </li>
        <li>
          <span class="count-value">{counts.error}</span> error
        </li>
      </ul>
    </>
  );
}

/** Which keys are classified for sensitive data: none, every key, or the prefixes. */
function classifiedKeys(bucket: Bucket): string {
  if (!bucket.classify) return 'none';
  const included =
    bucket.classifyInclude.length > 0 ? `under ${bucket.classifyInclude.join(', ')}` : 'every key';
  return bucket.classifyExclude.length > 0
    ? `${included}, except under ${bucket.classifyExclude.join(', ')}`
    : included;
}

function settingsOf(bucket: Bucket): Array<[string, string]> {
  const { actions, tags } = bucket;
  const location = (where: { bucket: string; prefix: string } | undefined) =>
    where ? `${where.bucket}/${where.prefix}` : '—';
  return [
    ['Region', bucket.region],
    ['Endpoint', bucket.endpoint ?? 'AWS'],
    ['Credentials', bucket.credentials.type],
    ['Queue', bucket.queue?.url ?? 'none'],
    ['When clean', actions.onClean],
    ['Production', location(actions.production)],
    ['When infected', actions.onInfected],
    ['When unscannable', actions.onUnscannable],
    ['Quarantine', location(actions.quarantine)],
    ['Detection categories', bucket.detectionCategories?.join(', ') ?? 'the key’s or tenant’s'],
    ['Classified keys', classifiedKeys(bucket)],
    ['Tags', `${tags.result}, ${tags.date}, ${tags.findings}, ${tags.engine}`],
    [
      'Classification tags',
      `${tags.classificationResult}, ${tags.classificationDate}, ${tags.classificationMatches}, ${tags.classificationMessage}`,
    ],
    ['Callback', bucket.callback ?? 'none'],
    ['Registered', formatDate(bucket.creation_date)],
    ['Changed', formatDate(bucket.last_modified_date)],
  ];
}

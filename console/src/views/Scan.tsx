import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { Badge } from '../components/Badge';
import { ConfirmButton } from '../components/ConfirmButton';
import { DefinitionTable, Table } from '../components/Table';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes, formatDate } from '../components/format';
import { Link } from '../components/Link';
import { useConsole } from '../session';
import { OutcomeBadge } from './Scans';

type ScanResult = components['schemas']['ScanResult'];
type TraceEvent = components['schemas']['Trace']['events'][number];

/** One callback attempt, as the delivery worker writes it in the trace (webhooks/delivery.ts). */
export interface CallbackAttempt {
  attempt: number;
  redelivery: number | undefined;
  origin: string;
  /** `HTTP 200`, or `failed (reason)`. */
  outcome: string;
  ok: boolean;
  timestamp: string;
}

const ATTEMPT = /^callback attempt (\d+)(?: \(redelivery (\d+)\))? to (\S+): (.*)$/;

/** The callback attempts among a trace's events (no API lists them on their own). */
export function callbackAttempts(events: TraceEvent[]): CallbackAttempt[] {
  return events.flatMap((event) => {
    const match = ATTEMPT.exec(event.message);
    if (!match) return [];
    const outcome = match[4]!;
    return [
      {
        attempt: Number(match[1]),
        redelivery: match[2] === undefined ? undefined : Number(match[2]),
        origin: match[3]!,
        outcome,
        ok: /^HTTP 2\d\d\b/.test(outcome),
        timestamp: event.timestamp,
      },
    ];
  });
}

/** One scan: its result, the trace as a timeline, its callback attempts; Redeliver and Delete. */
export function ScanView({ params }: { params: Record<string, string> }) {
  const { api, navigate } = useConsole();
  const id = params.id ?? '';
  const path = { params: { path: { id } } };
  const result = useApi(() => api.GET('/v2.2/files/{id}', path), [id]);
  const trace = useApi(() => api.GET('/v2.2/files/{id}/trace', path), [id]);
  const [notice, setNotice] = useState<string | undefined>();

  if (result.status === 404)
    return (
      <EmptyState title="Scan not found">
        <p>
          No scan of this account has the id <code>{id}</code> (or it was deleted or has expired).
        </p>
        <p>
          <Link to="/scans">Back to the scans</Link>
        </p>
      </EmptyState>
    );

  const redeliver = async () => {
    const { data, error, response } = await api.POST('/v1/files/{id}/redeliver', path);
    if (!data) return errorMessage(error, response.status);
    setNotice(`Callback redelivery ${data.status}.`);
    trace.reload();
    return undefined;
  };
  const remove = async () => {
    const { error, response } = await api.DELETE('/v2.2/files/{id}', path);
    if (!response.ok) return errorMessage(error, response.status);
    navigate('/scans');
    return undefined;
  };

  const scan = result.data;
  const events = trace.data?.events ?? [];
  return (
    <section>
      <p>
        <Link to="/scans">← Scans</Link>
      </p>
      <h1>
        Scan <code>{id}</code>
      </h1>
      <ErrorBanner message={result.error} />
      {result.loading && !scan ? <p aria-live="polite">Loading…</p> : null}
      {scan ? (
        <>
          <div class="actions">
            <ConfirmButton label="Redeliver" question="Send the callback again?" run={redeliver} />
            <ConfirmButton
              label="Delete"
              question="Delete this result and its trace?"
              danger
              run={remove}
            />
          </div>
          <p aria-live="polite" class="status-line">
            {notice}
          </p>
          <ResultTable scan={scan} />
          <h2>Metadata</h2>
          {Object.keys(scan.metadata).length > 0 ? (
            <DefinitionTable caption="Metadata" entries={Object.entries(scan.metadata)} />
          ) : (
            <EmptyState title="No metadata." />
          )}
        </>
      ) : null}
      <h2>Callback attempts</h2>
      <CallbackTable attempts={callbackAttempts(events)} />
      <h2>Timeline</h2>
      <ErrorBanner message={trace.status === 404 ? undefined : trace.error} />
      {events.length > 0 ? (
        <ol class="timeline">
          {events.map((event, index) => (
            <li key={index}>
              <time dateTime={event.timestamp}>{formatDate(event.timestamp)}</time>
              <span>{event.message}</span>
            </li>
          ))}
        </ol>
      ) : (
        <EmptyState title="No trace." />
      )}
    </section>
  );
}

function ResultTable({ scan }: { scan: ScanResult }) {
  const entries: Array<[string, ComponentChildren]> = [
    ['Outcome', <OutcomeBadge scan={scan} />],
    ['Findings', scan.findings.length > 0 ? scan.findings.join(', ') : 'none'],
    ...(scan.error === undefined ? [] : [['Error', scan.error] as [string, string]]),
    ['Checksum (SHA-1)', scan.checksum ? <code>{scan.checksum}</code> : '—'],
    ['Type', scan.content_type ?? '—'],
    ['Size', formatBytes(scan.content_length)],
    ['Scanned', formatDate(scan.creation_date)],
    ...(scan.engines
      ? [
          [
            'Engines',
            scan.engines.map((engine) => `${engine.name} ${engine.version}`).join(', '),
          ] as [string, string],
        ]
      : []),
    ...(scan.bucket ? [['Object', `${scan.bucket}/${scan.key ?? ''}`] as [string, string]] : []),
  ];
  return <DefinitionTable caption="Result" entries={entries} />;
}

function CallbackTable({ attempts }: { attempts: CallbackAttempt[] }) {
  if (attempts.length === 0) return <EmptyState title="No callback attempts." />;
  return (
    <Table
      caption="Callback attempts"
      rows={attempts}
      rowKey={(a) => `${a.timestamp}-${a.attempt}-${a.redelivery ?? 0}`}
      columns={[
        {
          header: 'Attempt',
          cell: (a) =>
            a.redelivery ? `${a.attempt} (redelivery ${a.redelivery})` : String(a.attempt),
        },
        { header: 'Status', cell: (a) => <Badge tone={a.ok ? 'good' : 'bad'}>{a.outcome}</Badge> },
        { header: 'Receiver', cell: (a) => a.origin, wide: true },
        { header: 'Time', cell: (a) => formatDate(a.timestamp) },
      ]}
    />
  );
}

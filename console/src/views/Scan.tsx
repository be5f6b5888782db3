import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components, paths } from '../api/schema';
import { useApi } from '../api/use-api';
import { Badge } from '../components/Badge';
import { ConfirmButton } from '../components/ConfirmButton';
import { DefinitionTable, Table } from '../components/Table';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes, formatDate } from '../components/format';
import { Link } from '../components/Link';
import { SanitizedCopy } from '../components/SanitizedCopy';
import { SensitiveData } from '../components/SensitiveData';
import { useConsole } from '../session';
import { OutcomeBadge } from './Scans';

type ScanResult = components['schemas']['ScanResult'];

type CallbackAttempt =
  paths['/v1/scans/{id}/callbacks']['get']['responses'][200]['content']['application/json']['callbacks'][number];

/**
 * After a redelivery is accepted, the worker sends it within moments; no live event says when
 * (the stream carries scans and jobs), so the attempts are read again a few times, further and
 * further apart, until the new one is listed. Bounded: after the last the Refresh button stays.
 */
const REDELIVERY_CHECKS_MS = [500, 1000, 2000, 4000, 8000, 15000];

/** One scan: its result, the trace as a timeline, its callback attempts; Redeliver and Delete. */
export function ScanView({ params }: { params: Record<string, string> }) {
  const { api, navigate } = useConsole();
  const id = params.id ?? '';
  const path = { params: { path: { id } } };
  const result = useApi(() => api.GET('/v2.2/files/{id}', path), [id]);
  const trace = useApi(() => api.GET('/v2.2/files/{id}/trace', path), [id]);
  const callbacks = useApi(() => api.GET('/v1/scans/{id}/callbacks', path), [id]);
  const [notice, setNotice] = useState<string | undefined>();
  const watch = useRedeliveryWatch(newestAttempt(callbacks.data?.callbacks), () => {
    callbacks.reload();
    trace.reload();
  });

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
    setNotice(`Callback redelivery ${data.status}: waiting for its attempt…`);
    watch.start(() =>
      setNotice(`Callback redelivery ${data.status}: its attempt is listed below.`),
    );
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
          {scan.classification ? <SensitiveData classification={scan.classification} /> : null}
          {scan.sanitized ? <SanitizedCopy id={id} copy={scan.sanitized} /> : null}
          <h2>Metadata</h2>
          {Object.keys(scan.metadata).length > 0 ? (
            <DefinitionTable caption="Metadata" entries={Object.entries(scan.metadata)} />
          ) : (
            <EmptyState title="No metadata." />
          )}
        </>
      ) : null}
      <h2>Callback attempts</h2>
      <ErrorBanner message={callbacks.status === 404 ? undefined : callbacks.error} />
      <CallbackTable attempts={callbacks.data?.callbacks ?? []} loading={callbacks.loading} />
      <p>
        <button type="button" onClick={() => callbacks.reload()} disabled={callbacks.loading}>
          Refresh attempts
        </button>
      </p>
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
    ['Type', <TypeLine scan={scan} />],
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

/**
 * The true type (from the bytes) beside what the content was presented as: its declared type and
 * its name's extension; a disguise or a type not allowed stands out as a finding. Results stored
 * before these fields existed have neither, and say nothing of them.
 */
function TypeLine({ scan }: { scan: ScanResult }) {
  const typeFindings = scan.findings.filter((finding) => finding.startsWith('content.type.'));
  return (
    <>
      {scan.content_type ? (
        <>
          <code>{scan.content_type}</code> by its bytes
        </>
      ) : (
        '—'
      )}
      {scan.declared_content_type === undefined ? null : (
        <>
          {' · declared '}
          {scan.declared_content_type === null ? 'none' : <code>{scan.declared_content_type}</code>}
        </>
      )}
      {scan.file_extension === undefined ? null : (
        <>
          {' · extension '}
          {scan.file_extension === null ? 'none' : <code>.{scan.file_extension}</code>}
        </>
      )}
      {typeFindings.map((finding) => (
        <span key={finding}>
          {' '}
          <Badge tone="bad">{finding}</Badge>
        </span>
      ))}
    </>
  );
}

function CallbackTable({ attempts, loading }: { attempts: CallbackAttempt[]; loading: boolean }) {
  if (attempts.length === 0)
    return <EmptyState title={loading ? 'Loading…' : 'No callback attempts.'} />;
  return (
    <Table
      caption="Callback attempts"
      rows={attempts}
      rowKey={(a) => `${a.redelivery ?? 0}-${a.attempt}-${a.at}`}
      columns={[
        {
          header: 'Attempt',
          cell: (a) =>
            a.redelivery ? `${a.attempt} (redelivery ${a.redelivery})` : String(a.attempt),
        },
        { header: 'Time', cell: (a) => formatDate(a.at) },
        { header: 'Status', cell: (a) => <AttemptStatus attempt={a} /> },
        { header: 'Latency', cell: (a) => `${a.latency_ms} ms`, wide: true },
        { header: 'Receiver', cell: (a) => a.url_origin, wide: true },
      ]}
    />
  );
}

/** The newest attempt's identity (the list keeps the newest 50, so its length may stay put). */
function newestAttempt(attempts: CallbackAttempt[] | undefined): string | undefined {
  const last = attempts?.at(-1);
  return last ? `${last.redelivery ?? 0}-${last.attempt}-${last.at}` : attempts && '';
}

function AttemptStatus({ attempt }: { attempt: CallbackAttempt }) {
  if (attempt.status !== undefined) {
    const delivered = attempt.status >= 200 && attempt.status < 300;
    return (
      <Badge tone={delivered ? 'good' : 'bad'}>
        {`HTTP ${attempt.status}${delivered ? ' delivered' : ''}`}
      </Badge>
    );
  }
  return <Badge tone="bad">{`failed: ${attempt.error ?? 'no answer'}`}</Badge>;
}

/**
 * Re-reads the callback attempts after a redelivery until the newest listed is another than when
 * it was asked for (see REDELIVERY_CHECKS_MS); stops on leaving the page.
 */
function useRedeliveryWatch(newest: string | undefined, reread: () => void) {
  const latest = useRef({ newest, reread });
  latest.current = { newest, reread };
  const watch = useRef<{ from: string; step: number; timer: number; done: () => void } | undefined>(
    undefined,
  );
  const stop = () => {
    if (watch.current) window.clearTimeout(watch.current.timer);
    watch.current = undefined;
  };
  const schedule = () => {
    const current = watch.current;
    if (!current) return;
    const delay = REDELIVERY_CHECKS_MS[current.step];
    if (delay === undefined) return stop();
    current.timer = window.setTimeout(() => {
      current.step += 1;
      latest.current.reread();
      schedule();
    }, delay);
  };
  useEffect(() => {
    const current = watch.current;
    if (current && newest !== undefined && newest !== current.from) {
      stop();
      current.done();
    }
  }, [newest]);
  useEffect(() => stop, []);
  return {
    start(done: () => void) {
      stop();
      watch.current = { from: latest.current.newest ?? '', step: 0, timer: 0, done };
      schedule();
    },
  };
}

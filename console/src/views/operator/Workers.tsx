import { useEffect, useState } from 'preact/hooks';
import { useEvents } from '../../api/events';
import { useApi } from '../../api/use-api';
import { Badge } from '../../components/Badge';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { formatDate } from '../../components/format';
import { Table, type Column } from '../../components/Table';
import { useConsole } from '../../session';
import type { Worker } from './types';

const COLUMNS: Column<Worker>[] = [
  { header: 'Host', cell: (worker) => worker.host },
  { header: 'PID', cell: (worker) => String(worker.pid) },
  {
    header: 'Status',
    cell: (worker) =>
      worker.status === 'alive' ? (
        <Badge tone="good">alive</Badge>
      ) : (
        <Badge tone="warn">stale</Badge>
      ),
  },
  { header: 'Last heartbeat', cell: (worker) => formatDate(worker.last_seen) },
  {
    header: 'Jobs in progress',
    cell: (worker) => `${worker.jobs_in_progress} of ${worker.concurrency}`,
  },
  { header: 'Started', cell: (worker) => formatDate(worker.started), wide: true },
  {
    header: 'Engines',
    cell: (worker) =>
      worker.engines.map((engine) => `${engine.name} ${engine.version}`).join(', ') || '—',
    wide: true,
  },
];

/**
 * Worker processes by their heartbeats (`GET /admin/workers`, then the `workers` events of
 * `GET /admin/events`, sent when the list changes). A worker without a heartbeat for 1.5
 * intervals is stale; after 3 it leaves the list.
 */
export function WorkersView() {
  const { api } = useConsole();
  const first = useApi(() => api.GET('/admin/workers'), []);
  const [live, setLive] = useState<Worker[] | undefined>();
  // A reload (on reconnect) replaces what the stream said before.
  useEffect(() => {
    if (first.data) setLive(first.data.workers);
  }, [first.data]);
  const stream = useEvents('/admin/events', {
    workers: (data) => setLive(data.workers as Worker[]),
    onOpen: first.reload,
  });
  const workers = live ?? [];
  return (
    <section>
      <h1>Workers</h1>
      <p class="live" aria-live="polite">
        {stream === 'open'
          ? 'Live: updated as heartbeats change.'
          : 'Connecting to the live stream…'}
      </p>
      <ErrorBanner message={first.error} />
      {workers.length > 0 ? (
        <Table caption="Worker processes" columns={COLUMNS} rows={workers} rowKey={(w) => w.id} />
      ) : live === undefined ? null : (
        <EmptyState title="No worker process has sent a heartbeat lately." />
      )}
      <p class="status-line" aria-live="polite">
        {live === undefined
          ? 'Loading…'
          : `${workers.length} worker process${workers.length === 1 ? '' : 'es'}.`}
      </p>
    </section>
  );
}

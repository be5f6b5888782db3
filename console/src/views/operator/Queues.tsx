import { useState } from 'preact/hooks';
import { useEvents } from '../../api/events';
import { useApi } from '../../api/use-api';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Table, type Column } from '../../components/Table';
import { useConsole } from '../../session';
import { LiveChart, type ChartSeries } from './Chart';
import { formatAge } from './shared';
import type { QueueDepth } from './types';

/** How much history the charts keep (in this page's memory only). */
const WINDOW_SECONDS = 600;

interface Sample {
  /** Seconds since the epoch. */
  at: number;
  queues: QueueDepth[];
}

const COUNT_SERIES: Array<ChartSeries & { field: 'waiting' | 'active' | 'delayed' | 'failed' }> = [
  { field: 'waiting', label: 'Waiting', color: '#0b4fa8' },
  { field: 'active', label: 'Active', color: '#15803d' },
  { field: 'delayed', label: 'Delayed', color: '#b45309' },
  { field: 'failed', label: 'Failed', color: '#b91c1c' },
];

const AGE_COLORS = ['#0b4fa8', '#15803d', '#b45309', '#7c3aed', '#b91c1c', '#0f766e'];

const COLUMNS: Column<QueueDepth>[] = [
  { header: 'Queue', cell: (queue) => queue.name },
  { header: 'Waiting', cell: (queue) => String(queue.waiting) },
  { header: 'Active', cell: (queue) => String(queue.active) },
  { header: 'Delayed', cell: (queue) => String(queue.delayed) },
  { header: 'Failed', cell: (queue) => String(queue.failed) },
  { header: 'Completed', cell: (queue) => String(queue.completed), wide: true },
  { header: 'Oldest waiting', cell: (queue) => formatAge(queue.oldest_waiting_seconds) },
];

function appended(history: Sample[], queues: QueueDepth[]): Sample[] {
  const at = Date.now() / 1000;
  return [...history.filter((sample) => sample.at > at - WINDOW_SECONDS), { at, queues }];
}

function valuesOf(history: Sample[], name: string, read: (queue: QueueDepth) => number): number[] {
  return history.map((sample) => {
    const queue = sample.queues.find((q) => q.name === name);
    return queue ? read(queue) : 0;
  });
}

/**
 * Queue depth and age (`GET /admin/queues`, then the `queues` events of `GET /admin/events`
 * every 2 s): the figures now as a table, and the last 10 minutes as charts.
 */
export function QueuesView() {
  const { api } = useConsole();
  const [history, setHistory] = useState<Sample[]>([]);
  const first = useApi(async () => {
    const answer = await api.GET('/admin/queues');
    if (answer.data) {
      const queues = answer.data.queues;
      setHistory((previous) => appended(previous, queues));
    }
    return answer;
  }, []);
  const stream = useEvents('/admin/events', {
    queues: (data) => setHistory((previous) => appended(previous, data.queues as QueueDepth[])),
  });
  const latest = history.at(-1)?.queues ?? first.data?.queues ?? [];
  const times = history.map((sample) => sample.at);
  return (
    <section>
      <h1>Queues</h1>
      <p class="live" aria-live="polite">
        {stream === 'open' ? 'Live: updated every 2 s.' : 'Connecting to the live stream…'}
      </p>
      <ErrorBanner message={first.error} />
      {latest.length > 0 ? (
        <Table caption="Queues now" columns={COLUMNS} rows={latest} rowKey={(q) => q.name} />
      ) : first.loading ? null : (
        <EmptyState title="No queues reported." />
      )}
      {history.length > 0 ? (
        <>
          <h2>Last 10 minutes</h2>
          <div class="charts">
            {latest.map((queue) => (
              <LiveChart
                key={queue.name}
                title={`${queue.name}: jobs`}
                series={COUNT_SERIES}
                times={times}
                values={COUNT_SERIES.map((s) => valuesOf(history, queue.name, (q) => q[s.field]))}
              />
            ))}
            <LiveChart
              title="Oldest waiting job (seconds)"
              series={latest.map((queue, index) => ({
                label: queue.name,
                color: AGE_COLORS[index % AGE_COLORS.length]!,
              }))}
              times={times}
              values={latest.map((queue) =>
                valuesOf(history, queue.name, (q) => q.oldest_waiting_seconds),
              )}
            />
          </div>
        </>
      ) : null}
    </section>
  );
}

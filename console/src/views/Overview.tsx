import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useEvents } from '../api/events';
import type { paths } from '../api/schema';
import { useApi } from '../api/use-api';
import { Chart, type ChartSeries } from '../components/Chart';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate } from '../components/format';
import { Table, type Column } from '../components/Table';
import { useConsole } from '../session';

type Stats = paths['/v1/stats']['get']['responses'][200]['content']['application/json'];
type Hour = Stats['hours'][number];
type Category = keyof Hour['findings_by_category'];

/** The windows offered: the last day, hour by hour, or the last week. */
const WINDOWS = [
  { hours: 24, label: 'Last 24 hours' },
  { hours: 168, label: 'Last 7 days' },
] as const;

const CATEGORIES: Array<{ key: Category; label: string; colour: string }> = [
  { key: 'malware', label: 'Malware', colour: '#b91c1c' },
  { key: 'unsafe_image', label: 'Unsafe image', colour: '#7c3aed' },
  { key: 'unsafe_language', label: 'Unsafe language', colour: '#b45309' },
  { key: 'sensitive_data', label: 'Sensitive data', colour: '#be185d' },
  { key: 'file_type', label: 'File type', colour: '#0e7490' },
  { key: 'custom', label: 'Custom rules', colour: '#0b4fa8' },
  { key: 'unscannable', label: 'Unscannable', colour: '#374151' },
  { key: 'other', label: 'Other', colour: '#047857' },
];

/** A scan event arrives per scan: a burst of them reloads the numbers once, this long after. */
const RELOAD_DEBOUNCE_MS = 1_000;

/**
 * The tenant's overview: scans per hour (and those with findings), findings by category, the
 * callback success rate and the latency percentiles over the last day or week, from
 * `GET /v1/stats`. Every chart has its numbers beside it as text. Reloaded (debounced) when a
 * scan completes, as the live stream tells.
 */
export function OverviewView() {
  const { api } = useConsole();
  const [hours, setHours] = useState<number>(24);
  const stats = useApi(() => api.GET('/v1/stats', { params: { query: { hours } } }), [hours]);
  const live = useLiveReload(stats.reload);

  const data = stats.data;
  return (
    <section>
      <h1>Overview</h1>
      <div class="filters overview-window">
        <div class="field">
          <label for="overview-window">Window</label>
          <select
            id="overview-window"
            value={String(hours)}
            onChange={(event) => setHours(Number(event.currentTarget.value))}
          >
            {WINDOWS.map((window) => (
              <option key={window.hours} value={String(window.hours)}>
                {window.label}
              </option>
            ))}
          </select>
        </div>
        <p class="status-line live-state">
          {live === 'open' ? 'Live: updates as scans complete.' : 'Connecting to live updates…'}
        </p>
      </div>
      <ErrorBanner message={stats.error} />
      {stats.loading && !data ? <p aria-live="polite">Loading…</p> : null}
      {data ? <Dashboard stats={data} /> : null}
    </section>
  );
}

/** Reloads when the live stream says a scan completed (debounced) or reopens after a break. */
function useLiveReload(reload: () => void) {
  const timer = useRef<number | undefined>(undefined);
  const opened = useRef(false);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const later = () => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(reload, RELOAD_DEBOUNCE_MS);
  };
  return useEvents('/v1/events', {
    scan: later,
    onOpen: () => {
      // The first opening comes with the first load; a reopening may have missed scans.
      if (opened.current) later();
      opened.current = true;
    },
  });
}

function Dashboard({ stats }: { stats: Stats }) {
  const { totals } = stats;
  const times = useMemo(
    () => stats.hours.map((hour) => Math.floor(Date.parse(hour.hour) / 1000)),
    [stats],
  );
  const series = useMemo(() => chartSeries(stats.hours), [stats]);
  const attempts = totals.callbacks_delivered + totals.callbacks_failed;
  const active = stats.hours.filter((hour) => hour.scans_completed > 0 || callbackCount(hour) > 0);

  return (
    <>
      <h2 class="visually-hidden">Totals</h2>
      <dl class="stats" aria-label="Totals over the window">
        <Stat label="Scans">{totals.scans_completed}</Stat>
        <Stat label="With findings">{totals.scans_with_findings}</Stat>
        <Stat label="Errors">{totals.errors}</Stat>
        <Stat label="Callback success">
          {attempts === 0
            ? '—'
            : `${percent(totals.callbacks_delivered, attempts)} (${totals.callbacks_delivered} of ${attempts})`}
        </Stat>
        <Stat label="Latency p50">{milliseconds(totals.latency_ms.p50)}</Stat>
        <Stat label="Latency p99">{milliseconds(totals.latency_ms.p99)}</Stat>
      </dl>
      {totals.scans_completed === 0 && attempts === 0 ? (
        <EmptyState title="No scans in this window yet.">
          <p>The charts fill in as the account scans content.</p>
        </EmptyState>
      ) : null}

      <ChartFigure
        title="Scans per hour"
        summary={`${totals.scans_completed} scans, ${totals.scans_with_findings} with findings.`}
        times={times}
        series={series.scans}
        active={active}
        columns={[
          { header: 'Scans', cell: (hour) => String(hour.scans_completed) },
          { header: 'With findings', cell: (hour) => String(hour.scans_with_findings) },
          { header: 'Errors', cell: (hour) => String(hour.errors) },
        ]}
      />
      <ChartFigure
        title="Findings by category"
        summary={categorySummary(totals.findings_by_category)}
        times={times}
        series={series.categories}
        active={active}
        columns={CATEGORIES.map((category) => ({
          header: category.label,
          cell: (hour: Hour) => String(hour.findings_by_category[category.key]),
        }))}
      >
        <CategoryTotals totals={totals.findings_by_category} />
      </ChartFigure>
      <ChartFigure
        title="Callback success rate"
        summary={
          attempts === 0
            ? 'No callback attempts.'
            : `${percent(totals.callbacks_delivered, attempts)} of ${attempts} callback attempts delivered.`
        }
        times={times}
        series={series.callbacks}
        unit="%"
        yMax={100}
        active={active}
        columns={[
          { header: 'Delivered', cell: (hour) => String(hour.callbacks_delivered) },
          { header: 'Failed', cell: (hour) => String(hour.callbacks_failed) },
          {
            header: 'Success',
            cell: (hour) =>
              callbackCount(hour) === 0
                ? '—'
                : percent(hour.callbacks_delivered, callbackCount(hour)),
          },
        ]}
      />
      <ChartFigure
        title="Latency"
        summary={`Request accepted to result stored: p50 ${milliseconds(totals.latency_ms.p50)}, p99 ${milliseconds(totals.latency_ms.p99)}.`}
        times={times}
        series={series.latency}
        unit=" ms"
        active={active}
        columns={[
          { header: 'p50', cell: (hour) => milliseconds(hour.latency_ms.p50) },
          { header: 'p99', cell: (hour) => milliseconds(hour.latency_ms.p99) },
        ]}
      />
    </>
  );
}

function Stat({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** A chart with its title, its numbers in words, and the hour-by-hour table behind a toggle. */
function ChartFigure({
  title,
  summary,
  times,
  series,
  unit,
  yMax,
  active,
  columns,
  children,
}: {
  title: string;
  summary: string;
  times: number[];
  series: ChartSeries[];
  unit?: string;
  yMax?: number;
  active: Hour[];
  columns: Column<Hour>[];
  children?: ComponentChildren;
}) {
  return (
    <figure class="chart-figure">
      <figcaption>
        <h2>{title}</h2>
        <p class="chart-summary">{summary}</p>
      </figcaption>
      <Chart times={times} series={series} unit={unit} yMax={yMax} />
      {children}
      <details>
        <summary>{title}, hour by hour</summary>
        {active.length === 0 ? (
          <EmptyState title="No activity in this window." />
        ) : (
          <Table
            caption={`${title}, hour by hour (hours without activity left out)`}
            rows={active}
            rowKey={(hour) => hour.hour}
            columns={[{ header: 'Hour', cell: (hour) => formatDate(hour.hour) }, ...columns]}
          />
        )}
      </details>
    </figure>
  );
}

function CategoryTotals({ totals }: { totals: Hour['findings_by_category'] }) {
  return (
    <Table
      caption="Findings by category over the window"
      rows={CATEGORIES}
      rowKey={(category) => category.key}
      columns={[
        { header: 'Category', cell: (category) => category.label },
        { header: 'Results', cell: (category) => String(totals[category.key]) },
      ]}
    />
  );
}

function chartSeries(hours: Hour[]) {
  const scans: ChartSeries[] = [
    {
      label: 'Scans',
      colour: '#0b4fa8',
      bars: true,
      values: hours.map((hour) => hour.scans_completed),
    },
    {
      label: 'With findings',
      colour: '#b91c1c',
      bars: true,
      values: hours.map((hour) => hour.scans_with_findings),
    },
  ];
  const categories: ChartSeries[] = CATEGORIES.map((category) => ({
    label: category.label,
    colour: category.colour,
    values: hours.map((hour) => hour.findings_by_category[category.key]),
  }));
  const callbacks: ChartSeries[] = [
    {
      label: 'Delivered',
      colour: '#047857',
      values: hours.map((hour) =>
        callbackCount(hour) === 0
          ? null
          : Math.round((hour.callbacks_delivered / callbackCount(hour)) * 100),
      ),
    },
  ];
  const latency: ChartSeries[] = [
    { label: 'p50', colour: '#0b4fa8', values: hours.map((hour) => hour.latency_ms.p50) },
    { label: 'p99', colour: '#b45309', values: hours.map((hour) => hour.latency_ms.p99) },
  ];
  return { scans, categories, callbacks, latency };
}

function callbackCount(hour: Pick<Hour, 'callbacks_delivered' | 'callbacks_failed'>): number {
  return hour.callbacks_delivered + hour.callbacks_failed;
}

function categorySummary(totals: Hour['findings_by_category']): string {
  const found = CATEGORIES.filter((category) => totals[category.key] > 0);
  if (found.length === 0) return 'No findings.';
  return `${found.map((category) => `${category.label}: ${totals[category.key]}`).join(', ')}.`;
}

function percent(part: number, whole: number): string {
  return `${Math.round((part / whole) * 1000) / 10}%`;
}

function milliseconds(value: number | null): string {
  if (value === null) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { useEvents } from '../api/events';
import type { components } from '../api/schema';
import { Badge, type Tone } from '../components/Badge';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes, formatDate, formText } from '../components/format';
import { Link } from '../components/Link';
import { Table, type Column } from '../components/Table';
import { useConsole } from '../session';
import { ScanUpload } from './ScanUpload';

type ScanSummary = components['schemas']['ScanSummary'];
type Outcome = 'clean' | 'findings' | 'error';

export function outcomeOf(scan: Pick<ScanSummary, 'findings' | 'error'>): Outcome {
  if (scan.error !== undefined) return 'error';
  return scan.findings.length > 0 ? 'findings' : 'clean';
}

const TONES: Record<Outcome, Tone> = { clean: 'good', findings: 'bad', error: 'warn' };

export function OutcomeBadge({ scan }: { scan: Pick<ScanSummary, 'findings' | 'error'> }) {
  const outcome = outcomeOf(scan);
  return <Badge tone={TONES[outcome]}>{outcome}</Badge>;
}

const COLUMNS: Column<ScanSummary>[] = [
  {
    header: 'Scan',
    cell: (scan) => (
      <Link to={`/scans/${encodeURIComponent(scan.id)}`}>
        <code class="scan-id">{scan.id}</code>
      </Link>
    ),
  },
  { header: 'Outcome', cell: (scan) => <OutcomeBadge scan={scan} /> },
  {
    header: 'Findings',
    cell: (scan) => (scan.findings.length > 0 ? scan.findings.join(', ') : (scan.error ?? '—')),
  },
  { header: 'Type', cell: (scan) => scan.content_type ?? '—', wide: true },
  { header: 'Size', cell: (scan) => formatBytes(scan.content_length), wide: true },
  {
    header: 'Metadata',
    cell: (scan) =>
      Object.entries(scan.metadata)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ') || '—',
    wide: true,
  },
  { header: 'Date', cell: (scan) => formatDate(scan.creation_date) },
];

interface Filters {
  outcome: Outcome | '';
  q: string;
}

/** Scan events arriving together are looked up with one request, this long after the first. */
const NEW_SCANS_DEBOUNCE_MS = 400;

/**
 * The tenant's scans, newest first: filter by outcome, search, and load more by cursor; scan a
 * file. Scans that complete while the page is open (the live stream's `scan` events) go on top
 * at once while the reader is at the top of the page and not pointing at or focused in the list;
 * otherwise an "N new scans" button waits for them, so no row moves under the reader's cursor.
 */
export function ScansView() {
  const { api } = useConsole();
  const [filters, setFilters] = useState<Filters>({ outcome: '', q: '' });
  const [scans, setScans] = useState<ScanSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | undefined>();

  const load = async (from: string | null, replace: boolean, active: () => boolean) => {
    setLoading(true);
    setError(undefined);
    const query = {
      limit: 50,
      ...(filters.outcome ? { outcome: filters.outcome } : {}),
      ...(filters.q ? { q: filters.q } : {}),
      ...(from ? { cursor: from } : {}),
    };
    try {
      const { data, error: failure, response } = await api.GET('/v1/scans', { params: { query } });
      if (!active()) return;
      if (data) {
        setScans((previous) => (replace ? data.scans : [...previous, ...data.scans]));
        setCursor(data.next_cursor);
      } else setError(errorMessage(failure, response.status));
    } catch (failure) {
      if (active()) setError(`The API could not be reached: ${String(failure)}`);
    } finally {
      if (active()) setLoading(false);
    }
  };

  useEffect(() => {
    let active = true;
    void load(null, true, () => active);
    return () => {
      active = false;
    };
  }, [filters]);

  const live = useNewScans({
    shown: scans,
    fetchNewest: async () => {
      const query = {
        limit: 50,
        ...(filters.outcome ? { outcome: filters.outcome } : {}),
        ...(filters.q ? { q: filters.q } : {}),
      };
      const { data } = await api.GET('/v1/scans', { params: { query } });
      return data?.scans;
    },
    prepend: (fresh) => setScans((previous) => [...fresh, ...previous]),
  });

  // The button goes away with the click: focus moves to the newest scan rather than to nowhere.
  const showWaiting = async () => {
    await live.showWaiting();
    document.querySelector<HTMLElement>('main tbody a')?.focus();
  };

  const search = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setFilters({
      outcome: formText(form, 'outcome') as Outcome | '',
      q: formText(form, 'q').trim(),
    });
  };

  return (
    <section>
      <h1>Scans</h1>
      <ScanUpload />
      <form class="filters" role="search" onSubmit={search}>
        <div class="field">
          <label for="scan-search">Search</label>
          <input
            id="scan-search"
            name="q"
            type="search"
            maxLength={256}
            placeholder="id, checksum, metadata or finding"
            defaultValue={filters.q}
          />
        </div>
        <div class="field">
          <label for="scan-outcome">Outcome</label>
          <select id="scan-outcome" name="outcome" defaultValue={filters.outcome}>
            <option value="">Any</option>
            <option value="clean">Clean</option>
            <option value="findings">Findings</option>
            <option value="error">Error</option>
          </select>
        </div>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <ErrorBanner message={error} />
      <div aria-live="polite">
        {live.waiting > 0 ? (
          <button type="button" class="new-scans" onClick={() => void showWaiting()}>
            {live.waiting === 1 ? '1 new scan: show it' : `${live.waiting} new scans: show them`}
          </button>
        ) : null}
      </div>
      {scans.length > 0 ? (
        <div {...live.listProps}>
          <Table
            caption="Scans, newest first"
            columns={COLUMNS}
            rows={scans}
            rowKey={(s) => s.id}
          />
        </div>
      ) : loading || error ? null : (
        <EmptyState title={filters.q || filters.outcome ? 'No scan matches.' : 'No scans yet.'} />
      )}
      <p aria-live="polite" class="status-line">
        {loading ? 'Loading…' : `${scans.length} scan${scans.length === 1 ? '' : 's'} shown.`}
      </p>
      {cursor && !loading ? (
        <button type="button" onClick={() => void load(cursor, false, () => true)}>
          Load more
        </button>
      ) : null}
    </section>
  );
}

/**
 * Follows the live stream for scans completed after the list was read. New ones are fetched
 * (the first page, with the list's filters: a scan the filters leave out is not shown) and put
 * on top right away when nothing the reader is looking at would move; otherwise they wait behind
 * the "N new scans" button. A reconnected stream may have missed scans: the same check runs.
 */
function useNewScans({
  shown,
  fetchNewest,
  prepend,
}: {
  shown: ScanSummary[];
  fetchNewest: () => Promise<ScanSummary[] | undefined>;
  prepend: (fresh: ScanSummary[]) => void;
}) {
  const [waiting, setWaiting] = useState(0);
  const pending = useRef(new Set<string>());
  const engaged = useRef({ pointer: false, focus: false });
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef({ shown, fetchNewest, prepend });
  latest.current = { shown, fetchNewest, prepend };
  const opened = useRef(false);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const readerIsStill = () =>
    window.scrollY < 80 && !engaged.current.pointer && !engaged.current.focus;

  const take = async () => {
    const newest = await latest.current.fetchNewest();
    if (!newest) return;
    const known = new Set(latest.current.shown.map((scan) => scan.id));
    const fresh = newest.filter((scan) => !known.has(scan.id));
    pending.current.clear();
    setWaiting(0);
    if (fresh.length > 0) latest.current.prepend(fresh);
  };
  const arrived = (id: string | undefined) => {
    if (id !== undefined) {
      if (latest.current.shown.some((scan) => scan.id === id)) return;
      pending.current.add(id);
    }
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      if (readerIsStill()) void take();
      else setWaiting(Math.max(pending.current.size, 1));
    }, NEW_SCANS_DEBOUNCE_MS);
  };
  useEvents('/v1/events', {
    scan: (event) => arrived(event.id),
    onOpen: () => {
      if (opened.current) arrived(undefined);
      opened.current = true;
    },
  });
  const engage = (what: 'pointer' | 'focus', on: boolean) => () => {
    engaged.current[what] = on;
  };
  return {
    waiting,
    showWaiting: take,
    listProps: {
      onPointerEnter: engage('pointer', true),
      onPointerLeave: engage('pointer', false),
      onFocusIn: engage('focus', true),
      onFocusOut: engage('focus', false),
    },
  };
}

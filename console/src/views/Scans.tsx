import { useEffect, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { Badge, type Tone } from '../components/Badge';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatBytes, formatDate, formText } from '../components/format';
import { Link } from '../components/Link';
import { Table, type Column } from '../components/Table';
import { useConsole } from '../session';

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

/** The tenant's scans, newest first: filter by outcome, search, and load more by cursor. */
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
      {scans.length > 0 ? (
        <Table caption="Scans, newest first" columns={COLUMNS} rows={scans} rowKey={(s) => s.id} />
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

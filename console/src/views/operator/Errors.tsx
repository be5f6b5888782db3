import { useState } from 'preact/hooks';
import { useApi } from '../../api/use-api';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { formatDate } from '../../components/format';
import { Table, type Column } from '../../components/Table';
import { useConsole } from '../../session';
import type { ErrorEntry } from './types';

const KINDS = [
  { value: 'scan', label: 'Scan jobs failed for good' },
  { value: 'callback', label: 'Callbacks given up' },
  { value: 'engine', label: 'Engine failures' },
  { value: 'http', label: '500 answers' },
  { value: 'retro', label: 'Retro jobs failed' },
] as const;

// Every field as text: messages may quote what a tenant sent.
const COLUMNS: Column<ErrorEntry>[] = [
  { header: 'When', cell: (entry) => formatDate(entry.at) },
  { header: 'Kind', cell: (entry) => entry.kind },
  { header: 'Message', cell: (entry) => entry.message },
  { header: 'Tenant', cell: (entry) => entry.tenant_id ?? '—', wide: true },
  {
    header: 'Scan',
    cell: (entry) => (entry.scan_id ? <code>{entry.scan_id}</code> : '—'),
    wide: true,
  },
];

/** Recent errors from every process (`GET /admin/errors`), newest first, filtered by kind. */
export function ErrorsView() {
  const { api } = useConsole();
  const errors = useApi(() => api.GET('/admin/errors', { params: { query: { limit: 500 } } }), []);
  const [kind, setKind] = useState('');
  const shown = (errors.data?.errors ?? []).filter((entry) => !kind || entry.kind === kind);
  return (
    <section>
      <h1>Recent errors</h1>
      <div class="filters">
        <div class="field">
          <label for="error-kind">Kind</label>
          <select
            id="error-kind"
            value={kind}
            onChange={(event) => setKind(event.currentTarget.value)}
          >
            <option value="">Any</option>
            {KINDS.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={errors.reload} disabled={errors.loading}>
          Refresh
        </button>
      </div>
      <ErrorBanner message={errors.error} />
      {shown.length > 0 ? (
        <Table
          caption="Recent errors, newest first"
          columns={COLUMNS}
          rows={shown}
          rowKey={(entry) => `${entry.at}|${entry.kind}|${entry.scan_id ?? ''}|${entry.message}`}
        />
      ) : errors.data ? (
        <EmptyState title={kind ? 'No error of this kind.' : 'No errors recorded.'} />
      ) : null}
      <p class="status-line" aria-live="polite">
        {errors.loading
          ? 'Loading…'
          : `${shown.length} error${shown.length === 1 ? '' : 's'} shown.`}
      </p>
    </section>
  );
}

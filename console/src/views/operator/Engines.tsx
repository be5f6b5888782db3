import { useState } from 'preact/hooks';
import { useApi } from '../../api/use-api';
import { ConfirmButton } from '../../components/ConfirmButton';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { DefinitionTable, Table, type Column } from '../../components/Table';
import { formatDate } from '../../components/format';
import { useConsole } from '../../session';
import { attempt } from './shared';
import type { EngineReport } from './types';

type TypeReport = NonNullable<EngineReport['types']>[number];
type ContainerReport = NonNullable<EngineReport['containers']>[number];

const TYPE_COLUMNS: Column<TypeReport>[] = [
  { header: 'Type', cell: (type) => <code>{type.type}</code> },
  { header: 'Loaded', cell: (type) => String(type.loaded) },
  { header: 'Skipped', cell: (type) => String(type.skipped) },
  { header: 'Warnings', cell: (type) => String(type.warnings), wide: true },
  {
    header: 'Skipped because',
    cell: (type) =>
      Object.entries(type.reasons)
        .map(([reason, count]) => `${reason}: ${count}`)
        .join(', ') || '—',
    wide: true,
  },
];

const CONTAINER_COLUMNS: Column<ContainerReport>[] = [
  { header: 'File', cell: (container) => <code>{container.file}</code> },
  { header: 'Version', cell: (container) => String(container.version) },
  { header: 'Signatures', cell: (container) => String(container.signatures) },
  {
    header: 'Loaded',
    cell: (container) => (container.loaded ? 'yes' : `no: ${container.error ?? 'unknown'}`),
  },
  { header: 'Checked', cell: (container) => container.verification ?? '—', wide: true },
  { header: 'Built', cell: (container) => formatDate(container.builtAt), wide: true },
];

/**
 * The scan engines of the process that answers (`GET /admin/signatures`): versions, signature
 * counts per database type, ClamAV containers; Reload (`POST /admin/signatures/reload`).
 */
export function EnginesView() {
  const { api } = useConsole();
  const report = useApi(() => api.GET('/admin/signatures'), []);
  const [reloaded, setReloaded] = useState(false);
  const engines = report.data?.engines ?? [];
  return (
    <section>
      <h1>Engines</h1>
      <p>
        The signature databases of the API process that answered. Reload reads them again in that
        process; other processes reload on SIGHUP.
      </p>
      <div class="actions">
        <ConfirmButton
          label="Reload signatures"
          question="Reload every engine’s signature databases now?"
          run={() =>
            attempt(
              () => api.POST('/admin/signatures/reload'),
              () => {
                setReloaded(true);
                report.reload();
              },
            )
          }
        />
        <span aria-live="polite" class="status-line">
          {reloaded ? 'Signatures reloaded.' : ''}
        </span>
      </div>
      <ErrorBanner message={report.error} />
      {report.data && engines.length === 0 ? <EmptyState title="No engine is loaded." /> : null}
      {engines.map((engine) => (
        <article class="engine-card" key={engine.name} aria-label={`Engine ${engine.name}`}>
          <h2>{engine.name}</h2>
          <DefinitionTable
            caption={`Engine ${engine.name}`}
            entries={[
              ['Version', engine.version ?? '—'],
              ['Signatures', engine.signatures?.toString() ?? '—'],
              ['Problems', engine.problems?.toString() ?? '—'],
              ['Warnings', engine.warnings?.toString() ?? '—'],
              ['Load time', engine.loadMs === undefined ? '—' : `${Math.round(engine.loadMs)} ms`],
            ]}
          />
          {engine.types && engine.types.length > 0 ? (
            <>
              <h3>Signatures by type</h3>
              <Table
                caption={`Signatures of ${engine.name} by type`}
                columns={TYPE_COLUMNS}
                rows={engine.types}
                rowKey={(type) => type.type}
              />
            </>
          ) : null}
          {engine.containers && engine.containers.length > 0 ? (
            <>
              <h3>Database files</h3>
              <Table
                caption={`Database files of ${engine.name}`}
                columns={CONTAINER_COLUMNS}
                rows={engine.containers}
                rowKey={(container) => container.file}
              />
            </>
          ) : null}
        </article>
      ))}
    </section>
  );
}

import { useState } from 'preact/hooks';
import { useApi } from '../../api/use-api';
import { Badge } from '../../components/Badge';
import { ConfirmButton } from '../../components/ConfirmButton';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { formatDate, formText } from '../../components/format';
import { Link } from '../../components/Link';
import { Table, type Column } from '../../components/Table';
import { useConsole } from '../../session';
import { attempt, SecretValue } from './shared';
import type { KeyCreated, TenantCreated, TenantEntry } from './types';

type KeyEntry = TenantEntry['keys'][number];

/** Credentials the API shows once: kept on screen until the operator dismisses them. */
type Revealed =
  { kind: 'tenant'; created: TenantCreated } | { kind: 'key'; tenant: string; created: KeyCreated };

/**
 * Tenants (`GET /admin/tenants`): each with its keys; create a tenant, add a key, disable a key,
 * and a link to its limits and settings.
 */
export function TenantsView() {
  const { api } = useConsole();
  const tenants = useApi(() => api.GET('/admin/tenants'), []);
  const [revealed, setRevealed] = useState<Revealed | undefined>();
  const [createError, setCreateError] = useState<string | undefined>();
  const [creating, setCreating] = useState(false);

  const create = async (event: SubmitEvent) => {
    event.preventDefault();
    const formElement = event.currentTarget as HTMLFormElement;
    const name = formText(new FormData(formElement), 'name').trim();
    setCreating(true);
    const failure = await attempt(
      () => api.POST('/admin/tenants', { body: { name } }),
      (created) => {
        if (created) setRevealed({ kind: 'tenant', created });
        formElement.reset();
        tenants.reload();
      },
    );
    setCreating(false);
    setCreateError(failure);
  };

  return (
    <section>
      <h1>Tenants</h1>
      <form
        class="inline-form"
        aria-label="Create a tenant"
        onSubmit={(event) => void create(event)}
      >
        <div class="field">
          <label for="tenant-name">New tenant’s name</label>
          <input id="tenant-name" name="name" required maxLength={200} autoComplete="off" />
        </div>
        <button type="submit" class="primary" disabled={creating}>
          {creating ? 'Creating…' : 'Create tenant'}
        </button>
      </form>
      <ErrorBanner message={createError} />
      {revealed ? (
        <RevealedPanel revealed={revealed} onDismiss={() => setRevealed(undefined)} />
      ) : null}
      <ErrorBanner message={tenants.error} />
      {tenants.data && tenants.data.length === 0 ? (
        <EmptyState title="No tenants yet.">
          <p>Create one above: its API key and secret are shown once.</p>
        </EmptyState>
      ) : null}
      {tenants.loading && !tenants.data ? <p class="status-line">Loading…</p> : null}
      {(tenants.data ?? []).map((tenant) => (
        <TenantCard
          key={tenant.id}
          tenant={tenant}
          onKeyCreated={(created) => setRevealed({ kind: 'key', tenant: tenant.name, created })}
          onChanged={tenants.reload}
        />
      ))}
    </section>
  );
}

function RevealedPanel({ revealed, onDismiss }: { revealed: Revealed; onDismiss: () => void }) {
  const heading =
    revealed.kind === 'tenant'
      ? `Tenant ${revealed.created.name} created`
      : `New key for ${revealed.tenant}`;
  return (
    <div class="secret-panel" role="region" aria-label="New credentials">
      <h2>{heading}</h2>
      <p>Copy the secret now: it is not shown again.</p>
      {revealed.kind === 'tenant' ? (
        <SecretValue label="Tenant id" value={revealed.created.id} />
      ) : null}
      <SecretValue label="API key" value={revealed.created.key} />
      <SecretValue label="Secret" value={revealed.created.secret} />
      {revealed.kind === 'tenant' ? (
        <SecretValue label="Signing secret" value={revealed.created.signing_secret} />
      ) : null}
      <button type="button" onClick={onDismiss}>
        Done
      </button>
    </div>
  );
}

function TenantCard({
  tenant,
  onKeyCreated,
  onChanged,
}: {
  tenant: TenantEntry;
  onKeyCreated: (created: KeyCreated) => void;
  onChanged: () => void;
}) {
  const { api } = useConsole();
  const [addError, setAddError] = useState<string | undefined>();
  const addKey = async () => {
    setAddError(
      await attempt(
        () => api.POST('/admin/tenants/{id}/keys', { params: { path: { id: tenant.id } } }),
        (created) => {
          if (created) onKeyCreated(created);
          onChanged();
        },
      ),
    );
  };
  const columns: Column<KeyEntry>[] = [
    { header: 'Key', cell: (key) => <code>{key.key}</code> },
    {
      header: 'State',
      cell: (key) =>
        key.active ? <Badge tone="good">active</Badge> : <Badge tone="neutral">disabled</Badge>,
    },
    { header: 'Created', cell: (key) => formatDate(key.creation_date), wide: true },
    { header: 'Last used', cell: (key) => formatDate(key.last_seen_date), wide: true },
    {
      header: 'Action',
      cell: (key) =>
        key.active ? (
          <ConfirmButton
            label={`Disable ${key.key}`}
            question={`Disable key ${key.key}? Its calls and tokens get 403 from now on.`}
            danger
            run={() =>
              attempt(
                () => api.DELETE('/admin/keys/{key}', { params: { path: { key: key.key } } }),
                onChanged,
              )
            }
          />
        ) : (
          '—'
        ),
    },
  ];
  return (
    <article class="tenant-card" aria-label={`Tenant ${tenant.name}`}>
      <h2>{tenant.name}</h2>
      <p class="status-line">
        <code>{tenant.id}</code> · created {formatDate(tenant.creation_date)} ·{' '}
        <Link to={`/tenants/${encodeURIComponent(tenant.id)}`}>
          Limits and settings<span class="visually-hidden"> of {tenant.name}</span>
        </Link>
      </p>
      {tenant.keys.length > 0 ? (
        <Table
          caption={`Keys of ${tenant.name}`}
          columns={columns}
          rows={tenant.keys}
          rowKey={(key) => key.key}
        />
      ) : (
        <EmptyState title="No keys." />
      )}
      <p>
        <button type="button" onClick={() => void addKey()}>
          Add a key<span class="visually-hidden"> to {tenant.name}</span>
        </button>
        {addError ? (
          <span class="inline-error" role="alert">
            {addError}
          </span>
        ) : null}
      </p>
    </article>
  );
}

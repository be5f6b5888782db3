import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useApi } from '../api/use-api';
import { Badge } from '../components/Badge';
import { ConfirmButton } from '../components/ConfirmButton';
import { EmptyState } from '../components/EmptyState';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate, formText } from '../components/format';
import { Table, type Column } from '../components/Table';
import { useConsole } from '../session';

type Token = components['schemas']['AuthTokenList']['tokens'][number];
interface RotatedSecret {
  signing_secret: string;
  previous_valid_until: string;
}
interface KeyRow {
  key: string;
  active: boolean;
  creation_date: string;
  last_seen_date: string | null;
  detection_categories_enabled: string[];
}

/**
 * The account's credentials: its API keys (from the account description), its auth tokens
 * (create, list, revoke) and the webhook signing secret (rotate). Secrets are shown once.
 */
export function KeysView() {
  return (
    <section>
      <h1>Keys and tokens</h1>
      <ApiKeys />
      <AuthTokens />
      <SigningSecret />
    </section>
  );
}

function ApiKeys() {
  const { api } = useConsole();
  const account = useApi(() => api.GET('/v2.2/account.json'), []);
  const rows: KeyRow[] = Object.entries(account.data?.keys ?? {}).map(([key, value]) => ({
    key,
    ...value,
  }));
  const columns: Column<KeyRow>[] = [
    { header: 'Key', cell: (row) => <code>{row.key}</code> },
    {
      header: 'State',
      cell: (row) =>
        row.active ? <Badge tone="good">active</Badge> : <Badge tone="bad">disabled</Badge>,
    },
    { header: 'Created', cell: (row) => formatDate(row.creation_date), wide: true },
    { header: 'Last used', cell: (row) => formatDate(row.last_seen_date) },
    {
      header: 'Detection categories',
      cell: (row) => row.detection_categories_enabled.join(', ') || '—',
      wide: true,
    },
  ];
  return (
    <>
      <h2>API keys</h2>
      <p class="status-line">
        Keys are created and disabled by the operator; their secrets are never shown again.
      </p>
      <ErrorBanner message={account.error} />
      {rows.length > 0 ? (
        <Table caption="API keys" columns={columns} rows={rows} rowKey={(row) => row.key} />
      ) : account.data ? (
        <EmptyState title="No API key." />
      ) : null}
    </>
  );
}

function AuthTokens() {
  const { api } = useConsole();
  const tokens = useApi(() => api.GET('/v1/tokens'), []);
  const [minted, setMinted] = useState<Token | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const create = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const timeout = Number(formText(data, 'timeout'));
    setBusy(true);
    setError(undefined);
    try {
      const {
        data: token,
        error: failure,
        response,
      } = await api.POST('/v2.2/auth/tokens', {
        body: { timeout },
        headers: { 'Content-Type': 'application/json' },
      });
      if (token) {
        setMinted({ ...token, scope: 'browser' });
        tokens.reload();
      } else setError(errorMessage(failure, response.status));
    } catch (failure) {
      setError(`The API could not be reached: ${String(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<Token>[] = [
    { header: 'Token', cell: (token) => <code>{token.id}</code> },
    {
      header: 'Kind',
      cell: (token) => (token.scope === 'verdict' ? 'verdict API' : 'auth token'),
      wide: true,
    },
    { header: 'Created', cell: (token) => formatDate(token.creation_date), wide: true },
    { header: 'Expires', cell: (token) => formatDate(token.expiration_date) },
    {
      header: 'Actions',
      cell: (token) => (
        <ConfirmButton
          label="Revoke"
          question="Revoke this token? Whoever holds it loses access at once."
          danger
          run={async () => {
            const { error: failure, response } = await api.DELETE('/v2.2/auth/tokens/{id}', {
              params: { path: { id: token.id } },
            });
            if (response.ok) {
              if (minted?.id === token.id) setMinted(undefined);
              tokens.reload();
            }
            return response.ok ? undefined : errorMessage(failure, response.status);
          }}
        />
      ),
    },
  ];
  const list = tokens.data?.tokens ?? [];
  return (
    <>
      <h2>Auth tokens</h2>
      <p class="status-line">
        Temporary credentials for a browser: they may scan content and read results, nothing else.
      </p>
      <form class="inline-form" onSubmit={(event) => void create(event)}>
        <div class="field">
          <label for="token-timeout">Valid for (seconds)</label>
          <input
            id="token-timeout"
            name="timeout"
            type="number"
            min={1}
            max={86400}
            defaultValue="300"
            required
          />
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create token'}
        </button>
      </form>
      <ErrorBanner message={error} />
      {minted ? (
        <SecretOnce
          label="New auth token"
          value={minted.id}
          note={`Use it as the Basic user with an empty password until ${formatDate(minted.expiration_date)}. It is listed below, and can be revoked there.`}
        />
      ) : null}
      <ErrorBanner message={tokens.error} />
      {list.length > 0 ? (
        <Table caption="Auth tokens" columns={columns} rows={list} rowKey={(token) => token.id} />
      ) : tokens.data ? (
        <EmptyState title="No token is valid now." />
      ) : null}
    </>
  );
}

function SigningSecret() {
  const { api } = useConsole();
  const [rotated, setRotated] = useState<RotatedSecret | undefined>();
  return (
    <>
      <h2>Webhook signing secret</h2>
      <p class="status-line">
        Callbacks are signed with this secret. Rotating it makes a new one; the previous one keeps
        signing beside it for a grace period, so receivers can switch without missing a callback.
      </p>
      <ConfirmButton
        label="Rotate the signing secret"
        question="Make a new signing secret? Receivers must switch to it before the grace period ends."
        run={async () => {
          const { data, error, response } = await api.POST('/v1/webhooks/signing-secret/rotate', {
            body: {},
          });
          if (data) setRotated(data);
          return data ? undefined : errorMessage(error, response.status);
        }}
      />
      {rotated ? (
        <SecretOnce
          label="New signing secret"
          value={rotated.signing_secret}
          note={`Shown once: store it now. Callbacks carry signatures by both secrets until ${formatDate(rotated.previous_valid_until)}; after that, only by this one.`}
        />
      ) : null}
    </>
  );
}

/** A secret shown once, with a copy button. */
function SecretOnce({ label, value, note }: { label: string; value: string; note: string }) {
  const [copied, setCopied] = useState<string | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied.');
    } catch {
      setCopied('Could not copy: select the text and copy it.');
    }
  };
  return (
    <div class="secret-once" role="status">
      <p class="empty-title">{label}</p>
      <p>
        <code class="secret-value" aria-label={label}>
          {value}
        </code>{' '}
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>{' '}
        <span aria-live="polite">{copied}</span>
      </p>
      <p class="status-line">{note}</p>
    </div>
  );
}

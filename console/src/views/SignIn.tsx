import { useState } from 'preact/hooks';
import { errorMessage, type ApiClient } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { formText } from '../components/format';
import type { Session } from '../session';

type Tab = 'tenant' | 'operator';

/** Sign-in: a tenant with its API key and secret, or the operator with the admin token. */
export function SignInView({
  api,
  notice,
  onSignedIn,
}: {
  api: ApiClient;
  /** Why the user is here (the session ended), shown above the form. */
  notice: string | undefined;
  onSignedIn: (session: Session) => void;
}) {
  const [tab, setTab] = useState<Tab>('tenant');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const field = (name: string) => formText(form, name);
    setBusy(true);
    setError(undefined);
    const body =
      tab === 'tenant'
        ? { kind: 'tenant' as const, key: field('key').trim(), secret: field('secret') }
        : { kind: 'operator' as const, token: field('token') };
    try {
      const { data, error: failure, response } = await api.POST('/console/api/session', { body });
      if (data) onSignedIn(data);
      else setError(errorMessage(failure, response.status));
    } catch (failure) {
      setError(`The server could not be reached: ${String(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  const tabButton = (which: Tab, label: string) => (
    <button
      type="button"
      role="tab"
      id={`tab-${which}`}
      aria-selected={tab === which}
      aria-controls="sign-in-panel"
      class={tab === which ? 'tab active' : 'tab'}
      onClick={() => {
        setTab(which);
        setError(undefined);
      }}
    >
      {label}
    </button>
  );

  return (
    <main class="sign-in">
      <h1>Arbiter console</h1>
      {notice ? <p class="notice">{notice}</p> : null}
      <div role="tablist" aria-label="Sign in as">
        {tabButton('tenant', 'Tenant')}
        {tabButton('operator', 'Operator')}
      </div>
      <div id="sign-in-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        <form
          aria-label={tab === 'tenant' ? 'Tenant sign-in' : 'Operator sign-in'}
          onSubmit={(event) => void submit(event)}
        >
          {tab === 'tenant' ? (
            <>
              <label for="key">API key</label>
              <input id="key" name="key" autocomplete="username" required spellcheck={false} />
              <label for="secret">Secret</label>
              <input
                id="secret"
                name="secret"
                type="password"
                autocomplete="current-password"
                required
              />
            </>
          ) : (
            <>
              <label for="token">Admin token</label>
              <input
                id="token"
                name="token"
                type="password"
                autocomplete="current-password"
                required
              />
            </>
          )}
          <ErrorBanner message={error} />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}

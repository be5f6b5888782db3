import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { createApiClient } from './api/client';
import { Link } from './components/Link';
import { matchRoute, navigate, usePath } from './router';
import { Console, type Session } from './session';
import { HOME, VIEWS, type ViewDef } from './views';
import { NotFoundView } from './views/NotFound';
import { SignInView } from './views/SignIn';

type SessionState =
  | { state: 'checking' }
  | { state: 'signed-out'; notice?: string }
  | { state: 'signed-in'; session: Session };

/** The console: asks who the cookie signs in, then shows the sign-in page or the layout. */
export function App() {
  const [state, setState] = useState<SessionState>({ state: 'checking' });
  // The client reads the latest session through a ref: it is made once.
  const current = useRef(state);
  current.current = state;
  const api = useMemo(
    () =>
      createApiClient({
        csrfToken: () =>
          current.current.state === 'signed-in' ? current.current.session.csrf_token : undefined,
        onSessionEnded: () => {
          if (current.current.state === 'signed-in')
            setState({ state: 'signed-out', notice: 'Your session has ended: sign in again.' });
        },
      }),
    [],
  );

  useEffect(() => {
    api.GET('/console/api/session').then(
      ({ data }) =>
        setState(data ? { state: 'signed-in', session: data } : { state: 'signed-out' }),
      () => setState({ state: 'signed-out', notice: 'The server could not be reached.' }),
    );
  }, [api]);

  if (state.state === 'checking') return <p class="loading">Loading…</p>;
  if (state.state === 'signed-out')
    return (
      <SignInView
        api={api}
        notice={state.notice}
        onSignedIn={(session) => setState({ state: 'signed-in', session })}
      />
    );

  const signOut = async () => {
    await api.DELETE('/console/api/session');
    setState({ state: 'signed-out', notice: 'You have signed out.' });
    navigate('/');
  };
  return (
    <Console.Provider value={{ session: state.session, api, navigate, signOut }}>
      <Layout session={state.session} signOut={signOut} />
    </Console.Provider>
  );
}

function findView(
  path: string,
  session: Session,
): { view: ViewDef; params: Record<string, string> } | undefined {
  for (const view of VIEWS) {
    if (!view.roles.includes(session.kind)) continue;
    const params = matchRoute(view.path, path);
    if (params) return { view, params };
  }
  return undefined;
}

function Layout({ session, signOut }: { session: Session; signOut: () => Promise<void> }) {
  const path = usePath();
  const home = HOME[session.kind];
  useEffect(() => {
    if (path === '/' && home !== '/') navigate(home, { replace: true });
  }, [path, home]);
  const found = findView(path, session);
  const nav = VIEWS.filter((view) => view.nav && view.roles.includes(session.kind));
  useEffect(() => {
    document.title = `${found?.view.title ?? 'Not found'} · Arbiter console`;
  }, [found?.view.title]);
  const View = found?.view.component;
  return (
    <div class="layout">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link to="/">
          <span class="brand">Arbiter</span>
        </Link>
        <nav aria-label="Console">
          <ul>
            {nav.map((view) => (
              <li key={view.path}>
                <Link
                  to={view.path}
                  current={path === view.path || path.startsWith(`${view.path}/`)}
                >
                  {view.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>{session.kind === 'operator' ? 'Operator' : `Key ${session.key ?? ''}`}</span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {View && found ? <View params={found.params} /> : <NotFoundView />}
      </main>
    </div>
  );
}

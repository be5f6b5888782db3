import { Link } from '../components/Link';
import { useConsole } from '../session';
import { VIEWS } from '.';

/** Where a sign-in lands: the views this role may open. */
export function HomeView() {
  const { session } = useConsole();
  const views = VIEWS.filter((view) => view.nav && view.roles.includes(session.kind));
  return (
    <section>
      <h1>{session.kind === 'operator' ? 'Operator console' : 'Arbiter console'}</h1>
      <p>
        {session.kind === 'operator'
          ? 'Signed in with the admin token.'
          : `Signed in with the API key ${session.key ?? ''}.`}
      </p>
      <ul class="view-list">
        {views.map((view) => (
          <li key={view.path}>
            <Link to={view.path}>{view.title}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

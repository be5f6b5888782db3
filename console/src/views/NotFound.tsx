import { EmptyState } from '../components/EmptyState';
import { Link } from '../components/Link';

export function NotFoundView() {
  return (
    <EmptyState title="There is no such page in the console.">
      <p>
        <Link to="/">Back to the start</Link>
      </p>
    </EmptyState>
  );
}

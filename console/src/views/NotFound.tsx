import { EmptyState } from '../components/EmptyState';
import { Link } from '../components/Link';

export function NotFoundView() {
  // A heading like every other view's, so a screen reader's heading list finds the page.
  return (
    <>
      <h1>Not found</h1>
      <EmptyState title="There is no such page in the console.">
        <p>
          <Link to="/">Back to the start</Link>
        </p>
      </EmptyState>
    </>
  );
}

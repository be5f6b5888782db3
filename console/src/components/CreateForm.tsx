import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { ApiAnswer } from '../api/use-api';
import { ErrorBanner } from './ErrorBanner';

/**
 * A panel form that creates one thing with a POST (a retro job, a schedule): its fields, then
 * the API's message or what was created (its id), and a submit button that is busy while the
 * request runs. `request` reads the submitted form and makes the call.
 */
export function CreateForm({
  headingId,
  heading,
  request,
  onCreated,
  createdText,
  button,
  busyButton,
  children,
}: {
  headingId: string;
  heading: string;
  request: (form: FormData) => Promise<ApiAnswer<{ id: string }>>;
  onCreated: () => void;
  /** What the notice says once created ("Job <id> started."). */
  createdText: (id: ComponentChildren) => ComponentChildren;
  button: string;
  busyButton: string;
  children: ComponentChildren;
}) {
  const [error, setError] = useState<string | undefined>();
  const [created, setCreated] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    setCreated(undefined);
    try {
      const { data, error: failure, response } = await request(form);
      if (data) {
        setCreated(data.id);
        onCreated();
      } else setError(errorMessage(failure, response.status));
    } catch (failure) {
      setError(`The API could not be reached: ${String(failure)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={(event) => void submit(event)} aria-labelledby={headingId}>
      <h2 id={headingId}>{heading}</h2>
      {children}
      <ErrorBanner message={error} />
      {created ? (
        <p class="notice" role="status">
          {createdText(<code>{created}</code>)}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? busyButton : button}
      </button>
    </form>
  );
}

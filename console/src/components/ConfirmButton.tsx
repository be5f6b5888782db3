import { useState } from 'preact/hooks';

/**
 * A button for an action that changes something: the first press asks, the second (on "Yes")
 * acts. `run` returns an error message, or undefined when it worked.
 */
export function ConfirmButton({
  label,
  question,
  danger = false,
  run,
}: {
  label: string;
  question: string;
  danger?: boolean;
  run: () => Promise<string | undefined>;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    const failure = await run();
    setBusy(false);
    setAsking(false);
    setError(failure);
  };
  return (
    <span class="confirm">
      {asking ? (
        <span role="group" aria-label={question}>
          <span class="confirm-question">{question}</span>{' '}
          <button
            type="button"
            class={danger ? 'danger' : 'primary'}
            disabled={busy}
            onClick={() => void confirm()}
          >
            {busy ? 'Working…' : `Yes, ${label.toLowerCase()}`}
          </button>{' '}
          <button type="button" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" class={danger ? 'danger' : undefined} onClick={() => setAsking(true)}>
          {label}
        </button>
      )}
      {error ? (
        <span class="inline-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

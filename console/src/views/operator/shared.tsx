import { useState } from 'preact/hooks';
import { errorMessage } from '../../api/client';
import type { ApiAnswer } from '../../api/use-api';
import './operator.css';

/**
 * Runs a change (an API call) for a ConfirmButton or a form: the API's error message when it
 * failed, undefined when it worked (then `onDone` runs with the answer's data).
 */
export async function attempt<T>(
  call: () => Promise<ApiAnswer<T>>,
  onDone: (data: T | undefined) => void = () => undefined,
): Promise<string | undefined> {
  try {
    const { data, error, response } = await call();
    if (!response.ok) return errorMessage(error, response.status);
    onDone(data);
    return undefined;
  } catch (failure) {
    return `The API could not be reached: ${String(failure)}`;
  }
}

/**
 * A secret shown once (a new key's secret): selectable text and a Copy button. The API never
 * shows it again, so the panel says so.
 */
export function SecretValue({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  };
  return (
    <div class="secret-value">
      <span class="secret-label">{label}</span>
      <code>{value}</code>
      <button type="button" onClick={() => void copy()} aria-label={`Copy ${label}`}>
        Copy
      </button>
      <span aria-live="polite" class="status-line">
        {copied === 'yes' ? 'Copied.' : copied === 'no' ? 'Copy refused: select the text.' : ''}
      </span>
    </div>
  );
}

/** Seconds as `42 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatAge(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

import { useCallback, useEffect, useState } from 'preact/hooks';
import { errorMessage } from './client';

/** What openapi-fetch answers: data on success, error (the body) otherwise. */
export interface ApiAnswer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export interface ApiState<T> {
  data: T | undefined;
  /** The API's error message, when the request failed. */
  error: string | undefined;
  /** The HTTP status of the last answer (404 → not found, say). */
  status: number | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs an API call when the component shows and whenever `deps` change; `reload` runs it again.
 * An answer that arrives after the inputs changed is dropped.
 */
export function useApi<T>(call: () => Promise<ApiAnswer<T>>, deps: unknown[]): ApiState<T> {
  const [state, setState] = useState<Omit<ApiState<T>, 'reload'>>({
    data: undefined,
    error: undefined,
    status: undefined,
    loading: true,
  });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    call().then(
      ({ data, error, response }) => {
        if (!current) return;
        setState({
          data: response.ok ? data : undefined,
          error: response.ok ? undefined : errorMessage(error, response.status),
          status: response.status,
          loading: false,
        });
      },
      (failure: unknown) => {
        if (!current) return;
        setState({
          data: undefined,
          error: `The API could not be reached: ${String(failure)}`,
          status: undefined,
          loading: false,
        });
      },
    );
    return () => {
      current = false;
    };
    // `call` is a new function each render: the caller lists in `deps` what it reads.
  }, [...deps, generation]);
  return { ...state, reload };
}

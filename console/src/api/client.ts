import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/**
 * The console's API client: typed from the OpenAPI document (schema.d.ts, generated), calling the
 * same routes as any client, authenticated by the session cookie. Every unsafe request carries
 * the session's CSRF token; a 401 means the session has ended, which sends the user to sign in.
 */

export type ApiClient = ReturnType<typeof createClient<paths>>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ClientHooks {
  /** The session's CSRF token (undefined before sign-in). */
  csrfToken: () => string | undefined;
  /** Called when the API answers 401: the session is gone. */
  onSessionEnded: () => void;
}

export function createApiClient(hooks: ClientHooks): ApiClient {
  const client = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
  const session: Middleware = {
    onRequest({ request }) {
      const token = hooks.csrfToken();
      if (!SAFE_METHODS.has(request.method) && token !== undefined)
        request.headers.set('X-CSRF-Token', token);
      return request;
    },
    onResponse({ response, request }) {
      // A failed sign-in is a 401 too, but it is the sign-in page's own answer to show.
      if (response.status === 401 && !request.url.endsWith('/console/api/session'))
        hooks.onSessionEnded();
      return response;
    },
  };
  client.use(session);
  return client;
}

/** The `error` message of an API error body, or a generic one. */
export function errorMessage(error: unknown, status?: number): string {
  if (error && typeof error === 'object' && 'error' in error && typeof error.error === 'string')
    return error.error;
  return status ? `The request failed (HTTP ${status}).` : 'The request failed.';
}

import { ArbiterError, StorageError } from '../core/errors.js';

/** Error names the SDK and S3 use for "try again later", whatever the status. */
const RETRYABLE_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'ThrottlingException',
  'Throttling',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
]);

/**
 * Turns what an AWS SDK call threw into a StorageError: 4xx answers are not retryable (they
 * would be answered the same way again), 5xx, 429, throttling and network failures are. A
 * failure that is already ours (the network guard's refusal, a resolve or connect failure) keeps
 * its own `retryable`. The message names the error code, the status and S3's explanation.
 */
export function toStorageError(error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (error instanceof ArbiterError)
    return new StorageError(error.message, { retryable: error.retryable, cause: error });
  const status = e.$metadata?.httpStatusCode;
  const code = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'Error');
  const detail =
    e.message && e.message !== code && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const message = `${code}${status ? ` (HTTP ${status})` : ''}${detail}`;
  const retryable = isRetryableAnswer(status, code, e.message ?? '');
  return new StorageError(message, { retryable, cause: error, status });
}

function isRetryableAnswer(status: number | undefined, code: string, message: string): boolean {
  // A refusal that reached us wrapped, not as the guard's own error class.
  if (message.startsWith('refused: ')) return false;
  if (status === undefined) return true; // no answer: the network failed
  return status === 429 || status >= 500 || RETRYABLE_CODES.has(code);
}

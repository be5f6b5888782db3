import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Secrets must never reach the logs: credentials in headers, API secrets, signing secrets and
 * bucket credentials are redacted by path wherever a caller logs an object that holds them.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'secret',
  'password',
  'signing_secret',
  'signingSecret',
  '*.secret',
  '*.password',
  '*.signing_secret',
  '*.secretAccessKey',
];

/** `destination` defaults to stdout; tests pass a stream to read what was logged. */
export function createLogger(
  level: string,
  name = 'arbiter',
  destination?: DestinationStream,
): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

import { pino, type Logger } from 'pino';

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

export function createLogger(level: string, name = 'arbiter'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}

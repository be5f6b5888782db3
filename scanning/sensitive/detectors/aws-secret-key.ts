import { acceptedMatches, redactToPrefix } from '../patterns.js';
import { CONTEXT_CHARS, type Detector, type Span } from '../types.js';
import { AWS_ACCESS_KEY_ID } from './aws-access-key.js';

/**
 * AWS secret access keys: 40 characters of base64's alphabet. Forty such characters are common
 * (hashes, encoded data), so one counts only within `CONTEXT_CHARS` of an access key id or
 * after a label naming it (`aws_secret_access_key`, `SecretAccessKey`), and only when it mixes
 * upper case, lower case and digits as generated keys do (a hex SHA-1 does not).
 */
const CANDIDATE = /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const LABEL = /aws[_\s-]?secret|secret[_\s-]?access[_\s-]?key/i;

function looksGenerated(value: string): boolean {
  return /[a-z]/.test(value) && /[A-Z]/.test(value) && /[0-9]/.test(value);
}

function isNearAccessKey(text: string, start: number, end: number): boolean {
  const before = text.slice(Math.max(0, start - CONTEXT_CHARS), start);
  const after = text.slice(end, end + CONTEXT_CHARS);
  return (
    LABEL.test(before) ||
    new RegExp(AWS_ACCESS_KEY_ID.source).test(before) ||
    new RegExp(AWS_ACCESS_KEY_ID.source).test(after)
  );
}

function* findSecretKeys(text: string): Generator<Span> {
  yield* acceptedMatches(CANDIDATE, text, (match) => {
    const span = { start: match.index, end: match.index + match[0].length };
    return looksGenerated(match[0]) && isNearAccessKey(text, span.start, span.end)
      ? span
      : undefined;
  });
}

export const awsSecretKey: Detector = {
  type: 'aws_secret_key',
  maxLength: 40,
  find: findSecretKeys,
  redact: redactToPrefix,
};

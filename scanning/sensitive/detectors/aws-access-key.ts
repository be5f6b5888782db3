import { acceptedMatches, redactToPrefix, wholeMatch } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * AWS access key ids: `AKIA` (a user's long-term key) or `ASIA` (temporary credentials), then
 * 16 upper-case letters and digits, standing alone.
 */
export const AWS_ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

function* findAccessKeys(text: string): Generator<Span> {
  yield* acceptedMatches(AWS_ACCESS_KEY_ID, text, wholeMatch);
}

export const awsAccessKey: Detector = {
  type: 'aws_access_key',
  maxLength: 20,
  find: findAccessKeys,
  redact: redactToPrefix,
};

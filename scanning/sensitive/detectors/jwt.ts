import { acceptedMatches, redactToPrefix } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * JSON Web Tokens: three base64url parts joined by dots (the signature empty for `alg: none`),
 * whose header decodes to a JSON object naming its algorithm. Every header starts `{"`, which
 * is `eyJ` in base64url; the decoded header is what tells a token from dotted base64 ids.
 */
const CANDIDATE =
  /(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]{5,2000}\.[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}(?![A-Za-z0-9_.-])/g;

export function hasJwtHeader(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const decoded: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return (
      typeof decoded === 'object' &&
      decoded !== null &&
      typeof (decoded as Record<string, unknown>).alg === 'string'
    );
  } catch {
    return false;
  }
}

function* findJwts(text: string): Generator<Span> {
  yield* acceptedMatches(CANDIDATE, text, (match) =>
    hasJwtHeader(match[0]) ? { start: match.index, end: match.index + match[0].length } : undefined,
  );
}

export const jwt: Detector = {
  type: 'jwt',
  maxLength: 3 + 2000 + 1 + 8000 + 1 + 2000,
  find: findJwts,
  redact: redactToPrefix,
};

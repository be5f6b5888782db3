import { acceptedMatches } from '../patterns.js';
import type { Detector, Span } from '../types.js';

/**
 * PEM private keys: a `-----BEGIN … PRIVATE KEY-----` line (RSA, EC, DSA, OPENSSH, ENCRYPTED,
 * PKCS#8's bare form, PGP's `PRIVATE KEY BLOCK`), base64 lines, and the matching END line
 * within `MAX_BLOCK` characters. A header alone (in documentation, in code that parses keys)
 * does not count: the block must be complete and hold key material.
 */
const BEGIN = /-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY( BLOCK)?-----/g;
/** An RSA key of 16384 bits is about 12,700 characters of PEM. */
const MAX_BLOCK = 16_384;
/** The least base64 a real key's body holds (an Ed25519 key's PKCS#8 body is 64 characters). */
const MIN_BODY = 40;

function blockEnd(text: string, match: RegExpExecArray): number | undefined {
  const endLine = `-----END ${match[1] ?? ''}PRIVATE KEY${match[2] ?? ''}-----`;
  const bodyStart = match.index + match[0].length;
  const endAt = text.indexOf(endLine, bodyStart);
  if (endAt === -1 || endAt + endLine.length - match.index > MAX_BLOCK) return undefined;
  const body = text.slice(bodyStart, endAt);
  const base64 = body.replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s/g, '');
  return /^[A-Za-z0-9+/=]+$/.test(base64) && base64.length >= MIN_BODY
    ? endAt + endLine.length
    : undefined;
}

function* findPrivateKeys(text: string): Generator<Span> {
  yield* acceptedMatches(BEGIN, text, (match) => {
    const end = blockEnd(text, match);
    return end === undefined ? undefined : { start: match.index, end };
  });
}

export const privateKey: Detector = {
  type: 'private_key',
  maxLength: MAX_BLOCK,
  find: findPrivateKeys,
  redact: (value) => `${value.slice(0, value.indexOf('-----', 5) + 5)} (redacted)`,
};

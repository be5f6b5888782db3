import net from 'node:net';
import { badRequest } from './errors.js';
import type { NetworkPolicy } from './network-policy.js';

/**
 * The one rule for every URL a tenant supplies: a file's `location` and `callback`, a bucket's
 * `callback`, S3 `endpoint`, queue URL and queue `endpoint`. The API applies it when the URL is
 * submitted, so a URL that could never be reached is a 400 then rather than a failure later; the
 * outbound clients apply it again to every URL and redirect target before a request is built.
 * Neither replaces the connect-time guard (core/network-guard.ts), which judges every address a
 * host name resolves to: names are not resolved here.
 */

/** Longest URL a tenant may supply. */
export const MAX_URL_LENGTH = 8192;

export type UrlVerdict = { allowed: true; url: URL } | { allowed: false; reason: string };

/**
 * Judges `raw` from its text alone, with no network: it must parse, be http or https, carry no
 * credentials (`user:password@`), not be the `unix:` socket form, be at most MAX_URL_LENGTH, and
 * an IP-literal host (WHATWG parsing has already turned decimal, octal, hex and shortened IPv4
 * spellings into the dotted quad) must be allowed by the network policy.
 */
export function judgeUrl(raw: string, policy: NetworkPolicy): UrlVerdict {
  if (raw.length > MAX_URL_LENGTH)
    return refused(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refused(`"${truncate(raw)}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return refused(`only http and https URLs are accepted (got ${url.protocol.replace(':', '')})`);
  if (url.username || url.password)
    return refused('URLs with embedded credentials (user:password@) are not accepted');
  const host = unbracket(url.hostname);
  // got reads http://unix:/path/to.sock:/request as a UNIX socket request; never a real host.
  if (host === 'unix') return refused('"unix" URLs name a local socket, not a host');
  if (net.isIP(host) !== 0) {
    const verdict = policy.check(host);
    if (!verdict.allowed) return refused(verdict.reason);
  }
  return { allowed: true, url };
}

/** At submit time: the URL, or a 400 that names the field and says why it is refused. */
export function requireAllowedUrl(field: string, raw: string, policy: NetworkPolicy): URL {
  const verdict = judgeUrl(raw, policy);
  if (!verdict.allowed) throw badRequest(`The ${field} was refused: ${verdict.reason}`);
  return verdict.url;
}

function refused(reason: string): UrlVerdict {
  return { allowed: false, reason };
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

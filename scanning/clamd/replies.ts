import { maliciousFinding } from '../findings.js';

/**
 * Reading clamd's answers. A scan reply is `stream: OK`, `stream: <Name> FOUND` or
 * `<message> ERROR` (`INSTREAM size limit exceeded. ERROR`); anything else is unexpected.
 */
export type ScanReply =
  { kind: 'clean' } | { kind: 'found'; name: string } | { kind: 'error'; message: string };

export function parseScanReply(reply: string): ScanReply {
  // An IDSESSION reply starts with the request number ("3: stream: OK"); old clamds said "stream(…)".
  const text = reply.trim().replace(/^\d+: /, '');
  if (/ ERROR$/.test(text)) return { kind: 'error', message: text.replace(/ ERROR$/, '') };
  const match = /^stream(?:\([^)]*\))?: (.*)$/.exec(text);
  if (match) {
    const body = match[1] ?? '';
    if (body === 'OK') return { kind: 'clean' };
    const found = /^(.+) FOUND$/.exec(body);
    if (found) return { kind: 'found', name: found[1] ?? '' };
  }
  return { kind: 'error', message: `unexpected reply "${text.slice(0, 200)}"` };
}

/**
 * A clamd signature name as an Arbiter finding. Heuristic names for content clamd could not
 * fully scan (enabled by AlertEncrypted / AlertExceedsMax) become `content.unscannable.*`, so
 * such content is never reported clean; everything else is malicious.
 */
export function clamdFinding(signatureName: string): string {
  const name = signatureName.replace(/\.UNOFFICIAL$/, '');
  if (/^Heuristics\.Encrypted\./i.test(name)) return 'content.unscannable.encrypted';
  if (/^Heuristics\.Limits\.Exceeded/i.test(name)) return 'content.unscannable.limits-exceeded';
  // A non-recursive zip bomb (entries overlapping in the archive) is a limit problem too.
  if (/^Heuristics\.Zip\.OverlappingFiles/i.test(name))
    return 'content.unscannable.limits-exceeded';
  if (/^Heuristics\.Broken\./i.test(name) || /^Heuristics\..*corrupt/i.test(name))
    return 'content.unscannable.corrupt';
  return maliciousFinding(name);
}

/**
 * Recognises a mail message (RFC 5322 / MIME) from its first bytes: a block of header lines
 * from the very first byte, every complete line a `Name: value` field or a folded continuation,
 * up to the blank line that ends it (or the end of what was seen), holding a field only mail
 * carries. A text that merely contains "From:" or "Subject:" somewhere is not mail; neither is a
 * `key: value` configuration file.
 */

/** Fields that only mail (or a MIME entity) carries: one of them is enough. */
const MAIL_ONLY_FIELDS = new Set([
  'received',
  'return-path',
  'mime-version',
  'message-id',
  'delivered-to',
  'content-transfer-encoding',
  'x-mailer',
  'dkim-signature',
  'authentication-results',
  'in-reply-to',
  'references',
]);

/** Fields of a message's envelope: two different ones together (capitalised) mean mail too. */
const ENVELOPE_FIELDS = new Set(['from', 'to', 'cc', 'subject', 'date', 'reply-to', 'sender']);

/** RFC 5322 field name: printable ASCII except the colon, no spaces. */
const FIELD = /^([!-9;-~]+)[ \t]*:/;

/** How much of the head the sniffers look at. */
export const MAIL_SNIFF_BYTES = 4096;

export function looksLikeMailHeaders(head: Buffer): boolean {
  // Most content fails on its first byte: a field name is printable ASCII.
  const first = head[0] ?? 0;
  if (first < 0x21 || first > 0x7e || first === 0x3a) return false;
  const seen = Math.min(head.length, MAIL_SNIFF_BYTES);
  const lines = head.toString('latin1', 0, seen).split('\n');
  // What follows the last line ending is a line cut short, unless the content ends there.
  const last = lines.pop();
  if (last && seen === head.length) lines.push(last);
  let fields = 0;
  let mailOnly = false;
  const envelope = new Set<string>();
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') break; // the end of the header block
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (fields === 0) return false;
      continue;
    }
    const written = FIELD.exec(line)?.[1];
    if (written === undefined) return false;
    const name = written.toLowerCase();
    fields += 1;
    if (MAIL_ONLY_FIELDS.has(name) || isMimeContentType(name, line)) mailOnly = true;
    // Capitalised as mail writes them: `from:` and `to:` keys of a YAML file do not count.
    if (ENVELOPE_FIELDS.has(name) && /^[A-Z]/.test(written)) envelope.add(name);
  }
  return fields > 0 && (mailOnly || envelope.size >= 2);
}

/** `Content-Type: type/subtype`: a MIME entity, even one without a MIME-Version. */
function isMimeContentType(name: string, line: string): boolean {
  return name === 'content-type' && /:\s*[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+/i.test(line);
}

/**
 * An mbox `From ` separator line: `From <sender> <date>`, as written by MTAs and mail clients
 * (`From MAILER-DAEMON Fri Jul  8 12:08:34 2011`): the date must hold a time and a year, so that
 * prose starting with "From " is not taken for one.
 */
export function isMboxSeparator(line: string): boolean {
  return /^From \S+ +.*\b\d{1,2}:\d{2}(?::\d{2})?\b.*\b\d{4}\b/.test(line);
}

/**
 * The header fields of a mail message that its reader shows (RFC 5322 §3.6): the subject and the
 * addresses of the sender and recipients, unfolded and with RFC 2047 encoded words decoded. They
 * are handed to the analyzers that read text as one more member of the message, `(headers)`:
 * a Subject can hold an account number, To and Cc the addresses of a customer list.
 */

/** The member the header values are handed over as, one a line. */
export const MAIL_HEADERS_MEMBER = '(headers)';

/** The fields read, in the order a reader shows them. */
const SHOWN_FIELDS = ['subject', 'from', 'reply-to', 'to', 'cc', 'bcc'];

/** What gives a field's lines: mailsplit's `headers.get`, whole lines, name included. */
export interface HeaderLines {
  get(key: string): string[];
}

/**
 * The values of the shown fields, decoded, one a line; empty when there is none. The text starts
 * with a line break: were its first line a value such as `Re: …` or `From …`, the walker and the
 * text reader would take the text for a message (or an mbox) of its own.
 */
export function shownHeaderText(headers: HeaderLines): string {
  const values: string[] = [];
  for (const field of SHOWN_FIELDS) {
    for (const line of headers.get(field)) {
      const value = decodeEncodedWords(unfold(line.slice(line.indexOf(':') + 1)));
      if (/\S/.test(value)) values.push(value.trim());
    }
  }
  return values.length === 0 ? '' : `\n${values.join('\n')}\n`;
}

/** A folded field's line breaks removed (RFC 5322 §2.2.3). */
function unfold(value: string): string {
  return value.replace(/\r?\n(?=[ \t])/g, '');
}

/**
 * `=?charset?B?…?=` and `=?charset?Q?…?=` (RFC 2047) decoded; white space between two encoded
 * words is dropped, as §6.2 says. A charset TextDecoder does not know is read as Latin-1.
 */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)[ \t]+(?==\?)/g, '$1')
    .replace(
      /=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=/g,
      (_whole, charset: string, encoding: string, text: string) =>
        decodeBytes(
          encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : quotedBytes(text),
          charset.replace(/\*.*$/, ''),
        ),
    );
}

/** The Q encoding: `_` a space, `=XX` a byte, the rest as written. */
function quotedBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const hex = char === '=' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(char === '_' ? 0x20 : text.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function decodeBytes(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

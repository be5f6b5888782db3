import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * Mail fixtures built at run time: messages and mailboxes by python3's `email` and `mailbox`
 * modules (the writers many mail tools are built on), single-attachment messages by Debian's
 * `mpack`. Nothing of it is stored in the repository.
 */

export interface MailAttachment {
  name: string;
  data: Buffer;
  /** The Content-Transfer-Encoding to write it in (default base64). */
  encoding?: 'base64' | 'quoted-printable' | '7bit';
  /** Default application/octet-stream. */
  type?: string;
}

export interface MailMessage {
  subject?: string;
  /** The text body (default a short greeting). */
  text?: string;
  attachments?: MailAttachment[];
  /** Messages attached as message/rfc822 parts. */
  attachedMessages?: MailMessage[];
  /** Only a text body, no MIME structure at all (an old-style message). */
  plain?: boolean;
}

const BUILDER = String.raw`
import base64, binascii, json, mailbox, os, sys
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.message import Message

def build(spec):
    if spec.get('plain'):
        msg = Message()
        msg.set_payload(spec.get('text', 'Hello,\nnothing attached.\n'))
    else:
        msg = MIMEMultipart()
        msg.attach(MIMEText(spec.get('text', 'Hello,\nplease find attached.\n'), 'plain'))
        for a in spec.get('attachments', []):
            data = base64.b64decode(a['data'])
            major, minor = a.get('type', 'application/octet-stream').split('/')
            part = MIMEBase(major, minor, name=a['name'])
            encoding = a.get('encoding', 'base64')
            if encoding == 'base64':
                part.set_payload(base64.encodebytes(data).decode('ascii'))
            elif encoding == 'quoted-printable':
                part.set_payload(binascii.b2a_qp(data, quotetabs=True, istext=False).decode('ascii'))
            else:
                part.set_payload(data.decode('latin1'))
            part['Content-Transfer-Encoding'] = encoding
            part.add_header('Content-Disposition', 'attachment', filename=a['name'])
            msg.attach(part)
        for index, inner in enumerate(spec.get('attachedMessages', [])):
            part = MIMEMessage(build(inner))
            part.add_header('Content-Disposition', 'attachment', filename='forwarded-%d.eml' % (index + 1))
            msg.attach(part)
    msg['From'] = 'Sender <sender@example.com>'
    msg['To'] = 'recipient@example.com'
    msg['Subject'] = spec.get('subject', 'test message')
    msg['Date'] = 'Thu, 31 Jul 2008 13:49:50 +0000'
    msg['Message-ID'] = '<%s@example.com>' % os.urandom(6).hex()
    if not spec.get('plain'):
        msg['MIME-Version'] = '1.0'
    return msg

request = json.load(sys.stdin)
if request['kind'] == 'eml':
    sys.stdout.buffer.write(build(request['messages'][0]).as_bytes())
else:
    box = mailbox.mbox(request['path'])
    for spec in request['messages']:
        box.add(mailbox.mboxMessage(build(spec)))
    box.flush()
    box.close()
`;

/** One message as python3's email package writes it. */
export function emlMessage(message: MailMessage): Buffer {
  return execFileSync('python3', ['-c', BUILDER], {
    input: JSON.stringify({ kind: 'eml', messages: [encodeSpec(message)] }),
    maxBuffer: 256 * 1024 * 1024,
  });
}

/** A Unix mailbox of `messages` as python3's mailbox.mbox writes it (From_ lines, >From escapes). */
export function mboxFile(messages: MailMessage[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-mbox-'));
  try {
    const path = join(dir, 'box.mbox');
    execFileSync('python3', ['-c', BUILDER], {
      input: JSON.stringify({ kind: 'mbox', path, messages: messages.map(encodeSpec) }),
    });
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A message with `data` attached as `name`, written by Debian's mpack (base64). */
export function mpackMessage(name: string, data: Buffer): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-mpack-'));
  try {
    writeFileSync(join(dir, name), data);
    execFileSync('mpack', ['-s', 'mpack test', '-o', 'out.eml', name], { cwd: dir });
    return readFileSync(join(dir, 'out.eml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function encodeSpec(message: MailMessage): unknown {
  return {
    ...message,
    attachments: message.attachments?.map((a) => ({ ...a, data: a.data.toString('base64') })),
    attachedMessages: message.attachedMessages?.map(encodeSpec),
  };
}

/** `data` uuencoded as `name` by sharutils' uuencode (`-m`: its base64 form). */
export function uuencoded(name: string, data: Buffer, options: { base64?: boolean } = {}): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-uu-'));
  try {
    writeFileSync(join(dir, 'input'), data);
    return execFileSync('uuencode', [...(options.base64 ? ['-m'] : []), 'input', name], {
      cwd: dir,
      maxBuffer: 256 * 1024 * 1024,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `data` yEnc-encoded (yenc.org 1.3, single part) as `name`, CRLF lines of `line` characters.
 * No Debian package writes yEnc; this follows the specification. `crc` overrides the trailer's.
 */
export function yencoded(
  name: string,
  data: Buffer,
  options: { line?: number; crc?: number; size?: number } = {},
): Buffer {
  const width = options.line ?? 128;
  const lines: Buffer[] = [
    Buffer.from(`=ybegin line=${width} size=${data.length} name=${name}\r\n`),
  ];
  let line: number[] = [];
  for (const byte of data) {
    const encoded = (byte + 42) & 0xff;
    if (encoded === 0 || encoded === 0x0a || encoded === 0x0d || encoded === 0x3d) {
      line.push(0x3d, (encoded + 64) & 0xff);
    } else {
      line.push(encoded);
    }
    if (line.length >= width) {
      lines.push(Buffer.from([...line, 0x0d, 0x0a]));
      line = [];
    }
  }
  if (line.length > 0) lines.push(Buffer.from([...line, 0x0d, 0x0a]));
  const crc = (options.crc ?? crc32(data)) >>> 0;
  const size = options.size ?? data.length;
  lines.push(Buffer.from(`=yend size=${size} crc32=${crc.toString(16).padStart(8, '0')}\r\n`));
  return Buffer.concat(lines);
}

/**
 * A BinHex 4.0 file (RFC 1741's format): header, data fork and resource fork with their
 * CRC-16s, RLE90-compressed, 6-bit encoded in 64-character lines after the marker line. No
 * Debian package writes BinHex any more (python3 dropped its binhex module); this follows the
 * format's description. `damage` flips a CRC to make a broken one.
 */
export function binhexed(
  name: string,
  data: Buffer,
  options: { resource?: Buffer; damage?: 'header' | 'data' } = {},
): Buffer {
  const resource = options.resource ?? Buffer.alloc(0);
  const nameBytes = Buffer.from(name, 'latin1');
  const header = Buffer.alloc(1 + nameBytes.length + 1 + 4 + 4 + 2 + 4 + 4);
  header[0] = nameBytes.length;
  nameBytes.copy(header, 1);
  let at = 1 + nameBytes.length + 1;
  header.write('APPLclam', at, 'latin1');
  at += 8 + 2;
  header.writeUInt32BE(data.length, at);
  header.writeUInt32BE(resource.length, at + 4);
  const withCrc = (bytes: Buffer, flip: boolean) => {
    const crc = Buffer.alloc(2);
    crc.writeUInt16BE(crc16(bytes) ^ (flip ? 0xffff : 0));
    return Buffer.concat([bytes, crc]);
  };
  const plain = Buffer.concat([
    withCrc(header, options.damage === 'header'),
    withCrc(data, options.damage === 'data'),
    withCrc(resource, false),
  ]);
  const encoded = sixBit(rle90(plain));
  const lines = [':'];
  for (let i = 0; i < encoded.length; i += 64) lines.push(encoded.slice(i, i + 64));
  const body = `${lines.join('\n').replace(/^:\n/, ':')}:`;
  return Buffer.from(`(This file must be converted with BinHex 4.0)\n\n${body}\n`, 'latin1');
}

function rle90(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length;) {
    const byte = data[i] ?? 0;
    let run = 1;
    while (i + run < data.length && data[i + run] === byte && run < 255) run += 1;
    out.push(byte);
    if (byte === 0x90) out.push(0);
    if (run > 2) {
      out.push(0x90, run);
    } else if (run === 2) {
      out.push(byte);
      if (byte === 0x90) out.push(0);
    }
    i += run;
  }
  return Buffer.from(out);
}

const BINHEX_ALPHABET = '!"#$%&\'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr';

function sixBit(data: Buffer): string {
  let out = '';
  let bits = 0;
  let count = 0;
  for (const byte of data) {
    bits = (bits << 8) | byte;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += BINHEX_ALPHABET[(bits >> count) & 63];
    }
    bits &= (1 << count) - 1;
  }
  if (count > 0) out += BINHEX_ALPHABET[(bits << (6 - count)) & 63];
  return out;
}

function crc16(data: Buffer): number {
  let value = 0;
  for (const byte of data) {
    value ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      value = value & 0x8000 ? ((value << 1) ^ 0x1021) & 0xffff : (value << 1) & 0xffff;
    }
  }
  return value;
}

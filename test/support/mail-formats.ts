import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

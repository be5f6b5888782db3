import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib, { crc32 } from 'node:zlib';

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
  /** The From and To fields (default a sender and a recipient at example.com). */
  from?: string;
  to?: string;
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
    msg['From'] = spec.get('from', 'Sender <sender@example.com>')
    msg['To'] = spec.get('to', 'recipient@example.com')
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

export interface TnefAttachment {
  title: string;
  data: Buffer;
  /** Where the title attribute goes: before the data (default) or after it, as Outlook does. */
  titleAfter?: boolean;
}

/**
 * A TNEF stream (winmail.dat) as MS-OXTNEF describes it: signature, key, version, message
 * class, an optional body, then each attachment's attributes. No Debian package writes TNEF
 * (tnef only reads it); `damage` breaks one attachment's data checksum.
 */
export function tnefFile(
  attachments: TnefAttachment[],
  options: { body?: string; damage?: 'checksum' } = {},
): Buffer {
  const attribute = (level: number, id: number, data: Buffer, breakSum = false) => {
    const header = Buffer.alloc(9);
    header[0] = level;
    header.writeUInt32LE(id >>> 0, 1);
    header.writeUInt32LE(data.length, 5);
    let sum = 0;
    for (const byte of data) sum = (sum + byte) & 0xffff;
    const checksum = Buffer.alloc(2);
    checksum.writeUInt16LE(breakSum ? sum ^ 0xffff : sum);
    return Buffer.concat([header, data, checksum]);
  };
  const u32 = (value: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return b;
  };
  const parts = [
    Buffer.from([0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00]),
    attribute(1, 0x00089006, u32(0x00010000)),
    attribute(1, 0x00078008, Buffer.from('IPM.Microsoft Mail.Note\0')),
  ];
  if (options.body !== undefined) parts.push(attribute(1, 0x0002800c, Buffer.from(options.body)));
  for (const [index, attachment] of attachments.entries()) {
    const title = attribute(2, 0x00018010, Buffer.from(`${attachment.title}\0`));
    const data = attribute(2, 0x0006800f, attachment.data, options.damage === 'checksum');
    parts.push(attribute(2, 0x00069002, Buffer.alloc(14, index)));
    parts.push(...(attachment.titleAfter ? [data, title] : [title, data]));
  }
  return Buffer.concat(parts);
}

export interface SisEntry {
  /** The installed path (`!:\system\apps\x\x.exe`). */
  target: string;
  data: Buffer;
}

/**
 * An old EPOC 6.x SIS package (the layout of Psion's and Nokia's makesis): UIDs, header,
 * language table, file records with UTF-16 names, and each file zlib-compressed (or stored
 * with `stored`). No Debian package writes SIS; this follows the format description.
 */
export function oldSisFile(entries: SisEntry[], options: { stored?: boolean } = {}): Buffer {
  const headerBytes = 84;
  const languagesAt = headerBytes;
  const recordsAt = languagesAt + 2;
  const recordBytes = 4 + 24 + 12 + 8;
  let at = recordsAt + entries.length * recordBytes;
  const names: Buffer[] = [];
  const datas: Buffer[] = [];
  const layout = entries.map((entry) => {
    const name = Buffer.from(entry.target, 'utf16le');
    const nameAt = at;
    at += name.length;
    names.push(name);
    return { name, nameAt };
  });
  const placed = entries.map((entry) => {
    const stored = options.stored ? entry.data : zlib.deflateSync(entry.data);
    const dataAt = at;
    at += stored.length;
    datas.push(stored);
    return { stored, dataAt };
  });
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32LE(0x10203040, 0);
  header.writeUInt32LE(0x10003a12, 4);
  header.writeUInt32LE(0x10000419, 8);
  header.writeUInt16LE(1, 18); // languages
  header.writeUInt16LE(entries.length, 20);
  header.writeUInt32LE(200, 32);
  header.writeUInt16LE(options.stored ? 0x0009 : 0x0001, 36); // unicode, maybe not compressed
  header.writeUInt32LE(languagesAt, 48);
  header.writeUInt32LE(recordsAt, 52);
  const records = entries.map((entry, i) => {
    const record = Buffer.alloc(recordBytes);
    const { name, nameAt } = layout[i]!;
    const { stored, dataAt } = placed[i]!;
    record.writeUInt32LE(0, 0); // a simple file record
    record.writeUInt32LE(0, 4); // file type: simple
    record.writeUInt32LE(name.length, 12);
    record.writeUInt32LE(nameAt, 16);
    record.writeUInt32LE(name.length, 20);
    record.writeUInt32LE(nameAt, 24);
    record.writeUInt32LE(stored.length, 28);
    record.writeUInt32LE(dataAt, 32);
    record.writeUInt32LE(entry.data.length, 36);
    return record;
  });
  return Buffer.concat([header, Buffer.from([0x01, 0x00]), ...records, ...names, ...datas]);
}

/**
 * A SIS 9.x package reduced to what carries files (Symbian OS v9.x SIS File Format
 * Specification): UIDs, SISContents holding a SISCompressed controller (an install block whose
 * file descriptions give `names`, when given) and SISData → SISDataUnit → SISFileData →
 * SISCompressed, zlib (1), stored (0) or another `algorithm`.
 */
export function sis9File(
  files: Buffer[],
  options: { algorithm?: number; names?: string[] } = {},
): Buffer {
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const u32 = (value: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return b;
  };
  const field = (type: number, content: Buffer) =>
    pad(Buffer.concat([u32(type), u32(content.length), content]));
  const element = (content: Buffer) => pad(Buffer.concat([u32(content.length), content]));
  const array = (type: number, elements: Buffer[]) =>
    field(2, Buffer.concat([u32(type), ...elements.map(element)]));
  const compressed = (data: Buffer, algorithm: number) => {
    const header = Buffer.alloc(12);
    header.writeUInt32LE(algorithm, 0);
    header.writeBigUInt64LE(BigInt(data.length), 4);
    return field(3, Buffer.concat([header, algorithm === 1 ? zlib.deflateSync(data) : data]));
  };
  const description = (target: string, index: number, length: number) => {
    const sizes = Buffer.alloc(28);
    sizes.writeBigUInt64LE(BigInt(length), 8);
    sizes.writeBigUInt64LE(BigInt(length), 16);
    sizes.writeUInt32LE(index, 24);
    const hash = field(25, Buffer.concat([u32(1), field(37, Buffer.alloc(32))]));
    return Buffer.concat([
      field(1, Buffer.from(target, 'utf16le')),
      field(1, Buffer.from('x-epoc/x-app', 'utf16le')),
      hash,
      sizes,
    ]);
  };
  const names = options.names ?? [];
  const installBlock = field(
    28,
    Buffer.concat([
      array(
        24,
        names.map((name, i) => description(`!:\\sys\\bin\\${name}`, i, files[i]?.length ?? 0)),
      ),
      array(13, []),
      array(26, []),
    ]),
  );
  const controller = names.length > 0 ? field(13, installBlock) : Buffer.alloc(0);
  const algorithm = options.algorithm ?? 1;
  const fileDatas = files.map((file) => compressed(file, algorithm));
  const data = field(30, array(31, [array(32, fileDatas)]));
  const contents = field(12, Buffer.concat([compressed(controller, 1), data]));
  const uids = Buffer.alloc(16);
  uids.writeUInt32LE(0x10201a7a, 0);
  uids.writeUInt32LE(0xa0001234, 8);
  return Buffer.concat([uids, contents]);
}

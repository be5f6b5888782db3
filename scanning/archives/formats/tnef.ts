import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { ByteReader } from './byte-reader.js';
import { safeMemberName } from './feed.js';

/**
 * TNEF (Transport Neutral Encapsulation Format: `winmail.dat`, application/ms-tnef), Outlook's
 * wrapper for a message's attachments and properties: a signature, then attributes (level,
 * id, length, data, 16-bit checksum). Each attachment's data (attAttachData) is a member, and
 * the plain text body (attBody) is `body.txt` — what ClamAV extracts too. Read as it streams
 * in: attribute data is passed on, never held (only a title, bounded, is read whole). So a
 * member is named by the attAttachTitle that comes before its data, when one does (Outlook
 * writes it after: `attachment-<n>.bin` then).
 */
export const tnefFormat: FormatHandler = {
  name: 'tnef',
  input: 'stream',
  sniff: (head) => head.length >= 7 && head.readUInt32LE(0) === TNEF_SIGNATURE && isLevel(head[6]),
  unpack: unpackTnef,
};

const TNEF_SIGNATURE = 0x223e9f78;
const LEVEL_MESSAGE = 1;
const LEVEL_ATTACHMENT = 2;
/** Attribute ids (type in the high word, id in the low word), as MS-OXTNEF lists them. */
const ATT_BODY = 0x0002800c;
const ATT_ATTACH_REND_DATA = 0x00069002;
const ATT_ATTACH_TITLE = 0x00018010;
const ATT_ATTACH_DATA = 0x0006800f;
/** Titles are 8.3 names or short long names; a longer one is not read. */
const MAX_TITLE = 1024;

function isLevel(level: number | undefined): boolean {
  return level === LEVEL_MESSAGE || level === LEVEL_ATTACHMENT;
}

async function unpackTnef(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'stream') throw new Error('tnef: stream input expected');
  const reader = new ByteReader(input.chunks);
  try {
    await reader.read(6); // signature and legacy key
    let attachments = 0;
    let title: string | undefined;
    while (!context.cancelled() && !(await reader.atEnd())) {
      const header = await reader.read(9);
      // Writers (and mail gateways) leave a line ending or padding after the last attribute.
      if (header.length < 9 && isPadding(header)) return;
      if (header.length < 9)
        throw new Error(`attribute header cut short at byte ${reader.position}`);
      const level = header[0];
      const id = header.readUInt32LE(1);
      const length = header.readUInt32LE(5);
      if (!isLevel(level))
        throw new Error(`attribute level ${level} at byte ${reader.position - 9}`);
      if (id === ATT_ATTACH_REND_DATA) {
        attachments += 1;
        title = undefined;
      } else if (id === ATT_ATTACH_TITLE && length <= MAX_TITLE) {
        const data = await reader.read(length);
        title = data.toString('latin1').replace(/\0.*$/s, '');
        if (!(await skipChecksum(reader))) throw new Error('attachment title cut short');
        continue;
      }
      const member =
        id === ATT_ATTACH_DATA
          ? safeMemberName(title, `attachment-${Math.max(attachments, 1)}.bin`)
          : id === ATT_BODY && level === LEVEL_MESSAGE
            ? 'body.txt'
            : undefined;
      if (member === undefined) {
        if (!(await reader.skip(length + 2))) throw new Error(`attribute ${hex(id)} cut short`);
        continue;
      }
      const data = new AttributeData(reader, length, `${member} (attribute ${hex(id)})`);
      const more = await context.member(member, data, { size: length });
      if (!more) return;
      if (!(await data.finish())) throw new Error(`attribute ${hex(id)} cut short`);
    }
  } finally {
    await reader.close();
  }
}

/**
 * One attribute's data as a member: passed on as read, then its checksum (the sum of its
 * bytes) checked, a mismatch failing the member. What the member did not read is skipped.
 */
class AttributeData implements AsyncIterable<Buffer> {
  private read = 0;
  private checked = false;
  /** The stream ended inside the data: the member reported it, the walk of the file ends. */
  private truncated = false;

  constructor(
    private readonly reader: ByteReader,
    private readonly length: number,
    private readonly what: string,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let sum = 0;
    const pieces = this.reader.stretch(this.length, this.what);
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await pieces.next();
      } catch (err) {
        this.truncated = true;
        throw err;
      }
      if (next.done) break;
      this.read += next.value.length;
      for (const byte of next.value) sum = (sum + byte) & 0xffff;
      yield next.value;
    }
    const stored = await this.reader.read(2);
    this.checked = true;
    if (stored.length < 2) throw new Error(`${this.what}: checksum cut short`);
    if (stored.readUInt16LE(0) !== sum) throw new Error(`${this.what}: checksum mismatch`);
  }

  /** Skips what the member left unread; false when the stream ended first. */
  async finish(): Promise<boolean> {
    if (this.checked || this.truncated) return true;
    return this.reader.skip(this.length - this.read + 2);
  }
}

function isPadding(bytes: Buffer): boolean {
  return bytes.every((byte) => byte === 0x0a || byte === 0x0d || byte === 0x00 || byte === 0x20);
}

async function skipChecksum(reader: ByteReader): Promise<boolean> {
  return reader.skip(2);
}

function hex(id: number): string {
  return `0x${id.toString(16).padStart(8, '0')}`;
}

import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { safeMemberName } from './feed.js';

/**
 * TNEF (Transport Neutral Encapsulation Format: `winmail.dat`, application/ms-tnef), Outlook's
 * wrapper for a message's attachments and properties: a signature, then attributes (level,
 * id, length, data, 16-bit checksum). Each attachment's data (attAttachData) is a member named
 * by its attAttachTitle (`attachment-<n>.bin` without one), and the plain text body (attBody)
 * is `body.txt` — what ClamAV extracts too. Outlook writes an attachment's title after its
 * data, so the attribute headers are listed first and the data read after, from a local file.
 */
export const tnefFormat: FormatHandler = {
  name: 'tnef',
  input: 'file',
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
/** More attributes than this in one TNEF is no message Outlook wrote. */
const MAX_ATTRIBUTES = 100_000;

function isLevel(level: number | undefined): boolean {
  return level === LEVEL_MESSAGE || level === LEVEL_ATTACHMENT;
}

/** An attribute whose data is a member: where the data is, and what it is called. */
interface Payload {
  /** The attachment it belongs to (0: the message). */
  attachment: number;
  kind: 'data' | 'body';
  offset: number;
  length: number;
}

async function unpackTnef(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'file') throw new Error('tnef: file input expected');
  const handle = await open(input.path, 'r');
  try {
    const listing = await listAttributes(handle, input.size);
    for (const payload of listing.payloads) {
      if (context.cancelled()) return;
      const name =
        payload.kind === 'body'
          ? 'body.txt'
          : safeMemberName(
              listing.titles.get(payload.attachment),
              `attachment-${payload.attachment}.bin`,
            );
      const data = attributeData(handle, input.path, payload, name);
      if (!(await context.member(name, data, { size: payload.length }))) return;
    }
    if (listing.error) throw new Error(listing.error);
  } finally {
    await handle.close();
  }
}

/** Walks the attribute headers; stops at the first that does not fit (reported after). */
async function listAttributes(
  handle: FileHandle,
  size: number,
): Promise<{ payloads: Payload[]; titles: Map<number, string>; error?: string }> {
  const payloads: Payload[] = [];
  const titles = new Map<number, string>();
  let attachment = 0;
  let at = 6; // signature and legacy key
  for (let count = 0; at < size; count++) {
    if (count >= MAX_ATTRIBUTES) return { payloads, titles, error: 'too many attributes' };
    const header = await read(handle, at, Math.min(9, size - at));
    // Writers (and mail gateways) leave a line ending or padding after the last attribute.
    if (header.length < 9 && isPadding(header)) break;
    if (header.length < 9) return { payloads, titles, error: `attribute cut short at byte ${at}` };
    const level = header[0];
    const id = header.readUInt32LE(1);
    const length = header.readUInt32LE(5);
    if (!isLevel(level))
      return { payloads, titles, error: `attribute level ${level} at byte ${at}` };
    const dataAt = at + 9;
    if (dataAt + length + 2 > size) {
      // Still scanned as far as it goes: the member fails where the file ends.
      if (id === ATT_ATTACH_DATA)
        payloads.push({ attachment, kind: 'data', offset: dataAt, length });
      return { payloads, titles, error: `attribute 0x${id.toString(16)} cut short at byte ${at}` };
    }
    if (id === ATT_ATTACH_REND_DATA) attachment += 1;
    if (id === ATT_ATTACH_TITLE && length <= MAX_TITLE) {
      const title = (await read(handle, dataAt, length)).toString('latin1');
      titles.set(attachment, title.replace(/\0.*$/s, ''));
    }
    if (id === ATT_ATTACH_DATA) {
      payloads.push({ attachment: Math.max(attachment, 1), kind: 'data', offset: dataAt, length });
    }
    if (id === ATT_BODY && level === LEVEL_MESSAGE) {
      payloads.push({ attachment: 0, kind: 'body', offset: dataAt, length });
    }
    at = dataAt + length + 2;
  }
  return { payloads, titles };
}

/** An attribute's data, then its checksum (the sum of its bytes) checked. */
async function* attributeData(
  handle: FileHandle,
  path: string,
  payload: Payload,
  name: string,
): AsyncGenerator<Buffer> {
  const { offset, length } = payload;
  let sum = 0;
  let delivered = 0;
  if (length > 0) {
    for await (const chunk of createReadStream(path, { start: offset, end: offset + length - 1 })) {
      const bytes = chunk as Buffer;
      delivered += bytes.length;
      for (const byte of bytes) sum = (sum + byte) & 0xffff;
      yield bytes;
    }
  }
  if (delivered < length)
    throw new Error(`${name}: cut short (${length - delivered} of ${length} bytes missing)`);
  const stored = await read(handle, offset + length, 2);
  if (stored.length < 2) throw new Error(`${name}: checksum cut short`);
  if (stored.readUInt16LE(0) !== sum) throw new Error(`${name}: checksum mismatch`);
}

async function read(handle: FileHandle, at: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, at);
  return buffer.subarray(0, bytesRead);
}

function isPadding(bytes: Buffer): boolean {
  return bytes.every((byte) => byte === 0x0a || byte === 0x0d || byte === 0x00 || byte === 0x20);
}

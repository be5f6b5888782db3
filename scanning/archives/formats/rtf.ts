import type { FormatHandler, UnpackContext } from '../format.js';
import { MemberPipe } from './member-pipe.js';
import { hexValue } from './pdf-filters.js';

/**
 * RTF documents: what ClamAV extracts from them, the embedded objects (`\objdata`, hex with
 * `\bin` runs) and raw `\bin` data. An object's OLE1 header ([MS-OLEDS] 2.2.4) is read: a
 * `Package` object yields the file it packages, under its own name; any other embedded object
 * its native data (usually an OLE2 compound file), and data without an OLE1 header is scanned
 * as decoded. Pictures (`\pict`) and `\*\datastore` are not extracted, as ClamAV does not.
 * Read as a stream with a small state: only the brace depth is kept, so unbalanced braces or
 * endless hex runs cost no memory.
 */
export const rtfFormat: FormatHandler = {
  name: 'rtf',
  input: 'stream',
  // Word opens a document starting `{\rt`, so malware uses it to slip past `{\rtf` checks.
  sniff: (head) => {
    const start = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
    return head.toString('latin1', start, start + 4) === '{\\rt';
  },
  async unpack(input, context) {
    if (input.kind !== 'stream') throw new Error('rtf: stream input expected');
    const reader = new RtfReader();
    const sink = new RtfSink(context);
    try {
      for await (const chunk of input.chunks) {
        for (const event of reader.read(chunk)) if (!(await sink.handle(event))) return;
        if (context.cancelled()) return;
      }
      for (const event of reader.finish()) if (!(await sink.handle(event))) return;
    } finally {
      await sink.close();
    }
  },
};

export type RtfEvent =
  | { kind: 'object-start' }
  | { kind: 'object-data'; data: Buffer }
  | { kind: 'object-end' }
  | { kind: 'bin-start'; size: number }
  | { kind: 'bin-data'; data: Buffer }
  | { kind: 'bin-end' };

const MAX_WORD = 32;
const MAX_PARAM = 10;

/** The RTF tokens that matter here, from bytes that arrive in chunks of any size. */
export class RtfReader {
  private depth = 0;
  /** The depth of the `\objdata` group being read, or -1. */
  private objectDepth = -1;
  private mode: 'text' | 'backslash' | 'word' | 'param' | 'escape' | 'binary' = 'text';
  private word = '';
  private param = '';
  private escapeLeft = 0;
  private binaryLeft = 0;
  private binaryInObject = false;
  private high = -1;
  private hex: number[] = [];
  private events: RtfEvent[] = [];

  read(chunk: Buffer): RtfEvent[] {
    this.events = [];
    // Outside objects, text between braces and control words is skipped with indexOf.
    const next = { open: -1, close: -1, backslash: -1 };
    let at = 0;
    while (at < chunk.length) {
      if (this.mode === 'text' && !this.inObject) {
        if (next.open < at) next.open = indexOrEnd(chunk, 0x7b, at);
        if (next.close < at) next.close = indexOrEnd(chunk, 0x7d, at);
        if (next.backslash < at) next.backslash = indexOrEnd(chunk, 0x5c, at);
        at = Math.min(next.open, next.close, next.backslash);
        if (at >= chunk.length) break;
      }
      if (this.mode === 'binary') {
        const take = Math.min(this.binaryLeft, chunk.length - at);
        this.binary(chunk.subarray(at, at + take));
        at += take;
        continue;
      }
      if (this.byte(chunk[at]!)) at++;
    }
    this.flushHex();
    return this.events;
  }

  finish(): RtfEvent[] {
    this.events = [];
    if (this.mode === 'word' || this.mode === 'param') this.endWord();
    if (this.mode === 'binary') this.endBinary();
    this.flushHex();
    if (this.objectDepth >= 0) this.events.push({ kind: 'object-end' });
    this.objectDepth = -1;
    return this.events;
  }

  private get inObject(): boolean {
    return this.objectDepth >= 0;
  }

  /** Handles one byte; false when it must be looked at again in the new mode. */
  private byte(byte: number): boolean {
    switch (this.mode) {
      case 'text':
        this.text(byte);
        return true;
      case 'backslash':
        if (isLetter(byte)) {
          this.word = String.fromCharCode(byte);
          this.param = '';
          this.mode = 'word';
        } else {
          // A control symbol: `\'hh` is followed by two hex digits, the others stand alone.
          this.mode = byte === 0x27 ? 'escape' : 'text';
          this.escapeLeft = 2;
        }
        return true;
      case 'escape':
        if (--this.escapeLeft === 0) this.mode = 'text';
        return true;
      case 'word':
        if (isLetter(byte)) {
          if (this.word.length < MAX_WORD) this.word += String.fromCharCode(byte);
          return true;
        }
        if (isDigit(byte) || (byte === 0x2d && this.param === '')) {
          this.param = String.fromCharCode(byte);
          this.mode = 'param';
          return true;
        }
        return this.endWord(byte);
      case 'param':
        if (isDigit(byte)) {
          if (this.param.length < MAX_PARAM) this.param += String.fromCharCode(byte);
          return true;
        }
        return this.endWord(byte);
      default:
        return true;
    }
  }

  private text(byte: number): void {
    if (byte === 0x7b) this.depth++;
    else if (byte === 0x7d) {
      this.depth = Math.max(0, this.depth - 1);
      if (this.inObject && this.depth < this.objectDepth) {
        this.flushHex();
        this.events.push({ kind: 'object-end' });
        this.objectDepth = -1;
      }
    } else if (byte === 0x5c) this.mode = 'backslash';
    else if (this.inObject) {
      const nibble = hexValue(byte);
      if (nibble < 0) return; // line breaks and spaces inside the hex
      if (this.high < 0) this.high = nibble;
      else {
        this.hex.push((this.high << 4) | nibble);
        this.high = -1;
      }
    }
  }

  /** A control word ended (at `byte`, consumed when it is the delimiting space). */
  private endWord(byte?: number): boolean {
    this.mode = 'text';
    const param = this.param === '' ? undefined : Number(this.param);
    if (this.word === 'objdata' && !this.inObject) {
      this.objectDepth = this.depth;
      this.high = -1;
      this.events.push({ kind: 'object-start' });
    } else if (this.word === 'bin' && param !== undefined && param > 0) {
      this.flushHex();
      this.mode = 'binary';
      this.binaryLeft = param;
      this.binaryInObject = this.inObject;
      if (!this.inObject) this.events.push({ kind: 'bin-start', size: param });
    }
    return byte === 0x20;
  }

  private binary(data: Buffer): void {
    this.binaryLeft -= data.length;
    this.events.push({ kind: this.binaryInObject ? 'object-data' : 'bin-data', data });
    if (this.binaryLeft === 0) this.endBinary();
  }

  private endBinary(): void {
    this.mode = 'text';
    if (!this.binaryInObject) this.events.push({ kind: 'bin-end' });
  }

  private flushHex(): void {
    if (this.hex.length === 0) return;
    this.events.push({ kind: 'object-data', data: Buffer.from(this.hex) });
    this.hex = [];
  }
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const index = chunk.indexOf(byte, from);
  return index < 0 ? chunk.length : index;
}

const isLetter = (byte: number) => (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a);
const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;

/** Turns the reader's events into members. */
class RtfSink {
  private objects = 0;
  private bins = 0;
  private object: EmbeddedObject | undefined;
  private bin: MemberPipe | undefined;

  constructor(private readonly context: UnpackContext) {}

  /** False when the walk is over for this document. */
  async handle(event: RtfEvent): Promise<boolean> {
    switch (event.kind) {
      case 'object-start':
        this.object = new EmbeddedObject(this.context, ++this.objects);
        return true;
      case 'object-data':
        return this.object ? this.object.write(event.data) : true;
      case 'object-end': {
        const object = this.object;
        this.object = undefined;
        return object ? object.end() : true;
      }
      case 'bin-start':
        this.bin = new MemberPipe(this.context, `bin-${++this.bins}.bin`, { size: event.size });
        return true;
      case 'bin-data':
        return this.bin ? this.bin.write(event.data) : true;
      case 'bin-end': {
        const bin = this.bin;
        this.bin = undefined;
        return bin ? bin.end() : true;
      }
    }
  }

  /** Ends what is still open (the document stopped early): its members are still awaited. */
  async close(): Promise<void> {
    await this.object?.end();
    await this.bin?.end();
  }
}

/** Decoded bytes of the OLE1 header gathered before giving up on finding one. */
const MAX_HEADER = 64 * 1024;

/**
 * One `\objdata`: its first bytes are kept until the OLE1 header (and a Package's own header)
 * is read, then the payload is streamed as a member.
 */
class EmbeddedObject {
  private head: Buffer[] = [];
  private headBytes = 0;
  private pipe: MemberPipe | undefined;
  private left = Infinity;

  constructor(
    private readonly context: UnpackContext,
    private readonly index: number,
  ) {}

  async write(data: Buffer): Promise<boolean> {
    if (this.pipe) return this.forward(data);
    this.head.push(data);
    this.headBytes += data.length;
    const layout = readObjectHeader(Buffer.concat(this.head), this.headBytes >= MAX_HEADER);
    if (layout === 'more') return true;
    return this.start(layout);
  }

  async end(): Promise<boolean> {
    if (!this.pipe) {
      if (this.headBytes === 0) return true;
      const layout = readObjectHeader(Buffer.concat(this.head), true);
      if (layout === 'more' || !(await this.start(layout))) return false;
    }
    return this.pipe ? this.pipe.end() : true;
  }

  private async start(layout: ObjectLayout): Promise<boolean> {
    const head = Buffer.concat(this.head);
    this.head = [];
    const name =
      layout.name ??
      (layout.className
        ? `object-${this.index}-${layout.className}.bin`
        : `object-${this.index}.bin`);
    this.pipe = new MemberPipe(
      this.context,
      name,
      layout.size === undefined ? {} : { size: layout.size },
    );
    this.left = layout.size ?? Infinity;
    return this.forward(head.subarray(layout.offset));
  }

  private async forward(data: Buffer): Promise<boolean> {
    if (this.left <= 0 || !this.pipe) return true;
    const part = data.length > this.left ? data.subarray(0, this.left) : data;
    this.left -= part.length;
    await this.pipe.write(part);
    // A member the walker stopped reading (a limit) is no reason to stop the document.
    return !this.context.cancelled();
  }
}

export interface ObjectLayout {
  /** A packaged file's name. */
  name?: string;
  /** The OLE class of another embedded object (its native data is the payload). */
  className?: string;
  /** Where the payload starts in the decoded object, and its declared size. */
  offset: number;
  size?: number;
}

class Short extends Error {}

/** Reads little-endian fields, throwing `Short` past the end of what is there. */
class FieldReader {
  pos = 0;
  constructor(private readonly data: Buffer) {}

  u16(): number {
    this.need(2);
    const value = this.data.readUInt16LE(this.pos);
    this.pos += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.data.readUInt32LE(this.pos);
    this.pos += 4;
    return value;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }

  /** A NUL-terminated string of at most `max` bytes (undefined if longer). */
  cString(max: number): string | undefined {
    const end = this.data.indexOf(0, this.pos);
    if (end < 0) {
      if (this.data.length - this.pos > max) return undefined;
      throw new Short();
    }
    if (end - this.pos > max) return undefined;
    const value = this.data.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return value;
  }

  private need(length: number): void {
    if (this.pos + length > this.data.length) throw new Short();
  }
}

const EMBEDDED = 2;

/**
 * Where an object's payload is: `more` while the header may still be incomplete (unless
 * `final`). Data that is no OLE1 embedded object is the payload whole.
 */
export function readObjectHeader(data: Buffer, final: boolean): ObjectLayout | 'more' {
  try {
    const reader = new FieldReader(data);
    reader.u32(); // OLEVersion
    if (reader.u32() !== EMBEDDED) return { offset: 0 };
    const className = lengthPrefixed(reader, 256);
    if (!className || !/^[\x21-\x7e]+$/.test(className)) return { offset: 0 };
    if (lengthPrefixed(reader, 65536) === undefined) return { offset: 0 }; // TopicName
    if (lengthPrefixed(reader, 65536) === undefined) return { offset: 0 }; // ItemName
    const nativeSize = reader.u32();
    const nativeStart = reader.pos;
    if (className === 'Package') {
      const packaged = readPackage(reader);
      if (packaged) return packaged;
    }
    return { className, offset: nativeStart, size: nativeSize };
  } catch (err) {
    if (!(err instanceof Short)) throw err;
    return final ? { offset: 0 } : 'more';
  }
}

/** LengthPrefixedAnsiString: a 32-bit length (with its NUL), then the bytes. */
function lengthPrefixed(reader: FieldReader, max: number): string | undefined {
  const length = reader.u32();
  if (length > max) return undefined;
  return reader.bytes(length).toString('latin1').replace(/\0+$/, '');
}

/**
 * The Packager's native data (undocumented, stable since Windows 3.1): a signature, the label,
 * the original path, a type (3: an embedded file), the temporary path, then the file itself.
 */
function readPackage(reader: FieldReader): ObjectLayout | undefined {
  reader.u16();
  const label = reader.cString(4096);
  const original = reader.cString(4096);
  if (label === undefined || original === undefined) return undefined;
  const type = reader.u32() >>> 16;
  if (type !== 3) return undefined;
  const tempLength = reader.u32();
  if (tempLength > 4096) return undefined;
  const temp = reader.bytes(tempLength).toString('latin1').replace(/\0.*$/s, '');
  const size = reader.u32();
  const name = [temp, original, label]
    .map(
      (path) =>
        path
          .split(/[/\\]/)
          .pop()
          ?.replace(/[^\x20-\x7e]/g, '') ?? '',
    )
    .find((base) => base !== '');
  return { name: name ?? 'package.bin', offset: reader.pos, size };
}

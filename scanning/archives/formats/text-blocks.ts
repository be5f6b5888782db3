import { crc32 } from '../crc32.js';
import { lineText } from './feed.js';

/**
 * Files encoded as text inside a text: uuencode (`begin 644 name` … `end`, and its base64 form
 * `begin-base64 644 name` … `====`), yEnc (`=ybegin … name=x` … `=yend`) and BinHex 4.0 (a
 * `(This file must be converted with BinHex 4.0)` line, then `:`-delimited 6-bit data,
 * RLE90-compressed, holding a data fork and a resource fork). `TextBlocks` reads the text line
 * by line and turns each block into events: a member starts, its decoded bytes, it ends (with
 * an error when the block is damaged). Only the current line and a BinHex header are held.
 */
export type BlockEvent =
  | { kind: 'start'; name: string; size?: number }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'end'; error?: string }
  /** A block too damaged to hand anything over (a BinHex header that fails its CRC). */
  | { kind: 'corrupt'; detail: string };

/** A uuencode `begin` line: mode in octal, then the name (which may hold spaces). */
const UU_BEGIN = /^begin(-base64)? +([0-7]{3,4}) +(.+?)\s*$/;
const YENC_BEGIN = /^=ybegin (.*)$/;
export const BINHEX_MARKER = '(This file must be converted with BinHex';

/** True when `line` (no line ending) is a line of uuencoded data. */
export function isUuLine(line: string): boolean {
  if (line.length === 0) return false;
  const count = (line.charCodeAt(0) - 32) & 63;
  if (line.charCodeAt(0) < 32 || line.charCodeAt(0) > 96) return false;
  const needed = Math.ceil(count / 3) * 4;
  // Some encoders drop trailing spaces (zero sextets); a checksum character may follow.
  if (line.length - 1 > needed + 2) return false;
  for (let i = 1; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code < 32 || code > 96) return false;
  }
  return true;
}

/** Recognises the start of a block in a line of text (no line ending); undefined if none. */
export function blockStart(line: string): 'uu' | 'uu-base64' | 'yenc' | 'binhex' | undefined {
  const uu = UU_BEGIN.exec(line);
  if (uu) return uu[1] ? 'uu-base64' : 'uu';
  if (YENC_BEGIN.test(line) && /\bname=\S/.test(line) && /\bsize=\d+/.test(line)) return 'yenc';
  if (line.startsWith(BINHEX_MARKER)) return 'binhex';
  return undefined;
}

interface Decoder {
  /** Decodes one line of the block; true when the block ended with it. */
  line(line: Buffer, events: BlockEvent[]): boolean;
  /** The text ended inside the block. */
  cutShort(events: BlockEvent[]): void;
}

export class TextBlocks {
  private decoder: Decoder | undefined;
  private count = 0;
  /** Input bytes read since the current block started (the expansion-ratio base). */
  consumed = 0;

  /** Reads one line (with its line ending; `start` false for the tail of an overlong line). */
  line(bytes: Buffer, start: boolean, events: BlockEvent[]): void {
    this.consumed += bytes.length;
    if (this.decoder) {
      if (this.decoder.line(bytes, events)) this.decoder = undefined;
      return;
    }
    if (!start) return;
    const text = lineText(bytes);
    const kind = blockStart(text);
    if (!kind) return;
    this.count += 1;
    this.consumed = bytes.length;
    this.decoder =
      kind === 'binhex'
        ? new BinHexDecoder(this.count)
        : kind === 'yenc'
          ? new YencDecoder(text, this.count, events)
          : new UuDecoder(text, kind === 'uu-base64', this.count, events);
  }

  /** The text ended. */
  end(events: BlockEvent[]): void {
    this.decoder?.cutShort(events);
    this.decoder = undefined;
  }
}

function blockName(name: string | undefined, index: number, kind: string): string {
  const base = (name ?? '').split(/[/\\]/).pop()?.trim();
  return base && base !== '.' && base !== '..' ? base.slice(0, 255) : `${kind}-${index}.bin`;
}

class UuDecoder implements Decoder {
  private base64Carry = '';
  private lastWasEmpty = false;
  /** The zero-length line that closes the data was read: the block is whole, `end` or not. */
  private complete = false;

  constructor(
    begin: string,
    private readonly base64: boolean,
    index: number,
    events: BlockEvent[],
  ) {
    events.push({ kind: 'start', name: blockName(UU_BEGIN.exec(begin)?.[3], index, 'uuencoded') });
  }

  line(bytes: Buffer, events: BlockEvent[]): boolean {
    const text = lineText(bytes);
    if (this.base64) return this.base64Line(text, events);
    if (text.trimEnd() === 'end' || this.complete) {
      events.push({ kind: 'end' });
      return true;
    }
    if (!isUuLine(text)) {
      // Some encoders leave a blank line (or one of spaces) before `end`.
      if (text.trim() === '' && !this.lastWasEmpty) {
        this.lastWasEmpty = true;
        return false;
      }
      events.push({ kind: 'end', error: 'uuencoded block cut short (a line that is no uuencode)' });
      return true;
    }
    this.lastWasEmpty = false;
    const decoded = decodeUuLine(text);
    if (decoded.length === 0) this.complete = true;
    if (decoded.length > 0) events.push({ kind: 'data', bytes: decoded });
    return false;
  }

  private base64Line(text: string, events: BlockEvent[]): boolean {
    const trimmed = text.trim();
    if (trimmed === '====') {
      events.push({ kind: 'end' });
      return true;
    }
    if (!/^[A-Za-z0-9+/=]*$/.test(trimmed)) {
      events.push({ kind: 'end', error: 'base64 uuencoded block cut short' });
      return true;
    }
    const all = this.base64Carry + trimmed;
    const whole = all.length - (all.length % 4);
    this.base64Carry = all.slice(whole);
    const decoded = Buffer.from(all.slice(0, whole), 'base64');
    if (decoded.length > 0) events.push({ kind: 'data', bytes: decoded });
    return false;
  }

  cutShort(events: BlockEvent[]): void {
    if (this.complete) events.push({ kind: 'end' });
    else events.push({ kind: 'end', error: 'uuencoded block without its end line' });
  }
}

function decodeUuLine(line: string): Buffer {
  const count = (line.charCodeAt(0) - 32) & 63;
  const out = Buffer.alloc(Math.ceil(count / 3) * 3);
  const sextet = (i: number) => (i < line.length ? (line.charCodeAt(i) - 32) & 63 : 0);
  let o = 0;
  for (let i = 1; o < out.length; i += 4) {
    const a = sextet(i);
    const b = sextet(i + 1);
    const c = sextet(i + 2);
    const d = sextet(i + 3);
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
    out[o++] = ((c & 3) << 6) | d;
  }
  return out.subarray(0, count);
}

/** yEnc (yenc.org 1.3): bytes + 42, critical ones escaped with `=` and + 64. */
class YencDecoder implements Decoder {
  private size = 0;
  private crc = 0;
  private declared: number | undefined;
  private part = false;
  private escaped = false;

  constructor(begin: string, index: number, events: BlockEvent[]) {
    this.declared = Number(/\bsize=(\d+)/.exec(begin)?.[1]);
    this.part = /\bpart=\d+/.test(begin);
    const name = blockName(/\bname=(.*)$/.exec(begin)?.[1], index, 'yenc');
    events.push({
      kind: 'start',
      name,
      ...(this.part ? {} : { size: this.declared }),
    });
  }

  line(bytes: Buffer, events: BlockEvent[]): boolean {
    const text = bytes.length < 1024 ? lineText(bytes) : '';
    if (text.startsWith('=ypart ')) return false;
    if (text.startsWith('=yend')) {
      events.push({ kind: 'end', error: this.check(text) });
      return true;
    }
    const out = Buffer.allocUnsafe(bytes.length);
    let o = 0;
    for (const byte of bytes) {
      if (this.escaped) {
        out[o++] = (byte - 64 - 42) & 0xff;
        this.escaped = false;
      } else if (byte === 0x3d) {
        this.escaped = true;
      } else if (byte !== 0x0a && byte !== 0x0d) {
        out[o++] = (byte - 42) & 0xff;
      }
    }
    if (o > 0) {
      const decoded = out.subarray(0, o);
      this.size += o;
      this.crc = crc32(decoded, this.crc);
      events.push({ kind: 'data', bytes: decoded });
    }
    return false;
  }

  private check(end: string): string | undefined {
    const size = Number(/\bsize=(\d+)/.exec(end)?.[1] ?? Number.NaN);
    if (!this.part && Number.isFinite(this.declared) && this.size !== this.declared) {
      return `yEnc block is ${this.size} bytes, ${this.declared} declared`;
    }
    if (Number.isFinite(size) && size !== this.size) {
      return `yEnc block is ${this.size} bytes, ${size} declared at its end`;
    }
    const crc = /\b(?:pcrc32|crc32)=([0-9a-fA-F]{1,8})/.exec(end)?.[1];
    const wanted = this.part ? /\bpcrc32=([0-9a-fA-F]{1,8})/.exec(end)?.[1] : crc;
    if (wanted !== undefined && parseInt(wanted, 16) >>> 0 !== this.crc >>> 0) {
      return 'yEnc block CRC-32 mismatch';
    }
    return undefined;
  }

  cutShort(events: BlockEvent[]): void {
    events.push({ kind: 'end', error: 'yEnc block without its =yend line' });
  }
}

/** Lines (blank, or a note) allowed between the BinHex marker line and the data. */
const MAX_LINES_BEFORE_DATA = 16;
const BINHEX_ALPHABET = '!"#$%&\'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr';
const BINHEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < BINHEX_ALPHABET.length; i++) BINHEX_VALUE[BINHEX_ALPHABET.charCodeAt(i)] = i;

/**
 * BinHex 4.0: after the marker line, `:` opens the data (64-character lines of a 6-bit
 * alphabet) and the next `:` closes it. The decoded bytes are RLE90-expanded (0x90 n repeats
 * the previous byte n-1 more times; 0x90 0 is a literal 0x90), then read as a header (name,
 * type, creator, flags, fork lengths, CRC), the data fork and its CRC, the resource fork and
 * its CRC. Each fork (the resource fork only when not empty) is a member.
 */
class BinHexDecoder implements Decoder {
  private started = false;
  /** Lines seen between the marker and the data: a marker followed by no data is no block. */
  private waited = 0;
  private bits = 0;
  private bitCount = 0;
  private rleMarker = false;
  private last = -1;
  private readonly fork = new ForkReader();

  constructor(private readonly index: number) {}

  line(bytes: Buffer, events: BlockEvent[]): boolean {
    let at = 0;
    if (!this.started) {
      const text = lineText(bytes);
      if (!text.startsWith(':')) return (this.waited += 1) > MAX_LINES_BEFORE_DATA;
      this.started = true;
      at = 1;
    }
    const decoded: number[] = [];
    for (; at < bytes.length; at++) {
      const byte = bytes[at] ?? 0;
      if (byte === 0x3a) {
        this.flush(decoded, events);
        this.fork.finish(events);
        return true;
      }
      if (byte === 0x0a || byte === 0x0d || byte === 0x20 || byte === 0x09) continue;
      const value = BINHEX_VALUE[byte] ?? -1;
      if (value < 0) {
        this.flush(decoded, events);
        this.fork.fail(events, `BinHex data holds a character outside its alphabet`);
        return true;
      }
      this.bits = ((this.bits << 6) | value) & 0xffffff;
      this.bitCount += 6;
      if (this.bitCount >= 8) {
        this.bitCount -= 8;
        this.rle((this.bits >> this.bitCount) & 0xff, decoded);
      }
    }
    this.flush(decoded, events);
    return this.fork.failed;
  }

  /** RLE90: a run is the previous byte repeated; 0x90 0 is 0x90 itself. */
  private rle(byte: number, out: number[]): void {
    if (this.rleMarker) {
      this.rleMarker = false;
      if (byte === 0) {
        out.push(0x90);
        this.last = 0x90;
      } else if (this.last >= 0) {
        for (let n = 1; n < byte; n++) out.push(this.last);
      }
      return;
    }
    if (byte === 0x90) {
      this.rleMarker = true;
      return;
    }
    out.push(byte);
    this.last = byte;
  }

  private flush(decoded: number[], events: BlockEvent[]): void {
    if (decoded.length > 0) this.fork.bytes(Buffer.from(decoded), events, this.index);
    decoded.length = 0;
  }

  cutShort(events: BlockEvent[]): void {
    if (this.started) this.fork.fail(events, 'BinHex data without its closing colon');
  }
}

/** The BinHex byte stream after decoding: header, data fork, resource fork, each CRC-16 checked. */
class ForkReader {
  private phase: 'header' | 'data' | 'data-crc' | 'rsrc' | 'rsrc-crc' | 'done' = 'header';
  private header: number[] = [];
  private name = '';
  private dataLength = 0;
  private rsrcLength = 0;
  private left = 0;
  private crc = 0;
  private crcBytes: number[] = [];
  private open = false;
  failed = false;

  bytes(chunk: Buffer, events: BlockEvent[], index: number): void {
    let at = 0;
    while (at < chunk.length && !this.failed && this.phase !== 'done') {
      if (this.phase === 'header') {
        this.header.push(chunk[at++] ?? 0);
        this.tryHeader(events, index);
      } else if (this.phase === 'data' || this.phase === 'rsrc') {
        const take = Math.min(this.left, chunk.length - at);
        const piece = chunk.subarray(at, at + take);
        this.crc = crc16(piece, this.crc);
        events.push({ kind: 'data', bytes: Buffer.from(piece) });
        at += take;
        this.left -= take;
        if (this.left === 0) this.phase = this.phase === 'data' ? 'data-crc' : 'rsrc-crc';
      } else {
        this.crcBytes.push(chunk[at++] ?? 0);
        if (this.crcBytes.length === 2) this.forkEnd(events, index);
      }
    }
  }

  private tryHeader(events: BlockEvent[], index: number): void {
    const h = this.header;
    const nameLength = h[0] ?? 0;
    if (nameLength < 1 || nameLength > 63) {
      this.fail(events, `BinHex header names a file of ${nameLength} characters`);
      return;
    }
    const total = 1 + nameLength + 1 + 4 + 4 + 2 + 4 + 4 + 2;
    if (h.length < total) return;
    const header = Buffer.from(h);
    const stored = header.readUInt16BE(total - 2);
    if (crc16(header.subarray(0, total - 2), 0) !== stored) {
      this.fail(events, 'BinHex header CRC mismatch');
      return;
    }
    this.name = header.toString('latin1', 1, 1 + nameLength);
    const lengths = 1 + nameLength + 1 + 10;
    this.dataLength = header.readUInt32BE(lengths);
    this.rsrcLength = header.readUInt32BE(lengths + 4);
    this.header = [];
    this.startFork('data', events, index);
  }

  private startFork(fork: 'data' | 'rsrc', events: BlockEvent[], index: number): void {
    const size = fork === 'data' ? this.dataLength : this.rsrcLength;
    const name = blockName(this.name, index, 'binhex');
    events.push({ kind: 'start', name: fork === 'data' ? name : `${name}.rsrc`, size });
    this.open = true;
    this.crc = 0;
    this.left = size;
    this.phase = size === 0 ? (fork === 'data' ? 'data-crc' : 'rsrc-crc') : fork;
  }

  private forkEnd(events: BlockEvent[], index: number): void {
    const stored = ((this.crcBytes[0] ?? 0) << 8) | (this.crcBytes[1] ?? 0);
    this.crcBytes = [];
    const fork = this.phase === 'data-crc' ? 'data fork' : 'resource fork';
    const error = stored === this.crc ? undefined : `BinHex ${fork} CRC mismatch`;
    if (this.open) events.push({ kind: 'end', ...(error ? { error } : {}) });
    this.open = false;
    if (this.phase === 'data-crc' && this.rsrcLength > 0) {
      this.startFork('rsrc', events, index);
    } else {
      this.phase = 'done';
    }
  }

  /** The closing colon: everything declared must have been read. */
  finish(events: BlockEvent[]): void {
    if (this.phase !== 'done' && !this.failed) this.fail(events, 'BinHex data cut short');
  }

  fail(events: BlockEvent[], error: string): void {
    if (this.failed) return;
    this.failed = true;
    if (this.open) {
      events.push({ kind: 'end', error });
      this.open = false;
    } else {
      events.push({ kind: 'corrupt', detail: error });
    }
  }
}

/** CRC-16/XMODEM (polynomial 0x1021, initial 0): BinHex 4.0's CRC. */
function crc16(data: Buffer, crc: number): number {
  let value = crc;
  for (const byte of data) {
    value ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      value = value & 0x8000 ? ((value << 1) ^ 0x1021) & 0xffff : (value << 1) & 0xffff;
    }
  }
  return value;
}

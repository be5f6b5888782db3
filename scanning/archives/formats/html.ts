import { characterReference } from '../../character-references.js';
import type { FormatHandler, UnpackContext } from '../format.js';
import { MemberPipe } from './member-pipe.js';
import { hexValue } from './pdf-filters.js';

/**
 * HTML, XHTML and SVG documents: the content of every `data:` URI (in attributes, CSS `url()`,
 * script strings; base64 or percent-encoded) is a member `data-uri-N.<ext>`, and every long
 * base64 string literal inside `<script>` (`atob("TVqQAAMAAAAE…")`) a member `base64-N.bin`.
 * The document is read as a stream by a byte-at-a-time state machine: what it keeps is a few
 * bytes of look-behind and at most one pending literal head, whatever the input. Character
 * references in a data URI outside script (`&#43;`, `&plus;`) are decoded, as browsers decode
 * them in attributes; script-level obfuscation (string concatenation, `\x` escapes, `unescape`)
 * is not undone.
 */
export const htmlFormat: FormatHandler = {
  name: 'html',
  input: 'stream',
  sniffBytes: 4096,
  sniff: (head) => isMarkup(head),
  async unpack(input, context) {
    if (input.kind !== 'stream') throw new Error('html: stream input expected');
    const scanner = new HtmlScanner();
    const sink = new MemberSink(context);
    try {
      for await (const chunk of input.chunks) {
        for (const event of scanner.read(chunk)) if (!(await sink.handle(event))) return;
        if (context.cancelled()) return;
      }
      for (const event of scanner.finish()) if (!(await sink.handle(event))) return;
    } finally {
      await sink.close();
    }
  },
};

/**
 * Elements a document starts with (after a byte order mark, white space, comments, an XML
 * declaration or a doctype). Plain text, JSON, mail or source code never starts with one of
 * these tags.
 */
const FIRST_TAGS = new Set([
  'html',
  'head',
  'body',
  'script',
  'svg',
  'meta',
  'title',
  'style',
  'link',
  'base',
  'div',
  'p',
  'a',
  'iframe',
  'form',
  'img',
  'table',
  'span',
  'center',
  'font',
  'object',
  'embed',
  'h1',
  'br',
  'noscript',
]);

export function isMarkup(head: Buffer): boolean {
  let text = head.toString('latin1');
  if (text.startsWith('\xef\xbb\xbf')) text = text.slice(3);
  for (let guard = 0; guard < 64; guard++) {
    text = text.replace(/^\s+/, '');
    if (text.startsWith('<!--')) {
      const end = text.indexOf('-->');
      if (end < 0) return false;
      text = text.slice(end + 3);
    } else if (text.startsWith('<?xml')) {
      const end = text.indexOf('?>');
      if (end < 0) return false;
      text = text.slice(end + 2);
    } else if (/^<!doctype\s+(html|svg)/i.test(text)) return true;
    else {
      const tag = /^<([a-z][a-z0-9]*)[\s>/]/i.exec(text)?.[1]?.toLowerCase();
      return tag !== undefined && FIRST_TAGS.has(tag);
    }
  }
  return false;
}

export type HtmlEvent =
  { kind: 'start'; name: string } | { kind: 'data'; data: Buffer } | { kind: 'end' };

/** Base64 literals shorter than this are ordinary strings (ids, hex digests up to SHA-512). */
const MIN_BLOB = 160;
/** The part of a data URI before its comma (media type and parameters). */
const MAX_DATA_HEADER = 256;
const MAX_TAG = 10;

const BASE64 = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((char, index) => (BASE64[char.charCodeAt(0)] = index));

/** `:` (of `data:`) and `<`; in script, quotes too; in a template literal, its end or escape. */
const MARKUP_BYTES = [0x3a, 0x3c];
const SCRIPT_BYTES = [0x3a, 0x3c, 0x22, 0x27, 0x60];
const TEMPLATE_BYTES = [0x3a, 0x3c, 0x60, 0x5c];

const MAX_REFERENCE = 10;
function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const index = chunk.indexOf(byte, from);
  return index < 0 ? chunk.length : index;
}

/** What cannot be in a data URI's media type: the `data:` was ordinary text after all. */
const endsHeader = (c: number) =>
  c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3c || c === 0x3e || c === 0x29;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c;
const isAlnum = (c: number) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** Decodes base64 a character at a time: white space and other bytes are skipped. */
class Base64Decoder {
  private bits = 0;
  private count = 0;

  push(c: number, out: number[]): void {
    if (c === 0x3d) {
      // Padding ends a quantum: what it completes is already out.
      this.count = 0;
      return;
    }
    const value = BASE64[c]!;
    if (value < 0) return;
    this.bits = ((this.bits << 6) | value) & 0xffffff;
    this.count++;
    if (this.count === 2) out.push((this.bits >> 4) & 0xff);
    else if (this.count === 3) out.push((this.bits >> 2) & 0xff);
    else if (this.count === 4) {
      out.push(this.bits & 0xff);
      this.count = 0;
    }
  }
}

type Mode = 'scan' | 'data-header' | 'data-body';

/** Finds data URIs and script base64 literals in bytes arriving in chunks of any size. */
export class HtmlScanner {
  private mode: Mode = 'scan';
  /** The last bytes seen in scan mode, lower-cased: `data` before a colon, and what precedes. */
  private recent: number[] = [];
  private dataUris = 0;
  private blobs = 0;
  // data URIs
  private header = '';
  private terminator: 'quote' | 'paren' | 'bare' = 'bare';
  private quote = 0;
  private base64 = false;
  private percent = -1;
  private percentHigh = -1;
  private decoder = new Base64Decoder();
  /** In an attribute, the browser decodes character references before the URI: so do we. */
  private references = false;
  private reference: string | undefined;
  // tags and script strings
  private tag: string | undefined;
  private inScript = false;
  private stringQuote = 0;
  private escaped = false;
  private blobHead: number[] | undefined;
  private blobOpen = false;
  private out: number[] = [];
  private events: HtmlEvent[] = [];

  read(chunk: Buffer): HtmlEvent[] {
    this.events = [];
    // Most bytes change nothing but the look-behind: they are skipped with indexOf up to the
    // next byte that matters in the current state.
    const next = new Int32Array(256).fill(-1);
    let at = 0;
    while (at < chunk.length) {
      const wanted = this.significantBytes();
      if (wanted) {
        let skipTo = chunk.length;
        for (const byte of wanted) {
          if (next[byte]! < at) next[byte] = indexOrEnd(chunk, byte, at);
          skipTo = Math.min(skipTo, next[byte]!);
        }
        if (skipTo > at) {
          this.remember(chunk, at, skipTo);
          at = skipTo;
          continue;
        }
      }
      this.byte(chunk[at++]!);
    }
    this.flush();
    return this.events;
  }

  /** The bytes that can change the state from here, or undefined when every byte can. */
  private significantBytes(): readonly number[] | undefined {
    if (this.mode !== 'scan' || this.tag !== undefined) return undefined;
    if (!this.inScript) return MARKUP_BYTES;
    if (this.stringQuote === 0) return SCRIPT_BYTES;
    if (this.escaped || this.blobOpen || this.blobHead) return undefined;
    return this.stringQuote === 0x60
      ? TEMPLATE_BYTES
      : [...MARKUP_BYTES, this.stringQuote, 0x5c, 0x0a];
  }

  /** Keeps the last bytes of `chunk[from, to)` as look-behind, as `scan` would have. */
  private remember(chunk: Buffer, from: number, to: number): void {
    for (let i = Math.max(from, to - 6); i < to; i++) {
      const c = chunk[i]!;
      this.recent.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    }
    if (this.recent.length > 6) this.recent.splice(0, this.recent.length - 6);
  }

  finish(): HtmlEvent[] {
    this.events = [];
    if (this.mode === 'data-body') this.endMember();
    this.endBlob();
    this.flush();
    return this.events;
  }

  private byte(c: number): void {
    if (this.mode === 'data-body') {
      if (this.endsData(c)) {
        this.endMember();
        this.mode = 'scan';
        this.scan(c);
      } else if (this.references) this.referenceByte(c);
      else this.dataByte(c);
      return;
    }
    if (this.mode === 'data-header') {
      if (c === 0x2c) this.startData();
      else if (endsHeader(c) || this.header.length >= MAX_DATA_HEADER) {
        this.mode = 'scan';
        this.scan(c);
      } else this.header += String.fromCharCode(c);
      return;
    }
    this.scan(c);
  }

  private scan(c: number): void {
    this.trackTag(c);
    if (this.inScript) this.trackString(c);
    if (c === 0x3a && this.afterData()) {
      const before = this.recent.length >= 5 ? this.recent[this.recent.length - 5]! : 0x20;
      this.terminator =
        before === 0x28 ? 'paren' : before === 0x22 || before === 0x27 ? 'quote' : 'bare';
      this.quote = before;
      this.header = '';
      this.mode = 'data-header';
    }
    this.recent.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    if (this.recent.length > 6) this.recent.shift();
  }

  /** `data` was just seen, not as the end of a longer word (`metadata:`). */
  private afterData(): boolean {
    const r = this.recent;
    const n = r.length;
    if (n < 4 || r[n - 4] !== 0x64 || r[n - 3] !== 0x61 || r[n - 2] !== 0x74 || r[n - 1] !== 0x61)
      return false;
    return n < 5 || !isAlnum(r[n - 5]!);
  }

  private startData(): void {
    const parts = this.header.split(';').map((part) => part.trim().toLowerCase());
    this.base64 = parts.at(-1) === 'base64';
    this.decoder = new Base64Decoder();
    this.percent = -1;
    this.references = !this.inScript;
    this.reference = undefined;
    this.endBlob();
    this.events.push({
      kind: 'start',
      name: `data-uri-${++this.dataUris}.${extension(parts[0] ?? '')}`,
    });
    this.mode = 'data-body';
  }

  private endsData(c: number): boolean {
    if (this.terminator === 'quote') return c === this.quote;
    if (this.terminator === 'paren') return c === 0x29 || c === 0x22 || c === 0x27 || isSpace(c);
    return isSpace(c) || c === 0x3e || c === 0x22 || c === 0x27 || c === 0x3c;
  }

  /** `&#43;`, `&#x2B;`, `&plus;`: the character; anything else after `&` stands as written. */
  private referenceByte(c: number): void {
    if (this.reference === undefined) {
      if (c === 0x26) this.reference = '';
      else this.dataByte(c);
      return;
    }
    if (c === 0x3b) {
      const name = this.reference;
      this.reference = undefined;
      const text = characterReference(name) ?? `&${name};`;
      for (const byte of Buffer.from(text)) this.dataByte(byte);
      return;
    }
    if ((isAlnum(c) || c === 0x23) && this.reference.length < MAX_REFERENCE) {
      this.reference += String.fromCharCode(c);
      return;
    }
    this.flushReference();
    this.referenceByte(c);
  }

  private flushReference(): void {
    if (this.reference === undefined) return;
    const pending = `&${this.reference}`;
    this.reference = undefined;
    for (const byte of Buffer.from(pending, 'latin1')) this.dataByte(byte);
  }

  private dataByte(c: number): void {
    if (this.base64) {
      this.decoder.push(c, this.out);
      return;
    }
    if (this.percent >= 0) {
      const nibble = hexValue(c);
      if (nibble < 0) {
        // Not an escape after all: the bytes stand as written.
        this.out.push(0x25, ...(this.percent === 1 ? [this.percentHigh] : []), c);
        this.percent = -1;
      } else if (this.percent === 0) {
        this.percentHigh = c;
        this.percent = 1;
      } else {
        this.out.push((hexValue(this.percentHigh) << 4) | nibble);
        this.percent = -1;
      }
      return;
    }
    if (c === 0x25) this.percent = 0;
    else this.out.push(c);
    if (this.out.length >= 64 * 1024) this.flush();
  }

  /**
   * `<script …>` starts script, `</script` ends it, even inside what looks like a string (as
   * browsers read it); other tags only matter as names.
   */
  private trackTag(c: number): void {
    if (c === 0x3c) {
      this.tag = '';
      return;
    }
    if (this.tag === undefined) return;
    if ((isAlnum(c) || c === 0x2f) && this.tag.length < MAX_TAG) {
      this.tag += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
      return;
    }
    if (this.tag === 'script') this.inScript = true;
    else if (this.tag === '/script') {
      this.inScript = false;
      this.endString();
    }
    this.tag = undefined;
  }

  private trackString(c: number): void {
    if (this.stringQuote === 0) {
      if (c === 0x22 || c === 0x27 || c === 0x60) {
        this.stringQuote = c;
        this.escaped = false;
        this.blobHead = [];
      }
      return;
    }
    if (this.escaped) {
      this.escaped = false;
      return;
    }
    // A line break ends a '…' or "…" string even if its quote is missing (a quote in a
    // comment): the state comes back in step at the next line.
    if (c === this.stringQuote || (c === 0x0a && this.stringQuote !== 0x60)) {
      this.endString();
      return;
    }
    if (c === 0x5c) {
      this.escaped = true;
      this.endBlob();
      this.blobHead = undefined;
      return;
    }
    this.blobByte(c);
  }

  private blobByte(c: number): void {
    const isBase64 = BASE64[c]! >= 0 || c === 0x3d;
    if (this.blobOpen) {
      if (isBase64) this.decoder.push(c, this.out);
      else this.endBlob();
      if (c === 0x3d) this.endBlob();
      return;
    }
    if (!this.blobHead) return;
    if (!isBase64 || c === 0x3d) {
      this.blobHead = undefined;
      return;
    }
    this.blobHead.push(c);
    if (this.blobHead.length < MIN_BLOB) return;
    this.events.push({ kind: 'start', name: `base64-${++this.blobs}.bin` });
    this.blobOpen = true;
    this.decoder = new Base64Decoder();
    for (const byte of this.blobHead) this.decoder.push(byte, this.out);
    this.blobHead = undefined;
  }

  private endString(): void {
    this.endBlob();
    this.stringQuote = 0;
    this.blobHead = undefined;
  }

  private endBlob(): void {
    if (!this.blobOpen) return;
    this.blobOpen = false;
    this.blobHead = undefined;
    this.endMember();
  }

  private endMember(): void {
    this.flushReference();
    if (this.percent >= 0) {
      this.out.push(0x25, ...(this.percent === 1 ? [this.percentHigh] : []));
      this.percent = -1;
    }
    this.flush();
    this.events.push({ kind: 'end' });
  }

  private flush(): void {
    if (this.out.length === 0) return;
    this.events.push({ kind: 'data', data: Buffer.from(this.out) });
    this.out = [];
  }
}

const EXTENSIONS: Record<string, string> = {
  'application/octet-stream': 'bin',
  'application/x-msdownload': 'exe',
  'application/x-dosexec': 'exe',
  'application/x-msdos-program': 'exe',
  'application/vnd.microsoft.portable-executable': 'exe',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'application/javascript': 'js',
  'text/javascript': 'js',
  'text/html': 'html',
  'text/plain': 'txt',
  'image/svg+xml': 'svg',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
};

function extension(mediaType: string): string {
  return EXTENSIONS[mediaType] ?? (mediaType === '' ? 'txt' : 'bin');
}

/** One member at a time, as the scanner's events open, feed and end it. */
class MemberSink {
  private pipe: MemberPipe | undefined;

  constructor(private readonly context: UnpackContext) {}

  async handle(event: HtmlEvent): Promise<boolean> {
    if (event.kind === 'start') {
      this.pipe = new MemberPipe(this.context, event.name);
      return true;
    }
    if (event.kind === 'data') {
      await this.pipe?.write(event.data);
      return !this.context.cancelled();
    }
    const pipe = this.pipe;
    this.pipe = undefined;
    return pipe ? pipe.end() : true;
  }

  async close(): Promise<void> {
    await this.pipe?.end();
  }
}

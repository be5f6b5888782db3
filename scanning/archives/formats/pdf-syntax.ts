/**
 * The few PDF object types the PDF handler reads (ISO 32000-1 §7.3): dictionaries, arrays,
 * names, strings, numbers and indirect references, parsed from a bounded buffer. Enough to read
 * a stream's dictionary (`/Filter`, `/Length`, `/Type`) and a file specification's name; never
 * used on stream data itself.
 */
export type PdfValue =
  number | boolean | null | Buffer | PdfName | PdfRef | PdfKeyword | PdfValue[] | PdfDict;

export interface PdfName {
  kind: 'name';
  name: string;
}
export interface PdfRef {
  kind: 'ref';
  num: number;
  gen: number;
}
/** A bare keyword (`endobj`, `stream`, `R`…) met where a value was expected. */
export interface PdfKeyword {
  kind: 'keyword';
  word: string;
}
export type PdfDict = Map<string, PdfValue>;

/** The parser ran off the end of its buffer: the object is longer than what was read. */
export class PdfTruncated extends Error {}

const WHITESPACE = new Set([0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]);
const DELIMITERS = new Set([0x28, 0x29, 0x3c, 0x3e, 0x5b, 0x5d, 0x7b, 0x7d, 0x2f, 0x25]);
/** Deeper nesting than this is hostile, not a document. */
const MAX_NESTING = 64;

export const isWhitespace = (byte: number | undefined): boolean =>
  byte !== undefined && WHITESPACE.has(byte);
const isRegular = (byte: number | undefined): boolean =>
  byte !== undefined && !WHITESPACE.has(byte) && !DELIMITERS.has(byte);

export class PdfParser {
  constructor(
    readonly src: Buffer,
    public pos = 0,
  ) {}

  /** Skips whitespace and comments. */
  skipSpace(): void {
    const src = this.src;
    while (this.pos < src.length) {
      const byte = src[this.pos];
      if (isWhitespace(byte)) this.pos++;
      else if (byte === 0x25) {
        while (this.pos < src.length && src[this.pos] !== 0x0a && src[this.pos] !== 0x0d)
          this.pos++;
      } else return;
    }
  }

  /** True (and consumed) when the next token is exactly `word`. */
  keyword(word: string): boolean {
    this.skipSpace();
    const end = this.pos + word.length;
    if (end > this.src.length || this.src.toString('latin1', this.pos, end) !== word) return false;
    if (isRegular(this.src[end])) return false;
    this.pos = end;
    return true;
  }

  value(depth = 0): PdfValue {
    if (depth > MAX_NESTING) throw new Error('PDF objects nested too deeply');
    this.skipSpace();
    const src = this.src;
    const byte = src[this.pos];
    if (byte === undefined) throw new PdfTruncated('object runs past the data read');
    if (byte === 0x3c && src[this.pos + 1] === 0x3c) return this.dict(depth);
    if (byte === 0x3c) return this.hexString();
    if (byte === 0x28) return this.literalString();
    if (byte === 0x2f) return this.name();
    if (byte === 0x5b) return this.array(depth);
    if ((byte >= 0x30 && byte <= 0x39) || byte === 0x2b || byte === 0x2d || byte === 0x2e)
      return this.numberOrRef();
    const word = this.regularRun();
    if (word === '') {
      this.pos++; // a stray delimiter (`)`, `>`, `}`): skipped as a keyword of its own
      return { kind: 'keyword', word: String.fromCharCode(byte) };
    }
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
    return { kind: 'keyword', word };
  }

  private regularRun(): string {
    const start = this.pos;
    while (this.pos < this.src.length && isRegular(this.src[this.pos])) this.pos++;
    if (this.pos === this.src.length && start !== this.pos) {
      // A token cut by the end of the buffer might continue after it.
      throw new PdfTruncated('token runs past the data read');
    }
    return this.src.toString('latin1', start, this.pos);
  }

  private dict(depth: number): PdfDict {
    this.pos += 2;
    const dict: PdfDict = new Map();
    for (;;) {
      this.skipSpace();
      const byte = this.src[this.pos];
      if (byte === undefined) throw new PdfTruncated('dictionary runs past the data read');
      if (byte === 0x3e && this.src[this.pos + 1] === 0x3e) {
        this.pos += 2;
        return dict;
      }
      const key = this.value(depth + 1);
      if (typeof key !== 'object' || key === null || !('kind' in key) || key.kind !== 'name') {
        // Damaged dictionary: keys must be names. Readers skip what they cannot use.
        if (isKeyword(key, 'endobj') || isKeyword(key, 'stream')) return dict;
        continue;
      }
      this.skipSpace();
      if (this.src[this.pos] === 0x3e && this.src[this.pos + 1] === 0x3e) {
        dict.set(key.name, null);
        continue;
      }
      dict.set(key.name, this.value(depth + 1));
    }
  }

  private array(depth: number): PdfValue[] {
    this.pos++;
    const items: PdfValue[] = [];
    for (;;) {
      this.skipSpace();
      const byte = this.src[this.pos];
      if (byte === undefined) throw new PdfTruncated('array runs past the data read');
      if (byte === 0x5d) {
        this.pos++;
        return items;
      }
      const item = this.value(depth + 1);
      if (isKeyword(item, 'endobj')) return items;
      items.push(item);
    }
  }

  private name(): PdfName {
    this.pos++;
    const start = this.pos;
    while (this.pos < this.src.length && isRegular(this.src[this.pos])) this.pos++;
    const raw = this.src.toString('latin1', start, this.pos);
    return {
      kind: 'name',
      name: raw.replace(/#([0-9a-fA-F]{2})/g, (_, hex: string) =>
        String.fromCharCode(parseInt(hex, 16)),
      ),
    };
  }

  private numberOrRef(): number | PdfRef {
    const first = this.number();
    if (!Number.isInteger(first) || first < 0) return first;
    // `num gen R`: look ahead without committing.
    const save = this.pos;
    this.skipSpace();
    const genStart = this.pos;
    while (this.pos < this.src.length && isDigit(this.src[this.pos])) this.pos++;
    if (this.pos > genStart && this.pos - genStart <= 5) {
      const gen = Number(this.src.toString('latin1', genStart, this.pos));
      this.skipSpace();
      if (this.src[this.pos] === 0x52 && !isRegular(this.src[this.pos + 1])) {
        this.pos++;
        return { kind: 'ref', num: first, gen };
      }
    }
    this.pos = save;
    return first;
  }

  private number(): number {
    const start = this.pos;
    while (this.pos < this.src.length && isRegular(this.src[this.pos])) this.pos++;
    const value = Number(this.src.toString('latin1', start, this.pos));
    return Number.isFinite(value) ? value : 0;
  }

  private hexString(): Buffer {
    const end = this.src.indexOf(0x3e, this.pos + 1);
    if (end < 0) throw new PdfTruncated('hex string runs past the data read');
    const digits = this.src.toString('latin1', this.pos + 1, end).replace(/[^0-9a-fA-F]/g, '');
    this.pos = end + 1;
    return Buffer.from(digits.length % 2 ? `${digits}0` : digits, 'hex');
  }

  private literalString(): Buffer {
    const src = this.src;
    const out: number[] = [];
    let depth = 1;
    this.pos++;
    while (this.pos < src.length) {
      const byte = src[this.pos++]!;
      if (byte === 0x5c) {
        const next = src[this.pos++];
        if (next === undefined) break;
        const escaped = ESCAPES[next];
        if (escaped !== undefined) out.push(escaped);
        else if (next >= 0x30 && next <= 0x37) {
          let code = next - 0x30;
          for (let i = 0; i < 2 && isOctal(src[this.pos]); i++)
            code = code * 8 + src[this.pos++]! - 0x30;
          out.push(code & 0xff);
        } else if (next === 0x0d) {
          if (src[this.pos] === 0x0a) this.pos++;
        } else if (next !== 0x0a) out.push(next);
        continue;
      }
      if (byte === 0x28) depth++;
      else if (byte === 0x29 && --depth === 0) return Buffer.from(out);
      out.push(byte);
    }
    throw new PdfTruncated('string runs past the data read');
  }
}

const ESCAPES: Record<number, number> = {
  0x6e: 0x0a,
  0x72: 0x0d,
  0x74: 0x09,
  0x62: 0x08,
  0x66: 0x0c,
  0x28: 0x28,
  0x29: 0x29,
  0x5c: 0x5c,
};

const isDigit = (byte: number | undefined): boolean =>
  byte !== undefined && byte >= 0x30 && byte <= 0x39;
const isOctal = (byte: number | undefined): boolean =>
  byte !== undefined && byte >= 0x30 && byte <= 0x37;

export function isKeyword(value: PdfValue | undefined, word: string): boolean {
  return isObject(value) && 'kind' in value && value.kind === 'keyword' && value.word === word;
}

function isObject(value: PdfValue | undefined): value is PdfName | PdfRef | PdfKeyword {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Buffer.isBuffer(value) &&
    !Array.isArray(value) &&
    !(value instanceof Map)
  );
}

export function asDict(value: PdfValue | undefined): PdfDict | undefined {
  return value instanceof Map ? value : undefined;
}

export function asName(value: PdfValue | undefined): string | undefined {
  return isObject(value) && value.kind === 'name' ? value.name : undefined;
}

export function asRef(value: PdfValue | undefined): PdfRef | undefined {
  return isObject(value) && value.kind === 'ref' ? value : undefined;
}

export function asNumber(value: PdfValue | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** A name or an array of names (`/Filter`), as a list. */
export function nameList(value: PdfValue | undefined): string[] {
  if (Array.isArray(value)) return value.map((item) => asName(item) ?? '');
  const name = asName(value);
  return name === undefined ? [] : [name];
}

/** A dictionary or an array of dictionaries/nulls (`/DecodeParms`), as a list. */
export function dictList(value: PdfValue | undefined): (PdfDict | undefined)[] {
  if (Array.isArray(value)) return value.map((item) => asDict(item));
  return [asDict(value)];
}

/** A PDF text string (UTF-16BE with a byte order mark, UTF-8 with one, else PDFDocEncoding). */
export function textString(bytes: Buffer): string {
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    const body = bytes.subarray(2, bytes.length - (bytes.length % 2));
    return Buffer.from(body).swap16().toString('utf16le');
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    return bytes.subarray(3).toString('utf8');
  return bytes.toString('latin1');
}

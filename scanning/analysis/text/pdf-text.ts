/**
 * The text a PDF content stream shows (ISO 32000-1 §9.4.3): the strings of the text-showing
 * operators `Tj`, `'`, `"` and `TJ`, in the order they are drawn. The walker hands over every
 * stream of a PDF decoded (FlateDecode and the other filters undone), so a page's content
 * stream arrives here as operators in plain bytes.
 *
 * Strings are read as the bytes of a simple font in a standard encoding (Latin-1, near enough
 * to WinAnsi and PDFDocEncoding), or as UTF-16 when they start with its byte order mark. Text
 * in composite fonts (Identity-H glyph numbers) or fonts with their own encodings is not
 * recovered: those bytes mean nothing without the font's tables.
 *
 * Within a `TJ` array, a spacing adjustment wider than a kerning step reads as a space, as
 * pdftotext does; moving the text position (`Td`, `TD`, `Tm`, `T*`, a new text object) ends a
 * word. Consecutive strings with nothing between them are one word (`(fu) Tj (ck) Tj`).
 */
export function pdfContentText(content: string): string {
  const parts: string[] = [];
  const operands: Operand[] = [];
  const reader = new ContentReader(content);
  for (let token = reader.next(); token !== undefined; token = reader.next()) {
    if (token.kind !== 'operator') {
      operands.push(token);
      continue;
    }
    showText(token.value, operands, parts);
    operands.length = 0;
  }
  return parts.join('');
}

/**
 * The strings of the objects in a PDF object stream (ISO 32000-1 §7.5.7), one a line: a form's
 * field values, a document's properties and bookmarks' titles are such strings. The stream's
 * header (pairs of object numbers and offsets) and the objects' syntax (names, numbers, font
 * widths) are not text: read as text, their runs of numbers would pass for card and phone
 * numbers.
 */
export function pdfObjectStrings(content: string): string {
  const strings: string[] = [];
  const reader = new ContentReader(content);
  for (let token = reader.next(); token !== undefined; token = reader.next()) {
    if (token.kind === 'string') strings.push(token.value);
    else if (token.kind === 'array')
      for (const item of token.items) if (typeof item === 'string') strings.push(item);
  }
  return strings.join('\n');
}

/** Whether decoded PDF stream bytes look like a content stream with text in it. */
export function isContentStream(content: string): boolean {
  return /\bBT\b/.test(content) && /(?:\)|>|\])\s*(?:Tj|TJ|'|")/.test(content);
}

/** Adjustments (thousandths of a text space unit) wider than this are a space between words. */
const WORD_GAP = 200;

const BREAKING_OPERATORS = new Set(['BT', 'ET', 'Td', 'TD', 'Tm', 'T*']);

function showText(operator: string, operands: readonly Operand[], parts: string[]): void {
  const last = operands[operands.length - 1];
  if (operator === 'Tj' && last?.kind === 'string') {
    parts.push(last.value);
  } else if ((operator === "'" || operator === '"') && last?.kind === 'string') {
    // Both move to the next line first.
    parts.push(' ', last.value);
  } else if (operator === 'TJ' && last?.kind === 'array') {
    for (const item of last.items) {
      if (typeof item === 'string') parts.push(item);
      else if (item < -WORD_GAP) parts.push(' ');
    }
  } else if (BREAKING_OPERATORS.has(operator)) {
    parts.push(' ');
  }
}

type Operand =
  | { kind: 'string'; value: string }
  | { kind: 'array'; items: (string | number)[] }
  | { kind: 'other' };

type Token = Operand | { kind: 'operator'; value: string };

const DELIMITERS = '()<>[]{}/%';

/** Reads the tokens of a content stream; what it does not need (names, dictionaries) is `other`. */
class ContentReader {
  private at = 0;

  constructor(private readonly text: string) {}

  next(): Token | undefined {
    this.skipSpace();
    if (this.at >= this.text.length) return undefined;
    const char = this.text[this.at];
    if (char === '(') return { kind: 'string', value: this.literalString() };
    if (char === '<' && this.text[this.at + 1] !== '<')
      return { kind: 'string', value: this.hexString() };
    if (char === '[') return this.array();
    if (char === '/') {
      this.at += 1;
      this.word();
      return { kind: 'other' };
    }
    if (char === '<' || char === '>') {
      // A dictionary's `<<` or `>>` (a lone `<` starts a hex string, above).
      this.at += this.text[this.at + 1] === char ? 2 : 1;
      return { kind: 'other' };
    }
    const word = this.word();
    if (word === '') {
      this.at += 1;
      return { kind: 'other' };
    }
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(word)) return { kind: 'other' };
    if (word === 'BI') {
      this.skipInlineImage();
      return { kind: 'other' };
    }
    return { kind: 'operator', value: word };
  }

  private skipSpace(): void {
    while (this.at < this.text.length) {
      const char = this.text[this.at] ?? '';
      if (char === '%') {
        while (this.at < this.text.length && !'\r\n'.includes(this.text[this.at] ?? '\n'))
          this.at += 1;
      } else if (isWhitespace(char)) {
        this.at += 1;
      } else {
        return;
      }
    }
  }

  private word(): string {
    const start = this.at;
    while (this.at < this.text.length) {
      const char = this.text[this.at] ?? '';
      if (isWhitespace(char) || DELIMITERS.includes(char)) break;
      this.at += 1;
    }
    return this.text.slice(start, this.at);
  }

  private array(): Operand {
    this.at += 1;
    const items: (string | number)[] = [];
    for (;;) {
      this.skipSpace();
      const char = this.text[this.at];
      if (char === undefined) break;
      if (char === ']') {
        this.at += 1;
        break;
      }
      if (char === '(') items.push(this.literalString());
      else if (char === '<') items.push(this.hexString());
      else {
        const word = this.word();
        if (word === '') this.at += 1;
        else if (/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(word)) items.push(Number(word));
      }
    }
    return { kind: 'array', items };
  }

  /** `( … )` with balanced parentheses and backslash escapes (§7.3.4.2). */
  private literalString(): string {
    const bytes: number[] = [];
    let depth = 0;
    this.at += 1;
    while (this.at < this.text.length) {
      const char = this.text[this.at++] ?? '';
      if (char === '\\') {
        this.escape(bytes);
      } else if (char === '(') {
        depth += 1;
        bytes.push(0x28);
      } else if (char === ')') {
        if (depth === 0) break;
        depth -= 1;
        bytes.push(0x29);
      } else {
        bytes.push(char.charCodeAt(0) & 0xff);
      }
    }
    return stringText(bytes);
  }

  private escape(bytes: number[]): void {
    const char = this.text[this.at] ?? '';
    const simple = ESCAPES[char];
    if (simple !== undefined) {
      bytes.push(simple);
      this.at += 1;
    } else if (/[0-7]/.test(char)) {
      const octal = /^[0-7]{1,3}/.exec(this.text.slice(this.at, this.at + 3))?.[0] ?? '0';
      bytes.push(parseInt(octal, 8) & 0xff);
      this.at += octal.length;
    } else if (char === '\r' || char === '\n') {
      // A line continuation: the end of line is not part of the string.
      this.at += char === '\r' && this.text[this.at + 1] === '\n' ? 2 : 1;
    }
    // Any other character after a backslash: the backslash is ignored.
  }

  /** `< … >`: hexadecimal digits, white space ignored, an odd last digit followed by 0. */
  private hexString(): string {
    const end = this.text.indexOf('>', this.at + 1);
    const stop = end < 0 ? this.text.length : end;
    const digits = this.text.slice(this.at + 1, stop).replace(/[^0-9a-fA-F]/g, '');
    this.at = stop + 1;
    const bytes: number[] = [];
    for (let i = 0; i < digits.length; i += 2)
      bytes.push(parseInt(digits.slice(i, i + 2).padEnd(2, '0'), 16));
    return stringText(bytes);
  }

  /** An inline image (`BI … ID <data> EI`): its data is not text. */
  private skipInlineImage(): void {
    const end = /\sEI(?=[\s]|$)/g;
    end.lastIndex = this.at;
    const found = end.exec(this.text);
    this.at = found ? found.index + found[0].length : this.text.length;
  }
}

const ESCAPES: Record<string, number> = {
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  b: 0x08,
  f: 0x0c,
  '(': 0x28,
  ')': 0x29,
  '\\': 0x5c,
};

function isWhitespace(char: string): boolean {
  return (
    char === ' ' ||
    char === '\n' ||
    char === '\r' ||
    char === '\t' ||
    char === '\f' ||
    char === '\0'
  );
}

/** A string's bytes as text: UTF-16BE after its byte order mark, else one character a byte. */
function stringText(bytes: number[]): string {
  const buffer = Buffer.from(bytes);
  if (buffer[0] === 0xfe && buffer[1] === 0xff) return new TextDecoder('utf-16be').decode(buffer);
  return buffer.toString('latin1');
}

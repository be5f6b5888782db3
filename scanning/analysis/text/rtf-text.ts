import { cp1252 } from './cp1252.js';

/**
 * The text of an RTF document as a reader sees it. Control words are dropped (`\b`, `\f1`, their
 * numeric parameter and the space that ends them), so a word split by formatting
 * (`f{\b u}ck`) reads as one word; `\par`, `\line`, `\tab`, `\cell`, `\row`, `\sect` and `\page`
 * separate words. `\'hh` is a byte of Windows-1252, `\uN` a UTF-16 code unit (the `\ucN`
 * replacement characters after it skipped). Destinations that hold no text a reader sees are
 * skipped whole: any group starting `{\*`, the font, colour, style, list and revision tables,
 * document information, pictures, embedded objects and their data, field instructions, shape
 * properties, bookmarks. `\binN` skips N raw bytes. Headers, footers and footnotes are text.
 * Lenient as readers are: unbalanced braces or a truncated file give the text read so far.
 */
export function rtfText(bytes: Buffer): string {
  return new RtfTextReader(bytes).read();
}

const SKIPPED_DESTINATIONS = new Set([
  'fonttbl',
  'colortbl',
  'stylesheet',
  'listtable',
  'listoverridetable',
  'revtbl',
  'rsidtbl',
  'info',
  'pict',
  'object',
  'objdata',
  'datastore',
  'themedata',
  'colorschememapping',
  'latentstyles',
  'fldinst',
  'sp',
  'sn',
  'sv',
  'bkmkstart',
  'bkmkend',
  'filetbl',
  'xmlnstbl',
  'generator',
  'template',
  'docvar',
  'userprops',
  'nonshppict',
  'mmathPr',
  'pgdsctbl',
]);

/** Control words that stand for a character or a word boundary. */
const CHARACTERS = new Map<string, string>([
  ['par', '\n'],
  ['line', '\n'],
  ['tab', '\t'],
  ['cell', '\t'],
  ['row', '\n'],
  ['sect', '\n'],
  ['page', '\n'],
  ['column', '\n'],
  ['emdash', '\u2014'],
  ['endash', '\u2013'],
  ['lquote', '\u2018'],
  ['rquote', '\u2019'],
  ['ldblquote', '\u201c'],
  ['rdblquote', '\u201d'],
  ['bullet', '\u2022'],
]);

/** Control symbols: `\~` a non-breaking space, `\_` a non-breaking hyphen, `\-` invisible. */
const SYMBOLS = new Map<string, string>([
  ['~', '\u00a0'],
  ['_', '-'],
  ['-', ''],
  ['\\', '\\'],
  ['{', '{'],
  ['}', '}'],
]);

interface Group {
  skipped: boolean;
  /** Replacement characters that follow a `\uN` (`\ucN`, 1 unless set). */
  uc: number;
}

class RtfTextReader {
  private at = 0;
  private readonly out: string[] = [];
  /** Windows-1252 bytes (`\'hh` and plain text) waiting to be decoded together. */
  private bytes: number[] = [];
  private groups: Group[] = [{ skipped: false, uc: 1 }];
  /** Replacement characters still to skip after a `\uN`. */
  private replacement = 0;
  /** True right after `{`: the group's first control word may name a destination. */
  private groupStart = false;

  constructor(private readonly rtf: Buffer) {}

  read(): string {
    const rtf = this.rtf;
    while (this.at < rtf.length) {
      const byte = rtf[this.at++] ?? 0;
      if (byte === 0x7b) {
        this.replacement = 0;
        this.groups.push({ ...this.group() });
        this.groupStart = true;
        continue;
      }
      const starting = this.groupStart;
      this.groupStart = false;
      if (byte === 0x7d) {
        this.replacement = 0;
        if (this.groups.length > 1) this.groups.pop();
      } else if (byte === 0x5c) {
        this.control(starting);
      } else if (byte !== 0x0d && byte !== 0x0a) {
        this.character(byte);
      }
    }
    this.flush();
    return this.out.join('');
  }

  private group(): Group {
    return this.groups[this.groups.length - 1] ?? { skipped: false, uc: 1 };
  }

  private character(byte: number): void {
    if (this.replacement > 0) {
      this.replacement -= 1;
      return;
    }
    if (!this.group().skipped) this.bytes.push(byte);
  }

  private emit(text: string): void {
    if (this.group().skipped) return;
    this.flush();
    this.out.push(text);
  }

  private flush(): void {
    if (this.bytes.length === 0) return;
    this.out.push(cp1252(Buffer.from(this.bytes)));
    this.bytes = [];
  }

  private control(groupStart: boolean): void {
    const rtf = this.rtf;
    const first = rtf[this.at];
    if (first === undefined) return;
    if (!isLetter(first)) {
      this.at += 1;
      this.symbol(String.fromCharCode(first), groupStart);
      return;
    }
    let end = this.at;
    while (end < rtf.length && isLetter(rtf[end] ?? 0)) end += 1;
    const word = rtf.toString('latin1', this.at, end);
    let paramEnd = end;
    if (rtf[paramEnd] === 0x2d) paramEnd += 1;
    while (paramEnd < rtf.length && isDigit(rtf[paramEnd] ?? 0)) paramEnd += 1;
    const param = paramEnd > end ? Number(rtf.toString('latin1', end, paramEnd)) : undefined;
    this.at = paramEnd;
    // A space ends a control word and is part of it.
    if (rtf[this.at] === 0x20) this.at += 1;
    this.word(word, param, groupStart);
  }

  private symbol(symbol: string, groupStart: boolean): void {
    if (symbol === '*' && groupStart) {
      this.group().skipped = true;
    } else if (symbol === "'") {
      const hex = this.rtf.toString('latin1', this.at, this.at + 2);
      this.at += 2;
      const value = Number.parseInt(hex, 16);
      if (!Number.isNaN(value)) this.character(value);
    } else if (symbol === '\r' || symbol === '\n') {
      // `\` before a line break is a paragraph mark.
      this.emit('\n');
    } else {
      const text = SYMBOLS.get(symbol);
      if (text === undefined) return;
      if (this.replacement > 0) this.replacement -= 1;
      else this.emit(text);
    }
  }

  private word(word: string, param: number | undefined, groupStart: boolean): void {
    if (groupStart && SKIPPED_DESTINATIONS.has(word)) {
      this.group().skipped = true;
      return;
    }
    if (word === 'bin') {
      // Raw bytes, counted by the parameter: never text.
      this.at += Math.max(0, param ?? 0);
      return;
    }
    if (word === 'uc') {
      this.group().uc = Math.max(0, param ?? 1);
      return;
    }
    if (word === 'u' && param !== undefined) {
      this.emit(String.fromCharCode(param < 0 ? param + 0x10000 : param));
      this.replacement = this.group().uc;
      return;
    }
    const text = CHARACTERS.get(word);
    if (text !== undefined) this.emit(text);
  }
}

function isLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

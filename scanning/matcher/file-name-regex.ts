/**
 * ClamAV's `.cdb` file name patterns are POSIX extended regular expressions, compiled by its own
 * copy of Henry Spencer's regex library (`REG_EXTENDED | REG_NOSUB`, case-insensitive after a
 * leading `(?i)`) and searched unanchored. This turns one into an equivalent JavaScript RegExp
 * when that is safe, or says why not:
 *
 * - `\` makes any next character literal (`\d` is `d`, `\1` is `1`: ERE has no backreferences);
 *   `\<`, `\>` and `[[:<:]]` (word boundaries in Spencer's library) are not translated.
 * - In a bracket expression the backslash is literal, `]` first is literal, `[:class:]` names a
 *   class; collating elements (`[.x.]`, `[=x=]`) are not translated.
 * - `{` is a bound only when a digit follows, else a literal.
 * - Backtracking stays cheap: a repeated group must hold neither a repetition nor an
 *   alternation, and at most MAX_WIDE_REPEATS repetitions may take many characters; with
 *   member names cut to a few hundred characters, no match costs more than a few million steps.
 */

export type TranslatedPattern = { regex: RegExp } | { reason: string };

/** Repetitions taking more than this many characters count as "wide". */
const NARROW_REPEAT = 16;
const MAX_WIDE_REPEATS = 3;
/** Spencer's RE_DUP_MAX. */
const MAX_BOUND = 255;

const CLASSES: Readonly<Record<string, string>> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: '0-9A-Za-z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\v\\f\\r',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
};

export const REGEX_REASONS = {
  wordBoundary: 'file name pattern uses word boundaries (\\< \\> [[:<:]])',
  collating: 'file name pattern uses collating elements ([.x.] [=x=])',
  backtracking: 'file name pattern could backtrack heavily (nested or many repetitions)',
  invalid: 'file name pattern is not a valid POSIX extended regular expression',
} as const;

class Unsupported extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface Group {
  /** A repetition or an alternation somewhere inside: repeating the group could backtrack. */
  branches: boolean;
}

export function translatePosixPattern(pattern: string): TranslatedPattern {
  const insensitive = pattern.startsWith('(?i)');
  try {
    const source = new Translator(insensitive ? pattern.slice(4) : pattern).run();
    return { regex: new RegExp(source, insensitive ? 'si' : 's') };
  } catch (error) {
    if (error instanceof Unsupported) return { reason: error.reason };
    return { reason: REGEX_REASONS.invalid };
  }
}

class Translator {
  private at = 0;
  private out = '';
  private readonly groups: Group[] = [{ branches: false }];
  private wide = 0;

  constructor(private readonly pattern: string) {}

  run(): string {
    this.alternatives(undefined);
    if (this.at < this.pattern.length) throw new Unsupported(REGEX_REASONS.invalid);
    return this.out;
  }

  /** Alternatives up to `stop` (`)`) or the end; none may be empty (REG_EMPTY). */
  private alternatives(stop: string | undefined): void {
    for (;;) {
      const start = this.out.length;
      while (this.at < this.pattern.length && this.peek() !== '|' && this.peek() !== stop) {
        this.expression();
      }
      if (this.out.length === start) throw new Unsupported(REGEX_REASONS.invalid);
      if (this.peek() !== '|') return;
      this.at += 1;
      this.out += '|';
      this.current().branches = true;
    }
  }

  /** One atom and its repetition, if any. */
  private expression(): void {
    const char = this.pattern[this.at++] as string;
    let group: Group | undefined;
    let caret = false;
    switch (char) {
      case '(':
        group = { branches: false };
        this.groups.push(group);
        this.out += '(?:';
        if (this.peek() !== ')') this.alternatives(')');
        if (this.peek() !== ')') throw new Unsupported(REGEX_REASONS.invalid);
        this.at += 1;
        this.out += ')';
        this.groups.pop();
        // What a group holds is inside the one around it too.
        if (group.branches) this.current().branches = true;
        break;
      case '^':
        caret = true;
        this.out += '^';
        break;
      case '$':
        this.out += '$';
        break;
      case '|':
      case '*':
      case '+':
      case '?':
        throw new Unsupported(REGEX_REASONS.invalid);
      case '.':
        this.out += '.';
        break;
      case '[':
        this.out += this.bracket();
        break;
      case '\\': {
        const next = this.pattern[this.at++];
        if (next === undefined) throw new Unsupported(REGEX_REASONS.invalid);
        if (next === '<' || next === '>') throw new Unsupported(REGEX_REASONS.wordBoundary);
        this.out += literal(next);
        break;
      }
      case '{':
        if (isDigit(this.peek())) throw new Unsupported(REGEX_REASONS.invalid);
        this.out += literal(char);
        break;
      default:
        this.out += literal(char);
    }
    if (!this.repetitionNext()) return;
    if (caret) throw new Unsupported(REGEX_REASONS.invalid);
    if (group?.branches) throw new Unsupported(REGEX_REASONS.backtracking);
    this.repetition();
    if (this.repetitionNext()) throw new Unsupported(REGEX_REASONS.invalid);
  }

  private repetitionNext(): boolean {
    const next = this.peek();
    return (
      next === '*' ||
      next === '+' ||
      next === '?' ||
      (next === '{' && isDigit(this.pattern[this.at + 1]))
    );
  }

  private repetition(): void {
    const char = this.pattern[this.at++] as string;
    this.current().branches = true;
    if (char === '?') {
      this.out += '?';
      return;
    }
    if (char === '*' || char === '+') {
      this.out += char;
      this.countWide(Infinity);
      return;
    }
    const bound = /^\{(\d+)(,(\d*))?\}/.exec(this.pattern.slice(this.at - 1));
    if (!bound) throw new Unsupported(REGEX_REASONS.invalid);
    const low = Number(bound[1]);
    const high = bound[2] === undefined ? low : bound[3] === '' ? Infinity : Number(bound[3]);
    if (low > MAX_BOUND || high < low || (high !== Infinity && high > MAX_BOUND))
      throw new Unsupported(REGEX_REASONS.invalid);
    this.at += bound[0].length - 1;
    this.out += bound[0];
    this.countWide(high);
  }

  private countWide(high: number): void {
    if (high <= NARROW_REPEAT) return;
    this.wide += 1;
    if (this.wide > MAX_WIDE_REPEATS) throw new Unsupported(REGEX_REASONS.backtracking);
  }

  /** A bracket expression, its `[` already read, as a JavaScript character class. */
  private bracket(): string {
    if (this.pattern.startsWith('[:<:]]', this.at) || this.pattern.startsWith('[:>:]]', this.at))
      throw new Unsupported(REGEX_REASONS.wordBoundary);
    let out = '[';
    if (this.peek() === '^') {
      out += '^';
      this.at += 1;
    }
    if (this.peek() === ']' || this.peek() === '-') out += classLiteral(this.pattern[this.at++]!);
    while (this.at < this.pattern.length && this.peek() !== ']') {
      if (this.pattern.startsWith('-]', this.at)) {
        out += '\\-';
        this.at += 1;
        continue;
      }
      const start = this.bracketTerm();
      if (this.peek() === '-' && this.pattern[this.at + 1] !== ']') {
        this.at += 1;
        const end = this.bracketTerm();
        if (start.length !== 1 || end.length !== 1 || start > end)
          throw new Unsupported(REGEX_REASONS.invalid);
        out += `${classLiteral(start)}-${classLiteral(end)}`;
      } else {
        out += start.length === 1 ? classLiteral(start) : start;
      }
    }
    if (this.peek() !== ']') throw new Unsupported(REGEX_REASONS.invalid);
    this.at += 1;
    return `${out}]`;
  }

  /** One character, or a `[:class:]` as its JavaScript ranges (longer than one character). */
  private bracketTerm(): string {
    if (this.pattern.startsWith('[.', this.at) || this.pattern.startsWith('[=', this.at))
      throw new Unsupported(REGEX_REASONS.collating);
    if (this.pattern.startsWith('[:', this.at)) {
      const end = this.pattern.indexOf(':]', this.at + 2);
      const ranges = end < 0 ? undefined : CLASSES[this.pattern.slice(this.at + 2, end)];
      if (ranges === undefined) throw new Unsupported(REGEX_REASONS.invalid);
      this.at = end + 2;
      return ranges;
    }
    return this.pattern[this.at++] as string;
  }

  private peek(): string | undefined {
    return this.pattern[this.at];
  }

  private current(): Group {
    return this.groups[this.groups.length - 1] as Group;
  }
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

function literal(char: string): string {
  return /[\\^$.|?*+()[\]{}/-]/.test(char) ? `\\${char}` : char;
}

function classLiteral(char: string): string {
  return /[\\\]^[-]/.test(char) ? `\\${char}` : char;
}

import { RE2 } from 're2-wasm';

/**
 * The regular expression of a PCRE subsignature (`Trigger/PCRE/Flags` in an `.ldb` line),
 * translated for RE2, a linear-time engine (no backtracking, so no pattern can stall a scan).
 *
 * ClamAV runs PCRE2 over the file's bytes with its default character tables (the "C" locale: only
 * ASCII letters have a case; `\s` is tab, LF, VT, FF, CR and space). RE2 here works on strings,
 * so content is given as latin1 (one byte, one code point) and the pattern is rewritten so that
 * every character test is an explicit set of bytes: case-insensitivity, `.`, `\s`, `\w`, classes
 * and POSIX classes are spelled out as byte ranges and never depend on RE2's Unicode tables (which
 * would, for one, fold à with À). The database is UTF-8 text and PCRE2 reads its bytes: a
 * pattern character above 0x7f stands for its UTF-8 bytes. Flags: `i`, `s`, `m`, `x`, `U` (and
 * their inline forms `(?i)`, `(?-s:…)`), `A`, `E`, and ClamAV's own `g` (count every match), `r`
 * (rolling) and `e` (encompass).
 *
 * What RE2 cannot run, or would run with a different meaning, is "skipped" with the construct
 * named: backreferences, lookaround, atomic groups and possessive quantifiers, recursion,
 * conditionals, verbs, `\G`, `\K`, `\R`, `\X`, Unicode properties, and these corner cases:
 * PCRE's `$` (end, or before a final newline) away from the end of the pattern or with `g`; a
 * multiline `^` that nothing consumed follows (PCRE's does not match after a final newline,
 * RE2's does); with `g`, a pattern that can match the empty string (clamd then loops on the same
 * empty match until its scan time limit) or that repeats a part that can (where the two engines'
 * match ends may differ).
 */

/** A PCRE subsignature's regular expression, ready for RE2. */
export interface PcrePattern {
  /** As written in the signature. */
  pattern: string;
  /** The RE2 form, over latin1 strings; compiles with the `u` flag. */
  source: string;
  /** `g`: every match counts, each search starting where the last match ended. */
  global: boolean;
  /** `r`: search from anywhere in the offset window instead of anchoring at its start. */
  rolling: boolean;
  /** `e`: the match must lie inside the offset window. */
  encompass: boolean;
  /** `A`: a match must start where the search starts. */
  anchored: boolean;
}

export type PcreTranslation = { ok: true; pcre: PcrePattern } | { ok: false; message: string };

/** Flags ClamAV knows: PCRE2 compile options and its own g, r and e. */
const KNOWN_FLAGS = 'ismxAEUgre';

class PatternError extends Error {
  constructor(
    message: string,
    /** True: PCRE2 refuses it too (and with it clamd the whole database). */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

const cannot = (what: string): never => {
  throw new PatternError(what, false);
};
const invalid = (what: string): never => {
  throw new PatternError(what, true);
};

export function translatePcre(pattern: string, flags: string): PcreTranslation {
  for (const flag of flags) {
    if (!KNOWN_FLAGS.includes(flag)) {
      return { ok: false, message: `unknown PCRE flag "${flag}" (clamd refuses the database)` };
    }
  }
  try {
    const options = {
      i: flags.includes('i'),
      s: flags.includes('s'),
      m: flags.includes('m'),
      x: flags.includes('x'),
      U: flags.includes('U'),
    };
    const global = flags.includes('g');
    const parser = new Parser(pattern, flags.includes('E'));
    const tree = parser.parse(options);
    if (global && minLength(tree) === 0) {
      cannot('with g, a pattern that can match the empty string (clamd loops on it until its time limit)');
    }
    checkRepetition(tree, RE2_REPEAT_BUDGET);
    const source = emit(tree, { atEnd: !global, after: 0, global });
    checkWithRe2(source);
    return {
      ok: true,
      pcre: {
        pattern,
        source,
        global,
        rolling: flags.includes('r'),
        encompass: flags.includes('e'),
        anchored: flags.includes('A'),
      },
    };
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    return {
      ok: false,
      message: error.refused
        ? `PCRE: ${error.message} (clamd refuses the database)`
        : `skipped: PCRE construct RE2 cannot run: ${error.message}`,
    };
  }
}

/**
 * Compiles the translation once to know RE2 takes it (a program too large, say), then frees it:
 * re2-wasm's heap is a fixed 16 MB that compiled expressions are never given back from otherwise
 * (the matcher compiles each regex when it runs it, and frees it after). A failed compile leaves
 * a little behind, which is why repetition counts are checked before (checkRepetition).
 */
function checkWithRe2(source: string): void {
  let regex: RE2;
  try {
    regex = new RE2(source, 'u');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // RE2's reason without its argument ("invalid repetition size: {1001}"): reasons are grouped.
    return cannot(message.replace(/^Invalid regular expression: \/.*\/u: /s, '').replace(/:.*$/s, ''));
  }
  releaseRegex(regex);
}

/** Frees an RE2 expression's memory in the WebAssembly heap (re2-wasm has no method for it). */
export function releaseRegex(regex: RE2): void {
  (regex as unknown as { wrapper: { delete(): void } }).wrapper.delete();
}

// ---- the pattern as a tree ----

type ByteSet = Uint8Array;

type Assertion = 'start' | 'end' | 'dollar' | 'line-start' | 'line-end' | 'word' | 'not-word';

type Node =
  | { kind: 'set'; set: ByteSet }
  /** `quoted`: from `\Q…\E`, whose quantifier applies to its last byte only. */
  | { kind: 'seq'; items: Node[]; quoted?: true }
  | { kind: 'alt'; alternatives: Node[] }
  | { kind: 'repeat'; body: Node; min: number; max: number; lazy: boolean }
  | { kind: 'assert'; what: Assertion };

interface Options {
  i: boolean;
  s: boolean;
  m: boolean;
  x: boolean;
  U: boolean;
}

/** PCRE2's limit on a quantifier's numbers. */
const MAX_QUANTIFIER = 65535;
const MAX_DEPTH = 250;

const setOf = (test: (b: number) => boolean): ByteSet =>
  Uint8Array.from({ length: 256 }, (_, b) => (test(b) ? 1 : 0));
const range = (lo: number, hi: number) => (b: number) => b >= lo && b <= hi;
const isUpper = range(0x41, 0x5a);
const isLower = range(0x61, 0x7a);
const isDigit = range(0x30, 0x39);
const isAlpha = (b: number) => isUpper(b) || isLower(b);
const isWord = (b: number) => isAlpha(b) || isDigit(b) || b === 0x5f;
const isSpace = (b: number) => (b >= 0x09 && b <= 0x0d) || b === 0x20;
const isGraph = range(0x21, 0x7e);

/** The C locale's classes, as PCRE2's default tables have them. */
const POSIX: Record<string, (b: number) => boolean> = {
  alnum: (b) => isAlpha(b) || isDigit(b),
  alpha: isAlpha,
  ascii: range(0, 0x7f),
  blank: (b) => b === 0x09 || b === 0x20,
  cntrl: (b) => b < 0x20 || b === 0x7f,
  digit: isDigit,
  graph: isGraph,
  lower: isLower,
  print: range(0x20, 0x7e),
  punct: (b) => isGraph(b) && !isAlpha(b) && !isDigit(b),
  space: isSpace,
  upper: isUpper,
  word: isWord,
  xdigit: (b) => isDigit(b) || range(0x41, 0x46)(b) || range(0x61, 0x66)(b),
};

/** `\d`, `\w`, `\s`, `\h`, `\v` and `\N` (and their negations, upper case). */
const CLASS_ESCAPES: Record<string, (b: number) => boolean> = {
  d: isDigit,
  w: isWord,
  s: isSpace,
  h: (b) => b === 0x09 || b === 0x20 || b === 0xa0,
  v: (b) => (b >= 0x0a && b <= 0x0d) || b === 0x85,
};

const SINGLE_ESCAPES: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, e: 0x1b, a: 0x07 };

const UNSUPPORTED_ESCAPES: Record<string, string> = {
  G: '\\G (start of the search)',
  K: '\\K (reset the match start)',
  R: '\\R (any newline sequence, atomic)',
  X: '\\X (extended grapheme cluster)',
  p: '\\p (Unicode properties)',
  P: '\\P (Unicode properties)',
  g: 'backreferences (\\g)',
  k: 'backreferences (\\k)',
};

function caseClosed(set: ByteSet): ByteSet {
  const out = Uint8Array.from(set);
  for (let b = 0; b < 256; b += 1) {
    if (set[b] && isUpper(b)) out[b + 0x20] = 1;
    if (set[b] && isLower(b)) out[b - 0x20] = 1;
  }
  return out;
}

const negated = (set: ByteSet): ByteSet => set.map((v) => 1 - v);

class Parser {
  private at = 0;

  constructor(
    private readonly text: string,
    private readonly dollarEndOnly: boolean,
  ) {}

  parse(options: Options): Node {
    const tree = this.alternation({ ...options }, 0);
    if (this.at < this.text.length) invalid('unmatched closing parenthesis');
    return tree;
  }

  private peek(offset = 0): string {
    return this.text[this.at + offset] ?? '';
  }

  /** In extended mode (`x`), whitespace and `#` comments between items are not part of the pattern. */
  private skipExtended(options: Options): void {
    if (!options.x) return;
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
        this.at += 1;
      } else if (c === '#') {
        while (this.at < this.text.length && this.peek() !== '\n') this.at += 1;
      } else return;
    }
  }

  /** Options set inline (`(?i)`) hold for the rest of the group, later alternatives included. */
  private alternation(options: Options, depth: number): Node {
    if (depth > MAX_DEPTH) cannot('groups nested too deeply');
    const alternatives = [this.sequence(options, depth)];
    while (this.peek() === '|') {
      this.at += 1;
      alternatives.push(this.sequence(options, depth));
    }
    return alternatives.length === 1 ? alternatives[0]! : { kind: 'alt', alternatives };
  }

  private sequence(options: Options, depth: number): Node {
    const items: Node[] = [];
    for (;;) {
      this.skipExtended(options);
      const c = this.peek();
      if (c === '' || c === '|' || c === ')') break;
      let atom = this.atom(options, depth);
      if (atom === null) continue;
      if (atom.kind === 'seq' && atom.quoted) {
        const last = atom.items.pop();
        items.push(...atom.items);
        if (last === undefined) {
          if (/^[*+?{]/.test(this.peek())) cannot('a quantifier after an empty \\Q…\\E');
          continue;
        }
        atom = last;
      }
      this.skipExtended(options);
      items.push(this.quantified(atom, options));
    }
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  private quantified(atom: Node, options: Options): Node {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const braces = /^\{(\d*)(?:(,)(\d*))?\}/.exec(this.text.slice(this.at));
      // A brace that is no quantifier is a literal in PCRE; `{,n}` means either, by version.
      if (!braces || (braces[1] === '' && braces[3] === undefined)) return atom;
      if (braces[1] === '') cannot('the quantifier {,n} (read differently by PCRE2 versions)');
      min = Number(braces[1]);
      max = braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3]);
      if (min > MAX_QUANTIFIER || (max !== Infinity && max > MAX_QUANTIFIER)) {
        invalid('number too big in {} quantifier');
      }
      if (max < min) invalid('numbers out of order in {} quantifier');
      this.at += braces[0].length - 1;
    } else return atom;
    this.at += 1;
    if (atom.kind === 'assert') cannot('a quantified assertion');
    let lazy = options.U;
    if (this.peek() === '?') {
      lazy = !lazy;
      this.at += 1;
    } else if (this.peek() === '+') {
      cannot('possessive quantifiers');
    }
    if (/^\{\d+(?:,\d*)?\}/.test(this.text.slice(this.at))) cannot('a quantifier after a quantifier');
    return { kind: 'repeat', body: atom, min, max, lazy };
  }

  /** One item; null for what matches nothing and changes only the options (`(?i)`, comments). */
  private atom(options: Options, depth: number): Node | null {
    const c = this.peek();
    this.at += 1;
    switch (c) {
      case '(':
        return this.group(options, depth);
      case '[':
        return { kind: 'set', set: this.characterClass(options) };
      case '.':
        return { kind: 'set', set: setOf((b) => options.s || b !== 0x0a) };
      case '^':
        return { kind: 'assert', what: options.m ? 'line-start' : 'start' };
      case '$':
        return {
          kind: 'assert',
          what: options.m ? 'line-end' : this.dollarEndOnly ? 'end' : 'dollar',
        };
      case '\\':
        return this.escape(options);
      case '*':
      case '+':
      case '?':
        return invalid('quantifier does not follow a repeatable item');
      default:
        return this.literalText(c, options);
    }
  }

  /**
   * A character of the pattern as PCRE2 sees it: the database is UTF-8 text and PCRE2 reads its
   * bytes, so a character above 0x7f is its UTF-8 bytes in a row (a quantifier takes the last).
   */
  private literalText(first: string, options: Options): Node {
    const bytes = this.utf8Bytes(first);
    if (bytes.length === 1) return this.literal(bytes[0]!, options);
    return { kind: 'seq', items: bytes.map((b) => this.literal(b, options)), quoted: true };
  }

  /** `first` (read) and, for a surrogate pair, the unit after it: the bytes it was in the file. */
  private utf8Bytes(first: string): number[] {
    let char = first;
    const code = first.charCodeAt(0);
    if (code >= 0xd800 && code <= 0xdbff && this.peek() !== '') {
      char += this.peek();
      this.at += 1;
    }
    // The file's bytes were not UTF-8 there: which they were is lost.
    if (char === '\ufffd' || (code >= 0xd800 && code <= 0xdfff && char.length === 1)) {
      cannot('bytes in the pattern that are not UTF-8');
    }
    return [...Buffer.from(char, 'utf8')];
  }

  private literal(code: number, options: Options): Node {
    const set = setOf((b) => b === code);
    return { kind: 'set', set: options.i ? caseClosed(set) : set };
  }

  private group(options: Options, depth: number): Node | null {
    if (this.peek() === '*') cannot('backtracking control verbs (*…)');
    let inner = { ...options };
    if (this.peek() === '?') {
      this.at += 1;
      const c = this.peek();
      const rest = this.text.slice(this.at);
      if (c === '#') {
        const close = this.text.indexOf(')', this.at);
        if (close < 0) invalid('missing ) after (?# comment');
        this.at = close + 1;
        return null;
      }
      if (c === ':' || c === '|') this.at += 1;
      else if (/^(?:<[A-Za-z_]\w*>|'[A-Za-z_]\w*'|P<[A-Za-z_]\w*>)/.test(rest)) {
        this.at = this.text.indexOf(c === "'" ? "'" : '>', this.at + 2) + 1;
      } else if (c === '=' || c === '!' || rest.startsWith('<=') || rest.startsWith('<!')) {
        cannot('lookaround assertions');
      } else if (c === '>') cannot('atomic groups');
      else if (c === '(') cannot('conditional groups');
      else if (c === 'C') cannot('callouts');
      else if (/^(?:R|[+-]?\d|&|P>|P=)/.test(rest)) cannot('recursion, subroutine calls or backreferences');
      else {
        const setting = /^([imsxU]*)(?:-([imsxU]*))?([:)])/.exec(rest);
        if (!setting) return cannot('group options other than i, m, s, x and U');
        for (const letter of setting[1] ?? '') inner[letter as keyof Options] = true;
        for (const letter of setting[2] ?? '') inner[letter as keyof Options] = false;
        this.at += setting[0].length;
        if (setting[3] === ')') {
          // (?i) alone: the rest of the enclosing group.
          Object.assign(options, inner);
          return null;
        }
      }
    }
    inner = { ...inner };
    const body = this.alternation(inner, depth + 1);
    if (this.peek() !== ')') invalid('missing closing parenthesis');
    this.at += 1;
    return body;
  }

  private escape(options: Options): Node {
    const c = this.peek();
    if (c === '') invalid('\\ at the end of the pattern');
    this.at += 1;
    const classTest = CLASS_ESCAPES[c.toLowerCase()];
    if (classTest && /[dwshv]/i.test(c)) {
      const set = setOf(classTest);
      return { kind: 'set', set: c === c.toUpperCase() ? negated(set) : set };
    }
    switch (c) {
      case 'b':
        return { kind: 'assert', what: 'word' };
      case 'B':
        return { kind: 'assert', what: 'not-word' };
      case 'A':
        return { kind: 'assert', what: 'start' };
      case 'z':
        return { kind: 'assert', what: 'end' };
      case 'Z':
        return { kind: 'assert', what: 'dollar' };
      case 'N':
        if (this.peek() === '{') cannot('\\N{…} (named characters)');
        return { kind: 'set', set: setOf((b) => b !== 0x0a) };
      case 'C':
        return { kind: 'set', set: setOf(() => true) };
      case 'Q': {
        const end = this.text.indexOf('\\E', this.at);
        const quoted = this.text.slice(this.at, end < 0 ? undefined : end);
        this.at = end < 0 ? this.text.length : end + 2;
        if (quoted.includes('\ufffd')) cannot('bytes in the pattern that are not UTF-8');
        const items = [...Buffer.from(quoted, 'utf8')].map((b) => this.literal(b, options));
        return { kind: 'seq', items, quoted: true };
      }
      case 'E':
        return { kind: 'seq', items: [], quoted: true };
      default:
        if (c.charCodeAt(0) > 0x7f) return this.literalText(c, options);
        return this.literal(this.escapedByte(c, false), options);
    }
  }

  /** The byte a character escape stands for (`c` is the letter after the backslash, consumed). */
  private escapedByte(c: string, inClass: boolean): number {
    const single = SINGLE_ESCAPES[c];
    if (single !== undefined) return single;
    if (inClass && c === 'b') return 0x08;
    if (c === '0') {
      const digits = /^[0-7]{0,2}/.exec(this.text.slice(this.at))![0];
      this.at += digits.length;
      return parseInt(`0${digits}`, 8);
    }
    if (c === 'x' || c === 'o') {
      const braced = this.peek() === '{';
      const digits = braced
        ? /^\{([0-9A-Fa-f]*)\}/.exec(this.text.slice(this.at))
        : /^()[0-9A-Fa-f]{0,2}/.exec(this.text.slice(this.at));
      if (c === 'o' && !braced) invalid('\\o must be followed by {');
      if (!digits) return invalid(`\\${c}{ without a closing }`);
      const value = braced ? digits[1]! : digits[0];
      if (braced && (value === '' || (c === 'o' && /[89a-f]/i.test(value)))) {
        cannot('an empty \\x{} or \\o{}, or one with digits out of base');
      }
      this.at += digits[0].length;
      const code = value === '' ? 0 : parseInt(value, c === 'x' ? 16 : 8);
      if (code > 0xff) invalid('character code point value in \\x{} or \\o{} is too large');
      return code;
    }
    if (c === 'c') {
      const next = this.peek();
      const code = next.charCodeAt(0);
      if (!(code >= 0x20 && code <= 0x7e)) invalid('\\c must be followed by a printable ASCII character');
      this.at += 1;
      return (next.toUpperCase().charCodeAt(0) ^ 0x40) & 0xff;
    }
    if (/[1-9]/.test(c)) return cannot('backreferences (or octal escapes \\1–\\9)');
    const unsupported = UNSUPPORTED_ESCAPES[c];
    if (unsupported) return cannot(unsupported);
    // PCRE2 knows no other letter after a backslash (\u, \U, \l, \L included) and refuses it.
    if (/[A-Za-z]/.test(c)) return invalid(`unrecognized character follows \\ (\\${c})`);
    return c.charCodeAt(0);
  }

  /** `[…]`, the opening bracket read: a set of bytes, case-closed under `i`, then negated. */
  private characterClass(options: Options): ByteSet {
    const set = new Uint8Array(256);
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.at += 1;
    }
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === '') invalid('missing terminating ] for character class');
      if (c === ']' && !first) {
        this.at += 1;
        break;
      }
      first = false;
      const item = this.classItem();
      if (typeof item !== 'number') {
        // PCRE2 refuses a hyphen between a class escape (or POSIX class) and more of the class.
        if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') {
          invalid('invalid range in character class');
        }
        for (let b = 0; b < 256; b += 1) if (item[b]) set[b] = 1;
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') {
        this.at += 1;
        const end = this.classItem();
        if (typeof end !== 'number') return cannot('a range in a class that ends with a class escape');
        if (end < item) invalid('range out of order in character class');
        for (let b = item; b <= end; b += 1) set[b] = 1;
        continue;
      }
      set[item] = 1;
    }
    const folded = options.i ? caseClosed(set) : set;
    return negate ? negated(folded) : folded;
  }

  /** One byte, or a set (`\d`, `[:alpha:]`), inside a class. */
  private classItem(): number | ByteSet {
    const c = this.peek();
    this.at += 1;
    if (c === '[') {
      const posix = /^:(\^?)([a-z]+):\]/.exec(this.text.slice(this.at));
      if (posix) {
        const test = POSIX[posix[2]!];
        if (!test) invalid(`unknown POSIX class name ${posix[2]}`);
        this.at += posix[0].length;
        const set = setOf(test!);
        return posix[1] ? negated(set) : set;
      }
      if (/^[.=]/.test(this.peek())) cannot('POSIX collating elements');
      return 0x5b;
    }
    if (c !== '\\') {
      if (c.charCodeAt(0) > 0x7f) return this.byteSet(this.utf8Bytes(c));
      return c.charCodeAt(0);
    }
    const e = this.peek();
    if (e === '') invalid('\\ at the end of the pattern');
    this.at += 1;
    if (/[dwshvDWSHV]/.test(e)) {
      const set = setOf(CLASS_ESCAPES[e.toLowerCase()]!);
      return e === e.toUpperCase() ? negated(set) : set;
    }
    if (e === 'Q' || e === 'E' || e === 'N' || e === 'B' || e === 'R' || e === 'X') {
      cannot(`\\${e} inside a character class`);
    }
    if (e.charCodeAt(0) > 0x7f) return this.byteSet(this.utf8Bytes(e));
    return this.escapedByte(e, true);
  }

  /** The bytes of a character above 0x7f, each a member of the class. */
  private byteSet(bytes: number[]): ByteSet {
    return setOf((b) => bytes.includes(b));
  }
}

// ---- analysis and output ----

/** RE2's limit on counted repetition, alone and nested (its RepetitionWalker). */
const RE2_REPEAT_BUDGET = 1000;

/**
 * Refuses what RE2 would refuse for its repetition counts, before compiling: a failed compile
 * leaves memory behind in re2-wasm's fixed heap. `*`, `+` and `?` are not counted repetitions.
 */
function checkRepetition(node: Node, budget: number): void {
  if (node.kind === 'seq') for (const item of node.items) checkRepetition(item, budget);
  if (node.kind === 'alt') for (const item of node.alternatives) checkRepetition(item, budget);
  if (node.kind !== 'repeat') return;
  const { min, max } = node;
  const counted = !(max === Infinity && min <= 1) && !(min === 0 && max === 1);
  if (!counted) return checkRepetition(node.body, budget);
  if (min > RE2_REPEAT_BUDGET || (max !== Infinity && max > RE2_REPEAT_BUDGET)) {
    cannot('repetition counts above 1000');
  }
  const m = max === Infinity ? min : max;
  const left = m > 0 ? Math.floor(budget / m) : budget;
  if (left === 0) cannot('nested repetition counts whose product is above 1000');
  checkRepetition(node.body, left);
}

function minLength(node: Node): number {
  switch (node.kind) {
    case 'set':
      return 1;
    case 'assert':
      return 0;
    case 'seq':
      return node.items.reduce((sum, item) => sum + minLength(item), 0);
    case 'alt':
      return Math.min(...node.alternatives.map(minLength));
    case 'repeat':
      return node.min * minLength(node.body);
  }
}

const hex = (b: number) => `\\x{${b.toString(16).padStart(2, '0')}}`;

function emitSet(set: ByteSet): string {
  let count = 0;
  for (const v of set) count += v;
  if (count === 0) return '[^\\x{00}-\\x{10ffff}]';
  if (count === 1) return hex(set.indexOf(1));
  let out = '';
  for (let b = 0; b < 256; b += 1) {
    if (!set[b]) continue;
    let end = b;
    while (end + 1 < 256 && set[end + 1]) end += 1;
    out += end === b ? hex(b) : `${hex(b)}-${hex(end)}`;
    b = end;
  }
  return `[${out}]`;
}

interface EmitContext {
  /** Nothing can follow in the match: PCRE's `$` may then consume the final newline. */
  atEnd: boolean;
  /** The fewest bytes a match must still consume after this node (0 when unsure). */
  after: number;
  global: boolean;
}

function emit(node: Node, context: EmitContext): string {
  switch (node.kind) {
    case 'set':
      return emitSet(node.set);
    case 'assert':
      return emitAssertion(node.what, context);
    case 'alt':
      return `(?:${node.alternatives.map((a) => emit(a, context)).join('|')})`;
    case 'seq':
      return node.items
        .map((item, index) => {
          const rest = node.items.slice(index + 1);
          const after = context.after + rest.reduce((sum, n) => sum + minLength(n), 0);
          return emit(item, { ...context, after, atEnd: context.atEnd && rest.length === 0 });
        })
        .join('');
    case 'repeat': {
      if (context.global && minLength(node.body) === 0) {
        cannot('with g, a repeated part that can match the empty string');
      }
      const body = `(?:${emit(node.body, { ...context, atEnd: false, after: 0 })})`;
      const { min, max } = node;
      const quantifier =
        min === 0 && max === Infinity
          ? '*'
          : min === 1 && max === Infinity
            ? '+'
            : min === 0 && max === 1
              ? '?'
              : max === Infinity
                ? `{${min},}`
                : min === max
                  ? `{${min}}`
                  : `{${min},${max}}`;
      return `${body}${quantifier}${node.lazy ? '?' : ''}`;
    }
  }
}

function emitAssertion(what: Assertion, context: EmitContext): string {
  switch (what) {
    case 'start':
      return '\\A';
    case 'end':
      return '\\z';
    case 'line-start':
      if (context.after === 0) {
        cannot("a multiline ^ that nothing consumed follows (PCRE's does not match after a final newline)");
      }
      return '(?m:^)';
    case 'line-end':
      return '(?m:$)';
    case 'word':
      return '\\b';
    case 'not-word':
      return '\\B';
    case 'dollar':
      // At the very end of the pattern, "before a final newline" is the same as consuming it:
      // only where the match ends differs, which matters to nothing but g.
      if (!context.atEnd) {
        cannot("$ (end, or before a final newline) other than at the end of a pattern without g");
      }
      return `${hex(0x0a)}?\\z`;
  }
}

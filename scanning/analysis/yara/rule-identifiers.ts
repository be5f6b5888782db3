/**
 * The rules a YARA source declares. YARA-X compiles a source but does not list its rules, so they
 * are read here from the text, once the compiler has accepted it: a small lexer that steps over
 * comments, text strings, regular expressions and hex strings (whatever they contain) and reads
 * `rule <identifier>` where it can only be a declaration, outside every `{ … }`.
 */

export interface DeclaredRule {
  identifier: string;
  /** Declared `private`: it never appears among a scan's matches. */
  private: boolean;
  /** 1-based, where the identifier is. */
  line: number;
  column: number;
}

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;

export function declaredRules(source: string): DeclaredRule[] {
  const rules: DeclaredRule[] = [];
  let depth = 0;
  let index = 0;
  let expectRuleName = false;
  // `private` and `global` come before `rule`; reset at each rule's body.
  let isPrivate = false;
  while (index < source.length) {
    const char = source[index]!;
    const next = source[index + 1];
    if (/\s/.test(char)) {
      index += 1;
    } else if (char === '/' && next === '/') {
      index = skipUntil(source, index + 2, '\n');
    } else if (char === '/' && next === '*') {
      const end = source.indexOf('*/', index + 2);
      index = end < 0 ? source.length : end + 2;
    } else if (char === '"') {
      index = skipQuoted(source, index);
    } else if (char === '/' && depth > 0) {
      // YARA divides with `\`: inside a rule, a `/` that opens no comment opens a regex.
      index = skipRegex(source, index);
    } else if (IDENTIFIER_START.test(char)) {
      const start = index;
      while (index < source.length && IDENTIFIER_PART.test(source[index]!)) index += 1;
      const word = source.slice(start, index);
      if (expectRuleName) {
        rules.push({ identifier: word, private: isPrivate, ...position(source, start) });
        expectRuleName = false;
        isPrivate = false;
      } else if (depth === 0 && word === 'rule') {
        expectRuleName = true;
      } else if (depth === 0 && word === 'private') {
        isPrivate = true;
      }
    } else {
      if (char === '{') {
        depth += 1;
        isPrivate = false;
      }
      if (char === '}') depth = Math.max(0, depth - 1);
      index += 1;
    }
  }
  return rules;
}

function skipUntil(source: string, from: number, end: string): number {
  const found = source.indexOf(end, from);
  return found < 0 ? source.length : found + end.length;
}

/** Past a `"…"` string (backslash escapes inside). */
function skipQuoted(source: string, start: number): number {
  let index = start + 1;
  while (index < source.length) {
    const char = source[index]!;
    if (char === '\\') index += 2;
    else if (char === '"' || char === '\n') return index + 1;
    else index += 1;
  }
  return index;
}

/** Past a `/…/flags` regular expression (escapes and `[…]` classes may hold a `/`). */
function skipRegex(source: string, start: number): number {
  let index = start + 1;
  let inClass = false;
  while (index < source.length) {
    const char = source[index]!;
    if (char === '\n') return index;
    if (char === '/' && !inClass) {
      index += 1;
      while (index < source.length && /[a-z]/.test(source[index]!)) index += 1;
      return index;
    }
    if (char === '[') inClass = true;
    if (char === ']') inClass = false;
    index += char === '\\' ? 2 : 1;
  }
  return index;
}

function position(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

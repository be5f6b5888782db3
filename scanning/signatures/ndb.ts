/**
 * ClamAV extended body signatures (`.ndb`):
 *
 *     Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]
 *
 * Hex syntax accepted (see docs/signatures in ClamAV's manual, "Body-based Signature Content
 * Format"): hex bytes, `??` (any byte), nibble wildcards `a?` and `?a`, `*` (any number of bytes),
 * `{n}`, `{n-m}`, `{-n}` (0..n), `{n-}` (n or more), `HEXSIG[x-y]aa` (a bounded gap next to a
 * single byte), alternatives `(aa|bbcc|d?)` of equal or unequal length (which may hold `??`,
 * nibbles and `{n}` with n < 128), and negated alternatives `!(aa|bb)` of equal-length literal
 * strings. As in ClamAV, `*` and every `{…}` except a leading run of `{n}` with 0 < n < 128
 * split the signature into parts; each stretch between unbounded gaps needs a block of two fixed
 * bytes to anchor on. Also as in ClamAV (which stores "no upper bound" as 0), a range whose upper
 * bound is 0 (`{0}`, `{-0}`, `{0-0}`) matches any number of bytes, like `*`.
 *
 * Offsets: `*`, `n`, `EOF-n`, and the floating forms `n,m` and `EOF-n,m` (any start from the
 * offset up to m bytes after it). Offsets relative to an executable's layout (`EP+n`, `Sx+n`,
 * `SEx`, `SL+n`, `VI`, macros) need an executable parser and are rejected.
 *
 * Target types: 0 (any file) is matched as written. Every other type (PE, OLE2, HTML, mail, …) is
 * matched against the raw bytes of every file as if it were 0, and the line gets a warning: a
 * type-restricted signature can then match more files than ClamAV would match, never fewer.
 * MinFL/MaxFL are checked for form and otherwise ignored.
 *
 * Not supported, rejected with a problem: the character classes `(B)`, `(L)`, `(W)` (their
 * boundary semantics depend on ClamAV internals), nested alternatives, and signatures whose
 * extent between two unbounded gaps exceeds MAX_SEGMENT_EXTENT (the matcher keeps that many bytes
 * of history).
 *
 * ClamAV 1.4 refuses some lines its manual allows (and then refuses the whole database), and
 * mis-scans some others; this engine matches them as documented and adds a warning starting
 * "clamd would reject" or "clamd may miss matches" (checked against clamscan 1.4.6), so a
 * database meant for both engines can be checked before clamd sees it.
 *
 * A line that cannot be parsed becomes a problem and is skipped; nothing here throws.
 */

/** One position of a pattern: `(byte & mask) === value`; mask 0 is `??`. */
export interface PatternByte {
  value: number;
  mask: number;
}

export type HexElement =
  | { kind: 'byte'; value: number; mask: number }
  /**
   * Between `min` and `max` bytes of anything (`max` is Infinity for `*` and `{n-}`). `split`
   * marks the ranges that divide the signature into ClamAV "parts" (`*` and `{…}`, except `{n}`
   * with n < 128 before any other `{…}`, which ClamAV expands to n `??`); `bracket` marks
   * `[x-y]`.
   */
  | { kind: 'gap'; min: number; max: number; split: boolean; bracket?: boolean }
  /** `(a|b|…)`; `negated` (`!(…)`) matches any string of the same length that is none of them. */
  | { kind: 'alt'; negated: boolean; alternatives: PatternByte[][] };

export type NdbOffset =
  | { kind: 'any' }
  | { kind: 'absolute'; offset: number; maxShift: number }
  | { kind: 'eof'; offset: number; maxShift: number };

export interface BodySignature {
  name: string;
  targetType: number;
  offset: NdbOffset;
  elements: HexElement[];
  /** Where the line came from, for messages. */
  file: string;
  line: number;
}

export interface SignatureProblem {
  file: string;
  line: number;
  message: string;
}

/**
 * The longest run of bytes, between two unbounded gaps, the matcher has to look at once; it
 * keeps this much history per scan. Also the largest n accepted in `EOF-n`.
 */
export const MAX_SEGMENT_EXTENT = 1 << 20;
/** Guards against absurd lines: a hex signature longer than this is rejected. */
const MAX_HEX_LENGTH = 1 << 16;
const MAX_ALTERNATIVES = 256;
const MAX_NUMBER = 1_000_000_000;

const TARGET_TYPES: Record<number, string> = {
  0: 'any file',
  1: 'PE',
  2: 'OLE2',
  3: 'HTML',
  4: 'mail',
  5: 'graphics',
  6: 'ELF',
  7: 'ASCII text',
  9: 'Mach-O',
  10: 'PDF',
  11: 'Flash',
  12: 'Java class',
  13: 'Internal',
  14: 'Other',
};

export type NdbLineResult =
  | { ok: true; signature: BodySignature; warning?: string }
  | { ok: false; message: string };

class LineError extends Error {}

/** Parses every line of an `.ndb` file; bad lines become problems, unusual ones warnings. */
export function parseNdbText(
  text: string,
  file: string,
): { signatures: BodySignature[]; problems: SignatureProblem[]; warnings: SignatureProblem[] } {
  const signatures: BodySignature[] = [];
  const problems: SignatureProblem[] = [];
  const warnings: SignatureProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const raw = lines[index] ?? '';
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const result = parseNdbLine(line, file, index + 1);
    if (result.ok) {
      signatures.push(result.signature);
      if (result.warning) warnings.push({ file, line: index + 1, message: result.warning });
    } else {
      problems.push({ file, line: index + 1, message: result.message });
    }
  }
  return { signatures, problems, warnings };
}

export function parseNdbLine(line: string, file = '<memory>', lineNumber = 0): NdbLineResult {
  try {
    return parseLine(line, file, lineNumber);
  } catch (error) {
    if (error instanceof LineError) return { ok: false, message: error.message };
    // A parser bug must not take the loader down: report it like any other bad line.
    return { ok: false, message: `could not parse the line (${String(error)})` };
  }
}

function fail(message: string): never {
  throw new LineError(message);
}

function parseLine(line: string, file: string, lineNumber: number): NdbLineResult {
  const fields = line.trim().split(':');
  if (fields.length < 4) fail('expected Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]');
  if (fields.length > 6) fail(`too many fields (${fields.length}); expected at most 6`);
  const [name = '', type = '', offsetText = '', hex = '', minFl, maxFl] = fields;
  if (name === '') fail('the signature has no name');
  if (!/^\d{1,3}$/.test(type)) fail(`target type "${type}" is not a number`);
  const targetType = Number(type);
  const typeName = TARGET_TYPES[targetType];
  if (typeName === undefined) fail(`unknown target type ${targetType}`);
  for (const level of [minFl, maxFl]) {
    if (level !== undefined && !/^\d{0,9}$/.test(level)) {
      fail(`functionality level "${level}" is not a number`);
    }
  }
  const offset = parseOffset(offsetText);
  const elements = parseHex(hex);
  checkStructure(elements);
  const warnings = clamdCompatibility(elements);
  if (targetType === 3) {
    fail(
      'skipped: target type 3 (HTML) is matched by clamd against its normalised forms of a page, which the built-in engine does not produce',
    );
  }
  if (targetType === 13 || targetType === 14) fail(`skipped: target type ${targetType} (${typeName}) is not supported`);
  const warning = warnings.length > 0 ? warnings.join('; ') : undefined;
  return {
    ok: true,
    signature: { name, targetType, offset, elements, file, line: lineNumber },
    ...(warning ? { warning } : {}),
  };
}

function parseNumber(text: string, what: string): number {
  if (!/^\d{1,10}$/.test(text)) fail(`${what} "${text}" is not a number`);
  const value = Number(text);
  if (value > MAX_NUMBER) fail(`${what} ${value} is too large`);
  return value;
}

function parseOffset(text: string): NdbOffset {
  if (text === '*') return { kind: 'any' };
  if (/^(EP[+-]|S\d+[+-]|SE\d+|SL[+-]|VI|\$)/.test(text)) {
    fail(`offset "${text}" is relative to an executable's layout, which is not supported`);
  }
  const match = /^(EOF-)?([^,]*)(?:,(.*))?$/.exec(text);
  if (!match) fail(`offset "${text}" is not *, n, EOF-n, n,m or EOF-n,m`);
  const [, eof, base = '', shift] = match;
  const offset = parseNumber(base, 'offset');
  const maxShift = shift === undefined ? 0 : parseNumber(shift, 'offset shift');
  if (eof) {
    if (offset > MAX_SEGMENT_EXTENT) {
      fail(`EOF-${offset} looks further back than the ${MAX_SEGMENT_EXTENT} bytes supported`);
    }
    return { kind: 'eof', offset, maxShift };
  }
  return { kind: 'absolute', offset, maxShift };
}

/** Hex digit value by character code, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d += 1) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(d)] = d;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(d)] = d;
}
const QUESTION = 0x3f;

/** The byte at hex[i..i+1]: value | mask << 8 (`??` has mask 0). */
function parsePair(hex: string, i: number): number {
  const high = hex.charCodeAt(i);
  const low = hex.charCodeAt(i + 1);
  const h = high < 128 ? HEX_VALUE[high]! : -1;
  const l = low < 128 ? HEX_VALUE[low]! : -1;
  if ((h < 0 && high !== QUESTION) || (l < 0 && low !== QUESTION)) {
    fail(`"${hex.slice(i, i + 2)}" at position ${i} is not a hex byte, ?? or a nibble wildcard`);
  }
  const value = (h >= 0 ? h << 4 : 0) | (l >= 0 ? l : 0);
  const mask = (h >= 0 ? 0xf0 : 0) | (l >= 0 ? 0x0f : 0);
  return value | (mask << 8);
}

function parseHex(hex: string): HexElement[] {
  if (hex === '') fail('the hex signature is empty');
  if (hex.length > MAX_HEX_LENGTH) fail(`the hex signature is longer than ${MAX_HEX_LENGTH} characters`);
  const elements: HexElement[] = [];
  // ClamAV expands `{n}` (0 < n < 128) to `??`s only until the first other `{…}`; after that,
  // every `{…}` splits the signature into parts.
  const braces = { splitting: false };
  let i = 0;
  while (i < hex.length) {
    const c = hex[i];
    if (c === '*') {
      elements.push({ kind: 'gap', min: 0, max: Infinity, split: true });
      i += 1;
    } else if (c === '{') {
      const close = hex.indexOf('}', i);
      if (close < 0) fail(`"{" at position ${i} is not closed`);
      elements.push(parseRange(hex.slice(i + 1, close), braces));
      i = close + 1;
    } else if (c === '[') {
      const close = hex.indexOf(']', i);
      if (close < 0) fail(`"[" at position ${i} is not closed`);
      const range = /^(\d+)(?:-(\d+))?$/.exec(hex.slice(i + 1, close));
      if (!range) fail(`"[${hex.slice(i + 1, close)}]" is not a [x-y] range`);
      const min = parseNumber(range[1] ?? '', 'range');
      const max = range[2] === undefined ? min : parseNumber(range[2], 'range');
      if (min > max) fail(`range [${min}-${max}] has its bounds reversed`);
      elements.push({ kind: 'gap', min, max, split: false, bracket: true });
      i = close + 1;
    } else if (c === '(' || (c === '!' && hex[i + 1] === '(')) {
      const negated = c === '!';
      const open = negated ? i + 1 : i;
      const close = hex.indexOf(')', open);
      if (close < 0) fail(`"(" at position ${open} is not closed`);
      const body = hex.slice(open + 1, close);
      if (body.includes('(')) fail('alternatives cannot be nested');
      elements.push(parseAlternatives(body, negated));
      i = close + 1;
    } else {
      const pair = parsePair(hex, i);
      elements.push({ kind: 'byte', value: pair & 0xff, mask: pair >> 8 });
      i += 2;
    }
  }
  return elements;
}

function parseRange(body: string, braces: { splitting: boolean }): HexElement {
  let match: RegExpExecArray | null;
  let min: number;
  let max: number;
  if ((match = /^(\d+)$/.exec(body))) {
    min = max = parseNumber(match[1] ?? '', 'range');
    if (min > 0 && min < 128 && !braces.splitting) return { kind: 'gap', min, max, split: false };
  } else if ((match = /^(\d+)-(\d+)$/.exec(body))) {
    min = parseNumber(match[1] ?? '', 'range');
    max = parseNumber(match[2] ?? '', 'range');
    if (min > max) fail(`range {${min}-${max}} has its bounds reversed`);
  } else if ((match = /^-(\d+)$/.exec(body))) {
    min = 0;
    max = parseNumber(match[1] ?? '', 'range');
  } else if ((match = /^(\d+)-$/.exec(body))) {
    min = parseNumber(match[1] ?? '', 'range');
    max = Infinity;
  } else {
    return fail(`"{${body}}" is not {n}, {n-m}, {-n} or {n-}`);
  }
  braces.splitting = true;
  // ClamAV stores "no upper bound" as 0, so {0}, {-0} and {0-0} mean any number of bytes, as *.
  return { kind: 'gap', min, max: max === 0 ? Infinity : max, split: true };
}

function parseAlternatives(body: string, negated: boolean): HexElement {
  if (body === 'B' || body === 'L' || body === 'W') {
    fail(`the character class (${body}) is not supported`);
  }
  const texts = body.split('|');
  if (texts.length < 2 && !negated) fail('an alternative needs at least two choices, as in (aa|bb)');
  if (texts.length > MAX_ALTERNATIVES) fail(`more than ${MAX_ALTERNATIVES} alternatives`);
  const alternatives = texts.map((text) => {
    if (text === '') fail('an alternative is empty');
    const bytes: PatternByte[] = [];
    let i = 0;
    while (i < text.length) {
      if (text[i] === '{') {
        const close = text.indexOf('}', i);
        const n = close < 0 ? NaN : Number(text.slice(i + 1, close));
        if (!/^\d+$/.test(text.slice(i + 1, close)) || !(n > 0 && n < 128)) {
          fail('inside alternatives only {n} with 0 < n < 128 is allowed');
        }
        for (let k = 0; k < n; k += 1) bytes.push({ value: 0, mask: 0 });
        i = close + 1;
      } else if (text[i] === '*' || text[i] === '[') {
        fail('alternatives cannot contain * or ranges');
      } else {
        const pair = parsePair(text, i);
        bytes.push({ value: pair & 0xff, mask: pair >> 8 });
        i += 2;
      }
    }
    return bytes;
  });
  if (negated) {
    const length = alternatives[0]?.length ?? 0;
    if (alternatives.some((a) => a.length !== length || a.some((b) => b.mask !== 0xff))) {
      fail('a negated alternative !(…) needs literal choices of equal length');
    }
  }
  return { kind: 'alt', negated, alternatives };
}

/** Shortest and longest number of bytes an element covers. */
export function elementExtent(element: HexElement): { min: number; max: number } {
  if (element.kind === 'byte') return { min: 1, max: 1 };
  if (element.kind === 'gap') return { min: element.min, max: element.max };
  let min = Infinity;
  let max = 0;
  for (const alternative of element.alternatives) {
    min = Math.min(min, alternative.length);
    max = Math.max(max, alternative.length);
  }
  return { min, max };
}

const isFixedByte = (e: HexElement | undefined) => e?.kind === 'byte' && e.mask === 0xff;

function longestFixedRun(elements: HexElement[]): number {
  let run = 0;
  let best = 0;
  for (const element of elements) {
    run = isFixedByte(element) ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

/** What the matcher needs: every stretch between unbounded gaps anchors on two fixed bytes. */
function checkStructure(elements: HexElement[]): void {
  const first = elements[0];
  const last = elements[elements.length - 1];
  for (const edge of [first, last]) {
    if (edge?.kind === 'gap' && (edge.split || edge.bracket)) {
      fail('the signature cannot start or end with * or a range');
    }
  }
  let segment: HexElement[] = [];
  let extent = 0;
  const segments: HexElement[][] = [segment];
  for (const element of elements) {
    const { max } = elementExtent(element);
    if (max === Infinity) {
      segment = [];
      segments.push(segment);
      extent = 0;
      continue;
    }
    segment.push(element);
    extent += max;
    if (extent > MAX_SEGMENT_EXTENT) {
      fail(`the signature spans more than ${MAX_SEGMENT_EXTENT} bytes between unbounded gaps`);
    }
  }
  for (const [index, part] of segments.entries()) {
    if (part.length === 0) fail('two unbounded gaps in a row leave nothing between them');
    if (longestFixedRun(part) < 2) {
      fail(
        segments.length === 1
          ? 'the signature has no block of two fixed bytes to anchor on'
          : `part ${index + 1} (between * or {n-} gaps) has no block of two fixed bytes to anchor on`,
      );
    }
  }
}

/**
 * Lines this engine matches but ClamAV 1.4 refuses to load (and with them the whole database):
 * each part between ranges needs two consecutive fixed bytes and must not open with a
 * multi-byte alternative, and `[x-y]` only joins a single byte at a part's edge with y ≤ 32.
 */
function clamdCompatibility(elements: HexElement[]): string[] {
  const problems = new Set<string>();
  let part: HexElement[] = [];
  const parts: HexElement[][] = [part];
  for (const element of elements) {
    if (element.kind === 'gap' && element.split) {
      part = [];
      parts.push(part);
    } else {
      part.push(element);
    }
  }
  // ClamAV's prefilter indexes a part by the single-position items (bytes, nibbles, ??, sets
  // of single bytes) it opens with, after skipping multi-byte alternatives at its very start.
  const positions = (e: HexElement): number => {
    if (e.kind === 'byte') return 1;
    if (e.kind === 'gap') return !e.split && !e.bracket && e.min === e.max ? e.min : 0;
    return e.alternatives.every((alt) => alt.length === 1 && alt[0]?.mask === 0xff) ? 1 : 0;
  };
  let genericAlternative = false;
  for (const p of parts) {
    if (p.length === 0) {
      problems.add('two ranges in a row leave an empty part');
      continue;
    }
    if (longestFixedRun(p) < 2) problems.add('a part between ranges has no two consecutive fixed bytes');
    // `aa[x-y]` at the start and `[x-y]aa` at the end are taken off the part first.
    const bracketAt = (at: number) => p[at]?.kind === 'gap' && (p[at] as { bracket?: boolean }).bracket === true;
    let index = bracketAt(1) ? 2 : 0;
    const end = bracketAt(p.length - 2) ? p.length - 2 : p.length;
    while (index < end && p[index]?.kind === 'alt' && positions(p[index]!) === 0) index += 1;
    // A "generic" alternative in ClamAV's terms: choices of unequal length or with wildcards.
    for (const element of p) {
      if (element.kind !== 'alt') continue;
      const length = element.alternatives[0]?.length ?? 0;
      if (element.alternatives.some((choice) => choice.length !== length || choice.some((b) => b.mask !== 0xff))) {
        genericAlternative = true;
      }
    }
    // The opening single-position items, `true` for `??`; two `??` in a row cannot be indexed.
    const leading: boolean[] = [];
    for (; index < end && leading.length < 64; index += 1) {
      const element = p[index]!;
      const count = positions(element);
      if (count === 0) break;
      const any = element.kind === 'gap' || (element.kind === 'byte' && element.mask === 0);
      for (let k = 0; k < count && leading.length < 64; k += 1) leading.push(any);
    }
    if (!leading.some((any, k) => k + 1 < leading.length && !(any && leading[k + 1]))) {
      problems.add('a part does not open with two bytes ClamAV can index (before any multi-byte alternative)');
    }
    p.forEach((element, at) => {
      if (element.kind !== 'gap' || !element.bracket) return;
      const atStart = at === 1 && p[0]?.kind === 'byte';
      const atEnd = at === p.length - 2 && p[p.length - 1]?.kind === 'byte';
      if (!atStart && !atEnd) problems.add('[x-y] must join a single byte at the start or end of a part');
      if (element.max > 32) problems.add('[x-y] allows at most 32');
    });
  }
  if (elements.length < 3 && elements.every(isFixedByte)) {
    problems.add('a signature of only fixed bytes needs at least three');
  }
  const messages = [...problems].map((problem) => `clamd would reject this line: ${problem}`);
  if (genericAlternative) {
    // Seen with ClamAV 1.4.6: "ac_findmatch: Unknown metatype" errors when such an alternative
    // opens a part (`(af|??01)41…`), and missed matches elsewhere (`4343(42|4341|4142)434243`
    // does not find 43434142434243). This engine matches them as documented.
    messages.push('clamd may miss matches of this line: alternatives of unequal lengths or with wildcards');
  }
  return messages;
}

/**
 * A hex signature body in `.ndb` syntax, checked as `.ndb` lines are: for formats that embed
 * one (the subsignatures of `.ldb` logical signatures). `warnings` are the "clamd would reject"
 * and "clamd may miss matches" notes of clamdCompatibility.
 */
export function parseHexSignature(
  hex: string,
): { ok: true; elements: HexElement[]; warnings: string[] } | { ok: false; message: string } {
  try {
    const elements = parseHex(hex);
    checkStructure(elements);
    return { ok: true, elements, warnings: clamdCompatibility(elements) };
  } catch (error) {
    if (error instanceof LineError) return { ok: false, message: error.message };
    return { ok: false, message: `could not parse the hex signature (${String(error)})` };
  }
}

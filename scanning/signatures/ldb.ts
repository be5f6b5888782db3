import { ENGINE_FLEVEL } from './mdb.js';
import { translatePcre, type PcrePattern } from './pcre.js';
import {
  MAX_SEGMENT_EXTENT,
  parseHexSignature,
  type HexElement,
  type SignatureProblem,
} from './ndb.js';

/**
 * ClamAV logical signatures (`.ldb`, unofficial `.ldu`):
 *
 *     Name;TargetDescriptionBlock;LogicalExpression;Subsig0;Subsig1;…
 *
 * Target description block (comma-separated `Attribute:value`): `Engine:a-b` (must come first;
 * a signature whose range excludes ENGINE_FLEVEL is skipped, as ClamAV skips it), `Target:n`
 * (0: any file; 1, 2, 4–7, 9–12: files of that kind, see scanning/file-type.ts; 3 (HTML), 8, 13
 * and 14 are skipped), `FileSize:a-b`, `EntryPoint:a-b` and `NumberOfSections:a-b` (PE),
 * `Container:` the ClamAV type of the layer the file came out of, for the types where clamd's
 * layers are the archive walker's (CONTAINER_TYPE_OF: CL_TYPE_ANY, not unpacked from anything,
 * and zip, gzip, 7z, cab, ARJ, ISO 9660, bzip2, xz, SZDD). Other containers (SKIPPED_CONTAINERS
 * says why for those the walker opens too), `Intermediates`, `HandlerType` and `IconGroup1/2`
 * make the signature skipped, with the reason.
 *
 * Logical expression: subsignature numbers joined by `&` and `|`, parentheses, counts on a
 * subsignature (`0>2`, `0=1`, `0<3`) or a parenthesised group (`(0|1)>2`, `(0|1|2)=3,2`: a total
 * of 3 matches from at least 2 different subsignatures). It is read as ClamAV reads it (see
 * parseExpression), including its grouping without operator precedence.
 *
 * Subsignatures: an `.ndb` hex body (same syntax and limits, see ndb.ts) with an optional
 * `offset:` prefix (`*`, `n`, `n,m`, `EOF-n`, `EP+n`, `EP-n`, `Sx+n`, `SL+n`, `SEx`, each with an
 * optional `,maxshift`; `VI`: the match must start a String of the PE's version information, see
 * scanning/pe-version-info.ts) and optional `::` modifiers: `i` (case-insensitive), `w` (UTF-16LE,
 * "wide"), `a` (with `w`: the ASCII form too), `f` (fullword: the form is marked, and the logical
 * matcher checks the word boundaries as clamd does; as clamd, `[x-y]` in a fullword body is read
 * as `{x-y}`).
 *
 * PCRE subsignatures, `[Offset:]Trigger/PCRE/[Flags]`: the line is split as clamd splits it (a
 * `;` or `:` between the slashes of a regex does not end a field; `\/` does not end the regex),
 * the trigger is a logical expression over earlier subsignatures, the offset takes the forms
 * above, the flags are PCRE2's `i s m x A E U` and ClamAV's `g r e`. The regex is translated
 * for RE2 at load (signatures/pcre.ts: exact byte semantics, or "skipped: PCRE construct RE2
 * cannot run: …") and run at the end of each file whose trigger holds (matcher/pcre.ts). Counts
 * above 64 on a signature with a `g` regex are skipped (each match is one more search).
 *
 * Skipped, with the reason: byte-compare, macro (`${…}n$`) and fuzzy-image subsignatures, `$n$`
 * offsets, `VI` bodies clamd splits into parts (`*`, `{n-m}`, `{n}` with n 0 or over 127: it
 * checks each part's start against the version information) or starting with a byte and
 * `[x-y]`, case-insensitive bodies with nibble wildcards or negated alternatives, subsignatures
 * with unbounded gaps (`*`, `{n-}`) and an offset other than `*` (they are only looked for once),
 * and counts of subsignatures of variable length (`*`, `{n-m}`, `[x-y]`, alternatives of unequal
 * lengths): clamd counts those by where their matches end, one start per end, which this engine
 * does not mimic.
 *
 * A line ClamAV would refuse (and with it the whole database) is a problem too; nothing throws.
 */

export type LdbOffset =
  | { kind: 'any' }
  | { kind: 'absolute'; offset: number; shift: number }
  | { kind: 'eof'; offset: number; shift: number }
  | { kind: 'ep'; delta: number; shift: number }
  | { kind: 'section'; index: number; offset: number; shift: number }
  | { kind: 'last-section'; offset: number; shift: number }
  | { kind: 'section-entire'; index: number; shift: number }
  /** `VI`: a match counts only where it starts a String of the PE's version information. */
  | { kind: 'version' };

/** One form of a subsignature to look for (`::wa` gives two: wide and ASCII). */
export interface SubsignatureForm {
  elements: HexElement[];
  /** Matched against the content with A–Z lowered (the elements are lowered already). */
  nocase: boolean;
  /** Holds unbounded gaps: matched once, not counted. */
  unbounded: boolean;
  /** Matches can have different lengths (ranges, unequal alternatives): not counted. */
  variable: boolean;
  /**
   * `::f`: a match counts only between word boundaries, checked as clamd checks them: `byte`, the
   * byte before and the byte after are not ASCII letters or digits; `wide` (the UTF-16LE form),
   * the two bytes before and the two after are not such a letter followed by a NUL.
   */
  fullword?: 'byte' | 'wide';
}

export interface Subsignature {
  offset: LdbOffset;
  /** Empty for a PCRE subsignature. */
  forms: SubsignatureForm[];
  /** A PCRE subsignature: run at the end, when its trigger holds (matcher/pcre.ts). */
  pcre?: PcreSubsignature;
}

export interface PcreSubsignature extends PcrePattern {
  /** A logical expression over the earlier subsignatures: the regex runs only when it holds. */
  trigger: LogicalExpression;
}

export type CountOp = '=' | '<' | '>';

export type LogicalExpression =
  | { kind: 'sub'; id: number; count?: { op: CountOp; value: number } }
  | {
      kind: 'and' | 'or';
      left: LogicalExpression;
      right: LogicalExpression;
      count?: { op: CountOp; value: number; distinct: number };
    };

export interface LogicalSignature {
  name: string;
  /** 0: any file; otherwise the target type (file-type.ts tells which files are of it). */
  target: number;
  fileSize?: [number, number];
  entryPoint?: [number, number];
  sections?: [number, number];
  /**
   * The ClamAV type (`CL_TYPE_ZIP`, …; CL_TYPE_ANY: unpacked from nothing) of the container the
   * file must come out of: containerType(Member.container).
   */
  container?: string;
  expression: LogicalExpression;
  subsignatures: Subsignature[];
  /** Matches of a subsignature above this many change nothing: counting stops there. */
  countCap: number;
  file: string;
  line: number;
}

export type LdbLineResult =
  | { ok: true; signature: LogicalSignature; warning?: string }
  | { ok: false; message: string };

/** ClamAV's limit on subsignatures per logical signature. */
const MAX_SUBSIGNATURES = 64;
const MAX_EXPRESSION_LENGTH = 4096;
const MAX_NESTING = 64;
const MAX_NUMBER = 0xffffffff;
const MAX_COUNT = 65535;
/**
 * With `g`, each further match of a PCRE subsignature is one more RE2 search over the rest of the
 * content (re2-wasm copies the string in each time): counting is kept to a few dozen searches.
 */
const MAX_PCRE_GLOBAL_COUNT = 64;
/** ClamAV's number of target types: 15 and up are skipped. */
const TARGET_TYPES = 15;
/** Target types matched (see file-type.ts for how a file's kind is told). */
const MATCHED_TARGETS = new Set([0, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12]);
const TARGET_NAMES: Record<number, string> = {
  2: 'OLE2',
  3: 'HTML',
  4: 'mail',
  5: 'graphics',
  6: 'ELF',
  7: 'ASCII text',
  8: 'unused',
  9: 'Mach-O',
  10: 'PDF',
  11: 'Flash',
  12: 'Java class',
  13: 'Internal',
  14: 'Other',
};

class LineError extends Error {}

/** The start of the message of a line skipped because it uses something not supported. */
const SKIPPED = 'skipped: ';

function fail(message: string): never {
  throw new LineError(message);
}

export function parseLdbText(
  text: string,
  file: string,
): { signatures: LogicalSignature[]; problems: SignatureProblem[]; warnings: SignatureProblem[] } {
  const signatures: LogicalSignature[] = [];
  const problems: SignatureProblem[] = [];
  const warnings: SignatureProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const result = parseLdbLine(line, file, index + 1);
    if (result.ok) {
      signatures.push(result.signature);
      if (result.warning) warnings.push({ file, line: index + 1, message: result.warning });
    } else {
      problems.push({ file, line: index + 1, message: result.message });
    }
  }
  return { signatures, problems, warnings };
}

export function parseLdbLine(line: string, file = '<memory>', lineNumber = 0): LdbLineResult {
  try {
    return parseLine(line.trim(), file, lineNumber);
  } catch (error) {
    if (error instanceof LineError) return { ok: false, message: error.message };
    // A parser bug must not take the loader down: report it like any other bad line.
    return { ok: false, message: `could not parse the line (${String(error)})` };
  }
}

function parseLine(line: string, file: string, lineNumber: number): LdbLineResult {
  // A `;` inside a PCRE subsignature's /regex/ does not end it.
  const tokens = splitOutsideRegex(line, ';', 2);
  if (tokens.length < 4) fail('expected Name;TargetDescriptionBlock;LogicalExpression;Subsig0[;…]');
  const [name = '', tdbText = '', logic = '', ...subsigTexts] = tokens;
  if (name === '') fail('the signature has no name');
  const expression = parseExpression(logic);
  const highest = highestId(expression);
  if (highest + 1 !== subsigTexts.length) {
    fail(
      `the expression uses subsignatures 0..${highest} but the line has ${subsigTexts.length} (clamd refuses the database)`,
    );
  }
  if (subsigTexts.length > MAX_SUBSIGNATURES) fail(`more than ${MAX_SUBSIGNATURES} subsignatures`);
  const tdb = parseTargetBlock(tdbText);
  const warnings: string[] = [];
  const subsignatures = subsigTexts.map((text, index) => {
    try {
      if (isPcreSubsignature(text)) return parsePcreSubsignature(text, index, tdb.target);
      return parseSubsignature(text, tdb.target, warnings);
    } catch (error) {
      if (error instanceof LineError) {
        // Keep "skipped:" in front, where the load report looks for it.
        const skipped = error.message.startsWith(SKIPPED);
        const reason = skipped ? error.message.slice(SKIPPED.length) : error.message;
        fail(`${skipped ? SKIPPED : ''}subsignature ${index}: ${reason}`);
      }
      throw error;
    }
  });
  checkCountedUse(expression, subsignatures, false);
  const triggers = subsignatures.flatMap((sub) => (sub.pcre ? [sub.pcre.trigger] : []));
  for (const trigger of triggers) checkCountedUse(trigger, subsignatures, false);
  const largest = Math.max(largestCount(expression), ...triggers.map(largestCount));
  // Counting keeps up to that many start offsets per subsignature and file.
  if (largest > MAX_COUNT) fail(`skipped: counts above ${MAX_COUNT} are not supported`);
  if (largest > MAX_PCRE_GLOBAL_COUNT && subsignatures.some((sub) => sub.pcre?.global)) {
    fail(`skipped: counts above ${MAX_PCRE_GLOBAL_COUNT} with a PCRE subsignature that counts every match (g)`);
  }
  const signature: LogicalSignature = {
    name,
    target: tdb.target,
    ...(tdb.fileSize ? { fileSize: tdb.fileSize } : {}),
    ...(tdb.entryPoint ? { entryPoint: tdb.entryPoint } : {}),
    ...(tdb.sections ? { sections: tdb.sections } : {}),
    ...(tdb.container ? { container: tdb.container } : {}),
    expression,
    subsignatures,
    countCap: largest + 1,
    file,
    line: lineNumber,
  };
  const warning = warnings.length > 0 ? [...new Set(warnings)].join('; ') : undefined;
  return { ok: true, signature, ...(warning ? { warning } : {}) };
}

// ---- target description block ----

interface TargetBlock {
  target: number;
  fileSize?: [number, number];
  entryPoint?: [number, number];
  sections?: [number, number];
  container?: string;
}

/**
 * ClamAV's type of the layer a piece of content came out of, by the archive walker's name for
 * that container (`Member.container`; `file`: the content itself, CL_TYPE_ANY), for the
 * containers where clamd's immediate parent is the same layer as the walker's (each checked
 * against clamd 1.4: test/scanning/ldb-container.test.ts).
 */
const CONTAINER_TYPE_OF: Record<string, string> = {
  file: 'CL_TYPE_ANY',
  zip: 'CL_TYPE_ZIP',
  gzip: 'CL_TYPE_GZ',
  '7z': 'CL_TYPE_7Z',
  cab: 'CL_TYPE_MSCAB',
  arj: 'CL_TYPE_ARJ',
  iso: 'CL_TYPE_ISO9660',
  bzip2: 'CL_TYPE_BZ',
  xz: 'CL_TYPE_XZ',
  szdd: 'CL_TYPE_MSSZDD',
};

const CONTAINER_TYPES = new Set(Object.values(CONTAINER_TYPE_OF));

/** Why `Container:` types the walker also opens are skipped: clamd's layers differ there. */
const SKIPPED_CONTAINERS: Record<string, string> = {
  CL_TYPE_POSIX_TAR: 'clamd tells POSIX tars from old ones, the archive walker does not',
  CL_TYPE_OLD_TAR: 'clamd tells POSIX tars from old ones, the archive walker does not',
  CL_TYPE_CPIO_OLD: 'clamd tells the cpio flavours apart, the archive walker does not',
  CL_TYPE_CPIO_ODC: 'clamd tells the cpio flavours apart, the archive walker does not',
  CL_TYPE_CPIO_NEWC: 'clamd tells the cpio flavours apart, the archive walker does not',
  CL_TYPE_CPIO_CRC: 'clamd tells the cpio flavours apart, the archive walker does not',
  CL_TYPE_RAR: 'clamd as Debian builds it, without unrar, never unpacks RAR',
  CL_TYPE_MSOLE2:
    'clamd scans the VBA source and OLE packages it takes out of an OLE2 file as its members, the archive walker as members of its streams',
  CL_TYPE_MAIL:
    'clamd scans uuencoded and other blocks it decodes in a mail as members of the mail, the archive walker as members of the text part',
  CL_TYPE_PDF: 'clamd also scans the JavaScript of PDF strings as members of the PDF',
  CL_TYPE_RTF: 'the archive walker also scans \\bin data as members of an RTF, clamd does not',
  CL_TYPE_HTML: 'clamd also scans the normalised text and scripts of a page as its members',
  CL_TYPE_TNEF: 'the archive walker also scans the message body as a member of a TNEF file, clamd does not',
  CL_TYPE_SIS: 'the archive walker also unpacks the newer Symbian packages, clamd only the old ones',
  CL_TYPE_MSCHM: 'not checked against clamd: no tool here writes CHM',
  CL_TYPE_UDF: 'not checked against clamd: no tool here writes UDF alone',
  CL_TYPE_LHA_LZH: 'not checked against clamd: no tool here writes LHA',
  CL_TYPE_XAR: 'not checked against clamd: no tool here writes XAR',
};

/** ClamAV's type for the walker's container name, as `Container:` names it; undefined: none. */
export function containerType(walkerName: string): string | undefined {
  return Object.hasOwn(CONTAINER_TYPE_OF, walkerName) ? CONTAINER_TYPE_OF[walkerName] : undefined;
}

const SKIPPED_ATTRIBUTES: Record<string, string> = {
  IconGroup1: 'icon matching',
  IconGroup2: 'icon matching',
  HandlerType: 'HandlerType (rescanning as another file type)',
  Intermediates: 'the Intermediates condition (the types of the enclosing archives)',
};

function parseRange(text: string, what: string): [number, number] {
  const match = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  if (!match) fail(`${what} "${text}" is not a range a-b`);
  const low = Number(match[1]);
  const high = Number(match[2]);
  if (low > MAX_NUMBER || high > MAX_NUMBER) fail(`${what} "${text}" is out of range`);
  return [low, high];
}

function parseTargetBlock(text: string): TargetBlock {
  if (text === '') fail('the target description block is empty (clamd refuses the database)');
  let target: number | undefined;
  let engine: [number, number] | undefined;
  let newAttributes = false;
  const block: Omit<TargetBlock, 'target'> = {};
  const skipped: string[] = [];
  const why: string[] = [];
  text.split(',').forEach((attribute, index) => {
    const colon = attribute.indexOf(':');
    if (colon < 0) fail(`attribute "${attribute}" has no value (clamd refuses the database)`);
    const key = attribute.slice(0, colon);
    const value = attribute.slice(colon + 1);
    if (key !== 'Engine' && key !== 'Target') newAttributes = true;
    switch (key) {
      case 'Engine':
        if (index !== 0) fail('Engine must be the first attribute (clamd refuses the database)');
        engine = parseRange(value, 'Engine');
        break;
      case 'Target':
        if (!/^\d{1,10}$/.test(value)) fail(`Target "${value}" is not a number`);
        target = Number(value);
        break;
      case 'FileSize':
        block.fileSize = parseRange(value, 'FileSize');
        break;
      case 'EntryPoint':
        block.entryPoint = parseRange(value, 'EntryPoint');
        break;
      case 'NumberOfSections':
        block.sections = parseRange(value, 'NumberOfSections');
        break;
      case 'Container':
        if (CONTAINER_TYPES.has(value)) block.container = value;
        else {
          skipped.push(`Container:${value}`);
          if (Object.hasOwn(SKIPPED_CONTAINERS, value)) why.push(SKIPPED_CONTAINERS[value]!);
        }
        break;
      default: {
        const reason = SKIPPED_ATTRIBUTES[key];
        // ClamAV skips signatures with attributes it does not know, quietly.
        skipped.push(reason ?? `the unknown attribute ${key}`);
      }
    }
  });
  if (skipped.length > 0) {
    fail(`skipped: ${skipped.join(', ')} is not supported${why.length > 0 ? `: ${why.join('; ')}` : ''}`);
  }
  if (newAttributes && (engine === undefined || engine[0] < 51)) {
    fail('attributes other than Target need Engine with a minimum of at least 51 (clamd refuses the database)');
  }
  if (engine !== undefined && (engine[0] > ENGINE_FLEVEL || engine[1] < ENGINE_FLEVEL)) {
    fail(`skipped: Engine:${engine[0]}-${engine[1]} excludes functionality level ${ENGINE_FLEVEL}`);
  }
  if (target === undefined) fail('no Target attribute (clamd refuses the database)');
  if (target >= TARGET_TYPES) fail(`skipped: target type ${target} is unknown`);
  if ((block.entryPoint || block.sections) && target !== 1 && target !== 6 && target !== 9) {
    fail('EntryPoint and NumberOfSections need Target 1, 6 or 9 (clamd refuses the database)');
  }
  if (target === 3) {
    fail(
      'skipped: target type 3 (HTML) is matched by clamd against its normalised forms of a page, which the built-in engine does not produce',
    );
  }
  if (!MATCHED_TARGETS.has(target)) {
    fail(`skipped: target type ${target} (${TARGET_NAMES[target] ?? 'unknown'}) is not supported`);
  }
  if ((block.entryPoint || block.sections) && target !== 1) {
    fail(`skipped: EntryPoint and NumberOfSections of ${TARGET_NAMES[target]} files are not computed`);
  }
  return { target, ...block };
}

// ---- subsignatures ----

function parseSubsignature(text: string, target: number, warnings: string[]): Subsignature {
  if (text.startsWith('$')) fail('skipped: macro subsignatures are not supported');
  if (text.startsWith('fuzzy_img#')) fail('skipped: fuzzy image hashes are not supported');
  const open = text.indexOf('(');
  const hash = text.indexOf('#');
  if (open >= 0 && hash >= 0 && hash !== text.lastIndexOf('#')) {
    fail('skipped: byte-compare subsignatures are not supported');
  }
  const fields = text.split(':');
  if (fields.length > 4) fail('expected [offset:]hex[::modifiers]');
  const offsetText = fields.length % 2 === 0 ? fields[0] : undefined;
  const hex = (fields.length % 2 === 0 ? fields[1] : fields[0]) ?? '';
  const modifiers = fields.length === 3 ? fields[2] : fields.length === 4 ? fields[3] : undefined;
  if ((fields.length === 3 || fields.length === 4) && fields[fields.length - 2] !== '') {
    fail('expected [offset:]hex[::modifiers]');
  }
  let nocase = false;
  let wide = false;
  let ascii = false;
  let fullword = false;
  for (const modifier of modifiers ?? '') {
    if (modifier === 'i') nocase = true;
    else if (modifier === 'w') wide = true;
    else if (modifier === 'a') ascii = true;
    else if (modifier === 'f') fullword = true;
    else fail(`unknown modifier "${modifier}" (clamd refuses the database)`);
  }
  const offset = executableOffsetChecked(parseOffset(offsetText ?? '*'), target);
  // clamd rewrites a fullword body's `[x-y]` as `{x-y}` (for every form, not only the wide one).
  const source = fullword ? hex.replaceAll('[', '{').replaceAll(']', '}') : hex;
  const texts = wide ? (ascii ? [widen(source), source] : [widen(source)]) : [source];
  const forms = texts.map((body, index): SubsignatureForm => {
    if (offset.kind === 'version' && splitIntoParts(body)) {
      fail(
        'skipped: a VI subsignature with {n-m}, {n} (n = 0 or 128 and more) or * gaps: clamd matches it in parts and checks each part against the version information',
      );
    }
    // clamd checks where the bytes after a leading `xx[n-m]` start (seen with clamd 1.4.6).
    if (offset.kind === 'version' && /^[0-9a-f?]{2}\[/i.test(body)) {
      fail('skipped: a VI subsignature that starts with a byte and a [n-m] range');
    }
    const parsed = parseHexSignature(body);
    if (!parsed.ok) fail(parsed.message);
    // ClamAV's three-byte minimum is for whole body signatures, not for subsignatures.
    warnings.push(...parsed.warnings.filter((w) => !w.includes('only fixed bytes')));
    const unbounded = parsed.elements.some((e) => e.kind === 'gap' && e.max === Infinity);
    if (unbounded && offset.kind !== 'any') {
      fail('skipped: a subsignature with unbounded gaps (*, {n-}) needs the offset *');
    }
    const variable = parsed.elements.some(
      (e) =>
        (e.kind === 'gap' && e.min !== e.max) ||
        (e.kind === 'alt' && e.alternatives.some((a) => a.length !== e.alternatives[0]!.length)),
    );
    return {
      elements: nocase ? lowered(parsed.elements) : parsed.elements,
      nocase,
      unbounded,
      variable,
      ...(fullword ? { fullword: wide && index === 0 ? 'wide' : 'byte' } : {}),
    };
  });
  return { offset, forms };
}

/**
 * An offset relative to an executable's layout (EP, sections) needs an executable target, or
 * clamd refuses the database; ELF and Mach-O layouts are not computed here, so those are skipped.
 */
function executableOffsetChecked(offset: LdbOffset, target: number): LdbOffset {
  if (offset.kind === 'any' || offset.kind === 'absolute' || offset.kind === 'eof') return offset;
  if (target === 6 || target === 9) {
    fail(`skipped: entry point, section and version information offsets of ${TARGET_NAMES[target]} files are not computed`);
  }
  if (target !== 1) {
    fail('offsets relative to an executable need Target 1, 6 or 9 (clamd refuses the database)');
  }
  return offset;
}

/**
 * Whether clamd splits a body into parts: at a `*` or a `{…}` other than `{n}` with 0 < n < 128
 * (which it rewrites as n `??`).
 */
function splitIntoParts(body: string): boolean {
  if (body.includes('*')) return true;
  for (const match of body.matchAll(/\{([^}]*)\}/g)) {
    const n = /^\d+$/.test(match[1] ?? '') ? Number(match[1]) : 0;
    if (n <= 0 || n >= 128) return true;
  }
  return false;
}

function parseCount(text: string, what: string): number {
  if (!/^\d{1,10}$/.test(text)) fail(`${what} "${text}" is not a number`);
  const value = Number(text);
  if (value > MAX_NUMBER) fail(`${what} ${value} is too large`);
  return value;
}

function parseOffset(text: string): LdbOffset {
  if (text === '*') return { kind: 'any' };
  if (text.length > 64) fail('the offset is longer than 64 characters');
  const comma = text.indexOf(',');
  const base = comma < 0 ? text : text.slice(0, comma);
  const shift = comma < 0 ? 0 : parseCount(text.slice(comma + 1), 'offset shift');
  let match: RegExpExecArray | null;
  if ((match = /^EP([+-])(.*)$/.exec(base))) {
    const value = parseCount(match[2] ?? '', 'offset');
    return { kind: 'ep', delta: match[1] === '+' ? value : -value, shift };
  }
  if ((match = /^SE(.*)$/.exec(base))) return { kind: 'section-entire', index: parseCount(match[1] ?? '', 'section'), shift };
  if ((match = /^SL\+(.*)$/.exec(base))) return { kind: 'last-section', offset: parseCount(match[1] ?? '', 'offset'), shift };
  if ((match = /^S(\d+)\+(.*)$/.exec(base))) {
    return {
      kind: 'section',
      index: parseCount(match[1] ?? '', 'section'),
      offset: parseCount(match[2] ?? '', 'offset'),
      shift,
    };
  }
  if ((match = /^EOF-(.*)$/.exec(base))) {
    const offset = parseCount(match[1] ?? '', 'offset');
    if (offset > MAX_SEGMENT_EXTENT) {
      fail(`skipped: EOF-${offset} looks further back than the ${MAX_SEGMENT_EXTENT} bytes supported`);
    }
    return { kind: 'eof', offset, shift };
  }
  // As clamd, anything starting with "VI" is the version information offset (a shift is ignored).
  if (base.startsWith('VI')) return { kind: 'version' };
  if (base.includes('$')) fail('skipped: macro offsets ($n$) are not supported');
  if (base.startsWith('S')) fail(`offset "${text}" is not Sx+n, SEx or SL+n`);
  return { kind: 'absolute', offset: parseCount(base, 'offset'), shift };
}

/**
 * The UTF-16LE form of a hex body, as ClamAV builds it: every byte (and `??`, nibble) gets a
 * `00` after it; `{…}` and `*` stay as written, and `[x-y]` becomes `{x-y}`.
 */
function widen(hex: string): string {
  let out = '';
  let i = 0;
  while (i < hex.length) {
    const c = hex[i]!;
    if (c === '*' || c === '|' || c === ')' || c === '(' || c === '!') {
      out += c;
      i += 1;
    } else if (c === '[' || c === '{') {
      const close = hex.indexOf(c === '[' ? ']' : '}', i);
      if (close < 0) fail(`"${c}" at position ${i} is not closed`);
      out += `{${hex.slice(i + 1, close)}}`;
      i = close + 1;
    } else {
      out += `${hex.slice(i, i + 2)}00`;
      i += 2;
    }
  }
  return out;
}

const isUpper = (b: number) => b >= 0x41 && b <= 0x5a;

/** A case-insensitive body for content with A–Z lowered: its letters lowered too. */
function lowered(elements: HexElement[]): HexElement[] {
  const lowerByte = (value: number, mask: number) => {
    if (mask === 0) return value;
    if (mask !== 0xff) fail('skipped: nibble wildcards in a case-insensitive (::i) subsignature are not supported');
    return isUpper(value) ? value + 0x20 : value;
  };
  return elements.map((element) => {
    if (element.kind === 'byte') return { ...element, value: lowerByte(element.value, element.mask) };
    if (element.kind === 'gap') return element;
    if (element.negated) {
      fail('skipped: negated alternatives in a case-insensitive (::i) subsignature are not supported');
    }
    return {
      ...element,
      alternatives: element.alternatives.map((choice) =>
        choice.map((b) => ({ value: lowerByte(b.value, b.mask), mask: b.mask })),
      ),
    };
  });
}

/**
 * No count may depend on a subsignature of variable length: one with unbounded gaps is found
 * once, and clamd counts the others by where their matches end (seen with clamd 1.4.6: `aa` twice
 * then one `bb` is one match of `6161{0-5}6262`), where this engine counts starts.
 */
function checkCountedUse(
  expression: LogicalExpression,
  subsignatures: Subsignature[],
  counted: boolean,
): void {
  if (expression.kind === 'sub') {
    const variable = subsignatures[expression.id]?.forms.some((form) => form.variable) ?? false;
    if (variable && (counted || expression.count)) {
      fail(
        `skipped: subsignature ${expression.id} has a variable length (*, {n-m}, [x-y], unequal alternatives) and is counted`,
      );
    }
    return;
  }
  const inCount = counted || expression.count !== undefined;
  checkCountedUse(expression.left, subsignatures, inCount);
  checkCountedUse(expression.right, subsignatures, inCount);
}

// ---- PCRE subsignatures ----

/**
 * Splits as ClamAV's cli_ldbtokenize does: from field `skip` on, a `/` not right after a
 * backslash opens or closes a regex, inside which `delimiter` does not split (the state carries
 * from one field to the next, and a `/` at the very start of the text is not counted).
 */
function splitOutsideRegex(text: string, delimiter: string, skip: number): string[] {
  const fields: string[] = [];
  let inRegex = false;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (!inRegex && c === delimiter) {
      fields.push(text.slice(start, i));
      start = i + 1;
    } else if (fields.length >= skip && c === '/' && i > 0 && text[i - 1] !== '\\') {
      inRegex = !inRegex;
    }
  }
  fields.push(text.slice(start));
  return fields;
}

/** As ClamAV tells them apart: a `/` anywhere, unless it is a macro (`${…}n$`). */
function isPcreSubsignature(text: string): boolean {
  return !text.startsWith('$') && text.includes('/');
}

/** `[Offset:]Trigger/PCRE/[Flags]`, read as ClamAV's readdb and cli_pcre_addpatt read it. */
function parsePcreSubsignature(text: string, index: number, target: number): Subsignature {
  const fields = splitOutsideRegex(text, ':', 0);
  const offsetText = fields.length === 2 ? fields[0] : undefined;
  const body = (fields.length === 2 ? fields[1] : fields[0]) ?? '';
  const open = body.indexOf('/');
  const close = body.lastIndexOf('/');
  if (open === close) fail("PCRE subsignature without a closing '/' (clamd refuses the database)");
  if (text.startsWith('/')) fail('PCRE subsignature without a trigger (clamd refuses the database)');
  const triggerText = body.slice(0, open);
  const pattern = body.slice(open + 1, close);
  if (triggerText === '' || pattern === '') {
    fail('PCRE subsignature with an empty trigger or pattern (clamd refuses the database)');
  }
  const trigger = parseExpression(triggerText);
  const highest = highestId(trigger);
  if (highest >= index) {
    fail(
      `the PCRE trigger refers to subsignature ${highest}, not an earlier one (clamd refuses the database)`,
    );
  }
  const offset = executableOffsetChecked(parseOffset(offsetText ?? '*'), target);
  const translated = translatePcre(pattern, body.slice(close + 1));
  if (!translated.ok) fail(translated.message);
  return { offset, forms: [], pcre: { ...translated.pcre, trigger } };
}

// ---- logical expression ----


/**
 * Reads a logical expression the way ClamAV does (cli_ac_chklsig), so both engines group it
 * alike: at the top level an expression splits at its FIRST `&`/`|` (so `0&1|2` is `0&(1|2)`);
 * a whole-parenthesised group with a count, as `(0|1&2)>1`, splits at its LAST operator inside
 * (`(0|1)&2`); a count applies to a single number (`0>2`) or a parenthesised group.
 */
export function parseExpression(text: string): LogicalExpression {
  if (text === '') fail('the logical expression is empty');
  if (text.length > MAX_EXPRESSION_LENGTH) fail(`the logical expression is longer than ${MAX_EXPRESSION_LENGTH}`);
  return parseRangeOf(text, 0);
}

function parseRangeOf(text: string, depth: number): LogicalExpression {
  if (depth > MAX_NESTING) fail('the logical expression is nested too deeply');
  const length = text.length;
  let nesting = 0;
  let op: string | undefined;
  let opAt = -1;
  let innerOp: string | undefined;
  let innerOpAt = -1;
  let blockEnd = -1;
  let blockCount: { op: CountOp; value: number; distinct: number } | undefined;
  for (let i = 0; i < length; i += 1) {
    const c = text[i]!;
    if (c === '(') nesting += 1;
    else if (c === ')') {
      if (nesting === 0) fail('the logical expression has a ")" without "("');
      nesting -= 1;
    } else if (c === '&' || c === '|') {
      if (nesting === 0) {
        op = c;
        opAt = i;
        break;
      }
      if (nesting === 1) {
        innerOp = c;
        innerOpAt = i;
      }
    }
    if (innerOp !== undefined && nesting === 0) {
      blockEnd = i;
      blockCount = undefined;
      const next = text[i + 1];
      if (next === '=' || next === '<' || next === '>') {
        const match = /^(\d{1,10})(?:,(\d{1,10}))?/.exec(text.slice(i + 2));
        if (!match) fail(`the logical expression needs a number after "${next}"`);
        blockCount = {
          op: next,
          value: parseCount(match[1] ?? '', 'count'),
          distinct: match[2] === undefined ? 0 : parseCount(match[2], 'count'),
        };
        i += 1 + match[0].length;
      }
      if (i + 1 === length) break;
      blockCount = undefined;
      // After a group (and its count) comes an operator; ClamAV reads anything else oddly.
      const after = text[i + 1];
      if (after !== '&' && after !== '|') fail(`unexpected "${after}" after a group in the logical expression`);
    }
  }
  if (nesting !== 0) fail('the logical expression has a "(" without ")"');
  if (op === undefined && innerOp === undefined) {
    if (text.startsWith('(')) {
      if (!text.endsWith(')')) fail(`"${text}" is not a subsignature number or a group`);
      return parseRangeOf(text.slice(1, -1), depth + 1);
    }
    const match = /^(\d{1,10})(?:([=<>])(\d{1,10})(?:,\d{1,10})?)?$/.exec(text);
    if (!match) fail(`"${text}" is not a subsignature number with an optional count`);
    const id = parseCount(match[1] ?? '', 'subsignature');
    if (id >= MAX_SUBSIGNATURES) fail(`subsignature ${id} is past the ${MAX_SUBSIGNATURES} allowed`);
    if (match[2] === undefined) return { kind: 'sub', id };
    return { kind: 'sub', id, count: { op: match[2] as CountOp, value: parseCount(match[3] ?? '', 'count') } };
  }
  let from = 0;
  let to = length;
  if (op === undefined) {
    op = innerOp;
    opAt = innerOpAt;
    from = 1;
    to = blockEnd;
  } else {
    blockCount = undefined;
  }
  if (opAt === 0 || opAt <= from) fail('an operator in the logical expression has no left side');
  if (opAt + 1 >= to) fail('an operator in the logical expression has no right side');
  const node: LogicalExpression = {
    kind: op === '&' ? 'and' : 'or',
    left: parseRangeOf(text.slice(from, opAt), depth + 1),
    right: parseRangeOf(text.slice(opAt + 1, to), depth + 1),
  };
  return blockCount ? { ...node, count: blockCount } : node;
}

function highestId(expression: LogicalExpression): number {
  if (expression.kind === 'sub') return expression.id;
  return Math.max(highestId(expression.left), highestId(expression.right));
}

function largestCount(expression: LogicalExpression): number {
  const own = expression.count?.value ?? 0;
  if (expression.kind === 'sub') return own;
  return Math.max(own, largestCount(expression.left), largestCount(expression.right));
}

/**
 * Evaluates the expression over the number of matches of each subsignature (distinct start
 * offsets, as ClamAV counts them), with ClamAV's rules: a count compares the total matches of the
 * parts that hold, and `,n` wants at least n different subsignatures among them.
 */
export function evaluateExpression(expression: LogicalExpression, counts: ArrayLike<number>): boolean {
  return evaluate(expression, counts).holds;
}

interface Evaluation {
  holds: boolean;
  total: number;
  /** Bit i: subsignature i contributed. */
  ids: bigint;
}

const NONE: Evaluation = { holds: false, total: 0, ids: 0n };

function compare(value: number, op: CountOp, limit: number): boolean {
  return op === '=' ? value === limit : op === '<' ? value < limit : value > limit;
}

function evaluate(expression: LogicalExpression, counts: ArrayLike<number>): Evaluation {
  if (expression.kind === 'sub') {
    const value = counts[expression.id] ?? 0;
    const holds = expression.count ? compare(value, expression.count.op, expression.count.value) : value > 0;
    return holds ? { holds, total: value, ids: 1n << BigInt(expression.id) } : NONE;
  }
  const left = evaluate(expression.left, counts);
  const right = evaluate(expression.right, counts);
  const holds = expression.kind === 'and' ? left.holds && right.holds : left.holds || right.holds;
  const total = holds ? left.total + right.total : 0;
  const ids = holds ? left.ids | right.ids : 0n;
  const count = expression.count;
  if (!count) return holds ? { holds, total, ids } : NONE;
  if (!compare(total, count.op, count.value)) return NONE;
  if (count.distinct > 0 && popcount(ids) < count.distinct) return NONE;
  // As in ClamAV, a counted group passes its total up but not which subsignatures made it.
  return { holds: true, total, ids: 0n };
}

function popcount(bits: bigint): number {
  let count = 0;
  for (let rest = bits; rest > 0n; rest >>= 1n) if (rest & 1n) count += 1;
  return count;
}

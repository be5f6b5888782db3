import { characterReference } from '../../character-references.js';
import { AttributeText, shownAttributeValues, TextParts } from './markup-attributes.js';

/**
 * The text of an HTML or XML document as a reader sees it: tags, comments, declarations, scripts
 * and styles dropped, character references decoded. Whether a tag separates words decides what
 * the rules can match: a paragraph or a table cell ends a word, while bold or a run of an
 * office document does not (Word splits one word into several `<w:r><w:t>` runs as soon as its
 * formatting or spell-check state changes, so `fu<b>…</b>ck` must read as one word). The
 * attribute values a reader sees or follows (markup-attributes.ts) are text too, placed where
 * their tag is, once however many times the element shows them; office documents' attributes are
 * formatting only.
 */
export function markupText(source: string): string {
  const office = isOfficeXml(source);
  const parts = new TextParts();
  const attributes = new AttributeText(parts, comparableText);
  const tagPattern = new RegExp(TAG, 'y');
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('<', at);
    if (open < 0) {
      parts.push(source.slice(at));
      break;
    }
    parts.push(source.slice(at, open));
    const special = skipSpecial(source, open);
    if (special !== undefined) {
      parts.push(special.separator);
      at = special.end;
      continue;
    }
    tagPattern.lastIndex = open;
    const tag = tagPattern.exec(source);
    if (!tag) {
      // A lone `<` (`a < b`) is text.
      parts.push('<');
      at = open + 1;
      continue;
    }
    const name = (tag[2] ?? '').toLowerCase();
    const end = tagEnd(source, open + tag[0].length);
    const closing = tag[1] === '/';
    const selfClosing = source[end - 2] === '/';
    parts.push(separatesWords(name, office) ? ' ' : '');
    at = end;
    if (!office && closing) attributes.end(name);
    if (!office && !closing) {
      const values = shownAttributeValues(name, source.slice(open, end));
      const empty = selfClosing || VOID_HTML.has(name) || RAW_TEXT.has(name);
      if (values.length > 0) attributes.start(name, values, empty);
    }
    if (office && !closing && !selfClosing && isSharedStringCell(name, source.slice(open, end))) {
      // Its value is an index into the shared strings (a part of its own), not text.
      at = endOf(source, `</${tag[2]}>`, at);
      parts.push(' ');
      continue;
    }
    if (!office && !closing && !selfClosing && RAW_TEXT.has(name)) {
      // Script and style contents are code, not text.
      const closer = new RegExp(`</${name}`, 'ig');
      closer.lastIndex = at;
      const close = closer.exec(source)?.index ?? -1;
      at = close < 0 ? source.length : tagEnd(source, close + 2 + name.length);
      parts.push(' ');
    }
  }
  attributes.finish();
  return decodeReferences(parts.parts.join(''));
}

/** Text as attribute values are compared with it: references decoded, white space and case folded. */
function comparableText(text: string): string {
  return decodeReferences(text).replace(/\s+/g, ' ').trim().toLowerCase();
}

/** A start or end tag's name, read where a `<` is. */
const TAG = /<(\/?)([A-Za-z][\w:.-]*)/;

/** HTML elements that have no content, only attributes. */
const VOID_HTML = new Set(['area', 'img', 'input', 'link', 'meta', 'br', 'hr', 'source', 'track']);

/** HTML elements whose contents are not text shown to a reader. */
const RAW_TEXT = new Set(['script', 'style', 'template']);

/** HTML elements inside a line of text: they never separate words. */
const INLINE_HTML = new Set([
  'a',
  'abbr',
  'b',
  'bdi',
  'bdo',
  'big',
  'cite',
  'code',
  'data',
  'del',
  'dfn',
  'em',
  'font',
  'i',
  'ins',
  'kbd',
  'mark',
  'q',
  's',
  'samp',
  'small',
  'span',
  'strike',
  'strong',
  'sub',
  'sup',
  'time',
  'tt',
  'u',
  'var',
  'wbr',
]);

/**
 * Elements of office documents that separate words, by local name: paragraphs and headings
 * (`w:p`, `a:p`, `text:p`, `text:h`), breaks and tabs, table cells and rows, a shared string
 * of a workbook (`si`), a worksheet's cells and rows (`c`, `row`: two numbers in adjacent cells
 * are two numbers), ODF's space (`text:s`) and list items. Every other office element (runs,
 * run properties, bookmarks, proofing marks) sits inside a line and separates nothing.
 */
const OFFICE_BREAKS = new Set([
  'p',
  'h',
  'br',
  'cr',
  'tab',
  'ptab',
  'tc',
  'tr',
  'si',
  'c',
  'row',
  's',
  'line-break',
  'list-item',
  'table-cell',
]);

function separatesWords(name: string, office: boolean): boolean {
  if (!office) return !INLINE_HTML.has(name);
  const colon = name.lastIndexOf(':');
  return OFFICE_BREAKS.has(colon < 0 ? name : name.slice(colon + 1));
}

/** A worksheet cell whose value is a shared string's index (`<c r="A1" t="s"><v>3</v></c>`). */
function isSharedStringCell(name: string, tag: string): boolean {
  const colon = name.lastIndexOf(':');
  return (colon < 0 ? name : name.slice(colon + 1)) === 'c' && /\st\s*=\s*["']s["']/.test(tag);
}

/**
 * An office document part (WordprocessingML, SpreadsheetML, PresentationML, OpenDocument): its
 * root element has a namespace prefix (`w:document`, `p:sld`, `office:document-content`), or is
 * a workbook's shared strings (`sst`) or one of its worksheets (`worksheet`), which Excel writes
 * unprefixed. HTML, SVG and feeds have unprefixed roots.
 */
function isOfficeXml(source: string): boolean {
  const head = source.slice(0, 4096);
  const root = /<([A-Za-z][\w:.-]*)/.exec(head.replace(/<[?!][^>]*>/g, ''));
  const name = root?.[1] ?? '';
  return name.includes(':') || name === 'sst' || name === 'worksheet';
}

/**
 * What is not an element at `open`: a comment (invisible, so it joins what surrounds it), the
 * start of a CDATA section (its text is kept: only the marker is skipped; `]]>` goes with the
 * references), a declaration or processing instruction (a separator). Undefined for a tag.
 */
function skipSpecial(source: string, open: number): { end: number; separator: string } | undefined {
  if (source.startsWith('<!--', open))
    return { end: endOf(source, '-->', open + 4), separator: '' };
  if (source.startsWith('<![CDATA[', open))
    return { end: open + '<![CDATA['.length, separator: '' };
  if (source.startsWith('<!', open) || source.startsWith('<?', open))
    return { end: endOf(source, '>', open + 2), separator: ' ' };
  return undefined;
}

/** Just past the next `closer` from `from`, or the end of the source. */
function endOf(source: string, closer: string, from: number): number {
  const end = source.indexOf(closer, from);
  return end < 0 ? source.length : end + closer.length;
}

/** Just past the `>` that ends a tag, quoted attribute values skipped. */
function tagEnd(source: string, from: number): number {
  let quote = '';
  for (let i = from; i < source.length; i++) {
    const char = source[i];
    if (quote) {
      if (char === quote) quote = '';
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '>') {
      return i + 1;
    }
  }
  return source.length;
}

/** `&amp;`, `&#102;`, `&#x66;` and the common named references; others stay as written. */
function decodeReferences(text: string): string {
  return text
    .replace(/\]\]>/g, '')
    .replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/g, (whole, ref: string) => {
      // A numeric reference to no character still separates words; an unknown name stays.
      if (ref.startsWith('#')) return characterReference(ref) ?? ' ';
      return characterReference(ref.toLowerCase()) ?? whole;
    });
}

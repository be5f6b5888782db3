/**
 * The attribute values of an HTML or XML tag that a reader sees or follows: a tooltip (`title`),
 * an image's alternative text (`alt`), an input's `value`, a meta tag's `content` (a page's
 * description, author, keywords), and the address of a `mailto:` or `tel:` link (`href`, also
 * `xlink:href`), with a mailto link's subject and body. Every other attribute (class names,
 * ids, styles, URLs of pages and images, office documents' formatting) is markup, not text.
 */
export function shownAttributeValues(element: string, tag: string): string[] {
  // Most tags have none of these: a quick look spares the parse.
  if (!/(?:title|alt|value|content|href)\s*=/i.test(tag)) return [];
  const attributes = parseAttributes(tag);
  const values: string[] = [];
  for (const [name, value] of attributes) {
    if (name === 'title' || (name === 'alt' && ALT_ELEMENTS.has(element))) values.push(value);
    else if (name === 'value' && element === 'input') values.push(value);
    else if (name === 'content' && element === 'meta' && !attributes.has('http-equiv'))
      values.push(value);
    else if (name === 'href' || name.endsWith(':href')) values.push(...linkTarget(value));
  }
  return values.filter((value) => /\S/.test(value));
}

/** Elements whose `alt` a reader is shown in place of an image. */
const ALT_ELEMENTS = new Set(['img', 'area', 'input']);

/** Attributes and their values as written (references still encoded), names lower-cased. */
function parseAttributes(tag: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const pattern = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // The tag's name is not an attribute.
  pattern.lastIndex = /^<[^\s/>]*/.exec(tag)?.[0].length ?? 0;
  for (let match = pattern.exec(tag); match; match = pattern.exec(tag)) {
    const name = (match[1] ?? '').toLowerCase();
    if (!attributes.has(name)) attributes.set(name, match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attributes;
}

/**
 * What a `mailto:` (RFC 6068) or `tel:` (RFC 3966) link holds: its addresses, the subject and
 * body it fills in, its number; nothing for other links.
 */
function linkTarget(href: string): string[] {
  const target = href.trim();
  const scheme = /^(mailto|tel):/i.exec(target)?.[1]?.toLowerCase();
  if (scheme === 'tel') return [percentDecoded(target.slice(4).split(';')[0] ?? '')];
  if (scheme !== 'mailto') return [];
  const [to = '', query = ''] = target.slice('mailto:'.length).split('?', 2);
  const values = to.split(',').map(percentDecoded);
  // `&` is often written `&amp;` in markup, whose references are decoded later.
  for (const field of query.split(/&(?:amp;)?/i)) {
    const equals = field.indexOf('=');
    if (equals < 0) continue;
    const key = field.slice(0, equals).toLowerCase();
    const value = percentDecoded(field.slice(equals + 1));
    if (key === 'to' || key === 'cc' || key === 'bcc') values.push(...value.split(','));
    else if (key === 'subject' || key === 'body') values.push(value);
  }
  return values.map((value) => value.trim());
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Characters of an element's text its attribute values are compared with; past them, both count. */
const MAX_LABELLED_CHARS = 4096;
/** Elements waiting for their end tag at once; past them, values are placed as they come. */
const MAX_OPEN = 32;

/** The text of a document as it is put together: its parts, and their length in characters. */
export class TextParts {
  readonly parts: string[] = [];
  chars = 0;

  push(text: string): void {
    if (text === '') return;
    this.parts.push(text);
    this.chars += text.length;
  }

  /** A place for text known later (fill). */
  reserve(): number {
    return this.parts.push('') - 1;
  }

  fill(slot: number, text: string): void {
    this.parts[slot] = text;
    this.chars += text.length;
  }
}

/**
 * Places the shown attribute values of each element where its start tag is, once its text is
 * known: a value the element's text already shows (`<a href="mailto:ada@example.com">
 * ada@example.com</a>`, a title repeating the link's words) is not placed again, so it counts
 * once for each time the element is written. An element with no text (an input, an image, a
 * meta tag) places its values at once; one whose text is longer than MAX_LABELLED_CHARS is not
 * labelled by them (a title on a whole section) and keeps them all.
 */
export class AttributeText {
  private readonly open: Array<{
    element: string;
    values: string[];
    slot: number;
    from: number;
    chars: number;
  }> = [];

  /** `comparable`: text as compared (references decoded, white space and case folded). */
  constructor(
    private readonly out: TextParts,
    private readonly comparable: (text: string) => string,
  ) {}

  start(element: string, values: readonly string[], empty: boolean): void {
    const distinct = this.distinct(values);
    if (empty || this.open.length >= MAX_OPEN) {
      this.out.push(placed(distinct));
      return;
    }
    const slot = this.out.reserve();
    this.open.push({
      element,
      values: distinct,
      slot,
      from: this.out.parts.length,
      chars: this.out.chars,
    });
  }

  /** An end tag: its element is settled, and those left open inside it. */
  end(element: string): void {
    const at = this.open.findLastIndex((entry) => entry.element === element);
    if (at < 0) return;
    while (this.open.length > at) this.settle();
  }

  /** The end of the document: elements never closed are settled. */
  finish(): void {
    while (this.open.length > 0) this.settle();
  }

  private settle(): void {
    const entry = this.open.pop();
    if (!entry) return;
    const labelled = this.out.chars - entry.chars <= MAX_LABELLED_CHARS;
    const shown = labelled ? this.comparable(this.out.parts.slice(entry.from).join('')) : '';
    const kept = entry.values.filter(
      (value) => !labelled || !shown.includes(this.comparable(value)),
    );
    this.out.fill(entry.slot, placed(kept));
  }

  private distinct(values: readonly string[]): string[] {
    const seen = new Set<string>();
    return values.filter((value) => {
      const key = this.comparable(value);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
}

/** Values placed as lines of their own, apart from the text around them. */
function placed(values: readonly string[]): string {
  return values.length === 0 ? '' : `\n${values.join('\n')}\n`;
}

/**
 * A small, strict reader of the XML parts of an Office package, for editing them in place: the
 * element tree with each element's and attribute's position in the text, namespaces resolved.
 * Edits (remove an element, unwrap it, drop an attribute) are made on the text, so everything
 * not edited stays byte for byte as the producer wrote it. A DOM would rewrite the whole part,
 * and jsdom's takes about a second for a few hundred kilobytes.
 *
 * Office parts have no DTD (the standard forbids one): a document type declaration is refused,
 * so entity expansion cannot be abused. Malformed XML (a tag not closed, closed out of order) is
 * refused too: the part is not guessed at.
 */

export interface XmlAttribute {
  readonly name: string;
  readonly localName: string;
  /** The namespace its prefix is bound to; unprefixed attributes have none. */
  readonly namespace: string | undefined;
  /** The value with its entity and character references decoded. */
  readonly value: string;
  /** The attribute's span in the text, with the white space before it. */
  readonly start: number;
  readonly end: number;
}

export interface XmlElement {
  readonly name: string;
  readonly localName: string;
  readonly namespace: string | undefined;
  readonly attributes: readonly XmlAttribute[];
  readonly parent: XmlElement | undefined;
  readonly children: XmlElement[];
  /** Where the start tag begins and ends. */
  readonly start: number;
  readonly openEnd: number;
  /** Where the end tag begins and ends (both `openEnd`… `end` for an empty-element tag). */
  closeStart: number;
  end: number;
}

export class XmlError extends Error {}

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';
const NAME = '[A-Za-z_][\\w.:-]*';
const MARKUP = new RegExp(
  `<!--[\\s\\S]*?-->|<!\\[CDATA\\[[\\s\\S]*?\\]\\]>|<\\?[\\s\\S]*?\\?>|<!|<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"]*"|'[^']*'))*)\\s*(/?)>|<`,
  'g',
);
const ATTRIBUTE = new RegExp(`\\s+(${NAME})\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'g');

/** The part's root element, its tree read whole; throws XmlError on anything malformed. */
export function parseXml(text: string): XmlElement {
  const roots: XmlElement[] = [];
  const stack: { element: XmlElement; scope: Map<string, string> }[] = [];
  let scope = new Map<string, string>([['xml', XML_NAMESPACE]]);
  MARKUP.lastIndex = 0;
  for (let match = MARKUP.exec(text); match; match = MARKUP.exec(text)) {
    const [whole, closing, name, attributeText, selfClosing] = match;
    if (whole.startsWith('<!--') || whole.startsWith('<?') || whole.startsWith('<![CDATA['))
      continue;
    if (whole === '<!')
      throw new XmlError('a document type declaration (not allowed in Office parts)');
    if (name === undefined) throw new XmlError(`malformed markup at ${match.index}`);
    const start = match.index;
    const end = start + whole.length;
    if (closing) {
      const open = stack.pop();
      if (!open || open.element.name !== name)
        throw new XmlError(
          `</${name}> at ${start} closes ${open ? `<${open.element.name}>` : 'nothing'}`,
        );
      open.element.closeStart = start;
      open.element.end = end;
      scope = stack.at(-1)?.scope ?? new Map([['xml', XML_NAMESPACE]]);
      continue;
    }
    const raw = readAttributes(attributeText ?? '', start + 1 + name.length);
    let elementScope = scope;
    for (const attribute of raw) {
      if (attribute.name === 'xmlns' || attribute.name.startsWith('xmlns:')) {
        if (elementScope === scope) elementScope = new Map(scope);
        elementScope.set(
          attribute.name === 'xmlns' ? '' : attribute.name.slice(6),
          attribute.value,
        );
      }
    }
    const parent = stack.at(-1)?.element;
    const element: XmlElement = {
      name,
      localName: localNameOf(name),
      namespace: namespaceOf(name, elementScope, true),
      attributes: raw.map((attribute) => ({
        ...attribute,
        localName: localNameOf(attribute.name),
        namespace: attribute.name.includes(':')
          ? namespaceOf(attribute.name, elementScope, false)
          : undefined,
      })),
      parent,
      children: [],
      start,
      openEnd: end,
      closeStart: end,
      end,
    };
    if (parent) parent.children.push(element);
    else roots.push(element);
    if (!selfClosing) {
      stack.push({ element, scope: elementScope });
      scope = elementScope;
    }
  }
  if (stack.length > 0) throw new XmlError(`<${stack.at(-1)!.element.name}> is never closed`);
  if (roots.length !== 1) throw new XmlError(`${roots.length} root elements`);
  return roots[0]!;
}

function readAttributes(text: string, offset: number) {
  const attributes: { name: string; value: string; start: number; end: number }[] = [];
  ATTRIBUTE.lastIndex = 0;
  for (let match = ATTRIBUTE.exec(text); match; match = ATTRIBUTE.exec(text)) {
    attributes.push({
      name: match[1]!,
      value: decodeXmlText(match[2] ?? match[3] ?? ''),
      start: offset + match.index,
      end: offset + match.index + match[0].length,
    });
  }
  return attributes;
}

function localNameOf(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

function namespaceOf(
  name: string,
  scope: Map<string, string>,
  element: boolean,
): string | undefined {
  const colon = name.indexOf(':');
  if (colon < 0) return element ? scope.get('') || undefined : undefined;
  return scope.get(name.slice(0, colon));
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Text or an attribute value with its references decoded (CDATA is left as it is). */
export function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, reference: string) => {
    if (reference.startsWith('#x')) return safeCodePoint(parseInt(reference.slice(2), 16)) ?? whole;
    if (reference.startsWith('#')) return safeCodePoint(parseInt(reference.slice(1), 10)) ?? whole;
    return ENTITIES[reference] ?? whole;
  });
}

function safeCodePoint(code: number): string | undefined {
  return code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}

/** An element's text: the decoded text of it and its descendants, markup left out. */
export function textOf(text: string, element: XmlElement): string {
  return decodeXmlText(
    text
      .slice(element.openEnd, element.closeStart)
      .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, data: string) =>
        data.replace(/&/g, '&amp;').replace(/</g, '&lt;'),
      )
      .replace(/<[^>]*>/g, ''),
  );
}

/** Every element under `root` (itself included), in document order. */
export function* descendants(root: XmlElement): Generator<XmlElement> {
  yield root;
  for (const child of root.children) yield* descendants(child);
}

/**
 * Edits to one part's text, applied together: each replaces a span. An edit inside a span
 * another edit replaces is dropped (removing an element removes what was to change in it).
 */
export class XmlEdits {
  private readonly edits: { start: number; end: number; replacement: string }[] = [];

  get size(): number {
    return this.edits.length;
  }

  remove(element: XmlElement): void {
    this.edits.push({ start: element.start, end: element.end, replacement: '' });
  }

  /** Removes the element's tags, keeping what is inside. */
  unwrap(element: XmlElement): void {
    if (element.closeStart === element.openEnd && element.end === element.openEnd)
      return this.remove(element);
    this.edits.push({ start: element.start, end: element.openEnd, replacement: '' });
    this.edits.push({ start: element.closeStart, end: element.end, replacement: '' });
  }

  removeAttribute(attribute: XmlAttribute): void {
    this.edits.push({ start: attribute.start, end: attribute.end, replacement: '' });
  }

  replace(start: number, end: number, replacement: string): void {
    this.edits.push({ start, end, replacement });
  }

  apply(text: string): string {
    const sorted = [...this.edits].sort((a, b) => a.start - b.start || b.end - a.end);
    let out = '';
    let at = 0;
    for (const edit of sorted) {
      if (edit.start < at) continue; // inside an edit already made
      out += text.slice(at, edit.start) + edit.replacement;
      at = edit.end;
    }
    return out + text.slice(at);
  }
}

import { readFile, writeFile } from 'node:fs/promises';
import {
  createMarkupWindow,
  createPurify,
  type MarkupElement,
  type MarkupWindow,
  type Purify,
  type PurifyConfig,
} from './markup-dom.js';
import {
  attributeVerdict,
  cleanCss,
  elementVerdict,
  urlVerdict,
  URL_ATTRIBUTES,
} from './markup-policy.js';
import { refused, removedList, type RemovedKind, type Sanitizer } from './sanitizer.js';

/**
 * SVG images and HTML pages, parsed with jsdom and cleaned with DOMPurify, then written again
 * (an SVG stays an SVG document, an HTML page a whole document, both in UTF-8). Removed:
 * scripts, event handler attributes, script URLs, references to resources outside the document
 * (markup-policy.ts: links to web and mail addresses stay), frames, objects, embeds,
 * `<foreignObject>`, `<base>` and `<meta http-equiv>`, and forms: a `<form>` element goes but its
 * content stays (its fields become inert controls), and `action`/`formaction` attributes go.
 *
 * Each sanitizer holds one jsdom window, made at its first use and closed by `close`; DOMPurify
 * runs synchronously on it, so one call at a time uses it. Nesting is held to MAX_MARKUP_DEPTH,
 * counted in the text before parsing (jsdom's parse time grows with the square of the depth, and
 * a parse cannot be interrupted) and in the parsed tree without recursion (serializing recurses):
 * a document nested thousands deep is refused, neither parsed for seconds nor overflowing the
 * stack.
 */
export function createSvgSanitizer(): Sanitizer {
  return createMarkupSanitizer('svg');
}

export function createHtmlSanitizer(): Sanitizer {
  return createMarkupSanitizer('html');
}

/** Markup larger than this is refused: a DOM takes tens of times the text's size in memory. */
export const MAX_MARKUP_BYTES = 16 * 1024 * 1024;
/** Deeper nesting than any real document has. */
export const MAX_MARKUP_DEPTH = 512;

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';
const FORBID_TAGS = [
  'form',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'base',
  'link',
  'meta',
  'portal',
];
const FORBID_ATTR = ['action', 'formaction', 'srcdoc', 'ping'];

interface Purifier {
  window: MarkupWindow;
  purify: Purify;
  /** What the call under way removed through the hooks. */
  found: Set<RemovedKind>;
}

function createMarkupSanitizer(format: 'svg' | 'html'): Sanitizer {
  let purifier: Purifier | undefined;
  const purifierNow = () => (purifier ??= createPurifier());
  return {
    format,
    accepts: (contentType) =>
      format === 'svg'
        ? contentType === 'image/svg+xml'
        : contentType === 'text/html' || contentType === 'application/xhtml+xml',
    sanitize: async (input, outPath, limits, signal) => {
      if (input.size > MAX_MARKUP_BYTES)
        return refused(
          `${format.toUpperCase()} of ${input.size} bytes is over the limit of ${MAX_MARKUP_BYTES} bytes for markup`,
        );
      const text = decodeMarkup(await readFile(input.path, { signal }));
      signal.throwIfAborted();
      const outcome =
        format === 'svg' ? sanitizeSvg(purifierNow(), text) : sanitizeHtml(purifierNow(), text);
      if (!outcome.available) return outcome;
      await writeFile(outPath, outcome.text);
      return { available: true, contentType: outcome.contentType, removed: outcome.removed };
    },
    close: () => {
      purifier?.window.close();
      purifier = undefined;
    },
  };
}

type MarkupOutcome =
  | { available: true; text: string; contentType: string; removed: RemovedKind[] }
  | { available: false; reason: string };

const refusedMarkup = (reason: string): MarkupOutcome => ({ available: false, reason });

function createPurifier(): Purifier {
  const window = createMarkupWindow();
  const purify = createPurify(window);
  const state: Purifier = { window, purify, found: new Set() };
  purify.addHook('uponSanitizeAttribute', (node, data) => {
    const name = data.attrName.toLowerCase();
    if (name === 'style') {
      const cleaned = cleanCss(data.attrValue);
      for (const kind of cleaned.removed) state.found.add(kind);
      data.attrValue = cleaned.css;
    } else if (
      URL_ATTRIBUTES.has(name) &&
      urlVerdict(node.localName.toLowerCase(), name, data.attrValue)
    ) {
      data.keepAttr = false; // recorded from DOMPurify's list of what it removed
    }
  });
  return state;
}

function sanitizeSvg(purifier: Purifier, text: string): MarkupOutcome {
  const { window } = purifier;
  // jsdom's XML parser expands internal entities: document type declarations are left out, so
  // a billion laughs has nothing to expand (an entity it then meets fails the parse).
  const tooDeepText = textDepthOver(text, MAX_MARKUP_DEPTH, false);
  if (tooDeepText) return refusedMarkup(tooDeepText);
  const document = new window.DOMParser().parseFromString(withoutDoctype(text), 'image/svg+xml');
  const root = document.documentElement;
  if (root.namespaceURI !== SVG_NAMESPACE || root.localName !== 'svg')
    return refusedMarkup('not an SVG document (it does not parse, or its root is not <svg>)');
  const tooDeep = depthOver(root, MAX_MARKUP_DEPTH);
  if (tooDeep) return refusedMarkup(tooDeep);
  const removed = purify(purifier, root, {
    USE_PROFILES: { svg: true, svgFilters: true },
    ADD_TAGS: ['use'],
    NAMESPACE: SVG_NAMESPACE,
  });
  const serialized = new window.XMLSerializer().serializeToString(document);
  return {
    available: true,
    text: `<?xml version="1.0" encoding="UTF-8"?>\n${serialized}\n`,
    contentType: 'image/svg+xml',
    removed,
  };
}

function sanitizeHtml(purifier: Purifier, text: string): MarkupOutcome {
  const { window } = purifier;
  const tooDeepText = textDepthOver(text, MAX_MARKUP_DEPTH, true);
  if (tooDeepText) return refusedMarkup(tooDeepText);
  const document = new window.DOMParser().parseFromString(text, 'text/html');
  const tooDeep = depthOver(document.documentElement, MAX_MARKUP_DEPTH);
  if (tooDeep) return refusedMarkup(tooDeep);
  const removed = purify(purifier, document.documentElement, { WHOLE_DOCUMENT: true });
  // The copy is UTF-8 whatever the original said; its own declaration was removed with the
  // other <meta> elements.
  const charset = document.createElement('meta');
  charset.setAttribute('charset', 'utf-8');
  document.head.prepend(charset);
  return {
    available: true,
    text: `<!DOCTYPE html>\n${document.documentElement.outerHTML}\n`,
    contentType: 'text/html',
    removed,
  };
}

/** Cleans `root` in place; gives what was removed, by kind. */
function purify(purifier: Purifier, root: MarkupElement, config: PurifyConfig): RemovedKind[] {
  const { purify, found } = purifier;
  found.clear();
  for (const style of root.getElementsByTagNameNS('*', 'style')) {
    const cleaned = cleanCss(style.textContent ?? '');
    if (cleaned.removed.length === 0) continue;
    style.textContent = cleaned.css;
    for (const kind of cleaned.removed) found.add(kind);
  }
  purify.sanitize(root, { ...config, IN_PLACE: true, FORBID_TAGS, FORBID_ATTR });
  for (const item of purify.removed) {
    const kind = item.attribute
      ? attributeVerdict(item.from?.localName.toLowerCase() ?? '', item.attribute)
      : item.element
        ? elementVerdict(item.element)
        : undefined;
    if (kind) found.add(kind);
  }
  return removedList(found);
}

/**
 * A reason when the markup's text nests tags deeper than `limit`, before it is parsed: jsdom's
 * parsers take time in the square of the depth (seconds for a few thousand), and parsing cannot
 * be interrupted. Comments, CDATA and HTML's raw text (scripts, styles) are skipped; HTML's void
 * elements and those whose end tag may be left out are not counted (their nesting is the
 * parser's to decide), so the count never exceeds the parsed depth by much.
 */
function textDepthOver(text: string, limit: number, html: boolean): string | undefined {
  const markup = text.replace(html ? HTML_SKIPPED : XML_SKIPPED, '');
  let depth = 0;
  TAG.lastIndex = 0;
  for (let match = TAG.exec(markup); match; match = TAG.exec(markup)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing || (html && UNCOUNTED_HTML.has(name!.toLowerCase()))) continue;
    depth = closing ? Math.max(0, depth - 1) : depth + 1;
    if (depth > limit) return `markup nested deeper than ${limit} elements`;
  }
  return undefined;
}

const TAG = /<(\/?)([A-Za-z][\w:.-]*)(?:"[^"]*"|'[^']*'|[^>"'])*?(\/?)>/g;
const XML_SKIPPED = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>/g;
const HTML_SKIPPED =
  /<!--[\s\S]*?-->|<(script|style|textarea|title|xmp|noscript|iframe|noembed|noframes)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const UNCOUNTED_HTML = new Set([
  ...['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source'],
  ...['track', 'wbr', 'param', 'keygen', 'frame', 'basefont', 'bgsound'],
  ...['p', 'li', 'dt', 'dd', 'tr', 'td', 'th', 'option', 'optgroup', 'rb', 'rt', 'rp', 'rtc'],
  ...['thead', 'tbody', 'tfoot', 'colgroup', 'caption', 'html', 'head', 'body'],
]);

/** A reason when the tree is deeper than `limit` elements, found without recursion. */
function depthOver(root: MarkupElement, limit: number): string | undefined {
  const pending: [MarkupElement, number][] = [[root, 1]];
  while (pending.length > 0) {
    const [element, depth] = pending.pop()!;
    if (depth > limit) return `markup nested deeper than ${limit} elements`;
    for (const child of element.children) pending.push([child, depth + 1]);
  }
  return undefined;
}

function withoutDoctype(text: string): string {
  return text.replace(/<!DOCTYPE[^[>]*(\[[\s\S]*?\])?\s*>/i, '');
}

/**
 * The markup's text: by its byte order mark, else by the encoding its XML declaration or
 * `<meta>` names (when the runtime knows it), else UTF-8.
 */
function decodeMarkup(bytes: Buffer): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    return new TextDecoder('utf-8').decode(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  const head = bytes.subarray(0, 1024).toString('latin1');
  const declared =
    /<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)["']/i.exec(head)?.[1] ??
    /<meta[^>]*charset\s*=\s*["']?([\w.:-]+)/i.exec(head)?.[1];
  try {
    return new TextDecoder(declared ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

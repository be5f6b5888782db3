import type { MarkupAttr, MarkupElement } from './markup-dom.js';
import type { RemovedKind } from './sanitizer.js';

/**
 * What SVG and HTML may keep of their URLs and styles. Two kinds of reference:
 *
 * - links, followed only when clicked (`<a href>`, `<area href>`): kept to web, mail and phone
 *   addresses and within the document (`#…`, relative paths), as any document's links are;
 * - resources, fetched as soon as the document is shown (`src`, `srcset`, `poster`, an SVG
 *   `<use>`'s or `<image>`'s `href`, CSS `url()` and `@import`): kept only when inside the
 *   document (`#…`) or inline images (`data:image/…`). A remote one tells a third party who
 *   opened the file and when, and can bring content that was never scanned.
 *
 * Script URLs (`javascript:`, `vbscript:`, `data:` other than images) are removed everywhere.
 */

const SCRIPT_URL = /^(javascript|vbscript|livescript):|^data:(?!image\/)/i;
const SAFE_LINK = /^(https?:|mailto:|tel:|#|[^:]*$)/i;
const INLINE_RESOURCE = /^(#|data:image\/)/i;

/** Attributes holding a URL, or a list of them. */
export const URL_ATTRIBUTES = new Set([
  'href',
  'xlink:href',
  'src',
  'srcset',
  'poster',
  'background',
  'data',
  'codebase',
  'cite',
  'longdesc',
  'manifest',
  'profile',
  'usemap',
  'dynsrc',
  'lowsrc',
]);

/** Attributes followed only when clicked, on these elements. */
const LINK_ELEMENTS = new Set(['a', 'area']);

/** Characters browsers ignore inside a URL's scheme (`java\tscript:`). */
// eslint-disable-next-line no-control-regex -- control characters are what is ignored
const IGNORED_IN_URL = /[\u0000-\u0020\u007f-\u009f]/g;

/**
 * Why a URL attribute must go, or undefined when it may stay. `element` is the lower-cased
 * local name of the element carrying it.
 */
export function urlVerdict(
  element: string,
  attribute: string,
  value: string,
): RemovedKind | undefined {
  const url = value.replace(IGNORED_IN_URL, '');
  if (attribute === 'srcset') {
    const candidates = value.split(',').map((candidate) => candidate.trim().split(/\s+/)[0] ?? '');
    if (candidates.some((candidate) => SCRIPT_URL.test(candidate))) return 'javascript-urls';
    return candidates.every((candidate) => INLINE_RESOURCE.test(candidate))
      ? undefined
      : 'external-references';
  }
  if (SCRIPT_URL.test(url)) return 'javascript-urls';
  const isLink = LINK_ELEMENTS.has(element) && (attribute === 'href' || attribute === 'xlink:href');
  if (isLink) return SAFE_LINK.test(url) ? undefined : 'external-references';
  if (attribute === 'cite' || attribute === 'longdesc') return undefined; // never fetched
  return INLINE_RESOURCE.test(url) ? undefined : 'external-references';
}

export interface CleanedCss {
  readonly css: string;
  readonly removed: RemovedKind[];
}

const IMPORT_RULE = /@import\b[^;]*;?/gi;
const URL_FUNCTION = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/gi;
const IMAGE_SET = /(?:-webkit-)?image-set\((?:[^()]|\([^()]*\))*\)/gi;
const SCRIPTED_CSS =
  /(?:expression\s*\((?:[^()]|\([^()]*\))*\)|(?:-moz-binding|behavior)\s*:[^;}]*)/gi;
const RISKY = /url\(|@import|image-set|expression|binding|behavior/gi;

/**
 * A style sheet or a `style` attribute without `@import`, remote `url()`s (each becomes `none`),
 * `image-set()`s of remote images, and the old script hooks (`expression()`, `-moz-binding`,
 * `behavior`). CSS escapes could spell any of those past the patterns (`u\72l(`): a sheet whose
 * escapes hide one is dropped whole.
 */
export function cleanCss(css: string): CleanedCss {
  const removed = new Set<RemovedKind>();
  if (css.includes('\\') && countRisky(decodeCssEscapes(css)) !== countRisky(css))
    return { css: '', removed: ['external-references'] };
  let cleaned = css.replace(IMPORT_RULE, () => {
    removed.add('external-references');
    return '';
  });
  cleaned = cleaned.replace(SCRIPTED_CSS, () => {
    removed.add('scripts');
    return '';
  });
  cleaned = cleaned.replace(
    URL_FUNCTION,
    (whole, double?: string, single?: string, bare?: string) => {
      const target = (double ?? single ?? bare ?? '').trim();
      if (INLINE_RESOURCE.test(target)) return whole;
      removed.add(SCRIPT_URL.test(target) ? 'javascript-urls' : 'external-references');
      return 'none';
    },
  );
  cleaned = cleaned.replace(IMAGE_SET, (whole) => {
    if (/url\(|["']\s*(?!data:image\/)[^"']*["']/i.test(whole)) {
      removed.add('external-references');
      return 'none';
    }
    return whole;
  });
  return { css: cleaned, removed: [...removed] };
}

function countRisky(css: string): number {
  return css.match(RISKY)?.length ?? 0;
}

function decodeCssEscapes(css: string): string {
  return css.replace(/\\([0-9a-fA-F]{1,6})\s?|\\(.)/g, (_, hex?: string, char?: string) =>
    hex ? String.fromCodePoint(Math.min(parseInt(hex, 16), 0x10ffff)) : (char ?? ''),
  );
}

/** Why DOMPurify's removal of an element is listed, or undefined when it is not. */
export function elementVerdict(element: MarkupElement): RemovedKind | undefined {
  const name = element.localName.toLowerCase();
  if (name === 'script') return 'scripts';
  if (name === 'form') return 'forms';
  if (name === 'link') return element.hasAttribute('href') ? 'external-references' : undefined;
  if (name === 'meta') return element.hasAttribute('http-equiv') ? 'embedded-content' : undefined;
  return EMBEDDING_ELEMENTS.has(name) ? 'embedded-content' : undefined;
}

const EMBEDDING_ELEMENTS = new Set([
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'foreignobject',
  'base',
  'portal',
  'fencedframe',
]);

/** Why DOMPurify's removal of an attribute is listed, or undefined when it is not. */
export function attributeVerdict(element: string, attribute: MarkupAttr): RemovedKind | undefined {
  const name = attribute.name.toLowerCase();
  if (name.startsWith('on')) return 'event-attributes';
  if (name === 'action' || name === 'formaction') return 'forms';
  if (name === 'srcdoc') return 'embedded-content';
  if (URL_ATTRIBUTES.has(name))
    return urlVerdict(element, name, attribute.value) ?? 'external-references';
  return undefined;
}

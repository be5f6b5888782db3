import path from 'node:path/posix';
import { parseXml, type XmlElement } from './xml-scan.js';

/**
 * The Open Packaging Conventions as Office packages use them: where a part's relationships are
 * kept, what a relationship's target resolves to, and the content types that `[Content_Types].xml`
 * gives each part. Part names are compared without case, as the conventions say.
 */

export const CONTENT_TYPES_PART = '[Content_Types].xml';

export const RELATIONSHIP_NAMESPACES = new Set([
  'http://schemas.openxmlformats.org/officeDocument/2006/relationships',
  'http://purl.oclc.org/ooxml/officeDocument/relationships',
]);

export interface Relationship {
  readonly id: string;
  /** The last segment of the relationship's type URI, lower-cased: `oleobject`, `hyperlink`, … */
  readonly kind: string;
  readonly target: string;
  readonly external: boolean;
  /** The part an internal relationship points at (lower-cased), without a leading slash. */
  readonly targetPart: string | undefined;
  readonly element: XmlElement;
}

export const partKey = (name: string): string => name.toLowerCase();

/** `word/_rels/document.xml.rels` holds the relationships of `word/document.xml`. */
export function isRelationshipsPart(name: string): boolean {
  return /(^|\/)_rels\/[^/]*\.rels$/i.test(name);
}

/** The part whose relationships a `.rels` part holds; '' for the package's own (`_rels/.rels`). */
export function sourceOfRelationships(relsName: string): string {
  const dir = path.dirname(path.dirname(relsName));
  const base = path.basename(relsName).slice(0, -'.rels'.length); // '' for `_rels/.rels`
  if (base === '') return '';
  return dir === '.' ? base : `${dir}/${base}`;
}

export function readRelationships(
  relsName: string,
  text: string,
): {
  root: XmlElement;
  relationships: Relationship[];
} {
  const root = parseXml(text);
  const source = sourceOfRelationships(relsName);
  const relationships = root.children
    .filter((element) => element.localName === 'Relationship')
    .map((element) => {
      const attribute = (name: string) =>
        element.attributes.find((a) => a.name === name)?.value ?? '';
      const target = attribute('Target');
      const external = attribute('TargetMode').toLowerCase() === 'external';
      return {
        id: attribute('Id'),
        kind: (attribute('Type').split('/').pop() ?? '').toLowerCase(),
        target,
        external,
        targetPart: external ? undefined : resolveTarget(source, target),
        element,
      };
    });
  return { root, relationships };
}

function resolveTarget(source: string, target: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(target.split('#')[0] ?? '');
  } catch {
    return undefined;
  }
  if (decoded === '') return undefined;
  const joined = decoded.startsWith('/')
    ? path.normalize(decoded.slice(1))
    : path.normalize(path.join(path.dirname(source || '.'), decoded));
  return joined.startsWith('..') ? undefined : partKey(joined);
}

/** The content type of each part, from the overrides and the defaults by extension. */
export class ContentTypes {
  constructor(
    readonly root: XmlElement,
    private readonly overrides: Map<string, string>,
    private readonly defaults: Map<string, string>,
  ) {}

  static read(text: string): ContentTypes {
    const root = parseXml(text);
    const overrides = new Map<string, string>();
    const defaults = new Map<string, string>();
    for (const element of root.children) {
      const attribute = (name: string) =>
        element.attributes.find((a) => a.name === name)?.value ?? '';
      if (element.localName === 'Override')
        overrides.set(partKey(attribute('PartName').replace(/^\//, '')), attribute('ContentType'));
      if (element.localName === 'Default')
        defaults.set(attribute('Extension').toLowerCase(), attribute('ContentType'));
    }
    return new ContentTypes(root, overrides, defaults);
  }

  of(partName: string): string {
    const key = partKey(partName);
    return (
      this.overrides.get(key) ??
      this.defaults.get(path.extname(key).slice(1)) ??
      ''
    ).toLowerCase();
  }
}

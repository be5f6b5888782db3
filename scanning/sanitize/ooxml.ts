import { readFile } from 'node:fs/promises';
import path from 'node:path/posix';
import {
  ContentTypes,
  CONTENT_TYPES_PART,
  isRelationshipsPart,
  partKey,
  readRelationships,
  RELATIONSHIP_NAMESPACES,
  sourceOfRelationships,
  type Relationship,
} from './ooxml-package.js';
import { removeSheetDdeFormulas, removeWordFields } from './ooxml-fields.js';
import {
  refused,
  removedList,
  type RemovedKind,
  type SanitizeInput,
  type SanitizeLimits,
  type SanitizeOutcome,
  type Sanitizer,
} from './sanitizer.js';
import { descendants, parseXml, textOf, XmlEdits, type XmlElement } from './xml-scan.js';
import { readZipParts, writeZipParts, ZipLimitError, type ZipPart } from './zip-package.js';

/**
 * Word, Excel and PowerPoint documents (Office Open XML, macro-enabled variants included),
 * rebuilt without what runs code or reaches outside the document:
 *
 * - macros: VBA projects and their signatures, Word's VBA data, Excel 4.0 macro sheets;
 * - ActiveX controls and OLE objects (embedded objects and packages, linked objects);
 * - relationships to outside the package, except hyperlinks to http, https and mailto
 *   addresses (kept: they open only when clicked, in a browser or mail client); attached
 *   templates, remote images, frames, sub-documents and Excel's external workbook links go;
 * - fields that run or load something (ooxml-fields.ts).
 *
 * `[Content_Types].xml` loses the removed parts and a macro-enabled document becomes its
 * macro-free type (a .docm is a .docx); every `.rels` part loses the relationships to what was
 * removed, and every element that referred to such a relationship goes (an OLE object keeps its
 * preview picture, a hyperlink its text), so that Office opens the copy without repairing it.
 * Everything else is copied part for part, XML edited in place.
 *
 * Zip bombs are held to the byte limit (the members' total inflated size) and MAX_ENTRIES.
 */
export function createOoxmlSanitizer(): Sanitizer {
  return {
    format: 'ooxml',
    accepts: (contentType) => OOXML_TYPES.has(contentType),
    sanitize: sanitizeOoxml,
  };
}

const OFFICE = 'application/vnd.openxmlformats-officedocument.';
const OOXML_TYPES = new Set([
  `${OFFICE}wordprocessingml.document`,
  `${OFFICE}wordprocessingml.template`,
  `${OFFICE}spreadsheetml.sheet`,
  `${OFFICE}spreadsheetml.template`,
  `${OFFICE}presentationml.presentation`,
  `${OFFICE}presentationml.slideshow`,
  `${OFFICE}presentationml.template`,
  'application/vnd.ms-word.document.macroenabled.12',
  'application/vnd.ms-word.template.macroenabled.12',
  'application/vnd.ms-excel.sheet.macroenabled.12',
  'application/vnd.ms-excel.template.macroenabled.12',
  'application/vnd.ms-powerpoint.presentation.macroenabled.12',
  'application/vnd.ms-powerpoint.slideshow.macroenabled.12',
  'application/vnd.ms-powerpoint.template.macroenabled.12',
]);

/** More members than any real document has; a zip of tiny members is a bomb of its own. */
export const MAX_ENTRIES = 20_000;

/** Macro-enabled main parts and the macro-free type each becomes. */
const MACRO_FREE_MAIN: Record<string, string> = {
  'application/vnd.ms-word.document.macroenabled.main+xml': `${OFFICE}wordprocessingml.document.main+xml`,
  'application/vnd.ms-word.template.macroenabledtemplate.main+xml': `${OFFICE}wordprocessingml.template.main+xml`,
  'application/vnd.ms-excel.sheet.macroenabled.main+xml': `${OFFICE}spreadsheetml.sheet.main+xml`,
  'application/vnd.ms-excel.template.macroenabled.main+xml': `${OFFICE}spreadsheetml.template.main+xml`,
  'application/vnd.ms-powerpoint.presentation.macroenabled.main+xml': `${OFFICE}presentationml.presentation.main+xml`,
  'application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml': `${OFFICE}presentationml.slideshow.main+xml`,
  'application/vnd.ms-powerpoint.template.macroenabled.main+xml': `${OFFICE}presentationml.template.main+xml`,
};

/** Relationship kinds whose targets are removed whatever they point at. */
const REMOVED_RELATIONSHIPS: Record<string, RemovedKind> = {
  vbaproject: 'macros',
  wordvbadata: 'macros',
  vbaprojectsignature: 'macros',
  vbaprojectsignatureagile: 'macros',
  vbaprojectsignaturev3: 'macros',
  xlmacrosheet: 'macros',
  xlintlmacrosheet: 'macros',
  control: 'activex',
  activexcontrolbinary: 'activex',
  oleobject: 'ole-objects',
  package: 'ole-objects',
  externallink: 'external-relationships',
  externallinkpath: 'external-relationships',
  attachedtemplate: 'external-relationships',
  subdocument: 'external-relationships',
  frame: 'external-relationships',
};

const SAFE_HYPERLINK = /^(https?:\/\/|mailto:)/i;

/** Elements that mean nothing once every element in them is gone (and may not be empty). */
const CONTAINERS = new Set([
  'definedNames',
  'oleObjects',
  'controls',
  'externalReferences',
  'AlternateContent',
  'Choice',
  'Fallback',
]);

async function sanitizeOoxml(
  input: SanitizeInput,
  outPath: string,
  limits: SanitizeLimits,
  signal: AbortSignal,
): Promise<SanitizeOutcome> {
  let parts: ZipPart[];
  try {
    parts = await readZipParts(
      await readFile(input.path, { signal }),
      { maxEntries: MAX_ENTRIES, maxTotalBytes: limits.maxBytes },
      signal,
    );
  } catch (error) {
    if (error instanceof ZipLimitError) return refused(error.message);
    throw error;
  }
  const byName = new Map(parts.map((part) => [partKey(part.name), part]));
  const contentTypesPart = byName.get(partKey(CONTENT_TYPES_PART));
  if (!contentTypesPart) return refused(`not an Office Open XML package: no ${CONTENT_TYPES_PART}`);
  const contentTypes = ContentTypes.read(contentTypesPart.bytes.toString('utf8'));
  const rebuilt = new Rebuild(parts, byName, contentTypes);

  rebuilt.removeActiveParts();
  signal.throwIfAborted();
  rebuilt.rewriteRelationships();
  signal.throwIfAborted();
  rebuilt.removeFields();
  const mainType = rebuilt.rewriteContentTypes(contentTypesPart);
  if (!mainType) return refused('not a Word, Excel or PowerPoint document: no main document part');
  const contentType = packageTypeOf(mainType);
  if (!contentType) return refused(`no sanitizer for Office documents of main type ${mainType}`);
  signal.throwIfAborted();
  await writeZipParts(rebuilt.output(), outPath);
  return { available: true, contentType, removed: removedList(rebuilt.removed) };
}

/** `…wordprocessingml.document.main+xml` → `…wordprocessingml.document`. */
function packageTypeOf(mainType: string): string | undefined {
  const match = /^application\/vnd\.openxmlformats-officedocument\.(\w+ml\.\w+)\.main\+xml$/.exec(
    mainType,
  );
  const type = match ? `${OFFICE}${match[1]}` : undefined;
  return type && OOXML_TYPES.has(type) ? type : undefined;
}

class Rebuild {
  readonly removed = new Set<RemovedKind>();
  /** Removed parts (lower-cased names) and why. */
  private readonly removedParts = new Map<string, RemovedKind>();
  /** Every part left out of the copy: the removed ones and their own relationships. */
  private readonly gone = new Set<string>();
  /** New text of edited parts. */
  private readonly edited = new Map<string, string>();
  /** Relationship ids removed, by the part (lower-cased) whose relationships they were. */
  private readonly droppedIds = new Map<string, Set<string>>();

  constructor(
    private readonly parts: readonly ZipPart[],
    private readonly byName: ReadonlyMap<string, ZipPart>,
    private readonly contentTypes: ContentTypes,
  ) {}

  private text(key: string): string {
    return this.edited.get(key) ?? this.byName.get(key)!.bytes.toString('utf8');
  }

  private removePart(key: string, kind: RemovedKind): void {
    if (!this.byName.has(key) || this.removedParts.has(key)) return;
    this.removedParts.set(key, kind);
    this.gone.add(key);
    this.removed.add(kind);
  }

  /** Macros, ActiveX, OLE objects and external link parts, known by name or content type. */
  removeActiveParts(): void {
    for (const part of this.parts) {
      const key = partKey(part.name);
      const kind = activePartKind(key, this.contentTypes.of(key), part.bytes);
      if (kind) this.removePart(key, kind);
    }
  }

  /**
   * Drops relationships to removed parts, of removed kinds and to outside the package (but
   * safe hyperlinks); what they pointed at inside the package is removed too, until nothing
   * more changes (a removed part's own relationships go with it).
   */
  rewriteRelationships(): void {
    const relsParts = this.parts.filter((part) => isRelationshipsPart(part.name));
    const read = relsParts.map((part) => ({
      key: partKey(part.name),
      source: partKey(sourceOfRelationships(part.name)),
      ...readRelationships(part.name, part.bytes.toString('utf8')),
    }));
    for (let changed = true; changed;) {
      changed = false;
      for (const rels of read) {
        if (this.removedParts.has(rels.source)) continue;
        for (const relationship of rels.relationships) {
          const kind = REMOVED_RELATIONSHIPS[relationship.kind];
          const target = relationship.targetPart;
          if (kind && target && this.byName.has(target) && !this.removedParts.has(target)) {
            this.removePart(target, kind);
            changed = true;
          }
        }
      }
    }
    for (const rels of read) {
      if (
        this.removedParts.has(rels.source) ||
        (rels.source !== '' && !this.byName.has(rels.source))
      ) {
        this.gone.add(rels.key); // goes with its part
        continue;
      }
      const edits = new XmlEdits();
      const dropped = new Set<string>();
      for (const relationship of rels.relationships) {
        const kind = this.dropKind(relationship);
        if (!kind) continue;
        edits.remove(relationship.element);
        dropped.add(relationship.id);
        this.removed.add(kind);
      }
      if (dropped.size === 0) continue;
      this.edited.set(rels.key, edits.apply(this.text(rels.key)));
      this.droppedIds.set(rels.source, dropped);
    }
    for (const [source, ids] of this.droppedIds)
      if (source !== '') this.removeReferences(source, ids);
  }

  private dropKind(relationship: Relationship): RemovedKind | undefined {
    const byKind = REMOVED_RELATIONSHIPS[relationship.kind];
    if (relationship.external) {
      if (relationship.kind === 'hyperlink' && SAFE_HYPERLINK.test(relationship.target.trim()))
        return undefined;
      return byKind ?? 'external-relationships';
    }
    const target = relationship.targetPart
      ? this.removedParts.get(relationship.targetPart)
      : undefined;
    return target ?? byKind;
  }

  /**
   * Takes out of a part every element that referred to a dropped relationship: a `link`
   * attribute (a picture's remote source) alone, a Word hyperlink's tags (its text stays), a
   * PowerPoint OLE object with its whole frame, any other element whole, and the containers
   * left empty by that.
   */
  private removeReferences(source: string, ids: ReadonlySet<string>): void {
    if (!this.byName.has(source) || !/\.xml$|\.vml$/i.test(source)) return;
    const text = this.text(source);
    const root = parseXml(text);
    const edits = new XmlEdits();
    const gone = new Set<XmlElement>();
    for (const element of descendants(root)) {
      for (const attribute of element.attributes) {
        if (!RELATIONSHIP_NAMESPACES.has(attribute.namespace ?? '') || !ids.has(attribute.value))
          continue;
        if (attribute.localName === 'link') edits.removeAttribute(attribute);
        else if (element.localName === 'hyperlink' && element.children.length > 0)
          edits.unwrap(element);
        else if (element.localName === 'oleObj')
          gone.add(ancestorNamed(element, 'graphicFrame') ?? element);
        else gone.add(element);
      }
    }
    if (edits.size === 0 && gone.size === 0) return;
    if (root.localName === 'workbook') forgetRemovedSheets(text, root, gone, edits);
    markEmptyContainers(root, gone);
    for (const element of gone) edits.remove(element);
    this.edited.set(source, edits.apply(text));
  }

  /** DDE and loading fields in Word's parts, DDE formulas in Excel's worksheets. */
  removeFields(): void {
    for (const part of this.parts) {
      const key = partKey(part.name);
      if (this.removedParts.has(key)) continue;
      const type = this.contentTypes.of(key);
      const edit = isWordType(type)
        ? removeWordFields(this.text(key))
        : type.endsWith('spreadsheetml.worksheet+xml')
          ? removeSheetDdeFormulas(this.text(key))
          : undefined;
      if (!edit) continue;
      this.edited.set(key, edit.text);
      for (const kind of edit.removed) this.removed.add(kind);
    }
  }

  /**
   * `[Content_Types].xml` without the removed parts' overrides (and defaults only they used),
   * the main part macro-free. Gives the main part's content type, undefined without one.
   */
  rewriteContentTypes(part: ZipPart): string | undefined {
    const key = partKey(part.name);
    const text = this.text(key);
    const root = parseXml(text);
    const edits = new XmlEdits();
    const remaining = this.parts.filter((p) => !this.gone.has(partKey(p.name)));
    const extensionsLeft = new Set(
      remaining.map((p) => path.extname(p.name).slice(1).toLowerCase()),
    );
    const main = this.mainPart();
    let mainType: string | undefined;
    for (const element of root.children) {
      const attribute = (name: string) => element.attributes.find((a) => a.name === name);
      const type = attribute('ContentType');
      if (element.localName === 'Override') {
        const partName = partKey((attribute('PartName')?.value ?? '').replace(/^\//, ''));
        if (this.gone.has(partName)) edits.remove(element);
        else if (partName === main && type) {
          const macroFree = MACRO_FREE_MAIN[type.value.toLowerCase()];
          if (macroFree) edits.replace(type.start, type.end, ` ContentType="${macroFree}"`);
          mainType = macroFree ?? type.value.toLowerCase();
        }
      }
      if (element.localName === 'Default') {
        const extension = (attribute('Extension')?.value ?? '').toLowerCase();
        if (!extensionsLeft.has(extension) && isActiveType(type?.value.toLowerCase() ?? ''))
          edits.remove(element);
      }
    }
    if (main && !mainType) mainType = this.contentTypes.of(main) || undefined;
    this.edited.set(key, edits.apply(text));
    return mainType;
  }

  /** The part the package's `officeDocument` relationship points at. */
  private mainPart(): string | undefined {
    const rels = this.byName.get('_rels/.rels');
    if (!rels) return undefined;
    return readRelationships('_rels/.rels', rels.bytes.toString('utf8')).relationships.find(
      (r) => r.kind === 'officedocument' && !r.external,
    )?.targetPart;
  }

  /** The package's parts as they are to be written: the content types first. */
  output(): ZipPart[] {
    const kept = this.parts
      .filter((part) => !this.gone.has(partKey(part.name)))
      .map((part) => {
        const text = this.edited.get(partKey(part.name));
        return text === undefined ? part : { ...part, bytes: Buffer.from(text, 'utf8') };
      });
    const isTypes = (part: ZipPart) => partKey(part.name) === partKey(CONTENT_TYPES_PART);
    return [...kept.filter(isTypes), ...kept.filter((part) => !isTypes(part))];
  }
}

/** A workbook without a (macro) sheet: its defined names go, and the views count sheets anew. */
function forgetRemovedSheets(
  text: string,
  root: XmlElement,
  gone: Set<XmlElement>,
  edits: XmlEdits,
): void {
  const names = [...gone]
    .filter((element) => element.localName === 'sheet')
    .map((element) => element.attributes.find((a) => a.name === 'name')?.value ?? '')
    .filter(Boolean);
  if (names.length === 0) return;
  for (const element of descendants(root)) {
    if (element.localName === 'definedName') {
      const formula = textOf(text, element);
      const quoted = (name: string) => `'${name.replace(/'/g, "''")}'!`;
      if (names.some((name) => formula.includes(`${name}!`) || formula.includes(quoted(name))))
        gone.add(element);
    }
    if (element.localName === 'workbookView')
      for (const attribute of element.attributes)
        if (attribute.name === 'activeTab' || attribute.name === 'firstSheet')
          edits.removeAttribute(attribute);
  }
}

function activePartKind(key: string, contentType: string, bytes: Buffer): RemovedKind | undefined {
  const name = path.basename(key);
  if (
    /^vbaproject.*\.bin$|^vbadata\.xml$/.test(name) ||
    /vbaproject|vbadata|macrosheet/.test(contentType)
  )
    return 'macros';
  if (/(^|\/)activex\//.test(key) || contentType.includes('activex')) return 'activex';
  if (/(^|\/)embeddings\//.test(key) || contentType.endsWith('.oleobject')) return 'ole-objects';
  if (/(^|\/)externallinks\/[^/]*\.xml$/.test(key) || contentType.endsWith('externallink+xml'))
    return bytes.includes('ddeLink') ? 'dde-fields' : 'external-relationships';
  return undefined;
}

/** Word's parts, the macro-enabled main part included. */
function isWordType(contentType: string): boolean {
  return (
    contentType.includes('wordprocessingml') || contentType.startsWith('application/vnd.ms-word.')
  );
}

function isActiveType(contentType: string): boolean {
  return /vbaproject|vbadata|activex|oleobject|macrosheet/.test(contentType);
}

function ancestorNamed(element: XmlElement, localName: string): XmlElement | undefined {
  for (let at = element.parent; at; at = at.parent) if (at.localName === localName) return at;
  return undefined;
}

/** Adds to `gone` every container all of whose elements are gone (innermost first). */
function markEmptyContainers(root: XmlElement, gone: Set<XmlElement>): void {
  const visit = (element: XmlElement) => {
    for (const child of element.children) visit(child);
    if (
      CONTAINERS.has(element.localName) &&
      element.children.length > 0 &&
      element.children.every((child) => gone.has(child))
    )
      gone.add(element);
  };
  visit(root);
}

import { readFile, writeFile } from 'node:fs/promises';
import {
  ParseSpeeds,
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFName,
  PDFRef,
  PDFStream,
  PDFString,
  PDFHexString,
  type PDFContext,
  type PDFObject,
} from 'pdf-lib';
import {
  refused,
  removedList,
  type RemovedKind,
  type SanitizeInput,
  type SanitizeLimits,
  type SanitizeOutcome,
  type Sanitizer,
} from './sanitizer.js';

/**
 * PDF documents, loaded with pdf-lib and saved again without what runs, launches, submits or
 * carries files:
 *
 * - document JavaScript (the `/JavaScript` name tree) and every JavaScript action;
 * - an `/OpenAction` that is an action (a plain destination, "open at page 1", stays);
 * - every `/AA` (additional actions of the document, pages, annotations and form fields);
 * - Launch actions; SubmitForm and ImportData actions; GoToR and GoToE actions (which open
 *   other files) and URI actions to anything but http, https and mailto addresses (web and
 *   mail links stay, as they do nothing until clicked);
 * - embedded files: the `/EmbeddedFiles` name tree, file attachment annotations, `/EF` streams
 *   of file specifications, associated files (`/AF`) and portfolios (`/Collection`);
 * - rich media: RichMedia, Movie, Sound and Screen annotations and their actions;
 * - the XFA form of the AcroForm (the AcroForm's own fields stay fillable).
 *
 * Whatever is removed is unlinked first; then every object no longer reachable from the
 * trailer is deleted from the document, so that none of it is written out (pdf-lib writes every
 * object it holds), and the copy is saved without object streams. Pages, their content streams,
 * fonts and images are kept as they are. Encrypted PDFs are refused: they cannot be rebuilt
 * without the password.
 */
export function createPdfSanitizer(): Sanitizer {
  return {
    format: 'pdf',
    accepts: (contentType) => contentType === 'application/pdf',
    sanitize: sanitizePdf,
  };
}

const name = (key: string) => PDFName.of(key);

/** Action types that run code, start programs, send data, open other files or play media. */
const ACTION_KINDS: Record<string, RemovedKind> = {
  JavaScript: 'javascript',
  Launch: 'launch-actions',
  SubmitForm: 'submit-actions',
  ImportData: 'submit-actions',
  GoToR: 'external-references',
  GoToE: 'external-references',
  Rendition: 'rich-media',
  Movie: 'rich-media',
  Sound: 'rich-media',
  RichMediaExecute: 'rich-media',
};

const ANNOTATION_KINDS: Record<string, RemovedKind> = {
  FileAttachment: 'embedded-files',
  RichMedia: 'rich-media',
  Movie: 'rich-media',
  Sound: 'rich-media',
  Screen: 'rich-media',
};

const SAFE_URI = /^(https?:\/\/|mailto:)/i;

async function sanitizePdf(
  input: SanitizeInput,
  outPath: string,
  _limits: SanitizeLimits,
  signal: AbortSignal,
): Promise<SanitizeOutcome> {
  const bytes = await readFile(input.path, { signal });
  const document = await PDFDocument.load(bytes, {
    updateMetadata: false,
    ignoreEncryption: true, // to tell an encrypted document apart, and refuse it
    parseSpeed: ParseSpeeds.Fast, // yields between batches of objects: the timeout can act
  });
  if (document.isEncrypted)
    return refused('encrypted PDF: its content cannot be rebuilt without the password');
  signal.throwIfAborted();
  const removed = new Set<RemovedKind>();
  const context = document.context;
  const catalog = document.catalog;

  removeCatalogEntries(context, catalog, removed);
  for (const dict of allDicts(context)) {
    const additional = dict.lookupMaybe(name('AA'), PDFDict);
    if (additional) {
      // Each trigger's action is listed too (a page-open JavaScript is JavaScript).
      for (const action of additional.values()) addActionKind(context, action, removed);
      dict.delete(name('AA'));
      removed.add('additional-actions');
    }
    if (dict.delete(name('EF'))) removed.add('embedded-files');
    if (dict.delete(name('AF'))) removed.add('embedded-files');
  }
  signal.throwIfAborted();
  removeAnnotations(context, document, removed);
  unlinkActions(context, removed);
  signal.throwIfAborted();
  deleteUnreachable(context);

  const copy = await document.save({
    useObjectStreams: false,
    addDefaultPage: false,
    updateFieldAppearances: false,
  });
  await writeFile(outPath, copy);
  return { available: true, contentType: 'application/pdf', removed: removedList(removed) };
}

function removeCatalogEntries(context: PDFContext, catalog: PDFDict, removed: Set<RemovedKind>) {
  const openAction = catalog.get(name('OpenAction'));
  // A destination (an array) only says where the document opens; an action dictionary runs.
  if (openAction && !(context.lookup(openAction) instanceof PDFArray)) {
    addActionKind(context, openAction, removed);
    catalog.delete(name('OpenAction'));
    removed.add('open-action');
  }
  const names = catalog.lookupMaybe(name('Names'), PDFDict);
  if (names?.delete(name('JavaScript'))) removed.add('javascript');
  if (names?.delete(name('EmbeddedFiles'))) removed.add('embedded-files');
  if (catalog.delete(name('Collection'))) removed.add('embedded-files');
  const acroForm = catalog.lookupMaybe(name('AcroForm'), PDFDict);
  if (acroForm?.delete(name('XFA'))) {
    removed.add('xfa');
    catalog.delete(name('NeedsRendering'));
  }
}

/** Drops file attachment and media annotations from every page. */
function removeAnnotations(context: PDFContext, document: PDFDocument, removed: Set<RemovedKind>) {
  for (const page of document.getPages()) {
    const annotations = page.node.lookupMaybe(name('Annots'), PDFArray);
    if (!annotations) continue;
    for (let index = annotations.size() - 1; index >= 0; index--) {
      const annotation = context.lookup(annotations.get(index));
      if (!(annotation instanceof PDFDict)) continue;
      const subtype = annotation.lookupMaybe(name('Subtype'), PDFName)?.decodeText() ?? '';
      const kind = ANNOTATION_KINDS[subtype];
      if (kind) {
        annotations.remove(index);
        removed.add(kind);
      }
    }
  }
}

/**
 * Unlinks every dangerous action wherever it is referred to (an annotation's or outline item's
 * `/A`, an action's `/Next`, a name tree…): the entry goes, or the element of an array.
 */
function unlinkActions(context: PDFContext, removed: Set<RemovedKind>) {
  const judge = (value: PDFObject): RemovedKind | undefined => {
    const target = value instanceof PDFRef ? context.lookup(value) : value;
    return target instanceof PDFDict ? dangerousAction(target) : undefined;
  };
  for (const container of allContainers(context)) {
    if (container instanceof PDFDict) {
      for (const [key, value] of container.entries()) {
        const kind = judge(value);
        if (!kind) continue;
        container.delete(key);
        removed.add(kind);
      }
    } else {
      for (let index = container.size() - 1; index >= 0; index--) {
        const kind = judge(container.get(index));
        if (!kind) continue;
        container.remove(index);
        removed.add(kind);
      }
    }
  }
}

function addActionKind(context: PDFContext, action: PDFObject, removed: Set<RemovedKind>) {
  const target = action instanceof PDFRef ? context.lookup(action) : action;
  const kind = target instanceof PDFDict ? dangerousAction(target) : undefined;
  if (kind) removed.add(kind);
}

function dangerousAction(dict: PDFDict): RemovedKind | undefined {
  if (dict.has(name('JS'))) return 'javascript';
  const type = dict.lookupMaybe(name('S'), PDFName)?.decodeText();
  if (!type) return undefined;
  if (type === 'URI') {
    const uri = dict.lookup(name('URI'));
    const text = uri instanceof PDFString || uri instanceof PDFHexString ? uri.decodeText() : '';
    if (SAFE_URI.test(text.trim())) return undefined;
    return /^\s*javascript:/i.test(text) ? 'javascript' : 'external-references';
  }
  return ACTION_KINDS[type];
}

/** Every dictionary of the document, direct or indirect, and a stream's own dictionary. */
function* allDicts(context: PDFContext): Generator<PDFDict> {
  for (const container of allContainers(context)) if (container instanceof PDFDict) yield container;
}

/** Every dictionary and array of the document, each once, without following references. */
function* allContainers(context: PDFContext): Generator<PDFDict | PDFArray> {
  const pending: PDFObject[] = context.enumerateIndirectObjects().map(([, object]) => object);
  while (pending.length > 0) {
    const object = pending.pop()!;
    const container = object instanceof PDFStream ? object.dict : object;
    if (container instanceof PDFDict) {
      yield container;
      pending.push(...container.values());
    } else if (container instanceof PDFArray) {
      yield container;
      pending.push(...container.asArray());
    }
  }
}

/** Deletes every object the trailer no longer reaches, so that nothing unlinked is written. */
function deleteUnreachable(context: PDFContext) {
  const reached = new Set<string>();
  const pending: PDFObject[] = [context.trailerInfo.Root, context.trailerInfo.Info].filter(
    (object): object is PDFObject => object !== undefined,
  );
  while (pending.length > 0) {
    const object = pending.pop()!;
    if (object instanceof PDFRef) {
      if (reached.has(object.tag)) continue;
      reached.add(object.tag);
      const target = context.lookup(object);
      if (target) pending.push(target);
    } else if (object instanceof PDFStream) {
      pending.push(object.dict);
    } else if (object instanceof PDFDict) {
      pending.push(...object.values());
    } else if (object instanceof PDFArray) {
      pending.push(...object.asArray());
    }
  }
  let largest = 0;
  for (const [ref] of context.enumerateIndirectObjects()) {
    if (!reached.has(ref.tag)) context.delete(ref);
    else largest = Math.max(largest, ref.objectNumber);
  }
  // The trailer's /Size is one more than this: it must not count the objects deleted.
  context.largestObjectNumber = largest;
}

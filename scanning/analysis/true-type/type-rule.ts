import { matchesMediaRange } from '../../../core/media-type.js';
import {
  groupOfExtension,
  groupOfType,
  isZipDocumentClaim,
  type TypeGroup,
} from './type-groups.js';

/**
 * The file type rule: what the bytes are (the true type) against what the content is presented
 * as — its name's extension and, for the content itself, its declared Content-Type.
 *
 * A row per group of true types that is dangerous to present as something else, and the groups
 * of claims that make it a finding (`content.type.mismatch`). Every other pair is a harmless
 * difference: a `.jpg` holding a PNG (image for image), a `.txt` holding CSV or JSON (text for
 * text), a `.pdf` holding a Word document (document for document), a script named `.txt` (it
 * is text), or a claim that says nothing (`application/octet-stream`, no extension, an
 * extension not listed in type-groups.ts).
 */
export const MISMATCHES: Readonly<Record<TypeGroup, readonly TypeGroup[]>> = {
  /** A program (PE, ELF, Mach-O, Java, Android, a shortcut) is never a document, image or text. */
  executable: ['document', 'image', 'media', 'text'],
  /** A script (shell, Python, PHP, batch…) is text, but never a document, image or recording. */
  script: ['document', 'image', 'media'],
  /**
   * An archive hides what it holds; except that a zip is what an Office Open XML, OpenDocument
   * or EPUB document is inside (see isZipDocumentClaim).
   */
  archive: ['document', 'image', 'media', 'text'],
  /** A web page (HTML runs scripts where it is opened) is never a document or image. */
  markup: ['document', 'image', 'media'],
  document: [],
  image: [],
  media: [],
  text: [],
  other: [],
};

/** How a piece of content is presented: its name's extension, its declared type (if any). */
export interface TypeClaims {
  /** Lower case, no dot (file-extension.ts); undefined when the name has none. */
  extension?: string | undefined;
  /** The declared media type (core/media-type.ts); undefined when none was declared. */
  declaredType?: string | undefined;
}

/**
 * Why the bytes of `trueType` are disguised by `claims`, as one line for the trace (`a program
 * (application/x-msdownload) presented as .jpg (image)`), or undefined when nothing is.
 */
export function typeMismatch(trueType: string, claims: TypeClaims): string | undefined {
  const group = groupOfType(trueType);
  const flagged = MISMATCHES[group];
  if (flagged.length === 0) return undefined;
  const disguises: string[] = [];
  const { extension, declaredType } = claims;
  if (extension !== undefined) {
    const claimed = groupOfExtension(extension);
    if (flagged.includes(claimed) && !zipDocument(trueType, { extension }))
      disguises.push(`.${extension} (${claimed})`);
  }
  if (declaredType !== undefined) {
    const claimed = groupOfType(declaredType);
    if (flagged.includes(claimed) && !zipDocument(trueType, { type: declaredType }))
      disguises.push(`${declaredType} (${claimed})`);
  }
  if (disguises.length === 0) return undefined;
  return `${DESCRIBED[group]} (${trueType}) presented as ${disguises.join(' and ')}`;
}

const DESCRIBED: Record<TypeGroup, string> = {
  executable: 'a program',
  script: 'a script',
  archive: 'an archive',
  markup: 'a web page',
  document: 'a document',
  image: 'an image',
  media: 'a recording',
  text: 'text',
  other: 'content',
};

function zipDocument(trueType: string, claim: { extension?: string; type?: string }): boolean {
  return trueType === 'application/zip' && isZipDocumentClaim(claim);
}

/**
 * Whether content of `trueType` is allowed by a tenant's or key's `allowed_content_types`
 * (`image/*` matches any image). Plain text cannot be told apart from CSV, JSON or Markdown by
 * its bytes: text is allowed as a listed text type when its name or declared type says it is
 * that type (a `.csv` when `text/csv` is listed).
 */
export function isAllowedType(
  trueType: string,
  allowed: readonly string[],
  claims: TypeClaims,
): boolean {
  const candidates = [trueType];
  if (trueType === 'text/plain') {
    if (claims.declaredType && groupOfType(claims.declaredType) === 'text')
      candidates.push(claims.declaredType);
    const named = claims.extension ? TEXT_TYPE_OF_EXTENSION[claims.extension] : undefined;
    if (named) candidates.push(named);
  }
  return candidates.some((type) => allowed.some((range) => matchesMediaRange(type, range)));
}

/** The media type a text file's extension names (for isAllowedType). */
const TEXT_TYPE_OF_EXTENSION: Record<string, string> = {
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  json: 'application/json',
  xml: 'application/xml',
  md: 'text/markdown',
  markdown: 'text/markdown',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  ics: 'text/calendar',
  vcf: 'text/vcard',
  vtt: 'text/vtt',
};

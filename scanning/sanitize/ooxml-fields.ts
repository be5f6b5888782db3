import type { RemovedKind } from './sanitizer.js';
import { descendants, parseXml, textOf, XmlEdits, type XmlElement } from './xml-scan.js';

/**
 * Fields that run or load something, taken out of Word and Excel parts with their results kept:
 * Word's DDE and DDEAUTO fields (which start a program through Dynamic Data Exchange) and its
 * INCLUDETEXT, INCLUDEPICTURE and LINK fields (which load another file, local or remote, when
 * fields update); Excel's DDE formulas (`=cmd|'/c calc'!A0`), whose cached value stays.
 */

const WORD_NAMESPACES = new Set([
  'http://schemas.openxmlformats.org/wordprocessingml/2006/main',
  'http://purl.oclc.org/ooxml/wordprocessingml/main',
]);
const SHEET_NAMESPACES = new Set([
  'http://schemas.openxmlformats.org/spreadsheetml/2006/main',
  'http://purl.oclc.org/ooxml/spreadsheetml/main',
]);

const DDE_FIELD = /^\s*DDE(AUTO)?\b/i;
const LOADING_FIELD = /^\s*(INCLUDETEXT|INCLUDEPICTURE|LINK)\b/i;

export interface FieldEdit {
  readonly text: string;
  readonly removed: RemovedKind[];
}

/** A Word part with its running and loading fields taken out; undefined when it has none. */
export function removeWordFields(text: string): FieldEdit | undefined {
  // Any field: an instruction may be split across runs (`DD` + `EAUTO`) to hide its name.
  if (!/instrText|fldSimple/.test(text)) return undefined;
  const root = parseXml(text);
  const edits = new XmlEdits();
  const removed = new Set<RemovedKind>();
  const judge = (instruction: string): RemovedKind | undefined =>
    DDE_FIELD.test(instruction)
      ? 'dde-fields'
      : LOADING_FIELD.test(instruction)
        ? 'external-relationships'
        : undefined;

  const open: { parts: XmlElement[]; instruction: string }[] = [];
  for (const element of descendants(root)) {
    if (!WORD_NAMESPACES.has(element.namespace ?? '')) continue;
    if (element.localName === 'fldSimple') {
      const kind = judge(attributeOf(element, 'instr'));
      if (kind) {
        edits.unwrap(element); // the field's result runs stay
        removed.add(kind);
      }
    } else if (element.localName === 'fldChar') {
      const type = attributeOf(element, 'fldCharType');
      if (type === 'begin') open.push({ parts: [element], instruction: '' });
      else if (type === 'separate') open.at(-1)?.parts.push(element);
      else if (type === 'end') {
        const field = open.pop();
        if (!field) continue;
        const kind = judge(field.instruction);
        if (kind) {
          // The field's markers and instruction go; the runs of its result stay as plain text.
          for (const part of [...field.parts, element]) edits.remove(part);
          removed.add(kind);
        }
      }
    } else if (element.localName === 'instrText' || element.localName === 'delInstrText') {
      const field = open.at(-1);
      if (field) {
        field.instruction += textOf(text, element);
        field.parts.push(element);
      }
    }
  }
  return edits.size > 0 ? { text: edits.apply(text), removed: [...removed] } : undefined;
}

/** A worksheet with its DDE formulas taken out (their cached values stay); undefined if none. */
export function removeSheetDdeFormulas(text: string): FieldEdit | undefined {
  if (!text.includes('|')) return undefined;
  const root = parseXml(text);
  const edits = new XmlEdits();
  for (const element of descendants(root)) {
    if (element.localName === 'f' && SHEET_NAMESPACES.has(element.namespace ?? ''))
      if (isDdeFormula(textOf(text, element))) edits.remove(element);
  }
  return edits.size > 0 ? { text: edits.apply(text), removed: ['dde-fields'] } : undefined;
}

/** A `|` outside string literals: Excel's `application|topic!item` remote reference. */
function isDdeFormula(formula: string): boolean {
  return formula.replace(/"(?:[^"]|"")*"/g, '').includes('|');
}

function attributeOf(element: XmlElement, localName: string): string {
  return element.attributes.find((a) => a.localName === localName)?.value ?? '';
}

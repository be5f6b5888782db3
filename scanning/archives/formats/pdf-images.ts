import type { EmbeddedImage } from '../types.js';
import { undecodedFilter } from './pdf-filters.js';
import { asName, asNumber, asRef, nameList, type PdfDict, type PdfValue } from './pdf-syntax.js';

/**
 * PDF image XObjects (ISO 32000-1 §8.9.5): what an image stream's dictionary says of its bytes,
 * handed with the stream as `MemberInfo.image` so that the image analyzer can judge images a
 * PDF stores as bare samples or in codecs without a file format of their own. Describing costs a
 * few dictionary look-ups per image stream: a scan without the image analyzer pays nothing more.
 */

/** What else in the document an image dictionary may point to. */
export interface ImageReferences {
  /** An integer object (`/Width 12 0 R`). */
  integer(num: number): number | undefined;
  /** An array object that is a colour space (`/ColorSpace 7 0 R`, 7 being `[/ICCBased 8 0 R]`). */
  colorSpace(num: number): OwnedColorSpace | undefined;
  /**
   * A string as it reads once decrypted (an encrypted document's strings are encrypted with the
   * object holding them; undefined: inside an object stream, decrypted with it).
   */
  text(raw: Buffer, owner: PdfObjectId | undefined): Buffer;
  /** The `/N` (colour components) of a stream object: an ICC profile. */
  components(num: number): number | undefined;
}

export interface PdfObjectId {
  num: number;
  gen: number;
}

/** A colour space array object, with the object holding it (its strings are encrypted with it). */
export interface OwnedColorSpace {
  space: PdfValue[];
  owner: PdfObjectId | undefined;
}

/** The entries of an image's dictionary kept with the stream until it is scanned. */
export const IMAGE_ENTRIES = ['Subtype', 'Width', 'Height', 'BitsPerComponent', 'ImageMask'];

const GRAY = new Set(['DeviceGray', 'G', 'CalGray']);
const RGB = new Set(['DeviceRGB', 'RGB', 'CalRGB']);
/** Array colour spaces whose first element names the family; others are not colour spaces. */
const FAMILIES = new Set([
  'CalGray',
  'CalRGB',
  'Lab',
  'ICCBased',
  'Indexed',
  'I',
  'Pattern',
  'Separation',
  'DeviceN',
]);

/** Whether an array object is a colour space, worth remembering for `/ColorSpace N 0 R`. */
export function isColorSpaceArray(value: PdfValue): value is PdfValue[] {
  return Array.isArray(value) && FAMILIES.has(asName(value[0]) ?? '');
}

/** An Indexed space's lookup table held inline: at most 256 RGB entries. */
const MAX_LOOKUP = 256 * 3;

/**
 * The colour space as kept with the stream (or remembered as an object): a name or reference as
 * it stands, an array cut to what is read of it: its family and first operand (an ICC profile's
 * reference), and for an Indexed space its base, highest index and inline lookup table.
 */
export function keptColorSpace(value: PdfValue | undefined): PdfValue | undefined {
  if (value === undefined) return undefined;
  if (asName(value) !== undefined || asRef(value)) return value;
  if (!isColorSpaceArray(value)) return undefined;
  const family = value[0]!;
  if (isIndexed(family)) {
    const base = keptColorSpace(value[1]) ?? null;
    const lookup = value[3];
    const inline = Buffer.isBuffer(lookup) && lookup.length <= MAX_LOOKUP ? lookup : null;
    return [family, base, asNumber(value[2]) ?? null, inline];
  }
  const operand = asRef(value[1]);
  return operand ? [family, operand] : [family];
}

function isIndexed(family: PdfValue): boolean {
  const name = asName(family);
  return name === 'Indexed' || name === 'I';
}

/**
 * What the stream's dictionary says of the image, or undefined for a stream that is not one.
 * `owner`: the stream's object.
 */
export function describeImage(
  dict: PdfDict,
  owner: PdfObjectId,
  refs: ImageReferences,
): EmbeddedImage | undefined {
  if (asName(dict.get('Subtype')) !== 'Image') return undefined;
  const number = (key: string): number | undefined => {
    const value = dict.get(key);
    const ref = asRef(value);
    return ref ? refs.integer(ref.num) : asNumber(value);
  };
  const codec = undecodedFilter(nameList(dict.get('Filter')));
  const width = number('Width');
  const height = number('Height');
  // A stencil mask (§8.9.6.2): one bit a pixel, painted or not.
  const mask = dict.get('ImageMask') === true;
  const bitsPerComponent = mask ? 1 : number('BitsPerComponent');
  return {
    ...(codec === undefined ? {} : { codec }),
    ...(width === undefined ? {} : { width }),
    ...(height === undefined ? {} : { height }),
    ...(bitsPerComponent === undefined ? {} : { bitsPerComponent }),
    ...(mask ? { colors: 'gray' } : colorsOf(dict.get('ColorSpace'), owner, refs)),
  };
}

/**
 * `gray`, `rgb`, `indexed` with its palette as RGB triples, or the family of another colour space
 * (`DeviceCMYK`, `Indexed on DeviceCMYK`).
 */
function colorsOf(
  value: PdfValue | undefined,
  owner: PdfObjectId,
  refs: ImageReferences,
): Pick<EmbeddedImage, 'colors' | 'palette'> {
  const resolved = resolve(value, owner, refs);
  const space = resolved?.space;
  if (!Array.isArray(space) || !isIndexed(space[0] ?? null))
    return { colors: baseColors(space, refs) };
  const base = baseColors(resolve(space[1], resolved?.owner, refs)?.space, refs);
  if (!Buffer.isBuffer(space[3])) return { colors: 'Indexed with its palette in a stream' };
  const lookup = refs.text(space[3], resolved?.owner);
  if (base !== 'gray' && base !== 'rgb') return { colors: `Indexed on ${base}` };
  const entries = Math.min(256, Math.max(1, (asNumber(space[2]) ?? 255) + 1));
  const palette = Buffer.alloc(entries * 3);
  for (let i = 0; i < entries; i++) {
    if (base === 'gray') palette.fill(lookup[i] ?? 0, i * 3, i * 3 + 3);
    else lookup.copy(palette, i * 3, i * 3, Math.min(lookup.length, i * 3 + 3));
  }
  return { colors: 'indexed', palette };
}

/** The colour space a value is or refers to, with the object holding it. */
function resolve(
  value: PdfValue | undefined,
  owner: PdfObjectId | undefined,
  refs: ImageReferences,
): { space: PdfValue | undefined; owner: PdfObjectId | undefined } | undefined {
  const ref = asRef(value);
  return ref ? refs.colorSpace(ref.num) : { space: value, owner };
}

/** `gray`, `rgb`, or the family of another colour space (`DeviceCMYK`, `Lab`). */
function baseColors(space: PdfValue | undefined, refs: ImageReferences): string {
  if (space === undefined || space === null) return 'no colour space';
  const family = asName(Array.isArray(space) ? space[0] : space);
  if (family === undefined) return 'an unresolved colour space';
  if (GRAY.has(family)) return 'gray';
  if (RGB.has(family)) return 'rgb';
  if (family === 'ICCBased' && Array.isArray(space)) {
    const profile = asRef(space[1]);
    const components = profile ? refs.components(profile.num) : undefined;
    if (components === 1) return 'gray';
    if (components === 3) return 'rgb';
    return components === undefined ? 'ICCBased' : `ICCBased with ${components} components`;
  }
  return family;
}

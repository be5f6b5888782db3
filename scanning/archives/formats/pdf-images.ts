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
  colorSpace(num: number): PdfValue[] | undefined;
  /** The `/N` (colour components) of a stream object: an ICC profile. */
  components(num: number): number | undefined;
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

/**
 * The colour space as kept with the stream: a name or reference as it stands, an array cut to
 * its family and first operand (an ICC profile's reference): an Indexed space's lookup table is
 * not held for every stream of the document.
 */
export function keptColorSpace(value: PdfValue | undefined): PdfValue | undefined {
  if (value === undefined) return undefined;
  if (asName(value) !== undefined || asRef(value)) return value;
  if (isColorSpaceArray(value)) {
    const operand = asRef(value[1]);
    return operand ? [value[0]!, operand] : [value[0]!];
  }
  return undefined;
}

/** What the stream's dictionary says of the image, or undefined for a stream that is not one. */
export function describeImage(dict: PdfDict, refs: ImageReferences): EmbeddedImage | undefined {
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
    colors: mask ? 'gray' : colorsOf(dict.get('ColorSpace'), refs),
  };
}

/** `gray`, `rgb`, or the family of another colour space (`DeviceCMYK`, `Indexed`). */
function colorsOf(value: PdfValue | undefined, refs: ImageReferences): string {
  const ref = asRef(value);
  const space = ref ? refs.colorSpace(ref.num) : value;
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

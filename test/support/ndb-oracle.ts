import type { BodySignature, HexElement, PatternByte } from '../../scanning/signatures/ndb.js';

/**
 * A slow, obviously-correct reference for body signatures: the pattern becomes a regular
 * expression over the content read as latin1 (one character per byte), tried at every start the
 * offset allows. The streaming matcher must agree with it on every input.
 */
export function oracleMatches(
  signature: BodySignature,
  content: Buffer,
  totalSize = content.length,
): boolean {
  const text = content.toString('latin1');
  const source = signature.elements.map(elementSource).join('');
  const offset = signature.offset;
  if (offset.kind === 'any') return new RegExp(source, 's').test(text);
  const sticky = new RegExp(source, 'sy');
  const lo = offset.kind === 'absolute' ? offset.offset : totalSize - offset.offset;
  if (lo < 0) return false;
  for (let start = lo; start <= lo + offset.maxShift && start <= text.length; start += 1) {
    sticky.lastIndex = start;
    if (sticky.test(text)) return true;
  }
  return false;
}

function byteSource({ value, mask }: PatternByte): string {
  if (mask === 0) return '[\\s\\S]';
  const chars: string[] = [];
  for (let b = 0; b < 256; b += 1) {
    if ((b & mask) === (value & mask)) chars.push(`\\x${b.toString(16).padStart(2, '0')}`);
  }
  return chars.length === 1 ? chars[0]! : `[${chars.join('')}]`;
}

function elementSource(element: HexElement): string {
  if (element.kind === 'byte') return byteSource(element);
  if (element.kind === 'gap') {
    return element.max === Infinity
      ? `[\\s\\S]{${element.min},}`
      : `[\\s\\S]{${element.min},${element.max}}`;
  }
  const alternatives = element.alternatives.map((alt) => alt.map(byteSource).join(''));
  if (!element.negated) return `(?:${alternatives.join('|')})`;
  const length = element.alternatives[0]?.length ?? 1;
  return `(?!${alternatives.join('|')})[\\s\\S]{${length}}`;
}

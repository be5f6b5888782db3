import { detectFileKind } from '../../scanning/file-type.js';
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

/**
 * What a whole file is matched as, by the built-in engine as by clamd: the content itself, and for
 * signatures of target 0 and 7 the normalised copy of text that is not HTML. The copy is made
 * here by regular expressions, independently of the engine's normaliser; only the file's kind
 * comes from the engine (scanning/file-type.ts, tested on its own).
 */
export function oracleMatchesFile(signature: BodySignature, content: Buffer): boolean {
  if (signature.targetType === 0 && oracleMatches(signature, content)) return true;
  if (signature.targetType !== 0 && signature.targetType !== 7) return false;
  const copy = normalisedCopy(content);
  return copy !== null && oracleMatches(signature, copy);
}

const HTML_MARKER =
  /<(?:HEAD>|HTML>|Head>|Html>|head>|html>|IFRAME|IMG|Img|OBJECT|Object|SCRIPT|Script|TABLE|iframe|img|object|script|table)|<[Aa] [\s\S]*[hH][rR](?:EF|ef)/;

function normalisedCopy(content: Buffer): Buffer | null {
  if (detectFileKind(content) !== 'text') return null;
  const text = content.toString('latin1');
  if (HTML_MARKER.test(text)) return null;
  let copy = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    const space = code === 0x20 || (code >= 0x09 && code <= 0x0d);
    if (space) {
      if (!copy.endsWith(' ')) copy += ' ';
    } else if (code > 0x20 && code < 0x80) {
      copy += char.toLowerCase();
    }
  }
  return Buffer.from(copy, 'latin1');
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
